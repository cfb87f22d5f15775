"""The bundled detectors' boxes, scores and landmarks on real photos, pinned to recorded values.

A preprocessing slip (YuNet fed RGB instead of BGR, UltraFace fed BGR instead of RGB, a
wrong normalisation or resize) still finds faces, so only the numbers show it: these were
recorded with the detectors as they are (``prepare(photo).array()`` into ``detect``) on
the upstream models in ``../shared/models``. Boxes and landmarks are in the photo's
pixels, compared to 1.5 px; scores to 1e-3.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imageprism import prepare
from imageprism_face.detectors.ultraface import UltraFaceDetector
from imageprism_face.detectors.yunet import YuNetDetector

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
FACES = SHARED / "data" / "faces"
ULTRAFACE = SHARED / "models" / "ultraface" / "version-RFB-320.onnx"
YUNET = SHARED / "models" / "yunet" / "face_detection_yunet_2026may.onnx"
PIXELS = 1.5
SCORE = 1e-3

Box = tuple[float, float, float, float]
Points = tuple[tuple[float, float], ...]

# photo: [(box, score)], best score first
ULTRAFACE_FACES: dict[str, list[tuple[Box, float]]] = {
    "img1.jpg": [
        ((432.67, 160.22, 1012.12, 1009.52), 1.000000),
    ],
    "img2.jpg": [
        ((587.99, 167.60, 965.42, 695.53), 0.999998),
    ],
    "img11.jpg": [
        ((155.46, 80.73, 430.17, 439.77), 1.000000),
    ],
    "img20.jpg": [
        ((314.39, 69.34, 583.30, 483.81), 0.999987),
    ],
    "img21.jpg": [
        ((89.15, 94.23, 301.94, 375.14), 1.000000),
    ],
    "img30.jpg": [
        ((385.56, 191.86, 796.40, 776.70), 0.993326),
    ],
    "couple.jpg": [
        ((1414.55, 261.41, 1978.14, 1105.94), 1.000000),
        ((325.45, 487.62, 923.75, 1338.66), 1.000000),
    ],
}

# photo: [(box, score, landmarks)], best score first
YUNET_FACES: dict[str, list[tuple[Box, float, Points]]] = {
    "img1.jpg": [
        (
            (416.56, 201.35, 1026.62, 1019.62),
            0.958316,
            (
                (582.11, 519.41),
                (873.20, 520.97),
                (732.47, 686.28),
                (590.20, 787.24),
                (859.12, 787.57),
            ),
        ),
    ],
    "img2.jpg": [
        (
            (583.90, 170.69, 972.15, 696.08),
            0.953574,
            (
                (666.27, 396.50),
                (851.77, 390.22),
                (754.71, 502.50),
                (690.01, 569.82),
                (850.76, 562.13),
            ),
        ),
    ],
    "img11.jpg": [
        (
            (154.28, 88.82, 430.46, 455.63),
            0.945691,
            (
                (251.22, 209.07),
                (374.34, 242.99),
                (300.71, 305.71),
                (219.18, 336.78),
                (331.19, 366.52),
            ),
        ),
    ],
    "img20.jpg": [
        (
            (315.78, 92.09, 589.29, 488.36),
            0.954932,
            (
                (389.12, 259.33),
                (522.30, 251.12),
                (466.09, 329.87),
                (402.16, 380.75),
                (527.76, 371.78),
            ),
        ),
    ],
    "img21.jpg": [
        (
            (82.83, 61.02, 303.15, 376.93),
            0.945135,
            (
                (155.05, 190.02),
                (255.65, 192.52),
                (212.98, 249.41),
                (154.74, 289.10),
                (249.86, 291.08),
            ),
        ),
    ],
    "img30.jpg": [
        (
            (362.16, 184.29, 801.16, 823.74),
            0.952343,
            (
                (467.47, 435.77),
                (679.79, 423.90),
                (583.67, 548.00),
                (498.61, 657.03),
                (682.68, 644.62),
            ),
        ),
    ],
    "couple.jpg": [
        (
            (1397.27, 294.07, 1976.76, 1091.84),
            0.946624,
            (
                (1629.30, 634.78),
                (1887.67, 605.06),
                (1836.76, 789.78),
                (1672.11, 908.34),
                (1895.17, 882.28),
            ),
        ),
        (
            (329.21, 478.88, 946.05, 1321.61),
            0.938735,
            (
                (574.51, 868.37),
                (834.28, 816.28),
                (797.46, 1009.26),
                (649.00, 1147.48),
                (863.81, 1105.79),
            ),
        ),
    ],
}


def _needs(*paths: Path) -> None:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        pytest.skip(f"the shared models and photos are not available: {', '.join(missing)}")


def _check(name: str, faces: list, expected: list) -> None:
    assert len(faces) == len(expected), f"{name}: {len(faces)} faces, recorded {len(expected)}"
    for number, (face, want) in enumerate(zip(faces, expected, strict=True)):
        where = f"{name} face {number}"
        assert np.abs(np.subtract(face.box, want[0])).max() <= PIXELS, (where, face.box, want[0])
        assert face.score == pytest.approx(want[1], abs=SCORE), where
        if len(want) > 2:
            assert face.landmarks is not None, where
            assert np.abs(face.landmarks - np.array(want[2])).max() <= PIXELS, where


@pytest.mark.parametrize("photo", sorted(ULTRAFACE_FACES))
def test_ultraface_finds_the_recorded_boxes_and_scores(photo: str):
    _needs(ULTRAFACE, FACES)
    detector = UltraFaceDetector(ULTRAFACE)
    _check(photo, detector.detect(prepare(FACES / photo).array()), ULTRAFACE_FACES[photo])


@pytest.mark.parametrize("photo", sorted(YUNET_FACES))
def test_yunet_finds_the_recorded_boxes_scores_and_landmarks(photo: str):
    _needs(YUNET, FACES)
    detector = YuNetDetector(YUNET)
    _check(photo, detector.detect(prepare(FACES / photo).array()), YUNET_FACES[photo])
