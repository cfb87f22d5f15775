"""pluggy hook specifications of imageprism, and the markers plugins use.

A plugin is a module (or object) named by an entry point in the ``imageprism``
group; it implements any of these hooks with ``@hookimpl``. Registration hooks
receive a ``register`` callback rather than returning lists.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from imageprism.plugin.specs import DimensionSpec, Preset, ProfileSpec

PROJECT = "imageprism"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def imageprism_add_hookspecs(pluginmanager: pluggy.PluginManager) -> None:
    """Add a pack's own hook specifications to the manager (like ``pytest_addhooks``)."""


@hookspec
def imageprism_register_dimensions(register: "Callable[[DimensionSpec], None]") -> None:
    """Register dimensions by calling ``register(DimensionSpec(...))`` once per dimension."""


@hookspec
def imageprism_register_profiles(register: "Callable[[ProfileSpec], None]") -> None:
    """Register profiles by calling ``register(ProfileSpec(...))`` once per profile."""


@hookspec
def imageprism_register_presets(register: "Callable[[Preset], None]") -> None:
    """Register threshold presets by calling ``register(Preset(...))`` once per preset."""
