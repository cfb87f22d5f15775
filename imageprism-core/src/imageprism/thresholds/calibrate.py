"""Calibration: thresholds (and weights) fitted to labelled pairs, saved and loaded by name.

``calibrate(pairs, prism)`` embeds every image of the pairs once, scores each pair
on every dimension of ``prism``, and per dimension (and for the weighted score)
picks the threshold that reaches a target precision or recall, or that
maximises F1 (or balanced accuracy). It reports the precision and recall there
with 95% Wilson score intervals and the pair counts. A pair a dimension cannot
score (None, e.g. no face) counts as "different" for that dimension.

Thresholds are chosen among the midpoints between consecutive distinct scores
(and the lowest score): each gives a different set of matches, and the midpoint
leaves the most room on both sides. The intervals treat the threshold as fixed;
it was chosen on the same pairs, so they are a little optimistic.

A ``Calibration`` saves to JSON under a name (``IMAGEPRISM_CONFIG_DIR``, else the
user config folder, e.g. ``~/.config/imageprism/calibrations``);
``load_calibration(name).prism()`` rebuilds the prism and ``.threshold`` gives
the threshold for ``dedup``.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import numbers
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from imageprism import environment
from imageprism.builtins.profiles import blend_many
from imageprism.errors import ConfigError
from imageprism.index.index import prism_manifest
from imageprism.io.atomic import atomic_write
from imageprism.io.images import ImageInput
from imageprism.prism import ImagePrism, Progress
from imageprism.results import ImageFailure
from imageprism.scoring import similarity_many

Objective = Literal["f1", "balanced_accuracy"]
"""What ``calibrate`` maximises when no target is given."""

OBJECTIVES: tuple[str, ...] = ("f1", "balanced_accuracy")
CONFIDENCE = 0.95
_Z = 1.959963984540054  # two-sided 95% normal quantile
_FORMAT = "imageprism-calibration"
_VERSION = 1
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_COLUMNS = {"a": ("path_a", "file_x"), "b": ("path_b", "file_y"), "same": ("same", "decision")}
_YES = frozenset({"yes", "y", "1", "true"})
_NO = frozenset({"no", "n", "0", "false"})


@dataclass(frozen=True)
class LabelledPair:
    """Two images and whether they should count as a match.

    Attributes:
        a: The first image (any input ``ImagePrism`` takes).
        b: The second image.
        same: True when the pair is a match (same picture, same person, ...).
    """

    a: ImageInput
    b: ImageInput
    same: bool


def read_pairs(path: str | os.PathLike[str]) -> list[LabelledPair]:
    """The labelled pairs of a CSV file, with image paths relative to the file's folder.

    Columns (by header, any order, case-insensitive): ``path_a``, ``path_b`` and
    ``same`` (``yes``/``no``, ``1``/``0``, ``true``/``false``); the ``file_x``,
    ``file_y``, ``Decision`` header of deepface's ``master.csv`` works too.

    Raises:
        ConfigError: the file cannot be read, a column is missing, or a row is bad
            (the message names the file, line and column).
    """
    source = Path(path)
    try:
        with source.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise ConfigError(f"{source}: the file is empty; it needs a header row")
            columns = _columns(source, header)
            pairs = [_pair(source, reader.line_num, row, columns) for row in reader if any(row)]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ConfigError(f"cannot read pairs file {source}: {err}") from err
    if not pairs:
        raise ConfigError(f"{source}: no pairs after the header")
    return pairs


def _columns(source: Path, header: list[str]) -> dict[str, tuple[int, str]]:
    """Per role (a, b, same), the column index and its name as written."""
    found = {name.strip().lower(): (i, name.strip()) for i, name in enumerate(header)}
    columns = {}
    for role, names in _COLUMNS.items():
        hit = next((found[n] for n in names if n in found), None)
        if hit is None:
            raise ConfigError(
                f"{source}: line 1: no column {' or '.join(map(repr, names))} "
                f"(the header has: {', '.join(h.strip() for h in header) or 'nothing'})"
            )
        columns[role] = hit
    return columns


def _pair(
    source: Path, line: int, row: list[str], columns: Mapping[str, tuple[int, str]]
) -> LabelledPair:
    values: dict[str, str] = {}
    for role, (index, name) in columns.items():
        value = row[index].strip() if index < len(row) else ""
        if not value:
            raise ConfigError(f"{source}: line {line}, column {name!r}: empty")
        values[role] = value
    label = values["same"].lower()
    if label not in _YES | _NO:
        raise ConfigError(
            f"{source}: line {line}, column {columns['same'][1]!r}: {values['same']!r} is not "
            "yes/no, 1/0 or true/false"
        )
    folder = source.parent
    return LabelledPair(
        a=str(folder / values["a"]), b=str(folder / values["b"]), same=label in _YES
    )


# -- fitting a threshold ---------------------------------------------------------------------


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


def _check_rule(
    target_precision: float | None, target_recall: float | None, objective: str
) -> tuple[float | None, float | None]:
    """The targets as floats, or ConfigError for a bad target or objective."""
    checked = []
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


def _choose(
    values: np.ndarray,
    labels: np.ndarray,
    target_precision: float | None,
    target_recall: float | None,
    objective: str,
) -> tuple[ThresholdFit, tuple[float, ...]]:
    """The best threshold by the rule, and its sort key (higher is better, for weight search)."""
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
    target_precision, target_recall = _check_rule(target_precision, target_recall, objective)
    values, labels = _labelled(scores, same)
    return _choose(values, labels, target_precision, target_recall, objective)[0]


# -- calibrating a prism ---------------------------------------------------------------------


def _config_dir() -> Path:
    """Where calibrations are saved: ``$IMAGEPRISM_CONFIG_DIR/calibrations`` or the user's."""
    own = os.environ.get(environment.CONFIG_DIR)
    if own:
        return Path(own).expanduser() / "calibrations"
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "imageprism" / "calibrations"


