"""imageprism: compare images on several kinds of similarity at once."""

from imageprism._version import __version__
from imageprism.cache import EmbeddingCache
from imageprism.dimension import Dimension, DimensionSpec
from imageprism.dimensions.hash import HashConfig
from imageprism.errors import (
    ConfigError,
    ImageLoadError,
    ImagePrismError,
    PackNotInstalledError,
    PluginError,
    UnknownDimensionError,
    UnknownProfileError,
)
from imageprism.hookspecs import hookimpl
from imageprism.images import PreparedImage, prepare
from imageprism.prism import ImagePrism
from imageprism.profiles import Profile
from imageprism.results import Comparison, DedupResult, EmbeddingBatch, ImageFailure

__all__ = [
    "Comparison",
    "ConfigError",
    "DedupResult",
    "Dimension",
    "DimensionSpec",
    "EmbeddingBatch",
    "EmbeddingCache",
    "HashConfig",
    "ImageFailure",
    "ImageLoadError",
    "ImagePrism",
    "ImagePrismError",
    "PackNotInstalledError",
    "PluginError",
    "PreparedImage",
    "Profile",
    "UnknownDimensionError",
    "UnknownProfileError",
    "__version__",
    "hookimpl",
    "prepare",
]
