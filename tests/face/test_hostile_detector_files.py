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
    if not all(f.is_file() for f in FILES.values()):
        pytest.skip(f"real detectors not available in {SHARED_MODELS}")
    path = Path(shutil.copy(source, tmp_path / source.name))
    made = detector(path)  # checked (hashed) here, as its fingerprint says
    untouched = detector(Path(shutil.copy(source, tmp_path / "untouched.onnx")))
    (other,) = (f for f in FILES.values() if f != source)
    path.write_bytes(other.read_bytes())  # a valid ONNX model, but not the one checked
    with pytest.raises(ModelFileError, match="changed after it was verified") as info:
        made.session  # noqa: B018
    assert str(path) in str(info.value)
    assert untouched.session is not None  # an unchanged file loads
