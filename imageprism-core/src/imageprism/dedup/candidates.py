"""Candidate pairs for dedup: every pair of images that could score at least a threshold.

Exact and sub-quadratic where the metric allows it:

- Hamming dimensions (``Dimension.hamming_codes``): multi-index hashing. The
  codes are split into ``m`` blocks; two codes within ``r`` differing bits
  differ in at most ``r // m`` bits in some block (pigeonhole), so probing each
  block's bucket table with every key within that many flips finds every such
  pair. Each probe's pairs are verified on the full code, so the result is
  exactly the set of pairs within ``r``. The block count is chosen from a cost
  model (probes against expected bucket sizes), falling back to a chunked
  all-pairs XOR + popcount when that is cheaper (small sets, wide radii).
  With numba installed (extra ``numba``) large sets are probed by a compiled
  kernel (``imageprism.dedup._hamming_kernel``) that finds the same pairs several
  times faster and in far less memory.
- Cosine dimensions: all pairs by blocked matrix products, rows normalised
  (exact, quadratic in time but bounded in memory).

Pairs are returned as an ``(P, 2)`` array of item indexes ``i < j``, sorted.
"""

from __future__ import annotations

import importlib
import itertools
import math
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType

import numpy as np

_MAX_BLOCK_BITS = 24  # bucket tables of 2**24 int64 (counts + starts): 256 MiB per thread
_PAIRS_PER_STEP = 4_000_000  # candidate pairs materialised at once (bounds memory)
_GRAM_ROWS = 2048
# codes; below, importing numba and loading the kernel (~0.3 s, ~110 MiB) costs more than it
# saves (measured crossover: 100k-200k codes on 2 CPUs)
_COMPILED_FROM = 150_000
# Relative costs in the compiled kernel: a bucket lookup (a cache miss) against
# checking one code in a bucket (sequential, usually decided by its first word).
_LOOKUP, _CHECK = 8.0, 1.0


class TooManyPairs(Exception):
    """More candidate pairs than the caller's ``limit``: listing them is the wrong plan."""


class _Budget:
    """Counts pairs found across threads and stops every thread's search past ``limit``."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.found = 0
        self._lock = threading.Lock()

    def add(self, pairs: list[np.ndarray]) -> list[np.ndarray]:
        with self._lock:
            self.found += sum(len(p) for p in pairs)
            over = self.limit is not None and self.found > self.limit
        if over:
            raise TooManyPairs(f"more than {self.limit} candidate pairs")
        return pairs


def _popcount_rows(xor: np.ndarray) -> np.ndarray:
    return np.bitwise_count(xor).sum(axis=1, dtype=np.int32)


def _as_words(codes: np.ndarray) -> np.ndarray:
    """Codes as rows of uint64 words (zero-padded), so XOR + popcount work per word."""
    width = -(-codes.shape[1] // 8) * 8
    if width != codes.shape[1]:
        codes = np.concatenate(
            [codes, np.zeros((len(codes), width - codes.shape[1]), np.uint8)], axis=1
        )
    return np.ascontiguousarray(codes).view(np.uint64)


def unique_pairs(pairs: Sequence[np.ndarray]) -> np.ndarray:
    """The distinct rows of ``(P, 2)`` integer pair arrays, sorted."""
    if not pairs:
        return np.zeros((0, 2), dtype=np.int64)
    joined = np.concatenate(pairs)
    if not len(joined):
        return np.zeros((0, 2), dtype=np.int64)
    width = int(joined.max()) + 1
    keys = np.unique(joined[:, 0] * width + joined[:, 1])
    return np.stack([keys // width, keys % width], axis=1)


def plan_blocks(
    count: int, bits: int, radius: int, *, compiled: bool = False
) -> tuple[int, int] | None:
    """``(blocks, flips per block)`` for multi-index hashing, or None when all pairs is cheaper.

    Costs are in "pairs examined": each probe gathers every code's bucket, and each
    bucket holds about ``count / 2**block_bits`` codes when codes are spread out.
    ``compiled`` costs the compiled kernel, where a lookup weighs more than a check.
    """
    words = -(-bits // 64)
    brute = count * count / 2 * words
    best: tuple[float, int, int] | None = None
    fewest = max(1, -(-bits // _MAX_BLOCK_BITS))
    for blocks in range(fewest, max(fewest, min(bits, radius + 1)) + 1):
        flips = radius // blocks
        block_bits = bits // blocks  # the narrowest block has the largest buckets
        probes = sum(math.comb(bits // blocks + 1, k) for k in range(flips + 1))
        bucket = count / 2**block_bits
        if compiled:  # flipped probes are made from half the codes (see probe_block)
            per_code = (1 + (probes - 1) / 2) * _LOOKUP + (probes - 0.5) / 2 * bucket * _CHECK
            cost = blocks * count * per_code
        else:
            cost = blocks * probes * count * (4 + bucket * words)
        if best is None or cost < best[0]:
            best = (cost, blocks, flips)
    if best is None or best[0] >= brute:
        return None
    return best[1], best[2]


def _block_keys(codes: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Bits ``start:stop`` of each code as an integer key."""
    first, last = start // 8, -(-stop // 8)
    bits = np.unpackbits(codes[:, first:last], axis=1)[:, start - first * 8 : stop - first * 8]
    weights = (1 << np.arange(stop - start - 1, -1, -1, dtype=np.int64)).astype(np.int64)
    return bits.astype(np.int64) @ weights


