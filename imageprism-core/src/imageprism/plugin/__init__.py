"""The plugin API: what a plugin author imports, and the registry that loads plugins.

A plugin is a module (or object) named by an entry point in the ``imageprism``
group. It implements hooks with ``hookimpl`` (``imageprism_register_dimensions``
and the others in ``imageprism.plugin.hookspecs``), each receiving a ``register``
callback. A dimension implements the ``Dimension`` protocol, and may offer the
optional capabilities ``ScoresMany``, ``HammingCodes``, ``RanksByCodeDistance``
and ``Configured``; it is registered as a ``DimensionSpec`` whose config is a
frozen ``DimensionConfig``. Profiles and presets are ``ProfileSpec`` and
``Preset``; every spec is a frozen pydantic model (``ComponentSpec`` is the base
that packs extend, as the face pack does for detectors and embedders). The
registry (``get_registry``) loads every plugin on its own, so one that fails is
recorded with its name and distribution while the others keep working. The
conformance suites are ``imageprism.testing`` (``pip install "imageprism-core[testing]"``;
the face suites are ``imageprism_face.testing``).
"""

from imageprism.plugin.dimension import (
    PACKAGES,
    Configured,
    Dimension,
    HammingCodes,
    Metric,
    RanksByCodeDistance,
    ScoresMany,
)
from imageprism.plugin.hookspecs import hookimpl, hookspec
from imageprism.plugin.outputs import EMBEDDING_DTYPES, Culprit, EmbeddingCheck
from imageprism.plugin.registry import (
    Clash,
    PluginAllowListWarning,
    PluginInfo,
    Registration,
    Registry,
    get_registry,
)
from imageprism.plugin.specs import (
    ComponentSpec,
    DimensionConfig,
    DimensionSpec,
    Preset,
    ProfileSpec,
)

__all__ = [
    "EMBEDDING_DTYPES",
    "PACKAGES",
    "Clash",
    "ComponentSpec",
    "Configured",
    "Culprit",
    "Dimension",
    "DimensionConfig",
    "DimensionSpec",
    "EmbeddingCheck",
    "HammingCodes",
    "Metric",
    "PluginAllowListWarning",
    "PluginInfo",
    "Preset",
    "ProfileSpec",
    "RanksByCodeDistance",
    "Registration",
    "Registry",
    "ScoresMany",
    "get_registry",
    "hookimpl",
    "hookspec",
]
