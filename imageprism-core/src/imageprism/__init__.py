"""imageprism: compare images on several kinds of similarity at once."""

from imageprism import _compat
from imageprism._version import __version__
from imageprism.builtins.hash import HashConfig
from imageprism.builtins.profiles import Profile
from imageprism.cache import EmbeddingCache
from imageprism.errors import (
    ConfigError,
    ConfigTypeError,
    DimensionError,
    ImageLoadError,
    ImagePrismError,
    ModelFileError,
    PackNotInstalledError,
    PluginError,
    PluginWarning,
    UnknownDimensionError,
    UnknownProfileError,
)
from imageprism.index.index import ImageIndex, SearchHit
from imageprism.index.manifest import IndexFileError
from imageprism.io.images import PreparedImage, prepare
from imageprism.plugin.dimension import Dimension
from imageprism.plugin.hookspecs import hookimpl
from imageprism.plugin.specs import DimensionConfig, DimensionSpec, ProfileSpec
from imageprism.prism import ImagePrism
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
    "PluginWarning",
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


_compat.install_moved_module_finder()


def __getattr__(name: str) -> object:
    if name == "FaceConfig":
        return _compat.face_config()
    raise AttributeError(f"module 'imageprism' has no attribute {name!r}")
