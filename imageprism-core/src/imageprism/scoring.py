"""Score maths: weights and blending, cosine, one image against many, a table of embeddings.

``normalize_weights``, ``blend`` and ``blend_many`` turn per-dimension scores into
one weighted score (the rule for dimensions that did not score is
``MissingScores``). ``EmbeddingTable`` is a growable table of embeddings per
dimension, used by dedup (a query against the representatives so far) and by ``ImageIndex``
(a query against every indexed image). Each dimension scores a whole block of
rows at once through its ``similarity_many`` when it has one, in chunks so
memory stays bounded; the scores are blended exactly as ``compare`` blends them.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from imageprism.errors import ConfigError
from imageprism.plugin.dimension import Dimension, ScoresMany
from imageprism.plugin.outputs import SCORE_TOLERANCE, Culprit
from imageprism.plugin.registry import get_registry
from imageprism.plugin.specs import normalize_weights

__all__ = [
    "MISSING_SCORES",
    "EmbeddingTable",
    "MissingScores",
    "blend",
    "blend_many",
    "check_threshold",
    "cosine_scores",
    "normalize_weights",
    "similarity_many",
    "stack_embeddings",
]

_CHUNK_ROWS = 65_536


def check_threshold(threshold: float) -> float:
    """Return ``threshold`` as a float, or raise ConfigError unless it is a number in [0, 1]."""
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise ConfigError(f"threshold must be a number in [0, 1], got {threshold!r}")
    if not 0.0 <= float(threshold) <= 1.0:
        raise ConfigError(f"threshold must be in [0, 1], got {threshold!r}")
    return float(threshold)


MissingScores = Literal["zero", "renormalize"]
"""What a dimension that returned None does to a weighted score.

