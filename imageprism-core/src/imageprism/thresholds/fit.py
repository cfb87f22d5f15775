"""Fitting a threshold: how a threshold does on scored, labelled pairs, and the best one by a rule.

A pair matches when its score is at least the threshold; a pair without a score
(None or NaN, e.g. no face) never matches. ``measure_threshold`` reports the
precision and recall of a given threshold with 95% Wilson score intervals and
the pair counts; ``fit_threshold`` picks the threshold that reaches a target
precision or recall, or that maximises F1 (or balanced accuracy). Thresholds
are chosen among the midpoints between consecutive distinct scores (and the
lowest score): each gives a different set of matches, and the midpoint leaves
the most room on both sides. The intervals treat the threshold as fixed; it was
chosen on the same pairs, so they are a little optimistic.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from imageprism.errors import ConfigError
from imageprism.scoring import MissingScores, blend_many

Objective = Literal["f1", "balanced_accuracy"]
"""What ``calibrate`` maximises when no target is given."""

OBJECTIVES: tuple[str, ...] = ("f1", "balanced_accuracy")
CONFIDENCE = 0.95
_Z = 1.959963984540054  # two-sided 95% normal quantile


@dataclass(frozen=True)
class ThresholdFit:
    """How a threshold does on labelled pairs: a pair matches when its score is >= threshold.

    Attributes:
        threshold: The threshold.
        precision: Share of matched pairs that are labelled the same (0 when none match).
        recall: Share of pairs labelled the same that match.
        f1: Harmonic mean of precision and recall.
        precision_ci: 95% Wilson score interval of the precision.
        recall_ci: 95% Wilson score interval of the recall.
        true_positives: Same pairs that match.
        false_positives: Different pairs that match.
        false_negatives: Same pairs that do not match (including unscored ones).
        true_negatives: Different pairs that do not match (including unscored ones).
        unscored: Pairs without a score (the dimension returned None); they never match.
        achieved: False when a target precision or recall was asked for and no
            threshold reaches it (then the fit is the closest one).
    """

    threshold: float
    precision: float
    recall: float
    f1: float
    precision_ci: tuple[float, float]
    recall_ci: tuple[float, float]
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int
    unscored: int
    achieved: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The fit as JSON-ready data."""
        return {
            "threshold": self.threshold,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "precision_ci": list(self.precision_ci),
            "recall_ci": list(self.recall_ci),
            "true_positives": self.true_positives,
            "false_positives": self.false_positives,
            "false_negatives": self.false_negatives,
            "true_negatives": self.true_negatives,
            "unscored": self.unscored,
            "achieved": self.achieved,
        }

    @classmethod
    def _from_dict(cls, data: Mapping[str, Any]) -> ThresholdFit:
        values = dict(data)
        values["precision_ci"] = tuple(float(x) for x in values["precision_ci"])
        values["recall_ci"] = tuple(float(x) for x in values["recall_ci"])
        return cls(**values)


def _wilson(successes: int, total: int) -> tuple[float, float]:
    """The 95% Wilson score interval of ``successes / total`` ((0, 1) when total is 0)."""
    if total == 0:
        return 0.0, 1.0
    p = successes / total
    z2 = _Z * _Z
    denominator = 1.0 + z2 / total
    centre = (p + z2 / (2 * total)) / denominator
    half = _Z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / denominator
    # the interval always holds p; min/max only undo float rounding at p = 0 or 1
    return max(0.0, min(centre - half, p)), min(1.0, max(centre + half, p))


