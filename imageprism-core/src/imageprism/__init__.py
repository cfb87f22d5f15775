"""imageprism: compare images on several kinds of similarity at once."""

from imageprism import _compat
from imageprism._version import __version__
from imageprism.builtins.hash import HashConfig
from imageprism.builtins.profiles import Profile, ProfileSpec
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
    UnknownDimensionError,
    UnknownProfileError,
)
from imageprism.index.index import ImageIndex, IndexFileError, SearchHit
from imageprism.io.images import PreparedImage, prepare
from imageprism.plugin.dimension import Dimension, DimensionConfig, DimensionSpec
from imageprism.plugin.hookspecs import hookimpl
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
    # 0.1 exported FaceConfig from here; it now lives in the separately licensed face pack.
    if name == "FaceConfig":
        try:
            from imageprism_face import FaceConfig
        except ImportError as err:
            raise PackNotInstalledError(
                "FaceConfig comes with the face pack: pip install imageprism-face",
                package="imageprism-face",
            ) from err
        return FaceConfig
    raise AttributeError(f"module 'imageprism' has no attribute {name!r}")