def _buckets(codes: np.ndarray, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """Each code's key (bits ``start:stop``) and the bucket table: key ``k``'s codes sit at
    sorted positions ``starts[k]:starts[k + 1]``."""
    keys = _block_keys(codes, start, stop)
    starts = np.zeros((1 << (stop - start)) + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=1 << (stop - start)), out=starts[1:])
    return keys, starts


def _flip_masks(width: int, flips: int) -> tuple[np.ndarray, np.ndarray]:
    """Every key flip of 1 to ``flips`` bits of a ``width``-bit key, and its lowest bit.

    A pair of codes differing in exactly a mask's bits is probed only from the code
    whose key has that lowest bit 0, so each pair is probed once.
    """
    flipped = [p for k in range(1, flips + 1) for p in itertools.combinations(range(width), k)]
    masks = np.array([sum(1 << p for p in positions) for positions in flipped], dtype=np.int64)
    lowest = np.array([positions[0] for positions in flipped], dtype=np.int64)
    return masks, lowest


def _brute_pairs(
    words: np.ndarray, owners: np.ndarray, radius: int, budget: _Budget
) -> list[np.ndarray]:
    found: list[np.ndarray] = []
    step = max(1, _PAIRS_PER_STEP // max(1, len(words)))
    for start in range(0, len(words), step):
        block = words[start : start + step]
        distance = np.bitwise_count(block[:, None, :] ^ words[None, :, :]).sum(axis=2)
        rows, cols = np.nonzero(distance <= radius)
        a, b = owners[rows + start], owners[cols]
        keep = a < b
        found += budget.add([np.stack([a[keep], b[keep]], axis=1)])
    return found


def _kernel(compiled: bool | None, count: int) -> ModuleType | None:
    """The compiled kernel when asked for (``True``), or when worth it and numba is installed."""
    if compiled is False or (compiled is None and count < _COMPILED_FROM):
        return None
    try:
        return importlib.import_module("imageprism.dedup._hamming_kernel")
    except Exception:  # not installed, or numba broken (e.g. no writable cache): NumPy path
        if compiled:
            raise
        return None


def hamming_pairs(
    codes: np.ndarray,
    owners: np.ndarray,
    radius: int,
    *,
    limit: int | None = None,
    compiled: bool | None = None,
) -> np.ndarray:
    """Pairs of owners with some pair of codes at most ``radius`` bits apart.

    Args:
        codes: ``(M, B)`` packed bits (``uint8``), several rows may share an owner.
        owners: ``(M,)`` the item each code belongs to.
        radius: Most differing bits for a pair to count.
        limit: Most pairs to find before giving up with ``TooManyPairs``.
        compiled: Probe with the numba kernel (True), with NumPy (False), or the
            kernel for large sets when numba is installed (None). Same pairs.

    Returns:
        ``(P, 2)`` sorted, distinct pairs of owners ``i < j`` (codes of one owner never pair).
    """
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    owners = np.asarray(owners, dtype=np.int64)
    if radius < 0 or len(codes) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    bits = codes.shape[1] * 8
    words = _as_words(codes)
    kernel = _kernel(compiled, len(codes))
    plan = plan_blocks(len(codes), bits, radius, compiled=kernel is not None)
    budget = _Budget(limit)
    if plan is None:
        return unique_pairs(_brute_pairs(words, owners, radius, budget))
    blocks, flips = plan
    edges = np.linspace(0, bits, blocks + 1).round().astype(int)

    def block_pairs(start: int, stop: int) -> list[np.ndarray]:
        if kernel is not None:
            return _compiled_block_pairs(
                kernel, codes, words, owners, (start, stop), flips, radius, budget
            )
        keys, starts = _buckets(codes, start, stop)
        order = np.argsort(keys, kind="stable")
        # the same key: each code against the codes after it in its bucket
        after = starts[keys[order] + 1]
        found = _probe(
            words, owners, order, np.arange(1, len(order) + 1), after, order, radius, budget
        )
        for mask, lowest in zip(*_flip_masks(stop - start, flips), strict=True):
            side = np.flatnonzero((keys >> lowest) & 1 == 0)
            probe = keys[side] ^ mask
            found += _probe(
                words, owners, side, starts[probe], starts[probe + 1], order, radius, budget
            )
        return found

    spans = [(int(a), int(b)) for a, b in itertools.pairwise(edges)]
    with ThreadPoolExecutor(max_workers=min(len(spans), os.cpu_count() or 1)) as pool:
        return unique_pairs(
            [p for found in pool.map(lambda s: block_pairs(*s), spans) for p in found]
        )


def _compiled_block_pairs(
    kernel: ModuleType,
    codes: np.ndarray,
    words: np.ndarray,
    owners: np.ndarray,
    span: tuple[int, int],
    flips: int,
    radius: int,
    budget: _Budget,
) -> list[np.ndarray]:
    """One block's pairs through the compiled kernel, a step of pairs at a time."""
    start, stop = span
    keys, starts = _buckets(codes, start, stop)
    order = kernel.bucket_order(keys, starts)
    masks, lowest = _flip_masks(stop - start, flips)
    keys, words, owners = keys[order], words[order], owners[order]
    found: list[np.ndarray] = []
    position = 0
    while position < len(keys):
        pairs, position = kernel.probe_block(
            keys,
            words,
            owners,
            starts,
            masks,
            lowest,
            radius,
            position,
            len(keys),
            _PAIRS_PER_STEP,
        )
        found += budget.add([unique_pairs([pairs])])
    return found


def _probe(
    words: np.ndarray,
    owners: np.ndarray,
    queries: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    order: np.ndarray,
    radius: int,
    budget: _Budget,
) -> list[np.ndarray]:
    """Pairs (each query code, each code at sorted positions ``low..high``) within ``radius``,
    as sorted owner pairs, counted against ``budget`` step by step."""
    sizes = high - low
    busy = np.flatnonzero(sizes > 0)
    queries, low, sizes = queries[busy], low[busy], sizes[busy]
    ends = np.cumsum(sizes)
    found = []
    first = 0
    while first < len(queries):
        base = ends[first - 1] if first else 0
        stop = max(first + 1, int(np.searchsorted(ends, base + _PAIRS_PER_STEP, "right")))
        count = sizes[first:stop]
        total = int(ends[stop - 1] - base)
        mine = np.repeat(queries[first:stop], count)
        offsets = np.arange(total) - np.repeat(ends[first:stop] - count - base, count)
        others = order[np.repeat(low[first:stop], count) + offsets]
        a, b = owners[mine], owners[others]
        near = (a != b) & (_popcount_rows(words[mine] ^ words[others]) <= radius)
        a, b = a[near], b[near]
        # one pair of images may match through many pairs of hash sets: count it once
        found += budget.add([unique_pairs([np.stack([np.minimum(a, b), np.maximum(a, b)], 1)])])
        first = stop
    return found


def cosine_pairs(
    matrix: np.ndarray, threshold: float, *, slack: float = 1e-4, limit: int | None = None
) -> np.ndarray:
    """Pairs of rows whose cosine similarity is at least ``threshold - slack``.

    The slack makes float32 products safe: callers score the candidates exactly.
    Zero rows pair with nothing (their score is 0). Past ``limit`` pairs, raises
    ``TooManyPairs``.
    """
    budget = _Budget(limit)
    x = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1)
    live = np.flatnonzero(norms > 0)
    x = x[live] / norms[live, None]
    found: list[np.ndarray] = []
    for start in range(0, len(x), _GRAM_ROWS):
        gram = x[start : start + _GRAM_ROWS] @ x[start:].T
        rows, cols = np.nonzero(gram >= threshold - slack)
        cols = cols + start
        keep = cols > rows + start
        found += budget.add([np.stack([live[rows[keep] + start], live[cols[keep]]], axis=1)])
    return unique_pairs(found)
