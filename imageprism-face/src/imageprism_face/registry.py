"""The face detectors and embedders plugins registered, and choosing one by name.

They come through the face pack's own hooks (``imageprism_register_face_detectors``
and ``imageprism_register_face_embedders``), which core's registry calls once per
plugin when it loads. A name that two third-party plugins register is refused for
both (and both plugins fail); a first-party one (the face pack's own) keeps its name.
"""

from __future__ import annotations

from typing import Any

from imageprism.errors import ConfigError
from imageprism.plugin import get_registry
from imageprism_face.specs import FaceDetectorSpec, FaceEmbedderSpec

__all__ = ["DETECTOR_HOOK", "EMBEDDER_HOOK", "choose", "face_plugins"]

DETECTOR_HOOK = "imageprism_register_face_detectors"
EMBEDDER_HOOK = "imageprism_register_face_embedders"


def face_plugins() -> tuple[dict[str, FaceDetectorSpec], dict[str, FaceEmbedderSpec], list[str]]:
    """The registered detectors and embedders, and the errors of plugins that failed
    (or whose names were refused)."""
    registry = get_registry()
    detectors, detector_errors = registry.collect(DETECTOR_HOOK, FaceDetectorSpec, "face detector")
    embedders, embedder_errors = registry.collect(EMBEDDER_HOOK, FaceEmbedderSpec, "face embedder")
    return detectors, embedders, detector_errors + embedder_errors


def choose(kind: str, name: str, available: dict[str, Any], errors: list[str]) -> object:
    """The spec registered as face ``kind`` (``"detector"`` or ``"embedder"``) ``name``.

    Raises:
        ConfigError: no plugin registered it (the message lists those that exist and
            the plugin errors), or it is refused because two plugins claim it (the
            message names both and their distributions).
    """
    if name in available:
        return available[name]
    clash = get_registry().refusal(f"face {kind}", name)
    if clash is not None:
        raise ConfigError(clash.describe())
    hint = f"; plugin errors: {'; '.join(errors)}" if errors else ""
    raise ConfigError(
        f"unknown face {kind} {name!r}; available: {', '.join(sorted(available)) or 'none'}" + hint
    )