def calibration_path(name: str) -> Path:
    """The file a calibration saved as ``name`` lives in.

    Raises:
        ConfigError: ``name`` is not 1 to 100 letters, digits, ``.``, ``_`` or ``-``
            (starting with a letter or digit).
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(
            f"a calibration name is 1 to 100 letters, digits, '.', '_' or '-', starting with a "
            f"letter or digit; got {name!r}"
        )
    return _config_dir() / f"{name}.json"


def _saved_names() -> list[str]:
    folder = _config_dir()
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


@dataclass(frozen=True)
class Calibration:
    """Thresholds fitted to labelled pairs, per dimension and for the weighted score.

    Attributes:
        dimensions: Per dimension, the fitted threshold and how it does.
        weighted: The same for the weighted score; None with a single dimension.
        weights: The weights of the weighted score (fitted with ``fit_weights``).
        settings: The prism's dimensions (fingerprint, metric, config), weights and
            ``missing_scores``, as saved indexes record them.
        scores: Per dimension, each usable pair's score (None where not scored).
        same: Per usable pair, its label.
        errors: The pairs that could not be used (``index`` is the pair's position,
            ``source`` the image that failed).
        objective: ``"f1"`` or ``"balanced_accuracy"``.
        target_precision: The target precision asked for, if any.
        target_recall: The target recall asked for, if any.
        fitted_weights: True when ``weights`` were fitted.
        profile: The profile the prism used, if any.
        source: The CSV file the pairs came from, if any.
    """

    dimensions: dict[str, ThresholdFit]
    weighted: ThresholdFit | None
    weights: dict[str, float]
    settings: dict[str, Any]
    scores: dict[str, tuple[float | None, ...]]
    same: tuple[bool, ...]
    errors: list[ImageFailure]
    objective: str = "f1"
    target_precision: float | None = None
    target_recall: float | None = None
    fitted_weights: bool = False
    profile: str | None = None
    source: str | None = None

    @property
    def threshold(self) -> float:
        """The threshold for ``dedup`` with ``prism()``: the weighted score's, or the only
        dimension's."""
        if self.weighted is not None:
            return self.weighted.threshold
        return next(iter(self.dimensions.values())).threshold

    @property
    def positives(self) -> int:
        """Usable pairs labelled the same."""
        return sum(self.same)

    @property
    def negatives(self) -> int:
        """Usable pairs labelled different."""
        return len(self.same) - sum(self.same)

    def prism(self, **options: Any) -> ImagePrism:
        """The ``ImagePrism`` calibrated: same dimensions, configs, weights and missing-score rule.

        Args:
            options: Other ``ImagePrism`` arguments (``cache_size``, ``threads``, ...).

        Raises:
            ConfigError: a dimension now computes differently (another model, config
                or preprocessing: its fingerprint changed), so the thresholds no longer hold.
        """
        # a dimension fitted to weight 0 takes no part in the score: do not compute it
        dimensions = {
            name: info
            for name, info in self.settings["dimensions"].items()
            if self.weights.get(name, 1.0) > 0
        }
        if not dimensions:
            raise ConfigError("the calibration gives every dimension weight 0; calibrate again")
        prism = ImagePrism(
            list(dimensions),
            weights={name: self.weights[name] for name in dimensions if name in self.weights},
            config={n: d["config"] for n, d in dimensions.items() if d.get("config") is not None},
            missing_scores=self.settings.get("missing_scores", "zero"),
            **options,
        )
        changed = [
            name
            for name, info in dimensions.items()
            if prism.dimension(name).fingerprint != info["fingerprint"]
        ]
        if changed:
            raise ConfigError(
                f"the calibration's {', '.join(changed)} dimension(s) now compute differently "
                "(model, config or preprocessing changed); calibrate again"
            )
        return prism

    def to_dict(self) -> dict[str, Any]:
        """The calibration as JSON-ready data (what ``save`` writes)."""
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "source": self.source,
            "profile": self.profile,
            "objective": self.objective,
            "target_precision": self.target_precision,
            "target_recall": self.target_recall,
            "confidence": CONFIDENCE,
            "fitted_weights": self.fitted_weights,
            "threshold": self.threshold,
            "weights": dict(self.weights),
            "dimensions": {name: fit.to_dict() for name, fit in self.dimensions.items()},
            "weighted": None if self.weighted is None else self.weighted.to_dict(),
            "settings": self.settings,
            "pairs": {
                "count": len(self.same),
                "same": list(self.same),
                "scores": {name: list(values) for name, values in self.scores.items()},
            },
            "errors": [e.to_dict() for e in self.errors],
        }

    def save(self, name: str) -> Path:
        """Write the calibration as ``NAME.json`` in the calibrations folder; returns its path.

        The folder is ``$IMAGEPRISM_CONFIG_DIR/calibrations`` when that is set, else the
        user config folder (``~/.config/imageprism/calibrations`` on Linux). The
        file is replaced atomically.

        Raises:
            ConfigError: a bad name.
            OSError: the folder cannot be created or written.
        """
        target = calibration_path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_dict(), indent=2)
        return atomic_write(target, lambda temp: temp.write_text(text, encoding="utf-8"))


