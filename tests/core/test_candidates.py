"""Candidate pairs: multi-index hashing and blocked cosine find exactly the pairs within reach."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imageprism.dedup.candidates import TooManyPairs, cosine_pairs, hamming_pairs, plan_blocks

# Both probing paths: NumPy, and the numba kernel (extra ``numba``, installed for tests).
PATHS = pytest.mark.parametrize("compiled", [False, True], ids=["numpy", "numba"])


def _brute_hamming(codes, owners, radius):
    bits = np.unpackbits(codes, axis=1).astype(np.int32)
    distance = (bits[:, None, :] != bits[None, :, :]).sum(axis=2)
    found = set()
    for x, y in zip(*np.nonzero(distance <= radius), strict=True):
        a, b = int(owners[x]), int(owners[y])
        if a < b:
            found.add((a, b))
    return sorted(found)


def _planted(rng, items, sets, width, radius, near=40):
    """Random codes with some pairs a few bits apart (some just inside, some just outside)."""
    codes = rng.integers(0, 256, (items * sets, width), dtype=np.uint8)
    for _ in range(near):
        a, b = rng.integers(0, items * sets, 2)
        codes[b] = codes[a]
        for bit in rng.choice(width * 8, min(width * 8, int(rng.integers(0, radius + 3))), False):
            codes[b, bit // 8] ^= np.uint8(1 << (bit % 8))
    return codes, np.repeat(np.arange(items), sets)


@PATHS
@pytest.mark.parametrize(
    ("items", "sets", "width", "radius"),
    [(300, 6, 24, 19), (900, 1, 8, 7), (5000, 1, 8, 10), (1500, 2, 4, 6), (200, 1, 24, 0)],
)
def test_hamming_pairs_are_exactly_the_pairs_within_the_radius(
    items, sets, width, radius, compiled
):
    rng = np.random.default_rng(items + radius)
    codes, owners = _planted(rng, items, sets, width, radius)
    got = hamming_pairs(codes, owners, radius, compiled=compiled)
    assert [tuple(map(int, p)) for p in got] == _brute_hamming(codes, owners, radius)


@PATHS
def test_plans_with_flipped_probes_are_used_and_exact(compiled):
    # 5000 64-bit codes within 10 bits: six blocks probed with one flip each
    assert plan_blocks(5000, 64, 10) == (6, 1)
    assert plan_blocks(5000, 64, 10, compiled=True) == (6, 1)
    rng = np.random.default_rng(7)
    codes, owners = _planted(rng, 5000, 1, 8, 10, near=200)
    got = hamming_pairs(codes, owners, 10, compiled=compiled)
    assert len(got) > 100
    assert [tuple(map(int, p)) for p in got] == _brute_hamming(codes, owners, 10)


@PATHS
@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 60),
    st.integers(1, 3),
    st.integers(1, 4),
    st.integers(-1, 20),
    st.integers(0, 2**32 - 1),
)
def test_hamming_pairs_match_brute_force_on_any_codes(compiled, items, sets, width, radius, seed):
    rng = np.random.default_rng(seed)
    codes, owners = _planted(rng, items, sets, width, max(radius, 0), near=items)
    got = hamming_pairs(codes, owners, radius, compiled=compiled)
    assert [tuple(map(int, p)) for p in got] == _brute_hamming(codes, owners, radius)


@PATHS
def test_hamming_pairs_never_pair_codes_of_one_owner(compiled):
    codes = np.zeros((4, 8), dtype=np.uint8)
    got = hamming_pairs(codes, np.array([0, 0, 1, 1]), 0, compiled=compiled)
    assert got.tolist() == [[0, 1]]


@PATHS
def test_hamming_pairs_stop_past_the_limit(compiled):
    codes = np.zeros((50, 8), dtype=np.uint8)
    with pytest.raises(TooManyPairs):
        hamming_pairs(codes, np.arange(50), 3, limit=100, compiled=compiled)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 80), st.integers(1, 16), st.floats(-0.5, 1.0), st.integers(0, 2**32 - 1))
def test_cosine_pairs_include_every_pair_at_the_threshold(rows, dims, threshold, seed):
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(rows, dims))
    matrix[rng.integers(0, rows)] = 0.0  # a zero row pairs with nothing
    matrix[1 % rows] = matrix[0] * 3  # one exact direction match
    got = {tuple(map(int, p)) for p in cosine_pairs(matrix, threshold)}
    norms = np.linalg.norm(matrix, axis=1)
    for i in range(rows):
        for j in range(i + 1, rows):
            if norms[i] == 0 or norms[j] == 0:
                assert (i, j) not in got
                continue
            cosine = matrix[i] @ matrix[j] / (norms[i] * norms[j])
            if cosine >= threshold:
                assert (i, j) in got
            elif cosine < threshold - 1e-3:
                assert (i, j) not in got


def test_faiss_hamming_pairs_equal_the_exact_ones():
    pytest.importorskip("faiss", reason="faiss-cpu is not installed (extra: faiss)")
    from imageprism.dedup import faiss_backend

    rng = np.random.default_rng(3)
    codes, owners = _planted(rng, 5000, 1, 8, 10, near=200)
    exact = hamming_pairs(codes, owners, 10)
    assert np.array_equal(faiss_backend.hamming_pairs(codes, owners, 10), exact)
    codes, owners = _planted(rng, 400, 6, 24, 19)
    exact = hamming_pairs(codes, owners, 19)
    assert np.array_equal(faiss_backend.hamming_pairs(codes, owners, 19), exact)


@PATHS
def test_pairs_found_by_flipped_probes_count_against_the_limit(compiled):
    assert plan_blocks(5000, 64, 10) == (6, 1)
    rng = np.random.default_rng(11)
    codes = rng.integers(0, 256, (5000, 8), dtype=np.uint8)
    for i in range(0, 40, 2):  # pairs one bit apart in every block: only flips find them
        codes[i + 1] = codes[i]
        for bit in (0, 11, 22, 33, 44, 55):
            codes[i + 1, bit // 8] ^= np.uint8(1 << (bit % 8))
    assert len(hamming_pairs(codes, np.arange(5000), 10, compiled=compiled)) >= 20
    with pytest.raises(TooManyPairs):
        hamming_pairs(codes, np.arange(5000), 10, limit=5, compiled=compiled)


def test_the_compiled_kernel_stops_and_resumes_without_losing_pairs(monkeypatch):
    # a step of a few pairs makes the kernel stop and resume many times within one block
    from imageprism.dedup import candidates

    rng = np.random.default_rng(5)
    codes, owners = _planted(rng, 3000, 2, 8, 10, near=300)
    whole = hamming_pairs(codes, owners, 10, compiled=True)
    monkeypatch.setattr(candidates, "_PAIRS_PER_STEP", 3)
    assert np.array_equal(hamming_pairs(codes, owners, 10, compiled=True), whole)
    assert [tuple(map(int, p)) for p in whole] == _brute_hamming(codes, owners, 10)


def test_large_sets_use_the_compiled_kernel_when_numba_is_installed(monkeypatch):
    from imageprism.dedup import candidates

    pytest.importorskip("numba", reason="numba is not installed (extra: numba)")
    monkeypatch.setattr(candidates, "_COMPILED_FROM", 20_000)  # a quicker test, same rule
    calls = []
    real = candidates._compiled_block_pairs
    monkeypatch.setattr(candidates, "_compiled_block_pairs", lambda *a: calls.append(1) or real(*a))
    codes = np.random.default_rng(2).integers(0, 256, (candidates._COMPILED_FROM, 8), np.uint8)
    hamming_pairs(codes, np.arange(len(codes)), 6)
    assert calls
    calls.clear()
    hamming_pairs(codes[:-1], np.arange(len(codes) - 1), 6)
    assert not calls


def test_a_broken_numba_falls_back_to_the_numpy_path(monkeypatch):
    # e.g. numba installed but unable to cache or compile: never a failed dedup
    import importlib

    from imageprism.dedup import candidates

    real = importlib.import_module

    def broken(name, *args):
        if name == "imageprism.dedup._hamming_kernel":
            raise RuntimeError("cannot cache function: no locator available")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", broken)
    monkeypatch.setattr(candidates, "_COMPILED_FROM", 20_000)
    rng = np.random.default_rng(4)
    codes, owners = _planted(rng, candidates._COMPILED_FROM, 1, 8, 6, near=50)
    got = hamming_pairs(codes, owners, 6)
    assert len(got) >= 40
    assert np.array_equal(got, hamming_pairs(codes, owners, 6, compiled=False))
    with pytest.raises(RuntimeError, match="no locator"):
        hamming_pairs(codes, owners, 6, compiled=True)
