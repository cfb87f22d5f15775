"""The face pack's detectors and embedders pass the face conformance suites
(``imageprism_face.testing``) on real faces from ../shared/data/faces, and a broken
embedder fails them with the values stated."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx_builders
import pytest
from PIL import Image

from imageprism import prepare
from imageprism.io.images import PreparedImage
from imageprism.testing import DimensionContractTests
from imageprism_face import Face
from imageprism_face.testing import (
    FACE_PHOTOS_HELP,
    FaceDetectorContractTests,
    FaceEmbedderContractTests,
    check_detections,
    check_face_vectors,
    face_images_or_skip,
    load_face_photos,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
FACES = SHARED / "data" / "faces"
ULTRAFACE = SHARED / "models" / "ultraface" / "version-RFB-320.onnx"
YUNET = SHARED / "models" / "yunet" / "face_detection_yunet_2026may.onnx"
#: One photo of each of six different people (master.csv pairs none of them), each
#: showing one clear face. They are read from ../shared, never copied into the repository.
PHOTOS = [FACES / f"img{n}.jpg" for n in (1, 3, 8, 13, 18, 20)]

_TINY = Path(tempfile.mkdtemp(prefix="imageprism-conformance-face-"))


def _shared(*paths: Path) -> None:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        pytest.skip(f"not available (../shared is not beside the clone): {', '.join(missing)}")


def tiny_embedder(seed: int = 4) -> Path:
    """The test suite's tiny ArcFace-shaped ONNX embedder (MLP of 8-pixel cell colours)."""
    path = _TINY / f"arcface-{seed}.onnx"
    if not path.exists():
        onnx_builders.save(onnx_builders.arcface(seed=seed), path)
    return path


class _SharedFaces:
    face_photos = PHOTOS

    @pytest.fixture(autouse=True)
    def _needs_shared(self):
        _shared(ULTRAFACE, YUNET, *PHOTOS)


class TestUltraFaceContract(_SharedFaces, FaceDetectorContractTests):
    detector_name = "ultraface"
    config = {"detector": "ultraface", "detector_path": str(ULTRAFACE)}
    changed_configs = ({"min_face_score": 0.9},)


class TestYuNetContract(_SharedFaces, FaceDetectorContractTests):
    detector_name = "yunet"
    config = {"detector": "yunet", "detector_path": str(YUNET)}
    changed_configs = ({"min_face_score": 0.9}, {"detector_path": str(ULTRAFACE)})


class TestOnnxEmbedderContract(_SharedFaces, FaceEmbedderContractTests):
    """The generic ONNX embedder with a tiny test model, faces found by YuNet (landmarks)."""

    embedder_name = "onnx"

    @property
    def config(self):  # type: ignore[override]
        return {
            "detector": "yunet",
            "detector_path": str(YUNET),
            "embed_path": str(tiny_embedder()),
        }

    @property
    def changed_configs(self):  # type: ignore[override]
        return ({"embed_path": str(tiny_embedder(seed=5))},)


class TestOnnxEmbedderOnUltraFaceContract(TestOnnxEmbedderContract):
    """The same embedder on UltraFace's boxes (no landmarks: a crop with margin)."""

    @property
    def config(self):  # type: ignore[override]
        return {"detector_path": str(ULTRAFACE), "embed_path": str(tiny_embedder())}


def _dlib_missing() -> str | None:
    for module in ("dlib", "face_recognition_models"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install 'imageprism-face[dlib]')"
    return None


class TestDlibEmbedderContract(_SharedFaces, FaceEmbedderContractTests):
    embedder_name = "dlib"
    config = {"detector": "yunet", "detector_path": str(YUNET)}
    fingerprint_ignores_config = True  # its fingerprint hashes its two model files only

    @pytest.fixture(autouse=True)
    def _needs_dlib(self):
        missing = _dlib_missing()
        if missing:
            pytest.skip(missing)


