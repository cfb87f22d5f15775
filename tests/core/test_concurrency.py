"""One ImagePrism shared by many threads gives single-thread results and embeds each image once."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from fakes import registry_with

from imageprism import EmbeddingCache, ImagePrism
from imageprism.builtins.hash import HashDimension


def _images(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.integers(0, 256, (60, 80, 3), dtype=np.uint8) for _ in range(count)]


def _pairs(count: int) -> list[tuple[int, int]]:
    pairs = list(itertools.combinations(range(count), 2))
    rng = np.random.default_rng(8)
    return [pairs[i] for i in rng.permutation(len(pairs))]


def test_eight_threads_get_single_thread_scores_and_embed_each_image_once(monkeypatch):
    images = _images(16)
    pairs = _pairs(16)
    expected = {p: ImagePrism().compare(images[p[0]], images[p[1]]).scores for p in pairs}

    embedded: list[str] = []
    lock = threading.Lock()
    original = HashDimension.embed_batch

    def counting(self, batch):
        with lock:
            embedded.extend(image.digest for image in batch)
        return original(self, batch)

    monkeypatch.setattr(HashDimension, "embed_batch", counting)
    prism = ImagePrism()
    barrier = threading.Barrier(8)

    def work(chunk: list[tuple[int, int]]) -> dict:
        barrier.wait()  # start together, so the same images are missed at the same time
        return {p: prism.compare(images[p[0]], images[p[1]]).scores for p in chunk}

    with ThreadPoolExecutor(max_workers=8) as pool:
        parts = list(pool.map(work, [pairs[i::8] for i in range(8)]))
    got = {k: v for part in parts for k, v in part.items()}
    assert got == expected
    assert len(embedded) == len(images) == len(set(embedded))


def test_a_small_cache_stays_within_its_bound_under_threads():
    images = _images(20)
    pairs = _pairs(20)[:120]
    expected = {p: ImagePrism().compare(images[p[0]], images[p[1]]).scores for p in pairs}
    cache = EmbeddingCache(max_items=5)
    prism = ImagePrism(cache=cache)
    sizes: list[int] = []

    def work(chunk):
        out = {}
        for p in chunk:
            out[p] = prism.compare(images[p[0]], images[p[1]]).scores
            sizes.append(len(cache))
        return out

    with ThreadPoolExecutor(max_workers=8) as pool:
        parts = list(pool.map(work, [pairs[i::8] for i in range(8)]))
    assert {k: v for part in parts for k, v in part.items()} == expected
    assert max(sizes) <= 5


def test_threads_waiting_for_a_failing_model_get_the_error_too():
    registry, pack = registry_with("colour")
    prism = ImagePrism(["colour"], registry=registry)
    gate = threading.Event()
    dimension = pack.built["colour"]

    def failing(batch):
        gate.wait(5)
        raise RuntimeError("boom")

    dimension.embed_batch = failing
    image = _images(1)[0]

    def call():
        return prism.embed_many([image]).errors

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(call) for _ in range(4)]
        gate.set()
        results = [f.result(timeout=10) for f in futures]
    assert all(len(errors) == 1 and "boom" in errors[0].reason for errors in results)
    assert prism._inflight == {}


@pytest.mark.parametrize("threads", [1, 2])
def test_dedup_labels_do_not_depend_on_threads(threads, demo_photos):
    paths = [demo_photos[name] for name in sorted(demo_photos)] * 2
    result = ImagePrism(threads=threads, batch_size=3).dedup(paths, threshold=0.9)
    reference = ImagePrism(threads=1, batch_size=64).dedup(paths, threshold=0.9)
    assert result.labels == reference.labels and result.unique == reference.unique
