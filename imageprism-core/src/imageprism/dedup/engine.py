"""The dedup engine: greedy grouping with first-seen representatives (the 0.1 semantics).

``dedup_embeddings`` gives exactly the greedy 0.1 answer without comparing every
image with every representative: a weighted mean of scores can only reach the
threshold if some dimension's score does, so the pairs that can match are the
union, over the weighted dimensions, of each dimension's pairs at or above the
threshold (``imageprism.dedup.candidates``); the greedy pass then scores only those
pairs, fully. When a dimension cannot list its pairs, or they would be too
many to hold (a low threshold), it falls back to the plain greedy pass.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Literal

import numpy as np

from imageprism.dedup.candidates import TooManyPairs, unique_pairs
from imageprism.errors import ConfigError
from imageprism.plugin.dimension import Dimension, HammingCodes
from imageprism.plugin.outputs import Culprit
from imageprism.scoring import EmbeddingTable, MissingScores

Backend = Literal["exact", "faiss"]
"""How dedup finds candidate pairs: ``"exact"`` (NumPy; the greedy answer exactly) or
``"faiss"`` (FAISS indexes: exact for hamming dimensions, approximate for cosine ones)."""

BACKENDS: tuple[str, ...] = ("exact", "faiss")
_MAX_CANDIDATES = 20_000_000  # pairs held at once; past this the plain greedy pass is cheaper


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
    *,
    candidates: Callable[[int], Sequence[int] | np.ndarray] | None = None,
    apart: Collection[tuple[int, int]] = (),
) -> tuple[list[int], list[int | None]]:
    """``greedy_groups`` with one vectorised call per item against its representatives.

    ``score_many(item, representatives)`` returns their scores in order, NaN where
    a pair cannot be scored (never a match). Same result as ``greedy_groups``.

    Args:
        valid: Per item, whether it takes part.
        score_many: Scores of an item against a list of representatives.
        threshold: The score at or above which two items are duplicates.
        candidates: ``candidates(item)``: the earlier items, ascending, that may reach
            ``threshold`` with it (the rest are known not to); default, all of them.
        apart: Index pairs ``(i, j)``, ``i < j``, never to be in one group: an item
            does not join a group holding any item it is kept apart from.
    """
    unique: list[int] = []
    is_rep = np.zeros(len(valid), dtype=bool)
    labels: list[int | None] = [None] * len(valid)
    partners: dict[int, set[int]] = {}
    for i, j in apart:
        partners.setdefault(i, set()).add(j)
        partners.setdefault(j, set()).add(i)
    members: dict[int, list[int]] = {}
    for item, ok in enumerate(valid):
        if not ok:
            continue
        reps = unique
        if candidates is not None:
            earlier = np.asarray(candidates(item), dtype=np.int64)
            reps = [int(r) for r in earlier[is_rep[earlier]]]
        if item in partners and reps:
            kept_apart = partners[item]
            reps = [r for r in reps if kept_apart.isdisjoint(members.get(r, (r,)))]
        if reps:
            hits = np.flatnonzero(score_many(item, reps) >= threshold)  # NaN >= t is False
            if hits.size:
                rep = reps[int(hits[0])]
                labels[item] = rep
                members.setdefault(rep, [rep]).append(item)
                continue
        unique.append(item)
        is_rep[item] = True
        labels[item] = item
    return unique, labels


def _column_pairs(
    dimension: Dimension,
    matrix: np.ndarray,
    rows: np.ndarray,
    threshold: float,
    backend: Backend,
) -> np.ndarray | None:
    """Pairs of ``rows`` (item indexes) that may score ``threshold`` on one dimension, or None
    when the dimension cannot list them."""
    from imageprism.dedup import candidates

    finder: Any = candidates
    if backend == "faiss":
        from imageprism.dedup import faiss_backend as finder
    found = []
    if isinstance(dimension, HammingCodes):
        for codes, radius in dimension.hamming_codes(matrix[rows], threshold):
            owners = np.repeat(rows, codes.shape[1])
            flat = codes.reshape(len(rows) * codes.shape[1], -1)
            found.append(finder.hamming_pairs(flat, owners, radius, limit=_MAX_CANDIDATES))
    elif dimension.metric == "cosine":
        pairs = finder.cosine_pairs(matrix[rows], threshold, limit=_MAX_CANDIDATES)
        found.append(rows[pairs])
    else:
        return None
    return np.concatenate(found) if found else np.zeros((0, 2), dtype=np.int64)


def dedup_embeddings(
    embeddings: Sequence[Mapping[str, np.ndarray | None] | None],
    dimensions: Mapping[str, Dimension],
    weights: Mapping[str, float],
    missing: MissingScores,
    threshold: float,
    *,
    backend: Backend = "exact",
    apart: Collection[tuple[int, int]] = (),
    culprits: Mapping[str, Culprit] | None = None,
) -> tuple[list[int], list[int | None]]:
    """Greedy groups of embedded images (None for the ones that failed), exactly as
    comparing each with every representative would give, without doing so.

    Args:
        embeddings: Per item, its embeddings by dimension, or None when it failed.
        dimensions: The dimensions by name.
        weights: The normalised weights; dimensions without weight are not scored.
        missing: How scores a dimension cannot give count in the blend.
        threshold: The weighted score at or above which two items are duplicates.
        backend: How candidate pairs are found (see ``Backend``).
        apart: Index pairs never to be grouped (see ``greedy_groups_many``).
        culprits: Who answers for each dimension's scores, in errors (default: the
            plugin that registered its name).

    Returns:
        ``(unique, labels)`` as ``greedy_groups``.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    table = EmbeddingTable(list(dimensions))
    for embedding in embeddings:
        table.append(embedding or {})
    valid = [e is not None for e in embeddings]

    def score_many(item: int, reps: list[int]) -> np.ndarray:
        query = embeddings[item] or {}
        _, weighted = table.scores(
            dimensions, query, weights, missing, rows=np.array(reps), culprits=culprits
        )
        return weighted

    copies = {} if apart else _copies(embeddings, score_many, threshold)
    taking_part = [ok and item not in copies for item, ok in enumerate(valid)]
    neighbours = _neighbours(table, dimensions, weights, threshold, backend, taking_part)
    unique, labels = greedy_groups_many(
        taking_part, score_many, threshold, candidates=neighbours, apart=apart
    )
    for item, original in copies.items():
        labels[item] = labels[original]
    return unique, labels


