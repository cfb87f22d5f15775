"""Calibration: thresholds (and weights) fitted to labelled pairs, saved and loaded by name.

``calibrate(pairs, prism)`` embeds every image of the pairs once, scores each pair
on every dimension of ``prism``, and per dimension (and for the weighted score)
fits a threshold by ``fit_threshold``'s rules (a target precision or recall, or
the most F1 or balanced accuracy), optionally searching the weights too. A pair
a dimension cannot score (None, e.g. no face) counts as "different" for that
dimension. A ``Calibration`` saves to JSON under a name (``IMAGEPRISM_CONFIG_DIR``,
else the user config folder, e.g. ``~/.config/imageprism/calibrations``);
``load_calibration(name).prism()`` rebuilds the prism and ``.threshold`` gives the
threshold for ``dedup``. The pairs (``LabelledPair``, ``read_pairs``, scoring
them) live in ``thresholds.pairs`` and the fitting (``ThresholdFit``,
``fit_threshold``, ``measure_threshold``) in ``thresholds.fit``; the public
names of both are re-exported here.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imageprism import environment
from imageprism.errors import ConfigError
from imageprism.index.manifest import IndexFileError, check_model_sources, prism_manifest
from imageprism.io.atomic import atomic_write
from imageprism.io.images import ImageInput
from imageprism.io.names import display_name
from imageprism.prism import ImagePrism, Progress
from imageprism.results import ImageFailure
from imageprism.scoring import blend_many
from imageprism.thresholds.fit import (
    CONFIDENCE,
    OBJECTIVES,
    Objective,
    ThresholdFit,
    check_rule,
    choose_threshold,
    fit_threshold,
    measure_threshold,
    search_weights,
)
from imageprism.thresholds.pairs import LabelledPair, as_pairs, read_pairs, score_pairs

__all__ = [
    "CONFIDENCE",
    "OBJECTIVES",
    "Calibration",
    "LabelledPair",
    "Objective",
    "ThresholdFit",
    "calibrate",
    "calibration_path",
    "fit_threshold",
    "load_calibration",
    "measure_threshold",
    "read_pairs",
]

_FORMAT = "imageprism-calibration"
_VERSION = 1
_MAX_FILE_BYTES = 64 * 2**20  # a calibration of a million pairs is about 30 MB
_TRUST_HINT = (
    "use it only if you trust whoever wrote it: load_calibration(..., trust_models=True) "
    "or `imageprism dedup --calibration FILE --trust-calibration-models`, or save your own "
    "with `imageprism calibrate --save NAME`"
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def _config_dir() -> Path:
    """Where calibrations are saved: the ``calibrations`` folder of the settings folder."""
    return environment.config_dir() / "calibrations"


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


def load_calibration(
    name_or_path: str | os.PathLike[str], *, trust_models: bool = False
) -> Calibration:
    """A calibration saved by name (``Calibration.save``) or a JSON file written by it.

    A value with a path separator or ending in ``.json`` (or a ``Path``) is a file;
    anything else is a name in the calibrations folder.

    A calibration carries its dimensions' configs, which ``Calibration.prism`` builds.
    One saved by name lives in your own config folder and is trusted; a file given by
    path may come from anyone, so, as for index files, a config naming a model the
    installed packs do not pin, or a local model file, is refused unless
    ``trust_models`` is true.

    Raises:
        ConfigError: no such calibration (the message lists the saved names), the
            file is not a calibration, or it names an untrusted model.
    """
    text = os.fspath(name_or_path)
    separators = [os.sep, *([os.altsep] if os.altsep else [])]
    is_path = isinstance(name_or_path, os.PathLike) or text.lower().endswith(".json")
    by_path = is_path or any(sep in text for sep in separators)
    if by_path:
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
        if path.stat().st_size > _MAX_FILE_BYTES:
            raise ConfigError(f"{display_name(path)} is too large for a calibration file")
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ConfigError(f"{path} is not an imageprism calibration file")
        if data.get("version") != _VERSION:
            raise ConfigError(
                f"{path} is a calibration of format version {data.get('version')!r}; this "
                f"imageprism reads version {_VERSION}"
            )
        if by_path and not trust_models:
            try:
                check_model_sources(data["settings"], path, _TRUST_HINT)
            except IndexFileError as err:
                raise ConfigError(str(err)) from err
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
    target_precision, target_recall = check_rule(target_precision, target_recall, objective)
    steps = round(1 / weight_step) if isinstance(weight_step, numbers.Real) and weight_step else 0
    if fit_weights and not (0 < weight_step <= 1 and abs(steps * weight_step - 1) < 1e-9):
        raise ConfigError(f"weight_step must divide 1 evenly (e.g. 0.1), got {weight_step!r}")
    source = None
    if isinstance(pairs, str | os.PathLike):
        source = str(Path(pairs).resolve())
        pairs = read_pairs(pairs)
    checked = as_pairs(pairs)
    scores, labels, errors = score_pairs(checked, prism, progress)
    if not labels.any() or labels.all():
        raise ConfigError(
            f"need usable pairs of both kinds to calibrate: {int(labels.sum())} labelled the "
            f"same, {int((~labels).sum())} different ({len(errors)} pairs could not be used)"
        )

    def fit(values: np.ndarray) -> tuple[ThresholdFit, tuple[float, ...]]:
        return choose_threshold(values, labels, target_precision, target_recall, objective)

    fits = {name: fit(values)[0] for name, values in scores.items()}
    weights = dict(prism.weights)
    weighted = None
    names = list(prism.dimensions)
    if fit_weights and len(names) > 1:
        weights, weighted = search_weights(scores, names, steps, prism.missing_scores, fit)
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
