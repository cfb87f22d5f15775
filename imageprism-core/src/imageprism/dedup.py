"""The dedup engine: greedy grouping with first-seen representatives (the 0.1 semantics)."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence

import numpy as np

from imageprism.errors import ConfigError


def check_threshold(threshold: float) -> float:
    """Return ``threshold`` as a float, or raise ConfigError unless it is a number in [0, 1]."""
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise ConfigError(f"threshold must be a number in [0, 1], got {threshold!r}")
    if not 0.0 <= float(threshold) <= 1.0:
        raise ConfigError(f"threshold must be in [0, 1], got {threshold!r}")
    return float(threshold)


def _matches(value: float | None, threshold: float) -> bool:
    return value is not None and value >= threshold


def greedy_groups(
    valid: Sequence[bool],
    score: Callable[[int, int], float | None],
    threshold: float,
) -> tuple[list[int], list[int | None]]:
    """Group items greedily in input order.

    Each valid item is compared with the representatives found so far, in the
    order they were found; it joins the first one it scores at least
    ``threshold`` with, and otherwise becomes a representative itself. This is
    exactly the 0.1 algorithm.

    Args:
        valid: Per item, whether it takes part (failed inputs do not).
        score: ``score(item, representative)``; None means "cannot tell", never a match.
        threshold: The score at or above which two items are duplicates.

    Returns:
        ``(unique, labels)``: representative indexes in order, and per item its
        representative's index (None for items that do not take part).
    """
    unique: list[int] = []
    labels: list[int | None] = [None] * len(valid)
    for item, ok in enumerate(valid):
        if not ok:
            continue
        match = next((rep for rep in unique if _matches(score(item, rep), threshold)), None)
        if match is None:
            unique.append(item)
            match = item
        labels[item] = match
    return unique, labels


def groups_of(unique: Sequence[int], labels: Sequence[int | None]) -> list[list[int]]:
    """The groups of two or more items, representative first, in representative order."""
    members: dict[int, list[int]] = {rep: [] for rep in unique}
    for item, rep in enumerate(labels):
        if rep is not None and rep != item:
            members[rep].append(item)
    return [[rep, *rest] for rep, rest in members.items() if rest]


def greedy_groups_many(
    valid: Sequence[bool],
    score_many: Callable[[int, list[int]], np.ndarray],
    threshold: float,
) -> tuple[list[int], list[int | None]]:
    """``greedy_groups`` with one vectorised call per item against every representative.

    ``score_many(item, representatives)`` returns their scores in order, NaN where
    a pair cannot be scored (never a match). Same result as ``greedy_groups``.
    """
    unique: list[int] = []
    labels: list[int | None] = [None] * len(valid)
    for item, ok in enumerate(valid):
        if not ok:
            continue
        if unique:
            hits = np.flatnonzero(score_many(item, unique) >= threshold)  # NaN >= t is False
            if hits.size:
                labels[item] = unique[int(hits[0])]
                continue
        unique.append(item)
        labels[item] = item
    return unique, labels
