"""The face dimension: plugin wiring, embedders (NCHW/NHWC, pins), None rules."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnx_builders
import pytest

from imageprism import ImagePrism, ModelFileError
from imageprism.plugin.registry import get_registry
from imageprism_face import FaceConfig
from imageprism_face.dimension import face_plugins

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
ULTRAFACE = SHARED / "models/ultraface/version-RFB-320.onnx"
FACES = SHARED / "data/faces"


def test_face_pack_registers_through_its_own_hooks():
    detectors, embedders, errors = face_plugins()
    assert {"ultraface", "yunet"} <= set(detectors)
    assert {"arcface", "onnx"} <= set(embedders)
    assert errors == []
    assert get_registry().plugin_of("face").distribution == "imageprism-face"


def test_face_config_keeps_the_01_positional_fields():
    config = FaceConfig("my-org/my-model", "model.onnx")
    assert (config.embed_repo, config.embed_file) == ("my-org/my-model", "model.onnx")
    assert config.effective_embedder == "onnx"
    assert FaceConfig().effective_embedder == "arcface"


def test_face_threads_are_bounded_like_the_model_dimensions():
    from imageprism import ConfigError

    with pytest.raises(ConfigError, match="less than or equal to 64"):
        ImagePrism(["face"], config={"face": {"intra_op_threads": 10**6}})
    assert FaceConfig(intra_op_threads=64).intra_op_threads == 64


def test_unknown_detector_names_the_choices():
    from imageprism import ConfigError

    with pytest.raises(ConfigError, match="available: .*ultraface"):
        ImagePrism(["face"], config={"face": {"detector": "nosuch"}})


def test_the_unpinned_default_arcface_is_refused_with_what_to_pass(tmp_path):
    prism = ImagePrism(["face"], config={"face": {"detector_path": str(tmp_path / "x.onnx")}})
    with pytest.raises(ModelFileError, match="embed_revision=<commit>, embed_sha256="):
        prism.dimension("face").embedder.fingerprint  # noqa: B018


@pytest.fixture
def shared_faces() -> list[Path]:
    if not ULTRAFACE.is_file() or not FACES.is_dir():
        pytest.skip(f"real face detector and photos not available under {SHARED}")
    if importlib.util.find_spec("imageprism_face.detectors.ultraface") is None:
        pytest.skip("the UltraFace detector module is not present")
    return sorted(FACES.glob("*.jpg"))


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_a_face_scores_one_with_itself_and_none_without_a_face(shared_faces, tmp_path, layout):
    model = onnx_builders.save(onnx_builders.arcface(layout=layout), tmp_path / "emb.onnx")
    config = FaceConfig(detector_path=ULTRAFACE, embed_path=model)
    prism = ImagePrism(["face"], config={"face": config})
    photo = shared_faces[0]
    assert prism.compare(photo, photo).scores["face"] == pytest.approx(1.0)
    blank = np.full((240, 320, 3), 128, dtype=np.uint8)
    result = prism.compare(photo, blank)
    assert result.scores["face"] is None and result.weighted_score == 0.0
    other = prism.compare(photo, shared_faces[1]).scores["face"]
    assert other is not None and 0.0 <= other <= 1.0
