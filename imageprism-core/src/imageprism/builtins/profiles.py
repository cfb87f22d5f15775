"""Profiles: named weightings of dimensions, and the blending of scores into one.

Core registers the six built-in profiles through the ``imageprism`` entry-point
group (this module is that plugin); other plugins may register more.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, field_validator

from imageprism._compat import Name
from imageprism.errors import ConfigError
from imageprism.plugin.hookspecs import hookimpl

MissingScores = Literal["zero", "renormalize"]
"""What a dimension that returned None does to a weighted score.

``"zero"`` (the 0.1 behaviour, default): it counts as a score of 0.
``"renormalize"``: the weights of the dimensions that did score are rescaled to
sum to 1; if none scored, the weighted score is None.
"""

MISSING_SCORES: tuple[str, ...] = ("zero", "renormalize")


def normalize_weights(
    weights: Mapping[str, float], *, argument: str = "weights"
) -> dict[str, float]:
    """Return ``weights`` scaled to sum to 1, dropping zero weights.

    Raises:
        ConfigError: a weight is negative, not finite or not a number, or none is positive.
    """
    if not isinstance(weights, Mapping) or not weights:
        raise ConfigError(f"{argument} must be a non-empty mapping of dimension name to weight")
    checked: dict[str, float] = {}
    for name, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
            raise ConfigError(f"{argument}[{name!r}] must be a number >= 0, got {weight!r}")
        if not math.isfinite(weight) or weight < 0:
            raise ConfigError(f"{argument}[{name!r}] must be a finite number >= 0, got {weight!r}")
        if weight > 0:
            checked[str(name)] = float(weight)
    total = sum(checked.values())
    if total <= 0:
        raise ConfigError(f"{argument} must give at least one dimension a weight > 0")
    return {name: weight / total for name, weight in checked.items()}


def _tidy(value: float | np.ndarray) -> Any:
    """Round away float noise (so weights summing to 0.9999999999999999 still give 1.0)
    and keep the result in [0, 1]. Works on floats and arrays (NaN stays NaN)."""
    tidied = np.clip(np.round(value, 12), 0.0, 1.0)
    return float(tidied) if np.ndim(tidied) == 0 else tidied


def blend(
    scores: Mapping[str, float | None],
    weights: Mapping[str, float],
    missing: MissingScores = "zero",
) -> float | None:
    """Blend per-dimension scores into one with normalised ``weights``.

    Dimensions absent from ``weights`` do not count. A None score counts as 0
    with ``missing="zero"``; with ``"renormalize"`` the remaining weights are
    rescaled, and the result is None when no weighted dimension scored.
    """
    if missing == "zero":
        return _tidy(sum(w * (scores.get(name) or 0.0) for name, w in weights.items()))
    scored = {name: w for name, w in weights.items() if scores.get(name) is not None}
    total = sum(scored.values())
    if total <= 0:
        return None
    return _tidy(sum(w * scores[name] for name, w in scored.items()) / total)  # type: ignore[operator]


def blend_many(
    scores: Mapping[str, np.ndarray],
    weights: Mapping[str, float],
    missing: MissingScores = "zero",
) -> np.ndarray:
    """``blend`` for arrays of scores (NaN where a dimension did not score), element-wise.

    Returns NaN where ``blend`` would return None.
    """
    arrays = {name: np.asarray(scores[name], dtype=np.float64) for name in weights}
    size = len(next(iter(arrays.values()))) if arrays else 0
    total = np.zeros(size)
    if missing == "zero":
        for name, w in weights.items():
            total += w * np.nan_to_num(arrays[name], nan=0.0)
        return _tidy(total)
    weight_sum = np.zeros(size)
    for name, w in weights.items():
        present = ~np.isnan(arrays[name])
        total += np.where(present, w * np.nan_to_num(arrays[name], nan=0.0), 0.0)
        weight_sum += np.where(present, w, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(weight_sum > 0, total / np.where(weight_sum > 0, weight_sum, 1.0), np.nan)
    return _tidy(mean)


class _ProfileNames(type):
    def __iter__(cls) -> Iterator[Name]:
        return iter(
            (cls.ECOMMERCE, cls.COPYRIGHT, cls.DEDUP, cls.VISUAL_SEARCH, cls.IDENTITY, cls.FORGERY)
        )


class Profile(metaclass=_ProfileNames):
    """Names of profiles: ``Profile.COPYRIGHT == "copyright"``.

    The set of profiles is open (plugins register more as ``ProfileSpec``), so
    this is not an enum; ``list(Profile)`` gives the six built-in names and
    ``Profile("copyright")`` makes one. Plain strings work wherever a profile
    name is expected.
    """

    ECOMMERCE = Name("ecommerce")
    COPYRIGHT = Name("copyright")
    DEDUP = Name("dedup")
    VISUAL_SEARCH = Name("visual_search")
    IDENTITY = Name("identity")
    FORGERY = Name("forgery")

    def __new__(cls, value: str) -> Name:  # type: ignore[misc]
        return Name(value)


class ProfileSpec(BaseModel):
    """A profile as a plugin registers it: a name and weights per dimension.

    Weights are normalised to sum to 1.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    weights: dict[str, float]
    summary: str = ""

    @field_validator("weights")
    @classmethod
    def _normalise(cls, weights: dict[str, float]) -> dict[str, float]:
        return normalize_weights(weights)


BUILTIN_PROFILES: tuple[ProfileSpec, ...] = (
    ProfileSpec(
        name=Profile.ECOMMERCE,
        weights={"instance": 0.7, "semantic": 0.2, "style": 0.1},
        summary="the same product in different shots",
    ),
    ProfileSpec(
        name=Profile.COPYRIGHT,
        weights={"hash": 0.5, "instance": 0.3, "semantic": 0.2},
        summary="re-uses of a picture, edited or not",
    ),
    ProfileSpec(
        name=Profile.DEDUP,
        weights={"hash": 0.6, "instance": 0.3, "semantic": 0.1},
        summary="near-duplicate files",
    ),
    ProfileSpec(
        name=Profile.FORGERY,
        weights={"hash": 0.5, "instance": 0.3, "semantic": 0.1, "face": 0.1},
        summary="a picture altered from another",
    ),
    ProfileSpec(
        name=Profile.IDENTITY,
        weights={"face": 0.8, "instance": 0.1, "semantic": 0.1},
        summary="the same person",
    ),
    ProfileSpec(
        name=Profile.VISUAL_SEARCH,
        weights={"semantic": 0.4, "instance": 0.3, "style": 0.2, "hash": 0.1},
        summary="pictures that look alike",
    ),
)


@hookimpl
def imageprism_register_profiles(register: Callable[[ProfileSpec], None]) -> None:
    """Register the six built-in profiles."""
    for profile in BUILTIN_PROFILES:
        register(profile)