def _copies(
    embeddings: Sequence[Mapping[str, np.ndarray | None] | None],
    score_many: Callable[[int, list[int]], np.ndarray],
    threshold: float,
) -> dict[int, int]:
    """Items whose embeddings all equal an earlier item's that reaches ``threshold`` with
    itself: ``{copy: original}``.

    A copy scores exactly as its original against everything, so it joins the
    original's group: the original's own representative is the first to match both,
    and an original that is a representative matches its copy. Leaving copies out of
    the candidate search keeps bursts of identical images (static video frames, the
    same file many times) from making a quadratic number of pairs.
    """
    first: dict[tuple[Any, ...], int] = {}
    copies: dict[int, int] = {}
    for item, embedding in enumerate(embeddings):
        if embedding is None:
            continue
        key = tuple(
            (name, None if value is None else (value.dtype.str, value.tobytes()))
            for name, value in sorted(embedding.items())
        )
        original = first.setdefault(key, item)
        if original != item:
            copies[item] = original
    matching = {
        original
        for original in set(copies.values())
        if score_many(original, [original])[0] >= threshold  # NaN >= t is False
    }
    return {item: original for item, original in copies.items() if original in matching}


def _neighbours(
    table: EmbeddingTable,
    dimensions: Mapping[str, Dimension],
    weights: Mapping[str, float],
    threshold: float,
    backend: Backend,
    valid: Sequence[bool],
) -> Callable[[int], np.ndarray] | None:
    """``item -> earlier items that may reach threshold with it``, or None to compare all."""
    if threshold <= 0:  # every pair matches, even ones no dimension scores above 0
        return None
    ok = np.asarray(valid, dtype=bool)
    found = []
    try:
        for name, (matrix, present) in table.columns().items():
            if weights.get(name, 0.0) <= 0 or matrix is None:
                continue
            rows = np.flatnonzero(present & ok)
            pairs = _column_pairs(dimensions[name], matrix, rows, threshold, backend)
            if pairs is None:
                return None
            found.append(pairs)
    except TooManyPairs:
        return None
    pairs = unique_pairs(found)
    # CSR by the later item: its earlier neighbours, ascending
    order = np.lexsort((pairs[:, 0], pairs[:, 1]))
    earlier = pairs[order, 0]
    starts = np.searchsorted(pairs[order, 1], np.arange(len(valid) + 1))

    def neighbours(item: int) -> np.ndarray:
        return earlier[starts[item] : starts[item + 1]]

    return neighbours