def load_calibration(name_or_path: str | os.PathLike[str]) -> Calibration:
    """A calibration saved by name (``Calibration.save``) or a JSON file written by it.

    A value with a path separator or ending in ``.json`` (or a ``Path``) is a file;
    anything else is a name in the calibrations folder.

    Raises:
        ConfigError: no such calibration (the message lists the saved names), or the
            file is not a calibration.
    """
    text = os.fspath(name_or_path)
    separators = [os.sep, *([os.altsep] if os.altsep else [])]
    is_path = isinstance(name_or_path, os.PathLike) or text.lower().endswith(".json")
    if is_path or any(sep in text for sep in separators):
        path = Path(text).expanduser()
        if not path.is_file():
            raise ConfigError(f"no calibration file {path}")
    else:
        path = calibration_path(text)
        if not path.is_file():
            saved = ", ".join(_saved_names()) or "none"
            raise ConfigError(
                f"no calibration named {text!r} in {path.parent}; saved: {saved} "
                "(save one with `imageprism calibrate PAIRS.csv --save NAME`)"
            )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ConfigError(f"{path} is not an imageprism calibration file")
        if data.get("version") != _VERSION:
            raise ConfigError(
                f"{path} is a calibration of format version {data.get('version')!r}; this "
                f"imageprism reads version {_VERSION}"
            )
        weighted = data["weighted"]
        return Calibration(
            dimensions={n: ThresholdFit._from_dict(f) for n, f in data["dimensions"].items()},
            weighted=None if weighted is None else ThresholdFit._from_dict(weighted),
            weights={str(k): float(v) for k, v in data["weights"].items()},
            settings=data["settings"],
            scores={n: tuple(v) for n, v in data["pairs"]["scores"].items()},
            same=tuple(bool(v) for v in data["pairs"]["same"]),
            errors=[ImageFailure(**e) for e in data["errors"]],
            objective=data["objective"],
            target_precision=data["target_precision"],
            target_recall=data["target_recall"],
            fitted_weights=bool(data["fitted_weights"]),
            profile=data["profile"],
            source=data["source"],
        )
    except ConfigError:
        raise
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise ConfigError(f"cannot read calibration {path}: {type(err).__name__}: {err}") from err


