"""Face detectors: NMS, UltraFace and YuNet decoding on the real photos of ../shared/data/faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imageprism import prepare
from imageprism_face.detectors.nms import nms
from imageprism_face.detectors.ultraface import UltraFaceDetector
from imageprism_face.detectors.yunet import YuNetDetector
from imageprism_face.faces import Face, FaceDetector

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
FACES = SHARED / "data" / "faces"
ULTRAFACE = SHARED / "models" / "ultraface" / "version-RFB-320.onnx"
YUNET = SHARED / "models" / "yunet" / "face_detection_yunet_2026may.onnx"

#: Photos of several people, and how many faces each detector must find at least.
GROUPS = {
    "couple.jpg": 2,  # two people side by side, both facing the camera
    "selfie-many-people.jpg": 5,  # seven or eight faces, two of them cut by the frame
}
#: Portraits in which other people's faces are visible too (looked at by eye): the
#: detectors may rightly find them, so these photos are not held to "exactly one".
BYSTANDERS = {
    "img16.jpg": "blurred people at both edges",
    "img31.jpg": "two blurred people behind him, one facing the camera",
    "img40.jpg": "a blurred photographer's face at the lower left",
    "img41.jpg": "a large, heavily blurred person on the right",
    "img54.jpg": "a crowd behind her, faces small but sharp",
    "img59.jpg": "a man in profile cut by the left edge",
    "img62.jpg": "two people at the bottom corners",
}


def _detectors() -> dict[str, FaceDetector]:
    if not (ULTRAFACE.is_file() and YUNET.is_file() and FACES.is_dir()):
        pytest.skip(
            f"face models or photos not available under {SHARED} "
            "(../shared is not beside the clone)"
        )
    return {"ultraface": UltraFaceDetector(ULTRAFACE), "yunet": YuNetDetector(YUNET)}


@pytest.fixture(scope="module")
def detectors() -> dict[str, FaceDetector]:
    """Both detectors with their default settings (skips without ../shared)."""
    return _detectors()


@pytest.fixture(scope="module")
def detections(
    detectors: dict[str, FaceDetector],
) -> dict[str, dict[str, tuple[list[Face], tuple[int, int]]]]:
    """detector name -> photo name -> (faces, (height, width)); each photo decoded once."""
    found: dict[str, dict[str, tuple[list[Face], tuple[int, int]]]] = {n: {} for n in detectors}
    for path in sorted(FACES.glob("*.jpg")):
        image = prepare(path).array()
        for name, detector in detectors.items():
            found[name][path.name] = (detector.detect(image), image.shape[:2])
    return found


def _single_face_photos() -> list[str]:
    return [
        p.name
        for p in sorted(FACES.glob("*.jpg"))
        if p.name not in GROUPS and p.name not in BYSTANDERS
    ]


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


# --- NMS -------------------------------------------------------------------------------


def test_nms_keeps_the_better_of_two_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11]], dtype=float)
    assert nms(boxes, np.array([0.6, 0.9]), 0.3) == [1]
    assert nms(boxes, np.array([0.9, 0.6]), 0.3) == [0]


def test_nms_keeps_disjoint_boxes_best_first() -> None:
    boxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [50, 0, 60, 10]], dtype=float)
    assert nms(boxes, np.array([0.5, 0.9, 0.7]), 0.3) == [1, 2, 0]


def test_nms_threshold_is_an_upper_bound_on_kept_overlap() -> None:
    # IoU of these two is 50 / 150 = 1/3.
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], dtype=float)
    assert nms(boxes, np.array([0.9, 0.8]), 0.3) == [0]
    assert nms(boxes, np.array([0.9, 0.8]), 0.4) == [0, 1]


def test_nms_suppression_chains_only_through_kept_boxes() -> None:
    # b overlaps a and c; once a drops b, c (disjoint from a) is kept.
    boxes = np.array([[0, 0, 10, 10], [4, 0, 14, 10], [9, 0, 19, 10]], dtype=float)
    assert nms(boxes, np.array([0.9, 0.8, 0.7]), 0.3) == [0, 2]


def test_nms_edge_cases() -> None:
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.3) == []
    assert nms(np.array([[0, 0, 0, 0], [0, 0, 0, 0]]), np.array([0.5, 0.4]), 0.3) == [0, 1]
    with pytest.raises(ValueError, match="2 boxes but 1 scores"):
        nms(np.zeros((2, 4)), np.zeros(1), 0.3)


# --- the detectors on real photos ----------------------------------------------------


def test_detectors_meet_the_protocol(detectors: dict[str, FaceDetector]) -> None:
    for name, detector in detectors.items():
        assert isinstance(detector, FaceDetector)
        assert detector.name == name
        assert isinstance(detector.fingerprint, str) and len(detector.fingerprint) == 16


def test_fingerprints_follow_the_settings(detectors: dict[str, FaceDetector]) -> None:
    assert UltraFaceDetector(ULTRAFACE).fingerprint == detectors["ultraface"].fingerprint
    assert YuNetDetector(YUNET).fingerprint == detectors["yunet"].fingerprint
    assert (
        UltraFaceDetector(ULTRAFACE, score_threshold=0.8).fingerprint
        != detectors["ultraface"].fingerprint
    )
    assert YuNetDetector(YUNET, iou_threshold=0.4).fingerprint != detectors["yunet"].fingerprint
    assert YuNetDetector(YUNET, input_size=(320, 320)).fingerprint != detectors["yunet"].fingerprint


def test_photo_set_is_the_expected_one() -> None:
    _detectors()
    names = {p.name for p in FACES.glob("*.jpg")}
    assert set(GROUPS) | set(BYSTANDERS) <= names
    assert len(_single_face_photos()) >= 50


@pytest.mark.parametrize("name", ["ultraface", "yunet"])
def test_each_single_face_photo_yields_one_face(
    detections: dict[str, dict[str, tuple[list[Face], tuple[int, int]]]],
    detectors: dict[str, FaceDetector],
    name: str,
) -> None:
    threshold = detectors[name].score_threshold  # type: ignore[attr-defined]
    wrong = {
        photo: [round(f.score, 3) for f in detections[name][photo][0]]
        for photo in _single_face_photos()
        if len(detections[name][photo][0]) != 1 or detections[name][photo][0][0].score < threshold
    }
    assert not wrong, f"{name}: photos not giving exactly one face (scores): {wrong}"


@pytest.mark.parametrize("name", ["ultraface", "yunet"])
def test_group_photos_yield_several_faces(
    detections: dict[str, dict[str, tuple[list[Face], tuple[int, int]]]], name: str
) -> None:
    counts = {photo: len(detections[name][photo][0]) for photo in GROUPS}
    assert counts["couple.jpg"] == GROUPS["couple.jpg"]
    assert counts["selfie-many-people.jpg"] >= GROUPS["selfie-many-people.jpg"]


def test_detectors_agree_on_the_main_face(
    detections: dict[str, dict[str, tuple[list[Face], tuple[int, int]]]],
) -> None:
    """On portraits, with or without bystanders, both detectors put the subject first."""
    portraits = [*_single_face_photos(), *BYSTANDERS, "couple.jpg"]
    disagree = {}
    for photo in portraits:
        ultraface, yunet = detections["ultraface"][photo][0], detections["yunet"][photo][0]
        if not ultraface or not yunet:
            disagree[photo] = "no face"
            continue
        overlap = _iou(ultraface[0].box, yunet[0].box)
        if overlap < 0.5:
            disagree[photo] = round(overlap, 2)
    assert not disagree, f"best boxes of the two detectors differ (IoU): {disagree}"


@pytest.mark.parametrize("name", ["ultraface", "yunet"])
def test_faces_are_sorted_and_inside_the_image(
    detections: dict[str, dict[str, tuple[list[Face], tuple[int, int]]]],
    detectors: dict[str, FaceDetector],
    name: str,
) -> None:
    threshold = detectors[name].score_threshold  # type: ignore[attr-defined]
    for photo, (faces, (height, width)) in detections[name].items():
        scores = [f.score for f in faces]
        assert scores == sorted(scores, reverse=True), photo
        for face in faces:
            x1, y1, x2, y2 = face.box
            assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height, (photo, face.box)
            assert threshold <= face.score <= 1, (photo, face.score)
            assert all(isinstance(v, float) for v in (*face.box, face.score))
            if name == "ultraface":
                assert face.landmarks is None


def test_yunet_landmarks_sit_on_the_face_in_landmarks_order(
    detections: dict[str, dict[str, tuple[list[Face], tuple[int, int]]]],
) -> None:
    for photo, (faces, _) in detections["yunet"].items():
        for face in faces:
            points = face.landmarks
            assert points is not None and points.shape == (5, 2), photo
            left_eye, right_eye, nose, left_mouth, right_mouth = points
            x1, y1, x2, y2 = face.box
            slack = 0.25 * max(x2 - x1, y2 - y1)
            assert (points[:, 0] >= x1 - slack).all() and (points[:, 0] <= x2 + slack).all()
            assert (points[:, 1] >= y1 - slack).all() and (points[:, 1] <= y2 + slack).all()
            assert left_eye[0] < right_eye[0], (photo, points)
            assert left_mouth[0] < right_mouth[0], (photo, points)
            assert max(left_eye[1], right_eye[1]) < min(left_mouth[1], right_mouth[1]), photo
            assert max(left_eye[1], right_eye[1]) < nose[1], photo


def test_yunet_landmarks_follow_a_mirrored_photo(detectors: dict[str, FaceDetector]) -> None:
    image = prepare(FACES / "img25.jpg").array()
    width = image.shape[1]
    (face,) = detectors["yunet"].detect(image)
    (mirrored,) = detectors["yunet"].detect(np.ascontiguousarray(image[:, ::-1]))
    assert face.landmarks is not None and mirrored.landmarks is not None
    # Mirroring swaps image-left and image-right: left eye <-> right eye, mouth likewise.
    expected = face.landmarks[[1, 0, 2, 4, 3]].copy()
    expected[:, 0] = width - expected[:, 0]
    assert np.abs(mirrored.landmarks - expected).max() < 0.05 * (face.box[2] - face.box[0])


@pytest.mark.parametrize("name", ["ultraface", "yunet"])
@pytest.mark.parametrize("shape", [(480, 640), (37, 1000), (1, 1), (2000, 30)])
def test_a_uniform_grey_image_has_no_face(
    detectors: dict[str, FaceDetector], name: str, shape: tuple[int, int]
) -> None:
    image = np.full((*shape, 3), 128, dtype=np.uint8)
    assert detectors[name].detect(image) == []


def test_yunet_fixed_input_size(detectors: dict[str, FaceDetector]) -> None:
    image = prepare(FACES / "img20.jpg").array()
    (expected,) = detectors["yunet"].detect(image)
    faces = YuNetDetector(YUNET, input_size=(320, 256)).detect(image)
    assert len(faces) == 1 and _iou(faces[0].box, expected.box) > 0.7
    with pytest.raises(ValueError, match="multiples of 32"):
        YuNetDetector(YUNET, input_size=(300, 320))


@pytest.mark.parametrize("name", ["ultraface", "yunet"])
def test_detect_refuses_what_is_not_an_rgb_uint8_image(
    detectors: dict[str, FaceDetector], name: str
) -> None:
    for bad in (
        np.zeros((10, 10), dtype=np.uint8),
        np.zeros((10, 10, 4), dtype=np.uint8),
        np.zeros((10, 10, 3), dtype=np.float32),
        np.zeros((0, 10, 3), dtype=np.uint8),
    ):
        with pytest.raises(ValueError):
            detectors[name].detect(bad)
