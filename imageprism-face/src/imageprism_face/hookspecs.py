"""Hook specifications the face pack adds to imageprism's plugin manager."""

from collections.abc import Callable
from typing import Any

from imageprism.plugin.hookspecs import hookspec


@hookspec
def imageprism_register_face_detectors(register: Callable[[Any], None]) -> None:
    """Register face detectors by calling ``register(spec)`` once per detector."""


@hookspec
def imageprism_register_face_embedders(register: Callable[[Any], None]) -> None:
    """Register face embedders by calling ``register(spec)`` once per embedder."""