def _face_photo_images() -> list[PreparedImage]:
    """Face photos at several sizes and aspect ratios: whole, halved, and a tall crop."""
    images = []
    for label, photo in load_face_photos(PHOTOS[:3]):
        width = photo.shape[1]
        variants = {
            "whole": photo,
            "half": np.asarray(Image.fromarray(photo).reduce(2)),
            "tall crop": photo[:, width // 4 : width * 3 // 4],
        }
        for kind, array in variants.items():
            image = prepare(np.ascontiguousarray(array))
            image.source = f"<{label}, {kind}>"
            images.append(image)
    return images


class TestFaceDimensionContract(_SharedFaces, DimensionContractTests):
    """The face dimension passes the dimension suite once its images show faces (without,
    every image would be None and the suite says to override the images)."""

    dimension_name = "face"

    @property
    def config(self):  # type: ignore[override]
        return {
            "detector": "yunet",
            "detector_path": str(YUNET),
            "embed_path": str(tiny_embedder()),
        }

    @property
    def changed_configs(self):  # type: ignore[override]
        return (
            {"embed_path": str(tiny_embedder(seed=5))},
            {"detector": "ultraface", "detector_path": str(ULTRAFACE)},
        )

    @pytest.fixture
    def make_images(self):
        return _face_photo_images


# --- the suites themselves ------------------------------------------------------------------


def test_without_photos_the_real_face_checks_skip_saying_what_to_set():
    with pytest.raises(pytest.skip.Exception, match=r"set face_photos = \[paths\]"):
        face_images_or_skip([])
    assert "override its face_images fixture" in FACE_PHOTOS_HELP
    assert "imageprism ships no face photos" in FACE_PHOTOS_HELP


class _Broken:
    name = "broken"
    fingerprint = "broken/1"

    def __init__(self, vector):
        self.vector = vector

    def embed_faces(self, image, faces):
        return [self.vector(image, face) for face in faces]


def test_a_face_vector_whose_length_follows_the_box_fails_naming_the_lengths():
    from imageprism_face.testing import FaceEmbedderContractTests as Suite

    def by_width(image, face):
        return np.ones(int(face.box[2] - face.box[0]) % 5 + 2, dtype=np.float32)

    class Check(Suite):
        pass

    with pytest.raises(AssertionError) as failure:
        Check().test_any_image_size_and_box_gives_vectors_of_one_length(_Broken(by_width))
    message = str(failure.value)
    assert "broken: vector lengths vary with the image or face" in message
    assert "gradient 96x72, a box only" in message


def test_nan_zero_and_missing_vectors_fail_with_the_values():
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    face = Face((8.0, 8.0, 40.0, 40.0), 0.9)
    nan = _Broken(lambda image, face: np.array([0.5, np.nan], dtype=np.float32))
    zero = _Broken(lambda image, face: np.zeros(3, dtype=np.float32))
    with pytest.raises(AssertionError, match=r"has 1 NaN or inf values: float32 shape \(2,\)"):
        check_face_vectors(nan, "a test image", image, [face])
    with pytest.raises(AssertionError, match="is all zeros"):
        check_face_vectors(zero, "a test image", image, [face])

    class TooFew(_Broken):
        def embed_faces(self, image, faces):
            return []

    with pytest.raises(AssertionError, match="gave 0 vectors for 2 faces of a test image"):
        check_face_vectors(TooFew(None), "a test image", image, [face, face])


def test_an_embedder_that_gives_every_face_one_vector_fails_as_not_telling_faces_apart():
    from imageprism_face.testing import FaceEmbedderContractTests as Suite

    image = np.zeros((64, 64, 3), dtype=np.uint8)
    face = Face((8.0, 8.0, 40.0, 40.0), 0.9)
    same = _Broken(lambda image, face: np.ones(8, dtype=np.float32))
    faces = [("a.jpg", image, face), ("b.jpg", image, face), ("c.jpg", image, face)]
    with pytest.raises(AssertionError) as failure:
        Suite().test_real_faces_are_told_apart(same, faces)
    message = str(failure.value)
    assert "every pair of the 3 face photos scored at least 0.99 (lowest 1.0" in message


def test_a_detector_with_bad_boxes_or_order_fails_with_them():
    class Detector:
        name = "bad"
        fingerprint = "bad/1"

        def __init__(self, faces):
            self.faces = faces

        def detect(self, image):
            return self.faces

    image = np.zeros((48, 64, 3), dtype=np.uint8)
    outside = Detector([Face((10.0, 10.0, 90.0, 40.0), 0.9)])
    with pytest.raises(AssertionError, match=r"box \(10.0, 10.0, 90.0, 40.0\) is not inside"):
        check_detections(outside, "a test image", image)
    unordered = Detector([Face((0.0, 0.0, 5.0, 5.0), 0.5), Face((9.0, 9.0, 20.0, 20.0), 0.8)])
    with pytest.raises(AssertionError, match=r"best score first, got scores \[0.5, 0.8\]"):
        check_detections(unordered, "a test image", image)
    points = Detector([Face((0.0, 0.0, 5.0, 5.0), 0.5, np.zeros((4, 2)))])
    with pytest.raises(AssertionError, match=r"landmarks must be None or 5x2.*shape \(4, 2\)"):
        check_detections(points, "a test image", image)


def test_photos_load_as_the_face_dimension_sees_them():
    _shared(*PHOTOS)
    (label, image), *_ = load_face_photos(PHOTOS[:1])
    assert label == "img1.jpg" and image.dtype == np.uint8 and image.ndim == 3
    assert min(image.shape[:2]) >= 320


def test_without_pytest_the_import_error_names_the_extra():
    code = "import sys; sys.modules['pytest'] = None; import imageprism_face.testing"
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)
    )
    assert run.returncode == 1
    assert 'pip install "imageprism-core[testing]"' in run.stderr


def test_imageprism_testing_gives_the_face_suites_and_names_the_pack_without_it(monkeypatch):
    import imageprism.testing
    import imageprism_face.testing
    from imageprism import PackNotInstalledError

    assert imageprism.testing.FaceEmbedderContractTests is FaceEmbedderContractTests
    assert imageprism.testing.FaceDetectorContractTests is FaceDetectorContractTests
    with pytest.raises(AttributeError, match="has no attribute 'FaceNothingTests'"):
        imageprism.testing.FaceNothingTests  # noqa: B018
    monkeypatch.setitem(sys.modules, "imageprism_face.testing", None)
    monkeypatch.delattr(imageprism_face, "testing")
    with pytest.raises(PackNotInstalledError, match="pip install imageprism-face") as raised:
        imageprism.testing.FaceEmbedderContractTests  # noqa: B018
    assert raised.value.package == "imageprism-face"
