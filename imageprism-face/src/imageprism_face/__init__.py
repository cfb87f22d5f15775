"""imageprism face pack: face detectors and embedders behind the face dimension."""

from imageprism_face._version import __version__

__all__ = ["__version__"]