def _labelled(
    scores: Sequence[float | None] | np.ndarray, same: Sequence[bool] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Scores as floats (NaN where None or not finite) and labels as bools, checked."""
    values = np.array([np.nan if s is None else s for s in scores], dtype=np.float64)
    values = np.where(np.isfinite(values), values, np.nan)
    labels = np.asarray(same)
    if labels.dtype != bool:
        if not np.isin(labels, (0, 1)).all():
            raise ConfigError("same must hold booleans (or 0/1), one per score")
        labels = labels.astype(bool)
    if values.ndim != 1 or labels.shape != values.shape:
        raise ConfigError(
            f"scores and same must be flat and of equal length, got {values.shape} and "
            f"{labels.shape}"
        )
    if not labels.any() or labels.all():
        raise ConfigError(
            f"need pairs of both kinds to calibrate: {int(labels.sum())} labelled the same, "
            f"{int((~labels).sum())} different"
        )
    return values, labels


def _measure(
    values: np.ndarray, labels: np.ndarray, threshold: float, achieved: bool = True
) -> ThresholdFit:
    matched = values >= threshold  # NaN never matches
    tp = int((matched & labels).sum())
    fp = int((matched & ~labels).sum())
    fn = int(labels.sum()) - tp
    tn = int((~labels).sum()) - fp
    return ThresholdFit(
        threshold=float(threshold),
        precision=tp / (tp + fp) if tp + fp else 0.0,
        recall=tp / (tp + fn),
        f1=2 * tp / (2 * tp + fp + fn),
        precision_ci=_wilson(tp, tp + fp),
        recall_ci=_wilson(tp, tp + fn),
        true_positives=tp,
        false_positives=fp,
        false_negatives=fn,
        true_negatives=tn,
        unscored=int(np.isnan(values).sum()),
        achieved=achieved,
    )


def measure_threshold(
    scores: Sequence[float | None] | np.ndarray,
    same: Sequence[bool] | np.ndarray,
    threshold: float,
) -> ThresholdFit:
    """Precision, recall and counts of a given threshold on scored, labelled pairs.

    Args:
        scores: One score per pair; None (or NaN) where it could not be scored.
        same: Per pair, True when it should match.
        threshold: A pair matches when its score is >= this.

    Raises:
        ConfigError: the lengths differ, or the pairs are all of one kind.
    """
    values, labels = _labelled(scores, same)
    return _measure(values, labels, float(threshold))


def check_rule(
    target_precision: float | None, target_recall: float | None, objective: str
) -> tuple[float | None, float | None]:
    """The targets of a fitting rule as floats (None where not given), checked.

    Raises:
        ConfigError: a target is not a number in (0, 1], both targets are given, or
            ``objective`` is not one of ``OBJECTIVES``.
    """
    checked: list[float | None] = []
    for name, value in (("target_precision", target_precision), ("target_recall", target_recall)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value <= 1
        ):
            raise ConfigError(f"{name} must be a number in (0, 1], got {value!r}")
        checked.append(None if value is None else float(value))
    if target_precision is not None and target_recall is not None:
        raise ConfigError("pass either target_precision or target_recall, not both")
    if objective not in OBJECTIVES:
        raise ConfigError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    return checked[0], checked[1]


def choose_threshold(
    values: np.ndarray,
    labels: np.ndarray,
    target_precision: float | None,
    target_recall: float | None,
    objective: str,
) -> tuple[ThresholdFit, tuple[float, ...]]:
    """The best threshold by the rule, and its sort key (higher is better, for weight search).

    Args:
        values: Per pair, its score as a float, NaN where unscored.
        labels: Per pair, True when it should match (both kinds present).
        target_precision: As ``fit_threshold``, already checked (``check_rule``).
        target_recall: As ``fit_threshold``, already checked.
        objective: As ``fit_threshold``, already checked.
    """
    finite = np.unique(values[~np.isnan(values)])
    if finite.size == 0:  # nothing scored: nothing can match
        return _measure(values, labels, 1.0, achieved=target_precision is None), (-1.0,)
    middle = finite[:-1] + (finite[1:] - finite[:-1]) / 2
    # between two adjacent floats the midpoint rounds onto the lower one: use the upper
    middle = np.where(middle > finite[:-1], middle, finite[1:])
    candidates = np.concatenate([finite[:1], middle])
    positives = np.sort(values[labels & ~np.isnan(values)])
    negatives = np.sort(values[~labels & ~np.isnan(values)])
    p_total, n_total = int(labels.sum()), int((~labels).sum())
    tp = len(positives) - np.searchsorted(positives, candidates, side="left")
    fp = len(negatives) - np.searchsorted(negatives, candidates, side="left")
    matched = tp + fp
    precision = np.divide(tp, matched, out=np.zeros(len(tp)), where=matched > 0)
    recall = tp / p_total
    achieved = True
    if target_precision is not None:
        ok = precision >= target_precision - 1e-12
        achieved = bool(ok.any())
        keys = (recall, precision) if achieved else (precision, recall)
        mask = ok if achieved else np.ones(len(ok), bool)
    elif target_recall is not None:
        ok = recall >= target_recall - 1e-12
        achieved = bool(ok.any())
        keys = (precision, recall) if achieved else (recall, precision)
        mask = ok if achieved else np.ones(len(ok), bool)
    else:
        if objective == "f1":
            first = 2 * tp / (tp + p_total + fp)
        else:  # balanced accuracy, in integers so equal values tie exactly
            first = (tp * n_total + (n_total - fp) * p_total).astype(np.float64)
        keys = (first, precision)
        mask = np.ones(len(tp), bool)
    # lexsort: the last key is the primary one; the threshold breaks any remaining tie upwards
    order = np.lexsort((candidates, keys[1], keys[0], mask))
    best = int(order[-1])
    fit = _measure(values, labels, float(candidates[best]), achieved)
    return fit, (float(achieved), float(keys[0][best]), float(keys[1][best]))


def fit_threshold(
    scores: Sequence[float | None] | np.ndarray,
    same: Sequence[bool] | np.ndarray,
    *,
    target_precision: float | None = None,
    target_recall: float | None = None,
    objective: Objective = "f1",
) -> ThresholdFit:
    """The threshold that best separates pairs labelled the same from the others.

    Args:
        scores: One score per pair; None (or NaN) where it could not be scored
            (such a pair never matches).
        same: Per pair, True when it should match.
        target_precision: Reach at least this precision with the most recall
            (then the most precision); if no threshold reaches it, the most precise
            one, with ``achieved=False``.
        target_recall: Reach at least this recall with the most precision; if none
            does (unscored positives never match), the one with the most recall,
            ``achieved=False``.
        objective: Without a target: ``"f1"`` or ``"balanced_accuracy"`` (mean of the
            true-positive and true-negative rates), ties going to the higher precision.

    Raises:
        ConfigError: a bad argument, or the pairs are all of one kind.
    """
    target_precision, target_recall = check_rule(target_precision, target_recall, objective)
    values, labels = _labelled(scores, same)
    return choose_threshold(values, labels, target_precision, target_recall, objective)[0]


def _simplex(count: int, steps: int) -> Iterator[tuple[int, ...]]:
    """Every way to split ``steps`` units over ``count`` parts, in a fixed order."""
    for cuts in itertools.combinations(range(steps + count - 1), count - 1):
        bounds = (-1, *cuts, steps + count - 1)
        yield tuple(bounds[i + 1] - bounds[i] - 1 for i in range(count))


def search_weights(
    scores: Mapping[str, np.ndarray],
    names: Sequence[str],
    steps: int,
    missing: MissingScores,
    fit: Callable[[np.ndarray], tuple[ThresholdFit, tuple[float, ...]]],
) -> tuple[dict[str, float], ThresholdFit]:
    """The weights of the weighted score whose fitted threshold does best, and that fit.

    Tries every split of 1 over ``names`` in steps of ``1 / steps`` (a dimension at
    0 is left out), in a fixed order, and keeps the first with the highest sort key.

    Args:
        scores: Per dimension, each pair's score (NaN where unscored).
        names: The dimensions to weight, in the order the grid walks them.
        steps: How many units of ``1 / steps`` to split (at least 1).
        missing: The weighted score's rule for a dimension that did not score.
        fit: The threshold fit of one array of scores and its sort key, higher is
            better (``choose_threshold`` with the labels and the rule bound).
    """
    best: tuple[tuple[float, ...], dict[str, float], ThresholdFit] | None = None
    for split in _simplex(len(names), steps):
        trial = {n: units / steps for n, units in zip(names, split, strict=True) if units}
        result, key = fit(blend_many(scores, trial, missing))
        if best is None or key > best[0]:
            best = (key, trial, result)
    assert best is not None
    _, weights, weighted = best
    return weights, weighted
