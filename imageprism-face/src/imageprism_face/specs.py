"""What plugins register with the face pack: detectors and embedders.

Both are ``imageprism.plugin.ComponentSpec`` (frozen pydantic models, like every
spec core takes); they differ only in what their factory builds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from imageprism.plugin import ComponentSpec

__all__ = ["FaceDetectorSpec", "FaceEmbedderSpec"]


class FaceDetectorSpec(ComponentSpec):
    """A face detector a plugin provides.

    Attributes:
        name: What ``FaceConfig(detector=...)`` selects it by.
        factory: Builds the detector (a ``FaceDetector``) from the face dimension's
            config (a ``FaceConfig``).
        summary: One line for listings.
        model_files: Model files it downloads (for ``models pull``).
        licence: Licence of its code and weights.
    """

    factory: Callable[[Any], Any]


class FaceEmbedderSpec(ComponentSpec):
    """A face embedder a plugin provides.

    Attributes:
        name: What ``FaceConfig(embedder=...)`` selects it by.
        factory: Builds the embedder (a ``FaceEmbedder``) from the face dimension's
            config (a ``FaceConfig``).
        summary: One line for listings.
        model_files: Model files it downloads.
        licence: Licence of its code and weights.
    """

    factory: Callable[[Any], Any]
