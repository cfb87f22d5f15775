"""imageprism: compare images on several kinds of similarity at once."""

from imageprism._version import __version__
from imageprism.cache import EmbeddingCache
from imageprism.dimension import Dimension, DimensionConfig, DimensionSpec
from imageprism.dimensions.hash import HashConfig
from imageprism.errors import (
    ConfigError,
    ConfigTypeError,
    DimensionError,
    ImageLoadError,
    ImagePrismError,
    ModelFileError,
    PackNotInstalledError,
    PluginError,
    UnknownDimensionError,
    UnknownProfileError,
)
from imageprism.hookspecs import hookimpl
from imageprism.images import PreparedImage, prepare
from imageprism.index import ImageIndex, IndexFileError, SearchHit
from imageprism.prism import ImagePrism
from imageprism.profiles import Profile, ProfileSpec
from imageprism.results import CompareResult, DedupResult, EmbeddingBatch, ImageFailure

__all__ = [
    "CompareResult",
    "ConfigError",
    "ConfigTypeError",
    "DedupResult",
    "Dimension",
    "DimensionConfig",
    "DimensionError",
    "DimensionSpec",
    "EmbeddingBatch",
    "EmbeddingCache",
    "HashConfig",
    "ImageFailure",
    "ImageIndex",
    "ImageLoadError",
    "ImagePrism",
    "ImagePrismError",
    "IndexFileError",
    "ModelFileError",
    "PackNotInstalledError",
    "PluginError",
    "PreparedImage",
    "Profile",
    "ProfileSpec",
    "SearchHit",
    "UnknownDimensionError",
    "UnknownProfileError",
    "__version__",
    "hookimpl",
    "prepare",
]
