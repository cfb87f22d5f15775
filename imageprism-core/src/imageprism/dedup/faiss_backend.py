"""The optional FAISS backend (``pip install "imageprism-core[faiss]"``).

- Hamming dimensions: binary indexes. Dedup candidates come from
  ``IndexBinaryMultiHash`` planned like the exact multi-index hashing (so every
  pair within the radius is found, then verified); search uses
  ``IndexBinaryFlat`` (exact Hamming k-NN over every hash set, SIMD popcount).
- Cosine dimensions: ``IndexFlatIP`` below ``IVF_FROM`` rows, above it
  ``IndexIVFFlat`` (inner product on unit vectors, ``nprobe`` lists searched):
  approximate, so search and dedup may miss pairs the exact backend finds.

Every candidate is scored exactly afterwards; FAISS only chooses which rows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from imageprism.dedup.candidates import TooManyPairs, plan_blocks, unique_pairs
from imageprism.plugin.dimension import HammingCodes, RanksByCodeDistance
from imageprism.runtime.optional import require

IVF_FROM = 50_000
"""Rows of a cosine dimension from which search uses an IVF index instead of a flat one."""

NPROBE = 32
"""IVF lists searched per query."""

_DEDUP_NEIGHBOURS = 32  # k of the k-NN that finds cosine dedup candidates


def _faiss() -> Any:
    return require("faiss", "faiss")


def hamming_pairs(
    codes: np.ndarray, owners: np.ndarray, radius: int, *, limit: int | None = None
) -> np.ndarray:
    """``candidates.hamming_pairs`` with FAISS's multi-hash index (the same pairs)."""
    from imageprism.dedup.candidates import hamming_pairs as exact

    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    owners = np.asarray(owners, dtype=np.int64)
    bits = codes.shape[1] * 8
    plan = plan_blocks(len(codes), bits, radius) if radius >= 0 else None
    if plan is None:
        return exact(codes, owners, radius, limit=limit)
    faiss = _faiss()
    blocks, flips = plan
    index = faiss.IndexBinaryMultiHash(bits, blocks, bits // blocks)
    index.nflip = flips
    index.add(codes)
    found = []
    total = 0
    step = 65_536
    for start in range(0, len(codes), step):
        limits, _, hits = index.range_search(codes[start : start + step], radius + 1)
        queries = np.repeat(
            np.arange(start, start + len(limits) - 1), np.diff(limits.astype(np.int64))
        )
        a, b = owners[queries], owners[hits.astype(np.int64)]
        keep = a < b
        found.append(np.stack([a[keep], b[keep]], axis=1))
        total += int(keep.sum())
        if limit is not None and total > limit:
            raise TooManyPairs(f"more than {limit} candidate pairs")
    return unique_pairs(found)


def _unit(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1)
    live = np.flatnonzero(norms > 0)
    return np.ascontiguousarray(x[live] / norms[live, None]), live


def _float_index(x: np.ndarray) -> Any:
    faiss = _faiss()
    if len(x) < IVF_FROM:
        index = faiss.IndexFlatIP(x.shape[1])
    else:
        lists = int(4 * math.sqrt(len(x)))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(x.shape[1]), x.shape[1], lists)
        rng = np.random.default_rng(0)
        sample = x[rng.choice(len(x), min(len(x), 64 * lists), replace=False)]
        index.train(sample)
        index.nprobe = NPROBE
    index.add(x)
    return index


def cosine_pairs(
    matrix: np.ndarray, threshold: float, *, slack: float = 1e-4, limit: int | None = None
) -> np.ndarray:
    """Pairs of rows with cosine at least ``threshold - slack`` among each row's nearest
    neighbours (approximate: a row with more than a few dozen such neighbours, or one the
    IVF lists miss, loses some)."""
    x, live = _unit(matrix)
    if len(x) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    index = _float_index(x)
    similarity, neighbours = index.search(x, min(_DEDUP_NEIGHBOURS, len(x)))
    rows = np.repeat(np.arange(len(x)), neighbours.shape[1])
    cols, values = neighbours.ravel(), similarity.ravel()
    keep = (cols >= 0) & (values >= threshold - slack) & (cols != rows)
    a, b = live[rows[keep]], live[cols[keep]]
    pairs = unique_pairs([np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1)])
    if limit is not None and len(pairs) > limit:
        raise TooManyPairs(f"more than {limit} candidate pairs")
    return pairs


class FaissSearch:
    """Nearest rows of one dimension's embeddings, for ``ImageIndex(backend="faiss")``.

    Args:
        matrix: The rows' embeddings (absent rows may hold anything).
        present: Which rows have an embedding.
        dimension: The dimension (its metric and, for hashes, ``hamming_codes``).
    """

    def __init__(self, matrix: np.ndarray, present: np.ndarray, dimension: Any) -> None:
        faiss = _faiss()
        self._dimension = dimension
        rows = np.flatnonzero(present)
        self._hamming = isinstance(dimension, HammingCodes)
        # whether ``nearest`` finds the true top rows (else callers must scan every row)
        self.exact = not self._hamming or (
            isinstance(dimension, RanksByCodeDistance) and dimension.ranks_by_code_distance
        )
        self._indexes: list[Any] = []
        if self._hamming:
            for codes, _ in dimension.hamming_codes(matrix[rows], 1.0):
                self._sets = codes.shape[1]
                flat = np.ascontiguousarray(codes.reshape(len(rows) * self._sets, -1))
                index = faiss.IndexBinaryFlat(flat.shape[1] * 8)
                index.add(flat)
                self._indexes.append(index)
            self._owners = np.repeat(rows, self._sets)
        else:
            x, live = _unit(matrix[rows])
            self._owners = rows[live]
            self._indexes.append(_float_index(x))

    def nearest(self, query: np.ndarray, k: int) -> np.ndarray:
        """Rows among the ``k`` nearest to ``query``, ascending.

        For hashes, exact: the ``k`` rows with the fewest differing bits over any
        pair of hash sets are among every query set's ``k * sets`` nearest codes.
        """
        hits: list[np.ndarray] = []
        if not len(self._owners):
            return np.zeros(0, dtype=np.int64)
        if self._hamming:
            channels = self._dimension.hamming_codes(query[None, :], 1.0)
            for index, (codes, _) in zip(self._indexes, channels, strict=True):
                depth = min(index.ntotal, k * self._sets)
                hits.append(index.search(np.ascontiguousarray(codes[0]), depth)[1].ravel())
        else:
            x, live = _unit(query[None, :])
            if len(live):
                index = self._indexes[0]
                hits.append(index.search(x, min(index.ntotal, k))[1].ravel())
        found = np.concatenate(hits) if hits else np.zeros(0, dtype=np.int64)
        return np.unique(self._owners[found[found >= 0]])
