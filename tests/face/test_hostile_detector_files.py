"""A detector's model file rewritten after it was checked is never loaded."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from imageprism import ModelFileError
from imageprism_face.detectors.ultraface import UltraFaceDetector
from imageprism_face.detectors.yunet import YuNetDetector

SHARED_MODELS = Path(__file__).resolve().parents[2].parent / "shared" / "models"
FILES = {
    UltraFaceDetector: SHARED_MODELS / "ultraface" / "version-RFB-320.onnx",
    YuNetDetector: SHARED_MODELS / "yunet" / "face_detection_yunet_2026may.onnx",
}


@pytest.mark.parametrize("detector", list(FILES), ids=lambda d: d.name)
def test_a_detector_file_rewritten_after_the_detector_was_made_is_refused(detector, tmp_path):
    source = FILES[detector]
    if not source.is_file():
        pytest.skip(f"real detector not available: {source} is absent")
    path = Path(shutil.copy(source, tmp_path / source.name))
    made = detector(path)  # checked (hashed) here, as its fingerprint says
    other = detector(Path(shutil.copy(source, tmp_path / "other.onnx")))
    path.write_bytes(other.path.read_bytes()[:-1] + b"\0")  # another file, same size
    with pytest.raises(ModelFileError, match="changed after it was verified") as info:
        made.session  # noqa: B018
    assert str(path) in str(info.value)
    assert other.session is not None  # an unchanged file loads
