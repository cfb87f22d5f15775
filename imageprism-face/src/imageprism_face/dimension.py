"""The ``face`` dimension: detector -> largest face -> alignment -> embedder -> cosine."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cached_property

import numpy as np

from imageprism.errors import ConfigError
from imageprism.io.images import PreparedImage
from imageprism.plugin import Metric, get_registry
from imageprism.scoring import cosine_scores
from imageprism_face.config import FaceConfig
from imageprism_face.faces import FaceDetector, FaceEmbedder
from imageprism_face.specs import FaceDetectorSpec, FaceEmbedderSpec

#: Images are searched for faces at this shorter side (detectors resize anyway).
DETECTION_SIDE = 640


def face_plugins() -> tuple[dict[str, FaceDetectorSpec], dict[str, FaceEmbedderSpec], list[str]]:
    """The registered detectors and embedders, and the errors of plugins that failed."""
    registry = get_registry()
    detectors, detector_errors = registry.collect(
        "imageprism_register_face_detectors", FaceDetectorSpec, "face detector"
    )
    embedders, embedder_errors = registry.collect(
        "imageprism_register_face_embedders", FaceEmbedderSpec, "face embedder"
    )
    return detectors, embedders, detector_errors + embedder_errors


def _choose(kind: str, name: str, available: dict, errors: list[str]) -> object:
    if name not in available:
        hint = f"; plugin errors: {'; '.join(errors)}" if errors else ""
        raise ConfigError(
            f"unknown face {kind} {name!r}; available: {', '.join(sorted(available)) or 'none'}"
            + hint
        )
    return available[name]


class FaceDimension:
    """Cosine of the largest face's embedding; None when an image has no face."""

    name = "face"
    metric: Metric = "cosine"

    def __init__(self, config: FaceConfig | None = None) -> None:
        self.config = config or FaceConfig()
        detectors, embedders, errors = face_plugins()
        self._detector_spec = _choose("detector", self.config.detector, detectors, errors)
        self._embedder_spec = _choose("embedder", self.config.effective_embedder, embedders, errors)

    @cached_property
    def detector(self) -> FaceDetector:
        """The detector, built on first use."""
        return self._detector_spec.factory(self.config)  # type: ignore[attr-defined]

    @cached_property
    def embedder(self) -> FaceEmbedder:
        """The embedder, built on first use."""
        return self._embedder_spec.factory(self.config)  # type: ignore[attr-defined]

    @cached_property
    def fingerprint(self) -> str:
        """Changes with the detector, the embedder and their files."""
        text = f"face/1/{self.detector.fingerprint}/{self.embedder.fingerprint}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def embed_batch(self, images: Sequence[PreparedImage]) -> list[np.ndarray | None]:
        """The embedding of each image's largest face, or None where no face is found."""
        out: list[np.ndarray | None] = []
        for image in images:
            pixels = np.asarray(image.rgb(min_side=DETECTION_SIDE))
            faces = self.detector.detect(pixels)
            if self.config.min_face_score is not None:
                faces = [f for f in faces if f.score >= self.config.min_face_score]
            if not faces:
                out.append(None)
                continue
            largest = max(faces, key=lambda face: face.area)
            out.append(self.embedder.embed_faces(pixels, [largest])[0])
        return out

    def similarity_many(self, a: np.ndarray, others: np.ndarray) -> np.ndarray:
        """Cosine of ``a`` with each row, clipped to [0, 1]."""
        return cosine_scores(a, others)

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        """Cosine of two face embeddings, clipped to [0, 1]."""
        return float(self.similarity_many(a, np.asarray(b)[None, :])[0])
