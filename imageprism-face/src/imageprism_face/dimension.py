"""The ``face`` dimension: detector -> largest face -> alignment -> embedder -> cosine."""

from __future__ import annotations

import hashlib
import inspect
import math
import numbers
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np

from imageprism.errors import (
    DimensionError,
    ImagePrismError,
    ModelFileError,
    PluginError,
)
from imageprism.io.images import PreparedImage
from imageprism.plugin import Metric, get_registry
from imageprism.plugin.outputs import Culprit, EmbeddingCheck, describe_value
from imageprism.runtime.providers import execution_providers
from imageprism.scoring import cosine_scores
from imageprism_face.config import FaceConfig
from imageprism_face.faces import Face, FaceDetector, FaceEmbedder
from imageprism_face.registry import choose as _choose
from imageprism_face.registry import face_plugins

#: Images are searched for faces at this shorter side (detectors resize anyway).
DETECTION_SIDE = 640


def _finite_landmarks(landmarks: object) -> bool:
    try:
        points = np.asarray(landmarks, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return points.shape == (5, 2) and bool(np.isfinite(points).all())


class FaceDimension:
    """Cosine of the largest face's embedding; None when an image has no face.

    The detector and the embedder may come from other plugins than the face pack,
    so what they do is checked where it enters and a fault names them and their
    distribution (``Culprit``), never the face pack: a factory that raises or builds
    something else than a ``FaceDetector``/``FaceEmbedder`` is a ``PluginError``
    (raised on first use); a call that raises, faces that are not ``Face`` objects
    with finite boxes and scores, or vectors that are not one 1-D finite, non-zero
    float array per face, all as long as the first, are a ``DimensionError`` for
    that image.
    """

    name = "face"
    metric: Metric = "cosine"

    def __init__(self, config: FaceConfig | None = None) -> None:
        self.config = config or FaceConfig()
        execution_providers(self.config.providers)  # an uninstalled one fails now, not later
        detectors, embedders, errors = face_plugins()
        self._detector_spec = _choose("detector", self.config.detector, detectors, errors)
        self._embedder_spec = _choose("embedder", self.config.effective_embedder, embedders, errors)
        self._detector_culprit = self._culprit("detector", self.config.detector)
        self._embedder_culprit = self._culprit("embedder", self.config.effective_embedder)
        self._vectors = EmbeddingCheck("cosine", returns="embed_faces must return")

    @staticmethod
    def _culprit(kind: str, name: str) -> Culprit:
        """Who registered the face ``kind`` called ``name`` (the registry decided it once,
        clashes included, when it loaded the plugins)."""
        return Culprit.of(f"face {kind} {name!r}", get_registry().owner_of(f"face {kind}", name))

    def _build(self, kind: str) -> Any:
        """The face ``kind`` (detector or embedder) built by its spec's factory, and checked."""
        if kind == "detector":
            spec, culprit, method = self._detector_spec, self._detector_culprit, "detect"
        else:
            spec, culprit, method = self._embedder_spec, self._embedder_culprit, "embed_faces"
        try:
            built = spec.factory(self.config)  # type: ignore[attr-defined]
        except ImagePrismError:
            raise  # e.g. ModelFileError: the message already says what to do
        except Exception as err:
            raise culprit.error(f"could not be built: {type(err).__name__}: {err}") from err
        missing = object()  # getattr_static: a fingerprint property may hash a file; not yet
        if any(
            inspect.getattr_static(built, member, missing) is missing
            for member in ("name", "fingerprint", method)
        ) or not callable(getattr(built, method)):
            protocol = "FaceDetector" if kind == "detector" else "FaceEmbedder"
            raise culprit.error(
                f"built {describe_value(built)}, which does not implement the {protocol} "
                f"protocol (name, fingerprint, {method})"
            )
        return built

    @cached_property
    def detector(self) -> FaceDetector:
        """The detector, built on first use (a ``PluginError`` naming it if that fails)."""
        detector: FaceDetector = self._build("detector")
        return detector

    @cached_property
    def embedder(self) -> FaceEmbedder:
        """The embedder, built on first use (a ``PluginError`` naming it if that fails)."""
        embedder: FaceEmbedder = self._build("embedder")
        return embedder

    @cached_property
    def fingerprint(self) -> str:
        """Changes with the detector, the embedder and their files."""
        text = f"face/1/{self.detector.fingerprint}/{self.embedder.fingerprint}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _fault(self, culprit: Culprit, problem: str, image: PreparedImage) -> DimensionError:
        return culprit.image_error(problem, dimension=self.name, source=image.source)

    def _detect(self, image: PreparedImage, pixels: np.ndarray) -> list[Face]:
        """The detector's faces in ``pixels``, checked."""
        culprit = self._detector_culprit
        try:
            faces = self.detector.detect(pixels)
        except (ModelFileError, PluginError):
            raise  # about every image (its model file), or already naming the component
        except Exception as err:
            raise self._fault(
                culprit, f"failed on {image.source}: {type(err).__name__}: {err}", image
            ) from err
        if not isinstance(faces, list | tuple):
            raise self._fault(
                culprit, f"returned {describe_value(faces)} for {image.source}, not a list", image
            )
        for face in faces:
            if not isinstance(face, Face):
                problem = f"{describe_value(face)} among the faces, not a Face"
            elif len(face.box) != 4 or not all(
                isinstance(v, numbers.Real) and math.isfinite(v) for v in (*face.box, face.score)
            ):
                problem = f"a face whose box or score is not finite numbers ({face!r})"
            elif face.landmarks is not None and not _finite_landmarks(face.landmarks):
                problem = f"a face whose landmarks are not 5x2 finite numbers ({face!r})"
            else:
                continue
            raise self._fault(culprit, f"returned {problem} for {image.source}", image)
        return list(faces)

    def _embed(self, image: PreparedImage, pixels: np.ndarray, face: Face) -> np.ndarray:
        """The embedder's vector for ``face``, checked."""
        culprit = self._embedder_culprit
        try:
            vectors = self.embedder.embed_faces(pixels, [face])
        except (ModelFileError, PluginError):
            raise  # about every image (its model file), or already naming the component
        except Exception as err:
            raise self._fault(
                culprit, f"failed on {image.source}: {type(err).__name__}: {err}", image
            ) from err
        if not isinstance(vectors, list | tuple) or len(vectors) != 1:
            if isinstance(vectors, list | tuple):
                got = f"{len(vectors)} vectors"
            else:
                got = describe_value(vectors)
            raise self._fault(
                culprit,
                f"returned {got} for 1 face in {image.source}; embed_faces must return "
                "one vector per face",
                image,
            )
        problem = self._vectors.problems(vectors)[0]
        if problem is not None:
            raise self._fault(culprit, f"returned {problem} for {image.source}", image)
        return vectors[0]

    def embed_batch(self, images: Sequence[PreparedImage]) -> list[np.ndarray | None]:
        """The embedding of each image's largest face, or None where no face is found.

        Raises:
            DimensionError: the detector or the embedder failed on an image, or
                returned something refused (names it, its plugin and distribution).
            PluginError: the detector or the embedder could not be built.
        """
        out: list[np.ndarray | None] = []
        for image in images:
            pixels = np.asarray(image.rgb(min_side=DETECTION_SIDE))
            faces = self._detect(image, pixels)
            if self.config.min_face_score is not None:
                faces = [f for f in faces if f.score >= self.config.min_face_score]
            if not faces:
                out.append(None)
                continue
            largest = max(faces, key=lambda face: face.area)
            out.append(self._embed(image, pixels, largest))
        return out

    def similarity_many(self, a: np.ndarray, others: np.ndarray) -> np.ndarray:
        """Cosine of ``a`` with each row, clipped to [0, 1]."""
        return cosine_scores(a, others)

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        """Cosine of two face embeddings, clipped to [0, 1]."""
        return float(self.similarity_many(a, np.asarray(b)[None, :])[0])