``"zero"`` (the 0.1 behaviour, default): it counts as a score of 0.
``"renormalize"``: the weights of the dimensions that did score are rescaled to
sum to 1; if none scored, the weighted score is None.
"""

MISSING_SCORES: tuple[str, ...] = ("zero", "renormalize")


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
    scored = [(w, s) for name, w in weights.items() if (s := scores.get(name)) is not None]
    total = sum(w for w, _ in scored)
    if total <= 0:
        return None
    return _tidy(sum(w * s for w, s in scored) / total)


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


def similarity_many(
    dimension: Dimension, a: np.ndarray, others: np.ndarray, culprit: Culprit | None = None
) -> np.ndarray:
    """Scores of ``a`` against each row of ``others``; NaN where not scorable.

    Uses the dimension's ``similarity_many`` when it has one, else ``similarity``
    row by row. Non-finite scores count as "not scorable", as in ``compare``, and
    scores within ``SCORE_TOLERANCE`` outside [0, 1] are clipped. ``culprit`` names the
    plugin in errors (default: the plugin that registered the dimension's name).

    Raises:
        PluginError: the plugin raised, returned another number of scores than rows,
            something that is not numbers, or scores outside [0, 1] (names the plugin).
    """
    try:
        if isinstance(dimension, ScoresMany):
            scores = np.asarray(dimension.similarity_many(a, others), dtype=np.float64)
        else:
            values = [dimension.similarity(a, row) for row in others]
            scores = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    except Exception as err:
        raise (culprit or _culprit(dimension)).error(
            f"failed to score pairs: {type(err).__name__}: {err}"
        ) from err
    if scores.shape != (len(others),):
        raise (culprit or _culprit(dimension)).error(
            f"returned scores of shape {scores.shape} for {len(others)} rows; "
            "similarity_many must return one score per row"
        )
    finite = np.isfinite(scores)
    outside = finite & ((scores < -SCORE_TOLERANCE) | (scores > 1.0 + SCORE_TOLERANCE))
    if outside.any():
        raise (culprit or _culprit(dimension)).error(
            f"scored a pair {float(scores[outside][0])!r}; scores must lie in [0, 1] "
            "(or be None / NaN when a pair cannot be scored)"
        )
    return np.where(finite, np.clip(scores, 0.0, 1.0), np.nan)


def _culprit(dimension: Dimension) -> Culprit:
    name = str(getattr(dimension, "name", type(dimension).__name__))
    return Culprit.of(f"dimension {name!r}", get_registry().plugin_of(name))


def cosine_scores(a: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Cosine similarity of ``a`` with each row of ``others``, clipped to [0, 1].

    Opposite directions count as unrelated (0); a zero vector scores 0. Shared by
    every cosine dimension (the model pack's, the face pack's).
    """
    a = np.asarray(a, dtype=np.float64)
    others = np.asarray(others, dtype=np.float64)
    norms = np.linalg.norm(others, axis=1) * np.linalg.norm(a)
    dots = others @ a
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = np.where(norms > 0, dots / np.where(norms > 0, norms, 1.0), 0.0)
    # an embedding against itself is exactly 1, not 0.9999999 from float rounding
    return np.clip(np.where(scores > 1.0 - 1e-6, 1.0, scores), 0.0, 1.0)


def stack_embeddings(
    values: Sequence[np.ndarray | None], dtype: Any = np.uint8
) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings as one matrix (zero rows, and zero width when all are None, of ``dtype``)
    and the mask of the present ones."""
    present = np.array([v is not None for v in values], dtype=bool)
    first = next((v for v in values if v is not None), None)
    width, kind = (0, dtype) if first is None else (first.shape[0], first.dtype)
    matrix = np.zeros((len(values), width), dtype=kind)
    for index, value in enumerate(values):
        if value is not None:
            matrix[index] = value
    return matrix, present


class _Column:
    """One dimension's embeddings: a matrix that doubles its capacity, and a presence mask."""

    def __init__(self) -> None:
        self.matrix: np.ndarray | None = None
        self.present = np.zeros(0, dtype=bool)
        self.size = 0

    def append(self, embedding: np.ndarray | None) -> None:
        if self.size == len(self.present):
            capacity = max(16, 2 * len(self.present))
            self.present = np.concatenate([self.present, np.zeros(capacity - self.size, bool)])
            if self.matrix is not None:
                grown = np.zeros((capacity, self.matrix.shape[1]), self.matrix.dtype)
                grown[: self.size] = self.matrix[: self.size]
                self.matrix = grown
        if embedding is not None:
            if self.matrix is None:
                self.matrix = np.zeros((len(self.present), embedding.shape[0]), embedding.dtype)
            self.matrix[self.size] = embedding
            self.present[self.size] = True
        self.size += 1

    def extend(self, matrix: np.ndarray, present: np.ndarray) -> None:
        """Append many rows at once (rows where ``present`` is False are "no embedding")."""
        if self.matrix is None:  # the first embedding sets the width and dtype
            first = np.flatnonzero(present)
            skip = int(first[0]) if len(first) else len(present)
            for _ in range(skip):
                self.append(None)
            if not len(first):
                return
            self.append(matrix[skip])
            matrix, present = matrix[skip + 1 :], present[skip + 1 :]
        assert self.matrix is not None
        needed = self.size + len(present)
        if needed > len(self.present):
            grown = np.zeros((needed, self.matrix.shape[1]), self.matrix.dtype)
            grown[: self.size] = self.matrix[: self.size]
            self.matrix = grown
            self.present = np.concatenate(
                [self.present, np.zeros(needed - len(self.present), bool)]
            )
        self.matrix[self.size : needed][present] = matrix[present]
        self.present[self.size : needed] = present
        self.size = needed

    def rows(self) -> tuple[np.ndarray | None, np.ndarray]:
        matrix = None if self.matrix is None else self.matrix[: self.size]
        return matrix, self.present[: self.size]


class EmbeddingTable:
    """Embeddings of many images for a fixed set of dimensions, appended one image at a time."""

    def __init__(self, names: Sequence[str]) -> None:
        self._columns = {name: _Column() for name in names}
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def append(self, embeddings: Mapping[str, np.ndarray | None]) -> None:
        """Add one image's embeddings (a missing or None entry is "no embedding")."""
        for name, column in self._columns.items():
            column.append(embeddings.get(name))
        self._size += 1

    def extend(self, columns: Mapping[str, tuple[np.ndarray, np.ndarray]], count: int) -> None:
        """Add ``count`` images at once from per-dimension ``(matrix, present)`` columns."""
        for name, column in self._columns.items():
            matrix, present = columns[name]
            column.extend(matrix, np.asarray(present, dtype=bool))
        self._size += count

    def columns(self) -> dict[str, tuple[np.ndarray | None, np.ndarray]]:
        """Per dimension, the matrix of rows (None when no row has an embedding) and the mask."""
        return {name: column.rows() for name, column in self._columns.items()}

    def scores(
        self,
        dimensions: Mapping[str, Dimension],
        query: Mapping[str, np.ndarray | None],
        weights: Mapping[str, float],
        missing: MissingScores,
        rows: np.ndarray | None = None,
        culprits: Mapping[str, Culprit] | None = None,
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Per dimension, ``query`` scored against every row, or against ``rows`` only, in
        that order (NaN where not scorable), and the weighted blend of those scores (NaN
        where ``compare`` would give None). ``culprits`` name each dimension's plugin in
        errors (see ``similarity_many``)."""
        rows = np.arange(self._size) if rows is None else np.asarray(rows, dtype=np.int64)
        scores: dict[str, np.ndarray] = {}
        for name, (matrix, present) in self.columns().items():
            row = np.full(len(rows), np.nan)
            embedding = query.get(name)
            if embedding is not None and matrix is not None:
                where = np.flatnonzero(present[rows])
                for start in range(0, len(where), _CHUNK_ROWS):
                    chunk = where[start : start + _CHUNK_ROWS]
                    row[chunk] = similarity_many(
                        dimensions[name],
                        embedding,
                        matrix[rows[chunk]],
                        None if culprits is None else culprits.get(name),
                    )
            scores[name] = row
        return scores, blend_many(scores, weights, missing)

    def row(self, index: int) -> dict[str, Any]:
        """One image's embeddings back (None where it has none)."""
        return {
            name: (matrix[index] if matrix is not None and present[index] else None)
            for name, (matrix, present) in self.columns().items()
        }
