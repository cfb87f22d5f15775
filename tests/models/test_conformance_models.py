"""The model pack's dimensions pass the conformance suite (``imageprism.testing``) with the
test suite's tiny ONNX stand-ins of their models (same input and output names and shapes)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import onnx_builders

from imageprism.testing import DimensionContractTests

_TINY = Path(tempfile.mkdtemp(prefix="imageprism-conformance-models-"))
_BUILDERS = {
    "semantic": onnx_builders.clip_vision,
    "instance": onnx_builders.dinov2,
    "style": onnx_builders.mobilenetv2_multi,
}


def tiny_model(dimension: str, seed: int = 11) -> str:
    """A tiny stand-in of the dimension's model; another seed gives other weights."""
    path = _TINY / f"{dimension}-{seed}.onnx"
    if not path.exists():
        onnx_builders.save(_BUILDERS[dimension](seed=seed), path)
    return str(path)


class _TinyModelContract(DimensionContractTests):
    @property
    def config(self):  # type: ignore[override]
        return {"model_path": tiny_model(self.dimension_name)}

    @property
    def changed_configs(self):  # type: ignore[override]
        # other weights must change the fingerprint (it hashes the model file)
        return ({"model_path": tiny_model(self.dimension_name, seed=12)},)


class TestSemanticContract(_TinyModelContract):
    dimension_name = "semantic"


class TestInstanceContract(_TinyModelContract):
    dimension_name = "instance"


class TestStyleContract(_TinyModelContract):
    dimension_name = "style"
