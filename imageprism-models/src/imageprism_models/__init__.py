"""imageprism model pack: semantic, instance and style dimensions."""

from imageprism_models._version import __version__

__all__ = ["__version__"]
