"""Hook specifications the face pack adds to imageprism's plugin manager.

The pack adds them itself (``imageprism_add_hookspecs``, like pytest's
``pytest_addhooks``), so core knows nothing of faces.
"""

from __future__ import annotations

from collections.abc import Callable

from imageprism.plugin import hookspec
from imageprism_face.specs import FaceDetectorSpec, FaceEmbedderSpec


@hookspec
def imageprism_register_face_detectors(register: Callable[[FaceDetectorSpec], None]) -> None:
    """Register face detectors by calling ``register(FaceDetectorSpec(...))`` once per detector."""


@hookspec
def imageprism_register_face_embedders(register: Callable[[FaceEmbedderSpec], None]) -> None:
    """Register face embedders by calling ``register(FaceEmbedderSpec(...))`` once per embedder."""
