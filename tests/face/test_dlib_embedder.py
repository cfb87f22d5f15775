"""The dlib embedder: registration, the install hint, and real faces of ../shared/data/faces."""

from __future__ import annotations

import csv
import importlib.util
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from imageprism import ImagePrism
from imageprism.errors import ImagePrismError
from imageprism_face import Face, FaceConfig
from imageprism_face.dimension import face_plugins

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
FACES = SHARED / "data" / "faces"
YUNET = SHARED / "models" / "yunet" / "face_detection_yunet_2026may.onnx"
INSTALL = 'pip install "imageprism-face[dlib]"'


def _missing() -> str:
    """Why the real dlib tests cannot run here, or empty."""
    for module in ("dlib", "face_recognition_models"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed ({INSTALL})"
    try:
        import dlib  # noqa: F401
    except ImportError as err:
        return f"dlib cannot be imported: {err}"
    if not (YUNET.is_file() and (FACES / "master.csv").is_file()):
        return f"the shared face photos and YuNet model are not available under {SHARED}"
    return ""


needs_dlib = pytest.mark.skipif(bool(_missing()), reason=_missing() or "dlib is available")


def _pairs(decision: str, count: int) -> list[tuple[Path, Path]]:
    with (FACES / "master.csv").open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["Decision"].strip() == decision]
    return [(FACES / row["file_x"], FACES / row["file_y"]) for row in rows[:count]]


@pytest.fixture
def prism() -> ImagePrism:
    config = FaceConfig(embedder="dlib", detector="yunet", detector_path=YUNET)
    return ImagePrism(["face"], config={"face": config})


def test_dlib_is_registered_with_its_licence():
    _, embedders, errors = face_plugins()
    assert errors == []
    spec = embedders["dlib"]
    assert "CC0" in spec.licence and "Boost" in spec.licence
    assert "5-point" in spec.summary


def test_without_dlib_the_error_says_what_to_install(monkeypatch):
    from imageprism_face.embedders.dlib import DlibFaceEmbedder

    monkeypatch.setitem(sys.modules, "dlib", None)  # makes `import dlib` raise ImportError
    with pytest.raises(ImagePrismError, match=r"pip install \"imageprism-face\[dlib\]\""):
        DlibFaceEmbedder(FaceConfig(embedder="dlib"))


@pytest.mark.skipif(not YUNET.is_file(), reason=f"the YuNet model is not available under {SHARED}")
def test_without_dlib_embedding_stops_with_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)
    config = FaceConfig(embedder="dlib", detector="yunet", detector_path=YUNET)
    prism = ImagePrism(["face"], config={"face": config})
    with pytest.raises(ImagePrismError, match=r"imageprism-face\[dlib\]"):
        prism.embed(np.zeros((64, 64, 3), dtype=np.uint8))


@needs_dlib
def test_same_person_pairs_score_clearly_higher_than_different_people(prism):
    same = [prism.compare(a, b).scores["face"] for a, b in _pairs("Yes", 4)]
    different = [prism.compare(a, b).scores["face"] for a, b in _pairs("No", 4)]
    assert None not in same and None not in different
    assert min(same) > max(different)  # type: ignore[type-var]
    assert np.mean(same) - np.mean(different) > 0.05  # type: ignore[arg-type]


@needs_dlib
def test_an_image_without_a_face_gives_none(prism):
    blank = np.full((240, 320, 3), 128, dtype=np.uint8)
    assert prism.embed(blank)["face"] is None
    photo = _pairs("Yes", 1)[0][0]
    result = prism.compare(photo, blank)
    assert result.scores["face"] is None and result.weighted_score == 0.0


@needs_dlib
def test_embeddings_are_128_d_unit_vectors(prism):
    vector = prism.embed(_pairs("Yes", 1)[0][0])["face"]
    assert vector is not None
    assert vector.shape == (128,) and vector.dtype == np.float32
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


@needs_dlib
def test_embedder_is_deterministic_across_threads_and_fingerprinted(prism):
    from imageprism import prepare

    dimension = prism.dimension("face")
    embedder = dimension.embedder  # type: ignore[attr-defined]
    assert embedder.name == "dlib"
    assert len(embedder.fingerprint) == 16
    pixels = prepare(_pairs("Yes", 1)[0][0]).array(min_side=640)
    faces = dimension.detector.detect(pixels)  # type: ignore[attr-defined]
    largest = max(faces, key=lambda face: face.area)
    shifted = Face(tuple(v + 2 for v in largest.box), largest.score)  # type: ignore[arg-type]
    expected = embedder.embed_faces(pixels, [largest, shifted])
    assert len(expected) == 2 and embedder.embed_faces(pixels, []) == []
    results: list[list[np.ndarray]] = []

    def work() -> None:
        results.append(embedder.embed_faces(pixels, [largest, shifted]))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4
    for got in results:
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-6)
