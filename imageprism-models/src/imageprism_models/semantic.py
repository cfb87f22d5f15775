"""The ``semantic`` dimension: the same kind of scene, by CLIP ViT-B/32 image embeddings.

Model: ``Xenova/clip-vit-base-patch32``, ``onnx/vision_model_quantized.onnx``
(the 0.1 file; quantised CLIP ViT-B/32 vision tower with projection, MIT), input
``pixel_values``, output ``image_embeds`` (512-d). Score: cosine of the
L2-normalised embeddings, clipped to [0, 1]; unrelated photos sit near 0.5.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from imageprism.plugin import DimensionSpec, Preset, hookimpl
from imageprism.runtime.hub import ModelConfig, ModelFile
from imageprism.runtime.model_dimension import ModelDimension
from imageprism_models.preprocess import CLIP

CLIP_VIT_B32 = ModelFile(
    repo_id="Xenova/clip-vit-base-patch32",
    filename="onnx/vision_model_quantized.onnx",
    revision="d15189d7028b43f1d3e65039190477f6af591c2a",
    sha256="583fd1110a514667812fee7d684952aaf82a99b959760c8d7dca7e0ab9839299",
    size=89_117_001,
    licence="MIT (OpenAI CLIP weights)",
)


class SemanticConfig(ModelConfig):
    """Config of the semantic dimension; see ``ModelConfig`` for pointing at another file.

    Attributes:
        output: The model output holding the image embedding.
    """

    output: str = "image_embeds"


class SemanticDimension(ModelDimension):
    """CLIP image embeddings compared by cosine."""

    name = "semantic"
    default_model = CLIP_VIT_B32
    recipe = CLIP
    version = "1"

    def __init__(self, config: SemanticConfig | None = None) -> None:
        super().__init__(config or SemanticConfig())

    def _vectors(self, batch: np.ndarray) -> np.ndarray:
        (embeds,) = self.model.run(batch, [self.config.output])  # type: ignore[attr-defined]
        return embeds.reshape(len(batch), -1)


@hookimpl
def imageprism_register_dimensions(register: Callable[[DimensionSpec], None]) -> None:
    """Register the semantic dimension."""
    register(
        DimensionSpec(
            name="semantic",
            factory=SemanticDimension,
            config_model=SemanticConfig,
            summary="the same kind of scene (CLIP ViT-B/32 image embeddings, cosine)",
            model_files=(CLIP_VIT_B32,),
            licence="code MIT; weights MIT (OpenAI CLIP)",
        )
    )


SEMANTIC_PRESETS: tuple[Preset, ...] = (
    Preset(
        name="similar",
        target="semantic",
        threshold=0.75,
        summary="the same kind of scene or concept",
        note=(
            "the same kind of scene or concept; from 0.1's calibration notes (CLIP ViT-B/32: "
            "unrelated photos near 0.5, the same concept above about 0.75); not measured here, "
            "the model file cannot be downloaded on the build machines"
        ),
    ),
)
"""The semantic dimension's presets (see ``benchmarks/presets.py``)."""


@hookimpl
def imageprism_register_presets(register: Callable[[Preset], None]) -> None:
    """Register the semantic preset (from 0.1's calibration notes, not measured)."""
    for preset in SEMANTIC_PRESETS:
        register(preset)
