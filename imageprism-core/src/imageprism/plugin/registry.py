"""The plugin manager: entry points, the registry of dimensions and profiles, errors per plugin.

Plugins are found through the ``imageprism`` entry-point group (core registers
its hash dimension and built-in profiles the same way). Each plugin is loaded
and called on its own, so one that fails to import or register is recorded
with its name and distribution while the others keep working. (Slightly over
~400 lines: loading, validating and querying the registry are one idea.)
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from imageprism import environment
from imageprism.errors import (
    PackNotInstalledError,
    PluginError,
    UnknownDimensionError,
    UnknownProfileError,
)
from imageprism.plugin import hookspecs
from imageprism.plugin.dimension import PACKAGES
from imageprism.plugin.specs import DimensionSpec, Preset, ProfileSpec

ENTRY_POINT_GROUP = "imageprism"
CORE_DISTRIBUTION = "imageprism-core"


@dataclass(frozen=True)
class PluginInfo:
    """One discovered plugin: where it comes from, what it registered, or why it failed.

    Attributes:
        name: The entry-point name (what ``IMAGEPRISM_DISABLE_PLUGINS`` takes).
        distribution: The distribution that declares the entry point.
        version: That distribution's version.
        dimensions: Names of the dimensions it registered.
        profiles: Names of the profiles it registered.
        error: Why it failed to import or register; None when it loaded.
        disabled: True when skipped through ``IMAGEPRISM_DISABLE_PLUGINS``.
    """

    name: str
    distribution: str | None
    version: str | None
    dimensions: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    error: str | None = None
    disabled: bool = False

    @property
    def status(self) -> str:
        """``"ok"``, ``"disabled"`` or ``"failed"``."""
        if self.disabled:
            return "disabled"
        return "failed" if self.error else "ok"

    def to_dict(self) -> dict[str, Any]:
        """The plugin as JSON-ready data."""
        return {**asdict(self), "status": self.status}


@dataclass
class _Pending:
    """A plugin while it is being loaded."""

    name: str
    distribution: str | None
    version: str | None
    plugin: object | None = None
    dimensions: list[DimensionSpec] = field(default_factory=list)
    profiles: list[ProfileSpec] = field(default_factory=list)
    presets: list[Preset] = field(default_factory=list)
    error: str | None = None
    disabled: bool = False

    def label(self) -> str:
        return f"plugin {self.name!r} (distribution {self.distribution or 'unknown'})"


def _disabled_from_env() -> frozenset[str]:
    raw = os.environ.get(environment.DISABLE_PLUGINS, "")
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def _register_into(
    item: _Pending,
    expected: type[Any],
    into: list[Any],
    check: Callable[[Any], None] | None = None,
) -> Callable[[Any], None]:
    """The ``register`` callback a hook gets: checks the type (and ``check``), then keeps it."""

    def register(spec: Any) -> None:
        if not isinstance(spec, expected):
            raise PluginError(
                f"register() takes a {expected.__name__}, got {type(spec).__name__}",
                plugin=item.name,
                distribution=item.distribution,
            )
        if check is not None:
            check(spec)
        into.append(spec)

    return register


class Registry:
    """Every plugin, dimension and profile found through entry points.

    Args:
        entry_points: The entry points to load; default, those installed in the
            ``imageprism`` group.
        disabled: Entry-point names to skip; default, ``IMAGEPRISM_DISABLE_PLUGINS``.
        plugins: Extra ``(name, plugin)`` pairs registered after the entry
            points, for programmatic use and tests.
    """

    def __init__(
        self,
        entry_points: Iterable[metadata.EntryPoint] | None = None,
        disabled: Iterable[str] | None = None,
        plugins: Iterable[tuple[str, object]] = (),
    ) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.manager.add_hookspecs(hookspecs)
        self._trace = os.environ.get(environment.TRACE_HOOKS, "") not in ("", "0")
        self.dimensions: dict[str, DimensionSpec] = {}
        self.profiles: dict[str, ProfileSpec] = {}
        self.presets: dict[tuple[str, str], Preset] = {}  # by (target, name)
        self._owner: dict[str, _Pending] = {}
        if entry_points is None:
            entry_points = metadata.entry_points(group=ENTRY_POINT_GROUP)
        skip = _disabled_from_env() if disabled is None else frozenset(disabled)
        pending = [self._import(ep, skip) for ep in self._ordered(entry_points)]
        pending += [self._register_object(name, obj) for name, obj in plugins]
        self._add_hookspecs(pending)
        self._check_pending(pending)
        for item in pending:
            self._collect(item)
        self._loaded = [item for item in pending if item.plugin is not None and not item.error]
        self.plugins: list[PluginInfo] = [
            PluginInfo(
                name=item.name,
                distribution=item.distribution,
                version=item.version,
                dimensions=tuple(spec.name for spec in item.dimensions) if not item.error else (),
                profiles=tuple(p.name for p in item.profiles) if not item.error else (),
                error=item.error,
                disabled=item.disabled,
            )
            for item in pending
        ]

    @staticmethod
    def _ordered(entry_points: Iterable[metadata.EntryPoint]) -> list[metadata.EntryPoint]:
        # Core first, then our own packs, so a third party cannot take a well-known
        # name; then by name.
        unique = {(ep.name, ep.value): ep for ep in entry_points}.values()
        packs = set(PACKAGES.values())

        def key(ep: metadata.EntryPoint) -> tuple[bool, bool, str]:
            dist = ep.dist.name if ep.dist is not None else ""
            return (dist != CORE_DISTRIBUTION, dist not in packs, ep.name)

        return sorted(unique, key=key)

    def _import(self, ep: metadata.EntryPoint, skip: frozenset[str]) -> _Pending:
        dist = ep.dist.name if ep.dist is not None else None
        version = ep.dist.version if ep.dist is not None else None
        item = _Pending(name=ep.name, distribution=dist, version=version)
        if ep.name in skip:
            item.disabled = True
            return item
        try:
            obj = ep.load()
        except Exception as err:  # a broken plugin must not break the others
            item.error = f"import of {ep.value!r} failed: {_describe(err)}"
            return item
        return self._register(item, obj)

    def _register_object(self, name: str, obj: object) -> _Pending:
        module = getattr(obj, "__module__", None) or getattr(obj, "__name__", "")
        dist = metadata.packages_distributions().get(str(module).split(".")[0], [None])[0]
        version = None
        if dist:
            try:
                version = metadata.version(dist)
            except metadata.PackageNotFoundError:
                version = None
        return self._register(_Pending(name=name, distribution=dist, version=version), obj)

    def _register(self, item: _Pending, obj: object) -> _Pending:
        try:
            self.manager.register(obj, name=item.name)
        except Exception as err:
            item.error = f"registration failed: {_describe(err)}"
            return item
        item.plugin = obj
        return item

    def _call(self, item: _Pending, hook_name: str, **kwargs: Any) -> None:
        """Call one plugin's implementation of a hook, if it has one."""
        hook = getattr(self.manager.hook, hook_name)
        for impl in hook.get_hookimpls():
            if impl.plugin is item.plugin:
                if self._trace:
                    print(f"imageprism: hook {hook_name} -> {item.name}", file=sys.stderr)
                # like pluggy, pass only the arguments the implementation names
                impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})

    def _fail(self, item: _Pending, message: str) -> None:
        item.error = message
        if item.plugin is not None and self.manager.is_registered(item.plugin):
            self.manager.unregister(item.plugin)

    def _add_hookspecs(self, pending: list[_Pending]) -> None:
        for item in pending:
            if item.plugin is None:
                continue
            try:
                self._call(item, "imageprism_add_hookspecs", pluginmanager=self.manager)
            except Exception as err:
                self._fail(item, f"imageprism_add_hookspecs failed: {_describe(err)}")

    def _check_pending(self, pending: list[_Pending]) -> None:
        # A misspelt hook implementation is an error of that plugin, not silence.
        by_plugin = {id(item.plugin): item for item in pending if item.plugin is not None}
        while True:
            try:
                self.manager.check_pending()
                return
            except pluggy.PluginValidationError as err:
                item = by_plugin[id(err.plugin)]
                self._fail(item, f"unknown hook: {err}")

    def _collect(self, item: _Pending) -> None:
        if item.plugin is None or item.error:
            return

        def frozen_config(spec: DimensionSpec) -> None:
            if not spec.config_model.model_config.get("frozen"):
                raise PluginError(
                    f"dimension {spec.name!r}: config model {spec.config_model.__name__} must be "
                    "frozen (model_config = ConfigDict(frozen=True))",
                    plugin=item.name,
                    distribution=item.distribution,
                )

        register_dimension = _register_into(item, DimensionSpec, item.dimensions, frozen_config)
        register_profile = _register_into(item, ProfileSpec, item.profiles)
        register_preset = _register_into(item, Preset, item.presets)

        try:
            self._call(item, "imageprism_register_dimensions", register=register_dimension)
            self._call(item, "imageprism_register_profiles", register=register_profile)
            self._call(item, "imageprism_register_presets", register=register_preset)
        except Exception as err:
            self._fail(item, f"registration failed: {_describe(err)}")
            return
        clashes = [
            f"{kind} {name!r} is already registered by {self._owner[f'{kind}:{name}'].label()}"
            for kind, names in (
                ("dimension", [s.name for s in item.dimensions]),
                ("profile", [p.name for p in item.profiles]),
                ("preset", [f"{p.target}/{p.name}" for p in item.presets]),
            )
            for name in names
            if f"{kind}:{name}" in self._owner
        ]
        if clashes:
            self._fail(item, "; ".join(clashes))
            return
        for spec in item.dimensions:
            self.dimensions[spec.name] = spec
            self._owner[f"dimension:{spec.name}"] = item
        for profile in item.profiles:
            self.profiles[profile.name] = profile
            self._owner[f"profile:{profile.name}"] = item
        for preset in item.presets:
            self.presets[preset.target, preset.name] = preset
            self._owner[f"preset:{preset.target}/{preset.name}"] = item

    def collect(
        self, hook_name: str, expected: type, kind: str
    ) -> tuple[dict[str, Any], list[str]]:
        """Call a pack's own registration hook on every loaded plugin, each on its own.

        Packs use this for hooks they add (the face pack's detectors and
        embedders). Each registered object needs a ``name``.

        Returns:
            The objects by name, and one message per plugin that failed or
            registered a name already taken (naming both plugins).
        """
        found: dict[str, Any] = {}
        owners: dict[str, str] = {}
        errors: list[str] = []
        for item in self._loaded:
            got: list[Any] = []
            try:
                self._call(item, hook_name, register=_register_into(item, expected, got))
            except Exception as err:
                errors.append(f"{item.label()}: {hook_name} failed: {_describe(err)}")
                continue
            for obj in got:
                if not isinstance(getattr(obj, "name", None), str):
                    errors.append(f"{item.label()}: registered a {kind} without a name")
                    continue
                if obj.name in found:
                    errors.append(
                        f"{kind} {obj.name!r} from {item.label()} is already registered by "
                        f"{owners[obj.name]}"
                    )
                    continue
                found[obj.name] = obj
                owners[obj.name] = item.label()
        return found, errors

    def plugin_of(self, dimension: str) -> PluginInfo | None:
        """The plugin that registered ``dimension``, if any."""
        owner = self._owner.get(f"dimension:{dimension}")
        if owner is None:
            return None
        return next(p for p in self.plugins if p.name == owner.name)

    @property
    def failures(self) -> list[PluginInfo]:
        """The plugins that failed to import or register."""
        return [p for p in self.plugins if p.error]

    def dimension(self, name: str) -> DimensionSpec:
        """The spec registered under ``name``.

        Raises:
            PackNotInstalledError: a well-known dimension whose pack is missing.
            UnknownDimensionError: any other unknown name (the message lists the known ones).
        """
        name = str(name)
        spec = self.dimensions.get(name)
        if spec is not None:
            return spec
        available = ", ".join(sorted(self.dimensions)) or "none"
        package = PACKAGES.get(name)
        if package is None:
            raise UnknownDimensionError(
                f"unknown dimension {name!r}; available: {available}" + self._failure_hint()
            )
        failed = [p for p in self.plugins if p.distribution == package and p.status != "ok"]
        if failed:
            why = "; ".join(
                f"plugin {p.name!r} {p.status}" + (f": {p.error}" if p.error else "")
                for p in failed
            )
            raise PackNotInstalledError(
                f"dimension {name!r} comes from {package}, which is installed but did not load "
                f"({why})",
                package=package,
            )
        try:
            version = metadata.version(package)
        except metadata.PackageNotFoundError:
            raise PackNotInstalledError(
                f"dimension {name!r} needs the {package} package: pip install {package}",
                package=package,
            ) from None
        raise PackNotInstalledError(
            f"dimension {name!r} is not provided by the installed {package} {version}; "
            f"upgrade it: pip install -U {package}",
            package=package,
        )

    def profile(self, name: str) -> ProfileSpec:
        """The profile registered under ``name``.

        Raises:
            UnknownProfileError: no plugin registered it (the message lists the known ones).
        """
        profile = self.profiles.get(str(name))
        if profile is None:
            available = ", ".join(sorted(self.profiles)) or "none"
            raise UnknownProfileError(f"unknown profile {name!r}; available: {available}")
        return profile

    def _failure_hint(self) -> str:
        hint = ""
        if self.failures:
            names = ", ".join(f"{p.name} ({p.distribution})" for p in self.failures)
            hint += f"; plugins that failed to load: {names} (see `imageprism plugins`)"
        disabled = [p.name for p in self.plugins if p.disabled]
        if disabled:
            hint += f"; plugins disabled by {environment.DISABLE_PLUGINS}: {', '.join(disabled)}"
        return hint


_registry: Registry | None = None
_lock = threading.Lock()


def get_registry(*, reload: bool = False) -> Registry:
    """The process-wide registry, loaded from entry points on first use.

    Args:
        reload: Discard the loaded registry and scan the entry points again
            (after installing a plugin, or changing ``IMAGEPRISM_DISABLE_PLUGINS``).
    """
    global _registry
    with _lock:
        if _registry is None or reload:
            _registry = Registry()
        return _registry