def _as_pairs(pairs: Iterable[Any]) -> list[LabelledPair]:
    checked = []
    for index, item in enumerate(pairs):
        if not isinstance(item, LabelledPair):
            if not (isinstance(item, tuple) and len(item) == 3):
                raise ConfigError(
                    f"pair {index} must be a LabelledPair or an (a, b, same) tuple, "
                    f"got {type(item).__name__}"
                )
            item = LabelledPair(*item)
        if not isinstance(item.same, bool | np.bool_) and item.same not in (0, 1):
            raise ConfigError(f"pair {index}: same must be True or False, got {item.same!r}")
        checked.append(LabelledPair(item.a, item.b, bool(item.same)))
    if not checked:
        raise ConfigError("no pairs to calibrate on")
    return checked


def _input_key(image: ImageInput) -> tuple[str, Any]:
    """Equal keys for the same file named twice, so each image is embedded once."""
    if isinstance(image, str | os.PathLike):
        return "path", os.path.abspath(os.fspath(image))
    return "object", id(image)


def _score_pairs(
    pairs: Sequence[LabelledPair], prism: ImagePrism, progress: Progress | None
) -> tuple[dict[str, np.ndarray], np.ndarray, list[ImageFailure]]:
    """Per dimension, the score of each usable pair (NaN where None), labels and failures."""
    slots: dict[tuple[str, Any], int] = {}
    images: list[ImageInput] = []
    refs = []
    for pair in pairs:
        ends = []
        for image in (pair.a, pair.b):
            key = _input_key(image)
            if key not in slots:
                slots[key] = len(images)
                images.append(image)
            ends.append(slots[key])
        refs.append(ends)
    batch = prism.embed_many(images, progress=progress)
    failed = {failure.index: failure for failure in batch.errors}
    errors: list[ImageFailure] = []
    usable: list[int] = []
    for number, (ia, ib) in enumerate(refs):
        failure = failed.get(ia) or failed.get(ib)
        if failure is not None:
            errors.append(ImageFailure(number, failure.source, failure.reason))
        else:
            usable.append(number)
    scores = {name: np.full(len(usable), np.nan) for name in prism.dimensions}
    for row, number in enumerate(usable):
        ia, ib = refs[number]
        ea, eb = batch.embeddings[ia] or {}, batch.embeddings[ib] or {}
        for name in prism.dimensions:
            x, y = ea.get(name), eb.get(name)
            if x is not None and y is not None:
                scores[name][row] = similarity_many(prism.dimension(name), x, y[None, :])[0]
    labels = np.array([pairs[number].same for number in usable], dtype=bool)
    return scores, labels, errors


def _simplex(count: int, steps: int) -> Iterator[tuple[int, ...]]:
    """Every way to split ``steps`` units over ``count`` parts, in a fixed order."""
    for cuts in itertools.combinations(range(steps + count - 1), count - 1):
        bounds = (-1, *cuts, steps + count - 1)
        yield tuple(bounds[i + 1] - bounds[i] - 1 for i in range(count))


