import threading

import numpy as np
import pytest

from imageprism import ConfigError, EmbeddingCache


def _vec(n: int, value: float = 0.0) -> np.ndarray:
    return np.full(n, value, dtype=np.float32)


def test_cache_evicts_least_recently_used_past_max_items():
    cache = EmbeddingCache(max_items=2)
    cache.put(("f", "a"), _vec(2))
    cache.put(("f", "b"), _vec(2))
    assert cache.lookup(("f", "a"))[0]  # a is now the most recent
    cache.put(("f", "c"), _vec(2))
    assert ("f", "b") not in cache and ("f", "a") in cache and ("f", "c") in cache


def test_cache_stays_within_max_bytes():
    cache = EmbeddingCache(max_items=100, max_bytes=400)
    for i in range(10):
        cache.put(("f", str(i)), _vec(25))  # 100 bytes each
        assert cache.nbytes <= 400
    assert len(cache) == 4
    cache.put(("f", "huge"), _vec(1000))  # larger than the whole budget: not kept
    assert ("f", "huge") not in cache


def test_cache_keeps_none_and_tells_it_from_absent():
    cache = EmbeddingCache()
    cache.put(("face", "x"), None)
    assert cache.lookup(("face", "x")) == (True, None)
    assert cache.lookup(("face", "y")) == (False, None)


def test_cached_embeddings_are_read_only_copies():
    cache = EmbeddingCache()
    original = _vec(3, 1.0)
    cache.put(("f", "a"), original)
    original[0] = 9
    _, stored = cache.lookup(("f", "a"))
    assert stored[0] == 1.0
    with pytest.raises(ValueError):
        stored[0] = 5


def test_cache_key_includes_the_fingerprint():
    cache = EmbeddingCache()
    cache.put(("v1", "a"), _vec(1, 1))
    assert not cache.lookup(("v2", "a"))[0]


def test_zero_items_disables_the_cache():
    cache = EmbeddingCache(max_items=0)
    cache.put(("f", "a"), _vec(1))
    assert len(cache) == 0


@pytest.mark.parametrize("kwargs", [{"max_items": -1}, {"max_bytes": -5}, {"max_items": 1.5}])
def test_cache_rejects_bad_bounds(kwargs):
    with pytest.raises(ConfigError):
        EmbeddingCache(**kwargs)


def test_cache_is_consistent_under_threads():
    cache = EmbeddingCache(max_items=50, max_bytes=50 * 40)
    errors = []

    def work(seed: int) -> None:
        rng = np.random.default_rng(seed)
        for _ in range(2000):
            key = ("f", str(rng.integers(0, 120)))
            found, value = cache.lookup(key)
            if found and value is not None and value[0] != int(key[1]):
                errors.append((key, value[0]))
            cache.put(key, _vec(10, float(key[1])))

    threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(cache) <= 50 and cache.nbytes <= 50 * 40
    assert cache.nbytes == sum(v.nbytes for v in cache._entries.values() if v is not None)
