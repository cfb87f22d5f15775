"""dlib's ResNet face embedder (128-d) with dlib's own 5-point alignment.

Install with ``pip install "imageprism-face[dlib]"``: ``dlib-bin`` (a prebuilt dlib, Boost
Software License 1.0) and ``face-recognition-models``, which carries the two model files
used here, ``dlib_face_recognition_resnet_model_v1.dat`` and
``shape_predictor_5_face_landmarks.dat``. Davis King released them into the public domain
(dlib-models README); the package's LICENSE file is CC0 1.0. The same package also ships
``shape_predictor_68_face_landmarks.dat``, which is trained on data that excludes
commercial use: it is not used here.

For each face, dlib's 5-point shape predictor runs on the detector's box (as a
``dlib.rectangle``), and ``compute_face_descriptor`` aligns the face chip from those points
and embeds it. Landmarks the detector may give are not used: the descriptor expects dlib's
own points. The vectors are L2-normalised so that the face dimension's cosine applies
(dlib's own threshold, a Euclidean distance of 0.6 between raw descriptors, is close to
unit length already).
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from imageprism.errors import ImagePrismError, ModelFileError
from imageprism.runtime.hub import sha256_of
from imageprism_face.config import FaceConfig
from imageprism_face.faces import Face

#: Bump when preprocessing changes what ``embed_faces`` returns.
_VERSION = 1
INSTALL_HINT = 'the dlib embedder needs: pip install "imageprism-face[dlib]"'
RESNET_FILE = "dlib_face_recognition_resnet_model_v1.dat"
SHAPE_FILE = "shape_predictor_5_face_landmarks.dat"
DIMENSIONS = 128


def _models_folder() -> Path:
    """The ``models`` folder of the installed ``face_recognition_models`` package.

    Found without importing the package: its ``__init__`` imports ``pkg_resources``, which
    recent setuptools no longer provides.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "No module named 'face_recognition_models'", name="face_recognition_models"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class DlibFaceEmbedder:
    """Embeds faces with dlib's ResNet after dlib's 5-point alignment.

    Args:
        config: The face dimension's config (nothing in it concerns this embedder).

    Raises:
        ImagePrismError: dlib or face-recognition-models is not installed.
        ModelFileError: a model file is missing from the installed package.
    """

    name = "dlib"

    def __init__(self, config: FaceConfig | None = None) -> None:
        self.config = config or FaceConfig(embedder="dlib")
        try:
            import dlib

            folder = _models_folder()
        except ImportError as err:
            raise ImagePrismError(INSTALL_HINT) from err
        self._dlib: Any = dlib
        self.resnet_path = folder / RESNET_FILE
        self.shape_path = folder / SHAPE_FILE
        for path in (self.resnet_path, self.shape_path):
            if not path.is_file():
                raise ModelFileError(
                    f"dlib model file {path} is missing; reinstall it: "
                    'pip install --force-reinstall "face-recognition-models>=0.3"'
                )
        # dlib's models are not documented as thread-safe: one call at a time.
        self._lock = threading.Lock()
        self._models: tuple[Any, Any] | None = None

    @cached_property
    def fingerprint(self) -> str:
        """Changes with the two model files' content and this code's version."""
        text = f"{self.name}/{_VERSION}/{sha256_of(self.resnet_path)}/{sha256_of(self.shape_path)}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _load(self) -> tuple[Any, Any]:
        """The shape predictor and the ResNet, loaded on first use (call with the lock held)."""
        if self._models is None:
            self._models = (
                self._dlib.shape_predictor(str(self.shape_path)),
                self._dlib.face_recognition_model_v1(str(self.resnet_path)),
            )
        return self._models

    def embed_faces(self, image: np.ndarray, faces: Sequence[Face]) -> list[np.ndarray]:
        """One L2-normalised 128-d ``float32`` vector per face, in order."""
        if not faces:
            return []
        pixels = np.ascontiguousarray(image, dtype=np.uint8)
        if pixels.ndim != 3 or pixels.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 uint8 RGB image, got {pixels.shape}")
        rectangles = [self._rectangle(face) for face in faces]
        vectors = []
        with self._lock:
            shape_predictor, resnet = self._load()
            for rectangle in rectangles:
                shape = shape_predictor(pixels, rectangle)
                vectors.append(np.asarray(resnet.compute_face_descriptor(pixels, shape)))
        out = np.stack(vectors).astype(np.float32).reshape(len(faces), DIMENSIONS)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return list(out / np.where(norms > 0, norms, 1.0))

    def _rectangle(self, face: Face) -> Any:
        """The face's box as a ``dlib.rectangle`` (integer corners)."""
        x1, y1, x2, y2 = (round(v) for v in face.box)
        return self._dlib.rectangle(x1, y1, max(x2, x1 + 1), max(y2, y1 + 1))