def calibrate(
    pairs: str | os.PathLike[str] | Iterable[LabelledPair | tuple[ImageInput, ImageInput, bool]],
    prism: ImagePrism | None = None,
    *,
    target_precision: float | None = None,
    target_recall: float | None = None,
    objective: Objective = "f1",
    fit_weights: bool = False,
    weight_step: float = 0.1,
    profile: str | None = None,
    progress: Progress | None = None,
) -> Calibration:
    """Fit a threshold per dimension (and for the weighted score) to labelled pairs.

    Args:
        pairs: A CSV file (see ``read_pairs``), or ``LabelledPair``s or
            ``(a, b, same)`` tuples of any image inputs.
        prism: The prism to calibrate; default ``ImagePrism()`` (hash only).
        target_precision: Per score, the threshold reaching this precision with the
            most recall (see ``fit_threshold``).
        target_recall: Instead: the threshold reaching this recall with the most precision.
        objective: Without a target, what the threshold maximises: ``"f1"`` or
            ``"balanced_accuracy"``.
        fit_weights: Also search the weights of the weighted score: every split of 1
            over the prism's dimensions in steps of ``weight_step``, keeping the first
            (in a fixed order) whose fitted threshold does best by the same rule.
        weight_step: Grid step of the weight search; 1 / step must be a whole number.
        profile: The name of the profile ``prism`` was made with, recorded in the result.
        progress: Called as ``progress(done, total)`` while embedding.

    Returns:
        A ``Calibration``; pairs whose images fail to load are in its ``errors``.

    Raises:
        ConfigError: a bad argument or CSV file, or the usable pairs are not of both kinds.
    """
    prism = prism if prism is not None else ImagePrism()
    target_precision, target_recall = _check_rule(target_precision, target_recall, objective)
    steps = round(1 / weight_step) if isinstance(weight_step, numbers.Real) and weight_step else 0
    if fit_weights and not (0 < weight_step <= 1 and abs(steps * weight_step - 1) < 1e-9):
        raise ConfigError(f"weight_step must divide 1 evenly (e.g. 0.1), got {weight_step!r}")
    source = None
    if isinstance(pairs, str | os.PathLike):
        source = str(Path(pairs).resolve())
        pairs = read_pairs(pairs)
    checked = _as_pairs(pairs)
    scores, labels, errors = _score_pairs(checked, prism, progress)
    if not labels.any() or labels.all():
        raise ConfigError(
            f"need usable pairs of both kinds to calibrate: {int(labels.sum())} labelled the "
            f"same, {int((~labels).sum())} different ({len(errors)} pairs could not be used)"
        )

    def fit(values: np.ndarray) -> tuple[ThresholdFit, tuple[float, ...]]:
        return _choose(values, labels, target_precision, target_recall, objective)

    fits = {name: fit(values)[0] for name, values in scores.items()}
    weights = dict(prism.weights)
    weighted = None
    names = list(prism.dimensions)
    if fit_weights and len(names) > 1:
        best: tuple[tuple[float, ...], dict[str, float], ThresholdFit] | None = None
        for split in _simplex(len(names), steps):
            trial = {n: units / steps for n, units in zip(names, split, strict=True) if units}
            result, key = fit(blend_many(scores, trial, prism.missing_scores))
            if best is None or key > best[0]:
                best = (key, trial, result)
        assert best is not None
        _, weights, weighted = best
    elif len(names) > 1:
        weighted = fit(blend_many(scores, weights, prism.missing_scores))[0]
    return Calibration(
        dimensions=fits,
        weighted=weighted,
        weights=weights,
        settings={**prism_manifest(prism), "weights": weights},
        scores={
            n: tuple(None if math.isnan(v) else float(v) for v in values)
            for n, values in scores.items()
        },
        same=tuple(bool(v) for v in labels),
        errors=errors,
        objective=objective,
        target_precision=target_precision,
        target_recall=target_recall,
        fitted_weights=fit_weights and len(names) > 1,
        profile=profile,
        source=source,
    )
