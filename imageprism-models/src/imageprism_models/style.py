"""The ``style`` dimension: the same look, by feature statistics of MobileNetV2's middle blocks.

0.1 compared the classifier's 1000 logits, which measures "same class", not
style. Style is the statistics of mid-level features (as in Gatys et al. and
AdaIN): here the per-channel mean and standard deviation of three MobileNetV2
blocks (24 channels at 1/4 scale, 32 at 1/8, 96 at 1/16), each block's vector
normalised, concatenated (304 values). Score: cosine clipped to [0, 1].

Model: ``onnxmodelzoo/mobilenetv2-12``, ``mobilenetv2-12.onnx`` (ONNX Model
Zoo, Apache-2.0, 14 MB). It only outputs class scores, so on first use the
block outputs are added to its graph with the ``onnx`` package (found by shape:
the last tensor of each block's channel count and scale) and the edited model is
cached, keyed by the source file's sha256. The cached copy is never trusted: it
is built again from the verified source once per process and used only when
byte for byte the same, and its sha256 is part of the fingerprint. A file that
already has outputs named ``block3``, ``block6`` and ``block13`` (like the one in
``../shared``) is used as is.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from imageprism.errors import ModelFileError
from imageprism.plugin import DimensionSpec, Preset, hookimpl
from imageprism.runtime.hub import ModelConfig, ModelFile, derived_file, file_sha256
from imageprism.runtime.model_dimension import ModelDimension, unit_rows
from imageprism_models.preprocess import MOBILENETV2

if TYPE_CHECKING:
    import onnx

MOBILENETV2_12 = ModelFile(
    repo_id="onnxmodelzoo/mobilenetv2-12",
    filename="mobilenetv2-12.onnx",
    revision="23a2a25eaaa6fcd61865414c8a1acf13dda66b7a",
    sha256="c0c3f76d93fa3fd6580652a45618618a220fced18babf65774ed169de0432ad5",
    licence="Apache-2.0 (ONNX Model Zoo)",
)

#: The blocks used, by output name, with (channels, height, width) at a 224x224 input.
BLOCKS: dict[str, tuple[int, int, int]] = {
    "block3": (24, 56, 56),
    "block6": (32, 28, 28),
    "block13": (96, 14, 14),
}


def _static_shape(value_info: onnx.ValueInfoProto) -> tuple[int, ...] | None:
    dims = value_info.type.tensor_type.shape.dim
    if len(dims) != 4 or any(not d.HasField("dim_value") for d in dims[1:]):
        return None
    return tuple(int(d.dim_value) for d in dims[1:])


def find_block_tensors(model: onnx.ModelProto) -> dict[str, str]:
    """For each block, the last tensor of the graph with its (channels, height, width).

    Args:
        model: An ``onnx.ModelProto`` of a MobileNetV2 with a 224x224 input.

    Raises:
        ModelFileError: some block has no tensor of that shape.
    """
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {vi.name: _static_shape(vi) for vi in inferred.graph.value_info}
    shapes.update({vi.name: _static_shape(vi) for vi in inferred.graph.output})
    found: dict[str, str] = {}
    for node in inferred.graph.node:  # topological order: later wins
        for tensor in node.output:
            for block, shape in BLOCKS.items():
                if shapes.get(tensor) == shape:
                    found[block] = tensor
    missing = [block for block in BLOCKS if block not in found]
    if missing:
        raise ModelFileError(
            f"no tensor of shape {[BLOCKS[b] for b in missing]} in the model: not a MobileNetV2 "
            "with a 224x224 input?"
        )
    return found


def with_block_outputs(path: Path) -> Path:
    """``path`` if it already outputs every block; else a cached copy that does.

    The copy is named by the source's sha256 and built again from ``path`` (already
    verified) once per process: the cached file is used only when it holds the same
    bytes, and is replaced otherwise (``imageprism.runtime.hub.derived_file``).
    """
    try:
        import onnx
    except ImportError as err:
        raise ModelFileError(
            "the style dimension needs the onnx package: pip install onnx"
        ) from err
    try:
        model = onnx.load(str(path), load_external_data=False)
        if {o.name for o in model.graph.output} >= set(BLOCKS):
            return path
        name = f"{file_sha256(path)}.onnx"
    except Exception as err:  # protobuf DecodeError, OSError, ...
        raise ModelFileError(
            f"model file {path} cannot be read as an ONNX model: {type(err).__name__}: {err}"
        ) from err
    derived = derived_file("style", name, lambda: _with_outputs(model, path))
    return path if derived is None else derived


def _with_outputs(model: onnx.ModelProto, path: Path) -> bytes:
    """The serialized ``model`` with every block added to its outputs."""
    import onnx

    try:
        tensors = find_block_tensors(model)
    except ModelFileError:
        raise
    except Exception as err:  # shape inference errors, ...
        raise ModelFileError(
            f"model file {path} cannot be read as an ONNX model: {type(err).__name__}: {err}"
        ) from err
    for block, tensor in tensors.items():
        if tensor != block:
            identity = onnx.helper.make_node("Identity", [tensor], [block], name=f"ip_{block}")
            model.graph.node.append(identity)
        channels, height, width = BLOCKS[block]
        model.graph.output.append(
            onnx.helper.make_tensor_value_info(
                block, onnx.TensorProto.FLOAT, ["batch", channels, height, width]
            )
        )
    return model.SerializeToString()


def style_statistics(maps: list[np.ndarray]) -> np.ndarray:
    """Per image: each block's channel means and standard deviations, block-normalised, joined.

    Args:
        maps: One NxCxHxW array per block.
    """
    parts = []
    for block in maps:
        flat = block.reshape(block.shape[0], block.shape[1], -1).astype(np.float64)
        stats = np.concatenate([flat.mean(axis=2), flat.std(axis=2)], axis=1)
        parts.append(unit_rows(stats) / np.sqrt(len(maps)))
    return np.concatenate(parts, axis=1).astype(np.float32)


class StyleConfig(ModelConfig):
    """Config of the style dimension; see ``ModelConfig`` for pointing at another file."""


class StyleDimension(ModelDimension):
    """Channel statistics of three MobileNetV2 blocks compared by cosine."""

    name = "style"
    default_model = MOBILENETV2_12
    recipe = MOBILENETV2
    version = "1"
    # MobileNetV2's activations outgrow the CPU caches in a batch: on 2 cores one image
    # per call is ~25% faster than 16 (benchmarks/model_batching.py).
    images_per_call = 1

    def __init__(self, config: StyleConfig | None = None) -> None:
        super().__init__(config or StyleConfig())
        self.model.transform = with_block_outputs

    def _vectors(self, batch: np.ndarray) -> np.ndarray:
        return style_statistics(self.model.run(batch, list(BLOCKS)))


@hookimpl
def imageprism_register_dimensions(register: Callable[[DimensionSpec], None]) -> None:
    """Register the style dimension."""
    register(
        DimensionSpec(
            name="style",
            factory=StyleDimension,
            config_model=StyleConfig,
            summary="the same look (MobileNetV2 mid-level feature statistics, cosine)",
            model_files=(MOBILENETV2_12,),
            licence="code MIT; weights Apache-2.0 (ONNX Model Zoo MobileNetV2)",
        )
    )


STYLE_PRESETS: tuple[Preset, ...] = (
    Preset(
        name="exact",
        target="style",
        threshold=0.92,
        precision=0.1771513353115727,
        recall=0.995,
        benchmark="photos-transforms/v1",
        summary="the same picture re-encoded or resized, by its look",
        note=(
            "the same picture re-encoded or resized, by its look; style cannot find copies: "
            "quarter-size copies score so low that keeping 99% of the re-saves lets 2773 of the "
            "4950 unrelated pairs match here; find copies with hash (measured with the "
            "torchvision MobileNetV2 weights of ../shared, not the pinned ONNX Model Zoo file)"
        ),
    ),
    Preset(
        name="near-duplicate",
        target="style",
        threshold=0.97,
        precision=0.9609902475618904,
        recall=0.854,
        benchmark="photos-transforms/v1",
        summary="the same picture edited, by its look",
        note=(
            "the same picture edited, by its look: keeps nearly all re-encodes, half- and "
            "double-size copies, crops up to 25%, rotations, mirrorings and recolourings, but "
            "few blurred (5%) or quarter-size (14%) copies and 69% of 50%-centre crops, and "
            "matches 52 of the 4950 unrelated pairs here; a look, not an identity: pair it with "
            "hash (measured with the torchvision MobileNetV2 weights of ../shared, not the pinned "
            "ONNX Model Zoo file)"
        ),
    ),
    Preset(
        name="similar",
        target="style",
        threshold=0.92,
        precision=0.6522801302931596,
        recall=0.8431578947368421,
        benchmark="style-renderings/v1",
        summary="the same look (rendering); a weak signal",
        note=(
            "the same look (rendering); a weak signal: measured with the torchvision "
            "MobileNetV2 weights of ../shared, not the pinned ONNX Model Zoo file, whose scores "
            "may sit elsewhere"
        ),
    ),
)
"""The style dimension's presets (see ``benchmarks/presets.py``)."""


@hookimpl
def imageprism_register_presets(register: Callable[[Preset], None]) -> None:
    """Register the style presets (measured with the torchvision MobileNetV2 weights)."""
    for preset in STYLE_PRESETS:
        register(preset)
