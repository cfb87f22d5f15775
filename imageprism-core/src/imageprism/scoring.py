"""Scoring one image against many: a growable table of embeddings per dimension.

Used by dedup (a query against the representatives so far) and by ``ImageIndex``
(a query against every indexed image). Each dimension scores a whole block of
rows at once through its ``similarity_many`` when it has one, in chunks so
memory stays bounded; the scores are blended exactly as ``compare`` blends them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from imageprism.builtins.profiles import MissingScores, blend_many
from imageprism.plugin.dimension import Dimension

_CHUNK_ROWS = 65_536


def similarity_many(dimension: Dimension, a: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Scores of ``a`` against each row of ``others``; NaN where not scorable.

    Uses the dimension's ``similarity_many`` when it has one, else ``similarity``
    row by row. Non-finite scores count as "not scorable", as in ``compare``.
    """
    many = getattr(dimension, "similarity_many", None)
    if many is not None:
        scores = np.asarray(many(a, others), dtype=np.float64)
    else:
        values = [dimension.similarity(a, row) for row in others]
        scores = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return np.where(np.isfinite(scores), scores, np.nan)


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
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Per dimension, ``query`` scored against every row, or against ``rows`` only, in
        that order (NaN where not scorable), and the weighted blend of those scores (NaN
        where ``compare`` would give None)."""
        rows = np.arange(self._size) if rows is None else np.asarray(rows, dtype=np.int64)
        scores: dict[str, np.ndarray] = {}
        for name, (matrix, present) in self.columns().items():
            row = np.full(len(rows), np.nan)
            embedding = query.get(name)
            if embedding is not None and matrix is not None:
                where = np.flatnonzero(present[rows])
                for start in range(0, len(where), _CHUNK_ROWS):
                    chunk = where[start : start + _CHUNK_ROWS]
                    row[chunk] = similarity_many(dimensions[name], embedding, matrix[rows[chunk]])
            scores[name] = row
        return scores, blend_many(scores, weights, missing)

    def row(self, index: int) -> dict[str, Any]:
        """One image's embeddings back (None where it has none)."""
        return {
            name: (matrix[index] if matrix is not None and present[index] else None)
            for name, (matrix, present) in self.columns().items()
        }
