"""The pinned default detector files: downloaded once from the hub, verified, then offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx_builders
import pytest
from hubstub import HubStub

from imageprism import ImagePrism, ModelFileError, prepare
from imageprism.plugin.registry import get_registry
from imageprism.runtime.hub import sha256_of
from imageprism_face import FaceConfig
from imageprism_face.detectors.yunet import YuNetDetector
from imageprism_face.models import DEFAULT_DETECTOR_FILES, ULTRAFACE_RFB_320, YUNET_2023MAR

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
FACES = SHARED / "data" / "faces"
ULTRAFACE = SHARED / "models" / "ultraface" / "version-RFB-320.onnx"
YUNET = SHARED / "models" / "yunet" / "face_detection_yunet_2026may.onnx"


def _needs(*paths: Path) -> None:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        pytest.skip(f"not available under {SHARED}: {', '.join(missing)}")


def test_every_built_in_detector_has_a_pinned_default():
    assert set(DEFAULT_DETECTOR_FILES) == {"ultraface", "yunet"}
    assert all(model.pinned and model.size for model in DEFAULT_DETECTOR_FILES.values())
    spec = get_registry().dimension("face")
    assert set(spec.model_files) == {ULTRAFACE_RFB_320, YUNET_2023MAR}


def test_the_shared_ultraface_file_is_the_pinned_one():
    # ../shared's copy came from upstream: the pin's sha256 and size must be those bytes
    _needs(ULTRAFACE)
    assert sha256_of(ULTRAFACE) == ULTRAFACE_RFB_320.sha256
    assert ULTRAFACE.stat().st_size == ULTRAFACE_RFB_320.size


def test_the_default_detector_is_downloaded_once_verified_and_then_used_offline(
    hub: HubStub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    _needs(ULTRAFACE, FACES)
    pin = ULTRAFACE_RFB_320
    hub.add_file(pin.repo_id, pin.filename, ULTRAFACE.read_bytes(), revision=pin.revision)
    embedder = onnx_builders.save(onnx_builders.arcface(), tmp_path / "emb.onnx")
    config = FaceConfig(embed_path=embedder)  # no detector_path: the pinned default
    photo = FACES / "img20.jpg"
    result = ImagePrism(["face"], config={"face": config}).compare(photo, photo)
    assert result.scores["face"] == pytest.approx(1.0)
    assert hub.count("GET", pin.filename) == 1
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    again = ImagePrism(["face"], config={"face": config}, cache_size=0)
    assert again.compare(photo, photo).scores["face"] == pytest.approx(1.0)
    assert hub.count("GET", pin.filename) == 1


def test_a_default_detector_file_that_is_not_the_pinned_one_is_refused(
    hub: HubStub, tmp_path: Path
):
    _needs(YUNET, FACES)
    pin = YUNET_2023MAR
    hub.add_file(pin.repo_id, pin.filename, YUNET.read_bytes(), revision=pin.revision)
    embedder = onnx_builders.save(onnx_builders.arcface(), tmp_path / "emb.onnx")
    prism = ImagePrism(["face"], config={"face": FaceConfig(detector="yunet", embed_path=embedder)})
    with pytest.raises(ModelFileError, match="face_detection_yunet_2023mar.onnx"):
        prism.compare(FACES / "img20.jpg", FACES / "img21.jpg")


def _iou(a, b) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_a_yunet_file_with_a_fixed_640_input_finds_the_same_faces(tmp_path: Path):
    # the pinned 2023mar file takes a fixed 1x3x640x640 input: images are letterboxed into it
    _needs(YUNET, FACES)
    onnx = pytest.importorskip("onnx", reason="the onnx package is needed to fix the input")
    model = onnx.load(YUNET)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for dim in dims[2:]:
        dim.ClearField("dim_param")
        dim.dim_value = 640
    fixed_path = tmp_path / "yunet_640.onnx"
    onnx.save(model, fixed_path)
    fixed, dynamic = YuNetDetector(fixed_path), YuNetDetector(YUNET)
    assert fixed.fixed_size == (640, 640) and dynamic.fixed_size is None
    checked = 0
    for photo in sorted(FACES.glob("img*.jpg"))[:12]:
        image = prepare(photo).array()
        want, got = dynamic.detect(image), fixed.detect(image)
        assert len(got) == len(want), photo.name
        for a, b in zip(want, got, strict=True):
            assert _iou(a.box, b.box) > 0.9, photo.name
            assert np.abs(a.landmarks - b.landmarks).max() < 0.05 * (a.box[2] - a.box[0])
        checked += len(want)
    assert checked >= 12
    mismatched = YuNetDetector(fixed_path, input_size=(320, 320))
    with pytest.raises(ValueError, match="takes a fixed 640x640 input, not input_size"):
        mismatched.detect(prepare(FACES / "img20.jpg").array())
