"""dedup_embeddings: candidate pairs give exactly the greedy 0.1 answer, faster."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imageprism import ImagePrism
from imageprism.builtins.hash import HashConfig, HashDimension
from imageprism.dedup.engine import dedup_embeddings, greedy_groups_many
from imageprism.scoring import EmbeddingTable, cosine_scores


class _Cosine:
    """A cosine dimension scored by ``cosine_scores`` (the model packs' rule)."""

    metric = "cosine"
    name = "vector"
    fingerprint = "vector"

    def similarity_many(self, a, others):
        return cosine_scores(a, others)

    def similarity(self, a, b):
        return float(cosine_scores(a, b[None, :])[0])


class _Opaque(_Cosine):
    """A dimension that cannot list its candidate pairs (no codes, no cosine promise)."""

    metric = "hamming"
    name = "opaque"


def _quadratic(embeddings, dimensions, weights, missing, threshold):
    """The plain greedy pass: every item against every representative."""
    table = EmbeddingTable(list(dimensions))
    for embedding in embeddings:
        table.append(embedding or {})

    def score_many(item, reps):
        query = embeddings[item] or {}
        return table.scores(dimensions, query, weights, missing, rows=np.array(reps))[1]

    return greedy_groups_many([e is not None for e in embeddings], score_many, threshold)


def _hash_rows(rng, dimension, count, families):
    """Hash embeddings in families: copies of a random one with a few bits flipped."""
    size = dimension.embedding_size
    parents = rng.integers(0, 256, (families, size), dtype=np.uint8)
    rows = []
    for _ in range(count):
        row = parents[rng.integers(0, families)].copy()
        for bit in rng.choice(size * 8, int(rng.integers(0, size * 2)), replace=False):
            row[bit // 8] ^= np.uint8(1 << (bit % 8))
        rows.append(row)
    return rows


configs = st.sampled_from(
    [
        HashConfig(),
        HashConfig(flip=False, windows=(1.0,)),
        HashConfig(combine="max", windows=(1.0, 0.5)),
        HashConfig(combine="min", flip=False),
        HashConfig(algorithms=("dhash",), hash_size=5, flip=False, windows=(1.0,)),
    ]
)


@settings(max_examples=40, deadline=None)
@given(
    configs,
    st.integers(1, 120),
    st.integers(1, 30),
    st.floats(0.5, 1.0),
    st.integers(0, 2**32 - 1),
)
def test_hash_dedup_is_identical_to_the_greedy_pass(config, count, families, threshold, seed):
    rng = np.random.default_rng(seed)
    dimension = HashDimension(config)
    rows = _hash_rows(rng, dimension, count, families)
    embeddings = [None if rng.random() < 0.1 else {"hash": row} for row in rows]
    args = (embeddings, {"hash": dimension}, {"hash": 1.0}, "zero", threshold)
    assert dedup_embeddings(*args) == _quadratic(*args)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 100),
    st.floats(0.0, 1.0),
    st.sampled_from(["zero", "renormalize"]),
    st.floats(0.05, 0.95),
    st.integers(0, 2**32 - 1),
)
def test_weighted_dedup_is_identical_to_the_greedy_pass(count, threshold, missing, weight, seed):
    rng = np.random.default_rng(seed)
    dimension = HashDimension(HashConfig(flip=False, windows=(1.0, 0.6)))
    hashes = _hash_rows(rng, dimension, count, max(1, count // 4))
    centres = rng.normal(size=(max(1, count // 5), 8))
    embeddings = []
    for row in hashes:
        vector = centres[rng.integers(0, len(centres))] + rng.normal(scale=0.3, size=8)
        item = {"hash": row, "vector": None if rng.random() < 0.2 else vector}
        embeddings.append(None if rng.random() < 0.05 else item)
    dimensions = {"hash": dimension, "vector": _Cosine()}
    args = (embeddings, dimensions, {"hash": weight, "vector": 1 - weight}, missing, threshold)
    assert dedup_embeddings(*args) == _quadratic(*args)


@settings(max_examples=25, deadline=None)
@given(configs, st.integers(1, 120), st.floats(0.5, 1.0), st.integers(0, 2**32 - 1))
def test_hash_dedup_through_the_compiled_kernel_is_identical_to_the_greedy_pass(
    config, count, threshold, seed
):
    from imageprism.dedup import candidates

    rng = np.random.default_rng(seed)
    dimension = HashDimension(config)
    rows = _hash_rows(rng, dimension, count, max(1, count // 5))
    embeddings = [{"hash": row} for row in rows]
    args = (embeddings, {"hash": dimension}, {"hash": 1.0}, "zero", threshold)
    original = candidates._COMPILED_FROM
    candidates._COMPILED_FROM = 0  # every set through the kernel (hypothesis: no fixtures)
    try:
        assert dedup_embeddings(*args) == _quadratic(*args)
    finally:
        candidates._COMPILED_FROM = original


def test_faiss_backend_gives_the_same_hash_groups():
    pytest.importorskip("faiss", reason="faiss-cpu is not installed (extra: faiss)")
    rng = np.random.default_rng(5)
    dimension = HashDimension()
    embeddings = [{"hash": row} for row in _hash_rows(rng, dimension, 600, 150)]
    args = (embeddings, {"hash": dimension}, {"hash": 1.0}, "zero", 0.9)
    assert dedup_embeddings(*args, backend="faiss") == _quadratic(*args)


def test_dimensions_without_candidates_fall_back_to_the_greedy_pass():
    rng = np.random.default_rng(9)
    vectors = rng.normal(size=(40, 4))
    vectors[20:] = vectors[:20] + rng.normal(scale=0.05, size=(20, 4))
    embeddings = [{"opaque": v} for v in vectors]
    args = (embeddings, {"opaque": _Opaque()}, {"opaque": 1.0}, "zero", 0.95)
    unique, labels = dedup_embeddings(*args)
    assert (unique, labels) == _quadratic(*args)
    assert len(unique) < 40


def test_pairs_kept_apart_are_never_grouped():
    rng = np.random.default_rng(2)
    row = rng.integers(0, 256, HashDimension().embedding_size, dtype=np.uint8)
    embeddings = [{"hash": row}] * 4  # four identical images
    args = (embeddings, {"hash": HashDimension()}, {"hash": 1.0}, "zero", 0.9)
    assert dedup_embeddings(*args)[1] == [0, 0, 0, 0]
    # 0 and 2 apart: 2 may not join 0's group, so it starts its own; 3 joins 0
    _, labels = dedup_embeddings(*args, apart={(0, 2)})
    assert labels == [0, 0, 2, 0]
    # 1 and 2 apart too: 2 cannot join the group holding 1 either
    _, labels = dedup_embeddings(*args, apart={(0, 2), (1, 2)})
    assert labels == [0, 0, 2, 0]
    # 3 apart from 2 only: it still joins 0's group
    _, labels = dedup_embeddings(*args, apart={(0, 2), (2, 3)})
    assert labels == [0, 0, 2, 0]
    groups = {}
    for item, rep in enumerate(labels):
        groups.setdefault(rep, set()).add(item)
    for i, j in [(0, 2), (2, 3)]:
        assert not any({i, j} <= members for members in groups.values())


def test_prism_dedup_rejects_an_unknown_backend():
    with pytest.raises(Exception, match="backend must be one of"):
        ImagePrism().dedup([], backend="annoy")


def test_a_threshold_copied_from_a_rounded_score_still_matches():
    dimension = HashDimension()
    a = np.zeros(dimension.embedding_size, np.uint8)
    b = a.copy()
    b[::24] = 1  # one bit off in every set
    threshold = round(dimension.similarity(a, b), 12)  # as compare() reports it
    embeddings = [{"hash": a}, {"hash": b}]
    args = (embeddings, {"hash": dimension}, {"hash": 1.0}, "zero", threshold)
    assert dedup_embeddings(*args) == _quadratic(*args) == ([0], [0, 0])


def test_threshold_zero_groups_everything_like_the_greedy_pass():
    vectors = [np.array([1.0, 0.0]), np.array([-1.0, 0.0]), np.zeros(2), None]
    embeddings = [{"vector": v} for v in vectors]
    for missing in ("zero", "renormalize"):
        args = (embeddings, {"vector": _Cosine()}, {"vector": 1.0}, missing, 0.0)
        assert dedup_embeddings(*args) == _quadratic(*args)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 5), min_size=1, max_size=60),
    st.floats(0.0, 1.0),
    st.sampled_from(["zero", "renormalize"]),
    st.integers(0, 2**32 - 1),
)
def test_exact_copies_join_their_originals_group_as_in_the_greedy_pass(
    picks, threshold, missing, seed
):
    # a pool of six images (one with no vector, one a zero vector), picked again and again
    rng = np.random.default_rng(seed)
    dimension = HashDimension(HashConfig(flip=False, windows=(1.0,)))
    hashes = _hash_rows(rng, dimension, 6, 3)
    vectors = [rng.normal(size=4) for _ in range(4)] + [None, np.zeros(4)]
    pool = [{"hash": h, "vector": v} for h, v in zip(hashes, vectors, strict=True)]
    embeddings = [pool[pick] for pick in picks]
    dimensions = {"hash": dimension, "vector": _Cosine()}
    args = (embeddings, dimensions, {"hash": 0.5, "vector": 0.5}, missing, threshold)
    assert dedup_embeddings(*args) == _quadratic(*args)


def test_thousands_of_identical_images_are_one_group():
    dimension = HashDimension()
    row = np.random.default_rng(0).integers(0, 256, dimension.embedding_size, dtype=np.uint8)
    embeddings = [{"hash": row.copy()} for _ in range(5000)]
    unique, labels = dedup_embeddings(embeddings, {"hash": dimension}, {"hash": 1.0}, "zero", 0.9)
    assert unique == [0] and set(labels) == {0}
