"""The ``instance`` dimension: the same object, by DINOv2-small CLS embeddings.

Model: ``Xenova/dinov2-small``, ``onnx/model_quantized.onnx`` (quantised
DINOv2 ViT-S/14, Apache-2.0, 24 MB), input ``pixel_values``, output
``last_hidden_state``; the embedding is its CLS token (384-d). 0.1 used
``sefaburak/dinov2-small-onnx``, whose sha256 could not be established here, so
the default is a file whose checksum is published and widely pinned. Score:
cosine clipped to [0, 1]; unrelated photos sit near 0.

DINOv2 resizes its position embeddings to the input's patch grid (bicubic) on
every call; the recipe always feeds 224x224, so on first use that resize is
computed once and stored in a cached copy of the graph (``fixed_size``), which
makes a one-image call about a third faster.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from imageprism.plugin import DimensionSpec, Preset, hookimpl
from imageprism.runtime.hub import ModelConfig, ModelFile
from imageprism.runtime.model_dimension import ModelDimension
from imageprism_models.fixed_size import with_size_constants_folded
from imageprism_models.preprocess import DINOV2

DINOV2_SMALL = ModelFile(
    repo_id="Xenova/dinov2-small",
    filename="onnx/model_quantized.onnx",
    revision="c2bb04a51fab207c420665f1946016107bffc701",
    sha256="3afdc8bc63b50558d6e5770f5b799bb82455c2311183a2de43803f343a29d917",
    size=24_451_943,
    licence="Apache-2.0 (Meta DINOv2 weights)",
)


class InstanceConfig(ModelConfig):
    """Config of the instance dimension; see ``ModelConfig`` for pointing at another file.

    Attributes:
        output: The model output holding the token sequence; token 0 (CLS) is used.
    """

    output: str = "last_hidden_state"


class InstanceDimension(ModelDimension):
    """DINOv2 CLS embeddings compared by cosine."""

    name = "instance"
    default_model = DINOV2_SMALL
    recipe = DINOV2
    version = "1"
    # With the resize folded, larger batches only cost cache misses: on 2 cores two images
    # per call are ~10% faster than 16 (benchmarks/model_batching.py).
    images_per_call = 2

    def __init__(self, config: InstanceConfig | None = None) -> None:
        super().__init__(config or InstanceConfig())
        self.model.transform = self._fold_size_constants

    def _fold_size_constants(self, path: Path) -> Path:
        return with_size_constants_folded(path, self.recipe.crop, self.recipe.crop)

    def _vectors(self, batch: np.ndarray) -> np.ndarray:
        (hidden,) = self.model.run(batch, [self.config.output])  # type: ignore[attr-defined]
        return hidden[:, 0, :] if hidden.ndim == 3 else hidden.reshape(len(batch), -1)


@hookimpl
def imageprism_register_dimensions(register: Callable[[DimensionSpec], None]) -> None:
    """Register the instance dimension."""
    register(
        DimensionSpec(
            name="instance",
            factory=InstanceDimension,
            config_model=InstanceConfig,
            summary="the same object (DINOv2-small CLS embeddings, cosine)",
            model_files=(DINOV2_SMALL,),
            licence="code MIT; weights Apache-2.0 (Meta DINOv2)",
        )
    )


INSTANCE_PRESETS: tuple[Preset, ...] = (
    Preset(
        name="similar",
        target="instance",
        threshold=0.7,
        summary="the same object, re-photographed",
        note=(
            "the same object, re-photographed; from 0.1's calibration notes (DINOv2: unrelated "
            "photos near 0, the same object 0.7 and up); not measured here, the model file "
            "cannot be downloaded on the build machines"
        ),
    ),
)
"""The instance dimension's presets (see ``benchmarks/presets.py``)."""


@hookimpl
def imageprism_register_presets(register: Callable[[Preset], None]) -> None:
    """Register the instance preset (from 0.1's calibration notes, not measured)."""
    for preset in INSTANCE_PRESETS:
        register(preset)
