"""The plugin API: what a plugin author imports, and the registry that loads plugins.

A plugin is a module (or object) named by an entry point in the ``imageprism``
group. It implements hooks with ``hookimpl`` (``imageprism_register_dimensions``
and the others in ``imageprism.plugin.hookspecs``), each receiving a ``register``
callback. A dimension implements the ``Dimension`` protocol and is registered as
a ``DimensionSpec``; its config is a frozen ``DimensionConfig``. The registry
(``get_registry``) loads every plugin on its own, so one that fails is recorded
with its name and distribution while the others keep working. The conformance
suite for plugin authors lives in ``imageprism.plugin.testing`` (it needs pytest).
"""

from imageprism.plugin.dimension import PACKAGES, Dimension, DimensionConfig, DimensionSpec, Metric
from imageprism.plugin.hookspecs import hookimpl, hookspec
from imageprism.plugin.registry import PluginInfo, Registry, get_registry

__all__ = [
    "PACKAGES",
    "Dimension",
    "DimensionConfig",
    "DimensionSpec",
    "Metric",
    "PluginInfo",
    "Registry",
    "get_registry",
    "hookimpl",
    "hookspec",
]
