"""What plugins register with the face pack: detectors and embedders."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imageprism_face.config import FaceConfig
    from imageprism_face.faces import FaceDetector, FaceEmbedder


@dataclass(frozen=True)
class FaceDetectorSpec:
    """A face detector a plugin provides.

    Attributes:
        name: What ``FaceConfig(detector=...)`` selects it by.
        factory: Builds the detector from the face dimension's config.
        summary: One line for listings.
        model_files: Model files it downloads (for ``models pull``).
        licence: Licence of its code and weights.
    """

    name: str
    factory: Callable[[FaceConfig], FaceDetector]
    summary: str
    model_files: tuple[Any, ...] = field(default=())
    licence: str = ""


@dataclass(frozen=True)
class FaceEmbedderSpec:
    """A face embedder a plugin provides.

    Attributes:
        name: What ``FaceConfig(embedder=...)`` selects it by.
        factory: Builds the embedder from the face dimension's config.
        summary: One line for listings.
        model_files: Model files it downloads.
        licence: Licence of its code and weights.
    """

    name: str
    factory: Callable[[FaceConfig], FaceEmbedder]
    summary: str
    model_files: tuple[Any, ...] = field(default=())
    licence: str = ""
