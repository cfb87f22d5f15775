"""Messages about the face pack's model files name the FaceConfig field that takes the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imageprism import ImagePrism, ModelFileError
from imageprism.runtime.hub import resolve_model_file
from imageprism_face import Face, FaceConfig
from imageprism_face.embedders.onnx import OnnxFaceEmbedder
from imageprism_face.models import DEFAULT_DETECTOR_FILES

YUNET = (
    Path(__file__).resolve().parents[2].parent
    / "shared/models/yunet/face_detection_yunet_2026may.onnx"
)


def test_a_non_onnx_embed_path_says_the_file_given_is_not_an_onnx_model(tmp_path):
    path = tmp_path / "my-embedder.onnx"
    path.write_bytes(b"this is not a model")
    embedder = OnnxFaceEmbedder(FaceConfig(embed_path=path), name="onnx", default=None)

    image = np.zeros((64, 64, 3), dtype=np.uint8)
    with pytest.raises(ModelFileError) as caught:
        embedder.embed_faces(image, [Face(box=(8.0, 8.0, 56.0, 56.0), score=0.9)])
    message = str(caught.value)
    assert f"{path} (given as embed_path) is not a loadable ONNX model" in message
    assert "pull it again" not in message


def test_a_missing_embed_path_is_named_as_such(tmp_path):
    config = FaceConfig(embed_path=tmp_path / "nowhere.onnx")
    embedder = ImagePrism(["face"], config={"face": config}).dimension("face").embedder
    with pytest.raises(ModelFileError, match=r"nowhere.onnx \(embed_path for .*\) not found"):
        embedder.embed_faces(
            np.zeros((64, 64, 3), dtype=np.uint8), [Face(box=(8.0, 8.0, 56.0, 56.0), score=0.9)]
        )


def test_offline_an_uncached_embedder_says_to_pass_embed_path(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = FaceConfig("my-org/embedder", "model.onnx", embed_revision="main")
    embedder = ImagePrism(["face"], config={"face": config}).dimension("face").embedder
    with pytest.raises(ModelFileError) as caught:
        embedder.embed_faces(
            np.zeros((64, 64, 3), dtype=np.uint8), [Face(box=(8.0, 8.0, 56.0, 56.0), score=0.9)]
        )
    assert "pass its path as embed_path= in the dimension's config" in str(caught.value)
    assert "model_path=" not in str(caught.value)


def test_offline_an_uncached_detector_file_says_to_pass_detector_path(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelFileError) as caught:
        resolve_model_file(
            DEFAULT_DETECTOR_FILES["yunet"], dimension="face", path_option="detector_path"
        )
    assert "pass its path as detector_path= in the dimension's config" in str(caught.value)
    assert "model_path=" not in str(caught.value)


def test_offline_the_face_dimension_says_to_pass_detector_path(monkeypatch, tmp_path):
    # through the face pack's own detector factory, not only the hub function
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("IMAGEPRISM_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf"))
    face = ImagePrism(["face"], config={"face": {"detector": "yunet"}}).dimension("face")
    with pytest.raises(ModelFileError) as caught:
        face.detector  # noqa: B018 (built on first use)
    assert "detector_path=" in str(caught.value)
    assert "model_path=" not in str(caught.value)


def test_the_face_detectors_run_on_the_configs_providers():
    if not YUNET.is_file():
        pytest.skip(f"{YUNET} is absent (../shared beside the repository)")
    config = FaceConfig(detector="yunet", detector_path=YUNET, providers=["cpu"])
    detector = ImagePrism(["face"], config={"face": config}).dimension("face").detector
    assert detector.providers == ("CPUExecutionProvider",)
    assert detector.given_as == "detector_path"
