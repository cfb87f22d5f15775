"""What detectors and embedders exchange: a found face, and the two protocols."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

#: Order of the five landmarks, as in the ArcFace template: the eye and mouth
#: corner on the image's left come first.
LANDMARKS = ("left_eye", "right_eye", "nose", "left_mouth", "right_mouth")


@dataclass(frozen=True)
class Face:
    """A face found in an image, in that image's pixel coordinates.

    Attributes:
        box: ``(x1, y1, x2, y2)``, corners of the face's box.
        score: The detector's confidence in [0, 1].
        landmarks: 5x2 ``(x, y)`` points in ``LANDMARKS`` order, or None when the
            detector gives none.
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray | None = None

    @property
    def area(self) -> float:
        """Area of the box in pixels."""
        x1, y1, x2, y2 = self.box
        return max(0.0, x2 - x1) * max(0.0, y2 - y1)


@runtime_checkable
class FaceDetector(Protocol):
    """Finds faces in an RGB image (HxWx3 ``uint8``)."""

    name: str
    fingerprint: str

    def detect(self, image: np.ndarray) -> list[Face]:
        """Every face found, best score first."""
        ...


@runtime_checkable
class FaceEmbedder(Protocol):
    """Turns faces of an image into embedding vectors (it aligns or crops them itself)."""

    name: str
    fingerprint: str

    def embed_faces(self, image: np.ndarray, faces: Sequence[Face]) -> list[np.ndarray]:
        """One float vector per face, in order."""
        ...
