"""The plugin manager: entry points, the registry of everything plugins register, errors per plugin.

Plugins are found through the ``imageprism`` entry-point group (core registers
its hash dimension and built-in profiles the same way). Each plugin is loaded
and called on its own, so one that fails to import or register is recorded
with its name and distribution while the others keep working.

Names cannot be squatted: when two plugins register the same name (a dimension,
a profile, a preset, or anything a pack's own hook takes, such as a face
embedder), the name is refused for both and both plugins fail, unless one of them
is first-party (imageprism-core or one of our packs): then that one keeps the
name and the other fails. The outcome does not depend on the order in which
plugins load. ``IMAGEPRISM_PLUGINS`` narrows which plugins load to an allow-list;
``IMAGEPRISM_DISABLE_PLUGINS`` skips some. (Long: loading, validating, settling
and querying the registry are one idea.)
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
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
FIRST_PARTY = frozenset({CORE_DISTRIBUTION, *PACKAGES.values()})
"""The distributions whose registrations win a name clash: core and our own packs."""

_CORE_HOOKS = {
    "imageprism_register_dimensions": "dimension",
    "imageprism_register_profiles": "profile",
    "imageprism_register_presets": "preset",
}


class PluginAllowListWarning(UserWarning):
    """``IMAGEPRISM_PLUGINS`` names a plugin that is not installed (a typo, or one removed)."""


def kind_of_hook(hook_name: str) -> str:
    """What a registration hook registers, as listings name it.

    ``imageprism_register_face_embedders`` registers a ``"face embedder"``.
    """
    if hook_name in _CORE_HOOKS:
        return _CORE_HOOKS[hook_name]
    return hook_name.removeprefix("imageprism_register_").replace("_", " ").removesuffix("s")


@dataclass(frozen=True)
class Clash:
    """A name that two or more plugins registered.

    Attributes:
        kind: What the name names: ``"dimension"``, ``"profile"``, ``"preset"`` (the
            name is ``target/name``), ``"face embedder"``...
        name: The name they both registered.
        claimants: ``(plugin, distribution)`` of every plugin that registered it,
            in loading order.
        winner: The first-party plugin that keeps the name; None when the name is
            refused for all of them.
        winner_distribution: That plugin's distribution.
    """

    kind: str
    name: str
    claimants: tuple[tuple[str, str | None], ...]
    winner: str | None = None
    winner_distribution: str | None = None

    @property
    def refused(self) -> bool:
        """True when no plugin got the name."""
        return self.winner is None

    def describe(self) -> str:
        """One line naming the name, every plugin and distribution, and the outcome."""
        labels = [f"plugin {p!r} (distribution {d or 'unknown'})" for p, d in self.claimants]
        if self.winner is not None:
            kept = (self.winner, self.winner_distribution)
            won = labels[self.claimants.index(kept)]
            others = " and ".join(
                label
                for claimant, label in zip(self.claimants, labels, strict=True)
                if claimant != kept
            )
            return (
                f"{self.kind} {self.name!r} is already registered by {won}, which is first-party "
                f"and keeps it; {others} cannot take it"
            )
        count = "two" if len(labels) == 2 else str(len(labels))
        return (
            f"{self.kind} {self.name!r} is refused: {count} plugins claim it, "
            f"{' and '.join(labels)}; uninstall one, or leave one out with "
            f"{environment.PLUGINS} or {environment.DISABLE_PLUGINS}"
        )

    def to_dict(self) -> dict[str, Any]:
        """The clash as JSON-ready data."""
        return {
            "kind": self.kind,
            "name": self.name,
            "plugins": [{"plugin": p, "distribution": d} for p, d in self.claimants],
            "winner": self.winner,
            "winner_distribution": self.winner_distribution,
            "refused": self.refused,
            "message": self.describe(),
        }


@dataclass(frozen=True)
class Registration:
    """One thing a plugin registered, for listings.

    Attributes:
        kind: ``"dimension"``, ``"profile"``, ``"preset"``, or what a pack's hook
            registers (``"face detector"``, ``"face embedder"``).
        name: Its name (a preset's is ``target/name``).
        plugin: The entry-point name of the plugin that registered it.
        distribution: That plugin's distribution.
        summary: The spec's one-line summary ("" when it has none).
        licence: The spec's licence note ("" when it has none).
        model_files: The model files it needs (``ModelFile``s).
    """

    kind: str
    name: str
    plugin: str
    distribution: str | None
    summary: str = ""
    licence: str = ""
    model_files: tuple[Any, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The registration as JSON-ready data (model files by ``describe()``)."""
        data = {k: v for k, v in vars(self).items() if k != "model_files"}
        data["model_files"] = [
            m.describe() if hasattr(m, "describe") else str(m) for m in self.model_files
        ]
        return data


@dataclass(frozen=True)
class PluginInfo:
    """One discovered plugin: where it comes from, what it registered, or why it failed.

    Attributes:
        name: The entry-point name (what ``IMAGEPRISM_PLUGINS`` and
            ``IMAGEPRISM_DISABLE_PLUGINS`` take).
        distribution: The distribution that declares the entry point.
        version: That distribution's version.
        dimensions: Names of the dimensions it registered.
        profiles: Names of the profiles it registered.
        error: Why it failed to import or register; None when it loaded.
        disabled: True when skipped through ``IMAGEPRISM_DISABLE_PLUGINS``.
        not_allowed: True when skipped because ``IMAGEPRISM_PLUGINS`` does not name it.
        clashes: The names it registered that another plugin registered too (it
            failed because of them).
        licence: Its distribution's licence, from the package metadata ("" if none).
    """

    name: str
    distribution: str | None
    version: str | None
    dimensions: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    error: str | None = None
    disabled: bool = False
    not_allowed: bool = False
    clashes: tuple[Clash, ...] = ()
    licence: str = ""

    @property
    def status(self) -> str:
        """``"ok"``, ``"disabled"``, ``"not allowed"`` or ``"failed"``."""
        if self.disabled:
            return "disabled"
        if self.not_allowed:
            return "not allowed"
        return "failed" if self.error else "ok"

    @property
    def first_party(self) -> bool:
        """True for core's and our packs' own plugins (they win name clashes)."""
        return self.distribution in FIRST_PARTY

    def to_dict(self) -> dict[str, Any]:
        """The plugin as JSON-ready data."""
        data = asdict(self)
        data["clashes"] = [clash.to_dict() for clash in self.clashes]
        return {**data, "status": self.status, "first_party": self.first_party}


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
    components: dict[str, list[Any]] = field(default_factory=dict)  # by pack hook name
    hooks: set[str] = field(default_factory=set)  # pack hooks it implements
    error: str | None = None
    disabled: bool = False
    not_allowed: bool = False
    clashes: list[Clash] = field(default_factory=list)

    def label(self) -> str:
        return f"plugin {self.name!r} (distribution {self.distribution or 'unknown'})"

    @property
    def first_party(self) -> bool:
        return self.distribution in FIRST_PARTY

    def claims(self) -> list[tuple[str, str, Any]]:
        """``(kind, name, spec)`` of everything it registered."""
        out: list[tuple[str, str, Any]] = [("dimension", s.name, s) for s in self.dimensions]
        out += [("profile", p.name, p) for p in self.profiles]
        out += [("preset", f"{p.target}/{p.name}", p) for p in self.presets]
        for hook, objects in self.components.items():
            out += [(kind_of_hook(hook), obj.name, obj) for obj in objects]
        return out


def _names_from_env(variable: str) -> frozenset[str]:
    raw = os.environ.get(variable, "")
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


def _disabled_from_env() -> frozenset[str]:
    return _names_from_env(environment.DISABLE_PLUGINS)


def _allowed_from_env() -> frozenset[str] | None:
    """The allow-list of ``IMAGEPRISM_PLUGINS``; None when it is not set (everything loads)."""
    if environment.PLUGINS not in os.environ:
        return None
    return _names_from_env(environment.PLUGINS)


def _licence_of_distribution(name: str | None) -> str:
    """A distribution's licence: its SPDX expression, else a short License field, else
    its licence classifiers; "" when none is declared or it cannot be read."""
    if not name:
        return ""
    try:
        meta: Any = metadata.metadata(name)  # an email.message.Message: has .get()
    except Exception:  # missing or broken metadata must not break the registry
        return ""
    expression = meta.get("License-Expression")
    if expression:
        return str(expression)
    text = str(meta.get("License") or "").strip()
    if text and "\n" not in text and len(text) <= 60:
        return text
    classifiers = [
        c.rsplit("::", 1)[-1].strip()
        for c in meta.get_all("Classifier") or []
        if c.startswith("License ::") and "::" in c.removeprefix("License ::")
    ]
    return ", ".join(classifiers)


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
    """Every plugin, dimension, profile and preset found through entry points, and what
    plugins registered through hooks that packs added (face detectors and embedders).

    Args:
        entry_points: The entry points to load; default, those installed in the
            ``imageprism`` group.
        disabled: Entry-point names to skip; default, ``IMAGEPRISM_DISABLE_PLUGINS``.
        allowed: Entry-point names to load, all others skipped (core's own always
            load); default, ``IMAGEPRISM_PLUGINS`` when it is set, else everything.
            Names that match no entry point are warned about
            (``PluginAllowListWarning``) and kept in ``unknown_allowed``.
        plugins: Extra ``(name, plugin)`` pairs registered after the entry
            points, for programmatic use and tests (the allow-list does not apply).
    """

    def __init__(
        self,
        entry_points: Iterable[metadata.EntryPoint] | None = None,
        disabled: Iterable[str] | None = None,
        plugins: Iterable[tuple[str, object]] = (),
        allowed: Iterable[str] | None = None,
    ) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.manager.add_hookspecs(hookspecs)
        self._trace = os.environ.get(environment.TRACE_HOOKS, "") not in ("", "0")
        self.dimensions: dict[str, DimensionSpec] = {}
        self.profiles: dict[str, ProfileSpec] = {}
        self.presets: dict[tuple[str, str], Preset] = {}  # by (target, name)
        self.components: dict[str, dict[str, Any]] = {}  # by pack hook name, then name
        self.clashes: list[Clash] = []
        self._owner: dict[str, _Pending] = {}  # by "kind:name"
        self._by_name: dict[str, _Pending] = {}  # plugins registered, by entry-point name
        if entry_points is None:
            entry_points = metadata.entry_points(group=ENTRY_POINT_GROUP)
        ordered = self._ordered(entry_points)
        skip = _disabled_from_env() if disabled is None else frozenset(disabled)
        allow = _allowed_from_env() if allowed is None else frozenset(allowed)
        self.unknown_allowed: tuple[str, ...] = ()
        if allow is not None:
            self.unknown_allowed = tuple(sorted(allow - {ep.name for ep in ordered}))
            if self.unknown_allowed:
                warnings.warn(
                    f"{environment.PLUGINS} names plugins that are not installed: "
                    f"{', '.join(self.unknown_allowed)} (`imageprism plugins` lists those "
                    "that are)",
                    PluginAllowListWarning,
                    stacklevel=2,
                )
        pending = [self._import(ep, skip, allow) for ep in ordered]
        pending += [self._register_object(name, obj) for name, obj in plugins]
        self._add_hookspecs(pending)
        self._check_pending(pending)
        for item in pending:
            self._collect(item)
        self._settle(pending)
        self._pending = pending
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
                not_allowed=item.not_allowed,
                clashes=tuple(item.clashes),
                licence=_licence_of_distribution(item.distribution),
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

    def _import(
        self, ep: metadata.EntryPoint, skip: frozenset[str], allow: frozenset[str] | None
    ) -> _Pending:
        dist = ep.dist.name if ep.dist is not None else None
        version = ep.dist.version if ep.dist is not None else None
        item = _Pending(name=ep.name, distribution=dist, version=version)
        if ep.name in skip:
            item.disabled = True
            return item
        if allow is not None and ep.name not in allow and dist != CORE_DISTRIBUTION:
            item.not_allowed = True
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
        first = self._by_name.get(item.name)
        if first is not None:  # pluggy keys plugins by name: a second one cannot load
            item.error = (
                f"the entry-point name {item.name!r} is already taken by {first.label()}, "
                f"so {item.label()} cannot load; entry-point names must be unique"
            )
            return item
        try:
            self.manager.register(obj, name=item.name)
        except Exception as err:
            item.error = f"registration failed: {_describe(err)}"
            return item
        item.plugin = obj
        self._by_name[item.name] = item
        return item

    def _call(self, item: _Pending, hook_name: str, **kwargs: Any) -> bool:
        """Call one plugin's implementation of a hook, if it has one; True if it had."""
        hook = getattr(self.manager.hook, hook_name)
        called = False
        for impl in hook.get_hookimpls():
            if impl.plugin is item.plugin:
                if self._trace:
                    print(f"imageprism: hook {hook_name} -> {item.name}", file=sys.stderr)
                # like pluggy, pass only the arguments the implementation names
                impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})
                called = True
        return called

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

    def _pack_hooks(self) -> list[str]:
        """Registration hooks that packs added (e.g. ``imageprism_register_face_embedders``)."""
        return sorted(
            name
            for name in vars(self.manager.hook)
            if name.startswith("imageprism_register_") and name not in _CORE_HOOKS
        )

    def _collect(self, item: _Pending) -> None:
        """Call the plugin's registration hooks, each ``register`` checking what it gets."""
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

        def named(spec: Any) -> None:
            if not isinstance(getattr(spec, "name", None), str) or not spec.name:
                raise PluginError(
                    f"registered a {type(spec).__name__} without a name",
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
            for hook in self._pack_hooks():
                got: list[Any] = []
                if self._call(item, hook, register=_register_into(item, object, got, named)):
                    item.hooks.add(hook)
                    item.components[hook] = got
        except Exception as err:
            self._fail(item, f"registration failed: {_describe(err)}")
            return
        seen: set[tuple[str, str]] = set()
        for kind, name, _ in item.claims():
            if (kind, name) in seen:
                self._fail(item, f"{kind} {name!r} is registered twice by {item.label()}")
                return
            seen.add((kind, name))

    def _settle(self, pending: list[_Pending]) -> None:
        """Decide every name clash (whatever the loading order), fail the plugins that lose,
        then keep what the others registered."""
        claims: dict[tuple[str, str], list[_Pending]] = {}
        for item in pending:
            if item.plugin is not None and not item.error:
                for kind, name, _ in item.claims():
                    claims.setdefault((kind, name), []).append(item)
        losers: dict[int, tuple[_Pending, list[Clash]]] = {}
        for (kind, name), owners in claims.items():
            if len(owners) < 2:
                continue
            first_party = [o for o in owners if o.first_party]
            winner = first_party[0] if first_party else None
            clash = Clash(
                kind=kind,
                name=name,
                claimants=tuple((o.name, o.distribution) for o in owners),
                winner=winner.name if winner is not None else None,
                winner_distribution=winner.distribution if winner is not None else None,
            )
            self.clashes.append(clash)
            for owner in owners:
                if owner is not winner:
                    losers.setdefault(id(owner), (owner, []))[1].append(clash)
        for item, clashes in losers.values():
            item.clashes = clashes
            self._fail(item, "; ".join(clash.describe() for clash in clashes))
        for item in pending:
            if item.plugin is None or item.error:
                continue
            for spec in item.dimensions:
                self.dimensions[spec.name] = spec
            for profile in item.profiles:
                self.profiles[profile.name] = profile
            for preset in item.presets:
                self.presets[preset.target, preset.name] = preset
            for hook, objects in item.components.items():
                for obj in objects:
                    self.components.setdefault(hook, {})[obj.name] = obj
            for kind, name, _ in item.claims():
                self._owner[f"{kind}:{name}"] = item

    def collect(
        self, hook_name: str, expected: type, kind: str
    ) -> tuple[dict[str, Any], list[str]]:
        """What loaded plugins registered through a pack's own hook (the face pack's
        detectors and embedders), checked to be ``expected``.

        The hook was called once per plugin when the registry loaded; a name two
        plugins registered is kept only by a first-party one (see ``clashes``).

        Returns:
            The objects by name, and one message per problem: an object that is not an
            ``expected``, a plugin that failed while registering through this hook, a
            name refused because two plugins claim it.
        """
        found: dict[str, Any] = {}
        errors: list[str] = []
        for name, obj in self.components.get(hook_name, {}).items():
            owner = self._owner[f"{kind_of_hook(hook_name)}:{name}"]
            if isinstance(obj, expected):
                found[name] = obj
            else:
                errors.append(
                    f"{owner.label()}: registered a {type(obj).__name__} as {kind} {name!r}, "
                    f"not a {expected.__name__}"
                )
        errors += [
            f"{item.label()}: {item.error}"
            for item in self._pending
            if item.error and hook_name in item.hooks and not item.clashes
        ]
        errors += [
            clash.describe()
            for clash in self.clashes
            if clash.refused and clash.kind == kind_of_hook(hook_name)
        ]
        return found, errors

    def registrations(self) -> list[Registration]:
        """Everything the loaded plugins registered, with summaries and licences, by kind
        (dimensions, profiles, presets, then each pack hook's) and name."""
        order = {kind: i for i, kind in enumerate(_CORE_HOOKS.values())}
        out = [
            Registration(
                kind=kind,
                name=name,
                plugin=item.name,
                distribution=item.distribution,
                summary=str(getattr(spec, "summary", "") or ""),
                licence=str(getattr(spec, "licence", "") or ""),
                model_files=tuple(getattr(spec, "model_files", ()) or ()),
            )
            for item in self._loaded
            for kind, name, spec in item.claims()
        ]
        return sorted(out, key=lambda r: (order.get(r.kind, len(order)), r.kind, r.name))

    def owner_of(self, kind: str, name: str) -> PluginInfo | None:
        """The plugin that registered ``name`` as a ``kind`` (``"dimension"``,
        ``"profile"``, ``"preset"`` with ``target/name``, ``"face embedder"``...), if any."""
        owner = self._owner.get(f"{kind}:{name}")
        if owner is None:
            return None
        return next(
            info for item, info in zip(self._pending, self.plugins, strict=True) if item is owner
        )

    def plugin_of(self, dimension: str) -> PluginInfo | None:
        """The plugin that registered ``dimension``, if any."""
        return self.owner_of("dimension", dimension)

    def refusal(self, kind: str, name: str) -> Clash | None:
        """The clash that refused ``name`` as a ``kind`` to every plugin, if it was refused."""
        return next(
            (c for c in self.clashes if c.refused and c.kind == kind and c.name == name), None
        )

    @property
    def failures(self) -> list[PluginInfo]:
        """The plugins that failed to import or register."""
        return [p for p in self.plugins if p.error]

    def dimension(self, name: str) -> DimensionSpec:
        """The spec registered under ``name``.

        Raises:
            PackNotInstalledError: a well-known dimension whose pack is missing.
            UnknownDimensionError: any other unknown name (the message lists the known
                ones), or a name refused because two plugins claim it (naming both).
        """
        name = str(name)
        spec = self.dimensions.get(name)
        if spec is not None:
            return spec
        clash = self.refusal("dimension", name)
        if clash is not None:
            raise UnknownDimensionError(clash.describe())
        available = ", ".join(sorted(self.dimensions)) or "none"
        package = PACKAGES.get(name)
        if package is None:
            raise UnknownDimensionError(
                f"unknown dimension {name!r}; available: {available}" + self._failure_hint()
            )
        failed = [p for p in self.plugins if p.distribution == package and p.status != "ok"]
        if failed:
            why = "; ".join(
                f"plugin {p.name!r} {p.status}"
                + (f" by {environment.DISABLE_PLUGINS}" if p.disabled else "")
                + (f" by {environment.PLUGINS}" if p.not_allowed else "")
                + (f": {p.error}" if p.error else "")
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
            UnknownProfileError: no plugin registered it (the message lists the known ones),
                or it is refused because two plugins claim it (naming both).
        """
        profile = self.profiles.get(str(name))
        clash = self.refusal("profile", str(name))
        if profile is None and clash is not None:
            raise UnknownProfileError(clash.describe())
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
        not_allowed = [p.name for p in self.plugins if p.not_allowed]
        if not_allowed:
            hint += f"; plugins not allowed by {environment.PLUGINS}: {', '.join(not_allowed)}"
        return hint


_registry: Registry | None = None
_lock = threading.Lock()


def get_registry(*, reload: bool = False) -> Registry:
    """The process-wide registry, loaded from entry points on first use.

    Args:
        reload: Discard the loaded registry and scan the entry points again
            (after installing a plugin, or changing ``IMAGEPRISM_PLUGINS`` or
            ``IMAGEPRISM_DISABLE_PLUGINS``).
    """
    global _registry
    with _lock:
        if _registry is None or reload:
            _registry = Registry()
        return _registry
