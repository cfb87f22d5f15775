"""Presets: named thresholds (``exact``, ``near-duplicate``, ``similar``) per dimension and profile.

A preset is a threshold with the precision and recall it was measured at on a
named benchmark set, so that "0.79" comes with what it means. Dimensions
register theirs through the ``imageprism_register_presets`` hook (core registers
the hash presets of ``imageprism.builtins.presets``, the face and model packs
their own). A profile gets a preset of a name when every dimension it weights
has one: its threshold is the weighted mean of theirs, and it is not measured
(precision and recall None).

Raw scores are never hidden: a preset only says which threshold to use with them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imageprism.errors import ConfigError
from imageprism.plugin.specs import Preset

if TYPE_CHECKING:
    from imageprism.plugin.registry import Registry

PRESET_NAMES: tuple[str, ...] = ("exact", "near-duplicate", "similar")
"""The well-known preset names, strictest first (plugins may register others)."""

BENCHMARKS: dict[str, str] = {
    "photos-transforms/v1": (
        "the first 100 photos (by name) of ../shared/data/photos; positives: (photo, edited "
        "photo) for the 15 edits of benchmarks/hash_robustness.py (exact: its 6 re-encodes and "
        "resizes only); negatives: the 4950 pairs of different unedited photos"
    ),
    "faces-master/v1": (
        "the 300 labelled pairs of ../shared/data/faces/master.csv (38 same person, 262 "
        "different); a side without a face counts as different"
    ),
    "faces-transforms/v1": (
        "the 63 photos (by name) of ../shared/data/faces but img11_reflection.jpg (a mirror "
        "copy of img11.jpg), edited as photos-transforms/v1; positives: (photo, edited photo) "
        "for the 15 edits (exact: the 6 re-encodes and resizes only); negatives: the 1953 pairs "
        "of different unedited photos, 38 of them of the same person (another photo is not a "
        "near-duplicate); a side without a face counts as different"
    ),
    "style-renderings/v1": (
        "the first 20 photos of ../shared/data/photos in the 5 renderings of "
        "benchmarks/style_probe.py; every pair of different photos: positives the same "
        "rendering (950), negatives different renderings (3800)"
    ),
}
"""The named benchmark sets of the built-in presets (``benchmarks/presets.py`` measures them)."""


def _order(item: Preset) -> tuple[int, str]:
    rank = PRESET_NAMES.index(item.name) if item.name in PRESET_NAMES else len(PRESET_NAMES)
    return rank, item.name


def _derived(profile: str, weights: dict[str, float], parts: list[Preset]) -> Preset:
    threshold = sum(weights[p.target] * p.threshold for p in parts)
    terms = ", ".join(f"{p.target} {weights[p.target]:g} x {p.threshold:g}" for p in parts)
    return Preset(
        name=parts[0].name,
        target=profile,
        threshold=round(min(max(threshold, 0.0), 1.0), 4),
        note=(
            f"not measured: the weighted mean of its dimensions' thresholds ({terms}); assumes "
            "every dimension scores (use missing_scores='renormalize' when some may not)"
        ),
    )


def _all(registry: Registry) -> dict[tuple[str, str], Preset]:
    found = dict(registry.presets)
    for profile in registry.profiles.values():
        names = {name for (target, name) in registry.presets if target in profile.weights}
        for name in names:
            parts = [registry.presets.get((dim, name)) for dim in profile.weights]
            if (profile.name, name) not in found and all(parts):
                found[profile.name, name] = _derived(profile.name, profile.weights, parts)  # type: ignore[arg-type]
    return found


def presets(target: str | None = None, *, registry: Registry | None = None) -> list[Preset]:
    """Every preset (of ``target`` only, when given): dimensions' first, then profiles'.

    Includes the presets of profiles derived from their dimensions' (see the module).

    Args:
        target: A dimension or profile name.
        registry: The plugin registry; default, the process-wide one.
    """
    from imageprism.plugin.registry import get_registry

    registry = registry if registry is not None else get_registry()
    found = _all(registry).values()
    chosen = [p for p in found if target is None or p.target == str(target)]
    dimensions = list(registry.dimensions)

    def key(item: Preset) -> tuple[int, int, str, int, str]:
        known = item.target in dimensions
        place = dimensions.index(item.target) if known else 0
        return (0 if known else 1, place, item.target, *_order(item))

    return sorted(chosen, key=key)


def preset(name: str, target: str, *, registry: Registry | None = None) -> Preset:
    """The preset ``name`` of a dimension or profile, e.g. ``preset("near-duplicate", "hash")``.

    Raises:
        ConfigError: there is no such preset; the message lists those of ``target``
            and the targets that have a preset called ``name``.
    """
    from imageprism.plugin.registry import get_registry

    registry = registry if registry is not None else get_registry()
    found = _all(registry)
    hit = found.get((str(target), str(name)))
    refused = registry.refusal("preset", f"{target}/{name}")
    if hit is None and refused is not None:
        raise ConfigError(refused.describe())
    if hit is not None:
        return hit
    own = sorted((p for p in found.values() if p.target == target), key=_order)
    others = sorted({p.target for p in found.values() if p.name == name})
    message = f"no preset {name!r} for {target!r}; {target!r} has: " + (
        ", ".join(p.name for p in own) or "none"
    )
    message += f"; {name!r} exists for: {', '.join(others) or 'nothing'}"
    profile = registry.profiles.get(str(target))
    if profile is not None:
        lacking = [dim for dim in profile.weights if (dim, name) not in found]
        message += (
            f" (a profile has a preset when each of its dimensions has one; "
            f"{', '.join(lacking)} {'has' if len(lacking) == 1 else 'have'} no {name!r})"
        )
    raise ConfigError(message + "; measure your own with `imageprism calibrate`")
