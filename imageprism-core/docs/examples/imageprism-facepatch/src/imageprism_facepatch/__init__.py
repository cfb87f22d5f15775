"""The ``facepatch`` face embedder: a toy stand-in for a model you hold the rights to.

Embedding: the face aligned to 112x112 by the face pack, averaged down to 16x16
grey, mean-centred and L2-normalised (256 float32). The face pack detects the
faces, picks the largest and scores by cosine; an embedder only turns faces into
vectors. Replace ``_vector`` with a call to your own model.
"""

from collections.abc import Callable, Sequence

import numpy as np

from imageprism import hookimpl
from imageprism_face import Face, FaceConfig, FaceEmbedderSpec
from imageprism_face.align import align_face

SIDE = 16
_GREY = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class FacePatchEmbedder:
    name = "facepatch"
    # Part of the face dimension's cache keys: bump "v1" whenever the vectors change.
    fingerprint = f"facepatch/v1/{SIDE}"

    def embed_faces(self, image: np.ndarray, faces: Sequence[Face]) -> list[np.ndarray]:
        return [self._vector(align_face(image, face, size=112)) for face in faces]

    @staticmethod
    def _vector(crop: np.ndarray) -> np.ndarray:
        grey = crop.astype(np.float32) @ _GREY  # 112x112
        step = grey.shape[0] // SIDE  # 7: each cell is the mean of a 7x7 block
        patch = grey.reshape(SIDE, step, SIDE, step).mean(axis=(1, 3)).ravel()
        patch -= patch.mean()
        norm = float(np.linalg.norm(patch))
        if norm == 0:  # a flat crop: one fixed unit vector (all zeros would be refused)
            return np.full(SIDE * SIDE, 1.0 / SIDE, dtype=np.float32)
        return patch / norm


def _factory(config: FaceConfig) -> FacePatchEmbedder:
    return FacePatchEmbedder()  # a real model would read its file or settings from config


@hookimpl
def imageprism_register_face_embedders(register: Callable[[FaceEmbedderSpec], None]) -> None:
    register(
        FaceEmbedderSpec(
            name="facepatch",
            factory=_factory,
            summary="toy: the aligned face as 16x16 grey pixels (an example plugin)",
            licence="MIT (no weights)",
        )
    )
