"""How the prism splits a batch into model calls and how those calls share the cores."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from fakes import registry_with
from hypothesis import given
from hypothesis import strategies as st

import imageprism.runtime.threads
from imageprism import ImagePrism
from imageprism.runtime.threads import cores_per_call, sharing_cores


def _images(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(count)
    return [rng.integers(0, 256, (24, 24, 3), dtype=np.uint8) for _ in range(count)]


def _chunk_sizes(count: int, batch_size: int, threads: int) -> list[int]:
    registry, _ = registry_with("colour")
    sizes: list[int] = []
    lock = threading.Lock()
    prism = ImagePrism(
        ["colour"], registry=registry, batch_size=batch_size, threads=threads, cache_size=0
    )
    dimension = prism._dimensions["colour"]
    original = dimension.embed_batch

    def counting(images):
        with lock:
            sizes.append(len(images))
        return original(images)

    dimension.embed_batch = counting
    result = prism.embed_many(_images(count))
    assert result.errors == [] and len(result.embeddings) == count
    return sorted(sizes)


@pytest.mark.parametrize(
    ("count", "batch_size", "threads", "sizes"),
    [
        (20, 16, 2, [10, 10]),  # not 16 + 4: both workers get the same share
        (30, 8, 2, [7, 7, 8, 8]),  # read 16 at a time: 8 + 8, then 7 + 7
        (20, 16, 1, [4, 16]),
        (2, 32, 2, [1, 1]),  # a compare's two images are embedded side by side
        (1, 32, 2, [1]),
    ],
)
def test_a_batch_is_split_into_even_chunks_a_multiple_of_threads(count, batch_size, threads, sizes):
    assert _chunk_sizes(count, batch_size, threads) == sizes


@given(count=st.integers(1, 70), batch_size=st.integers(1, 20), threads=st.integers(1, 4))
def test_chunks_cover_every_image_once_and_respect_batch_size(count, batch_size, threads):
    prism = ImagePrism(batch_size=batch_size, threads=threads)
    chunks = prism._chunks(list(range(count)))
    assert [i for chunk in chunks for i in chunk] == list(range(count))
    assert all(1 <= len(chunk) <= batch_size for chunk in chunks)
    assert max(map(len, chunks)) - min(map(len, chunks)) <= 1
    fewest = -(-count // batch_size)
    # as many chunks as batch_size needs, rounded up to keep every worker busy
    assert len(chunks) == (min(count, -(-fewest // threads) * threads) if threads > 1 else fewest)


def test_calls_run_side_by_side_share_the_cores_and_a_lone_call_does_not(monkeypatch):
    monkeypatch.setattr(imageprism.runtime.threads, "available_cores", lambda: 8)
    assert cores_per_call() is None
    with sharing_cores(2):
        assert cores_per_call() == 4
        with sharing_cores(3):
            assert cores_per_call() == 2
        assert cores_per_call() == 4
    with sharing_cores(16):
        assert cores_per_call() == 1  # never zero
    with sharing_cores(1):
        assert cores_per_call() is None
    assert cores_per_call() is None


def test_batch_calls_share_the_cores_threads_ways_and_a_single_embed_has_them_all(monkeypatch):
    monkeypatch.setattr(imageprism.runtime.threads, "available_cores", lambda: 6)
    registry, _ = registry_with("colour")
    seen: list[int | None] = []
    lock = threading.Lock()

    def make(threads: int) -> ImagePrism:
        prism = ImagePrism(["colour"], registry=registry, threads=threads, batch_size=2)
        dimension = prism._dimensions["colour"]
        original = dimension.embed_batch

        def recording(images):
            with lock:
                seen.append(cores_per_call())
            return original(images)

        dimension.embed_batch = recording
        return prism

    make(3).embed_many(_images(12))
    make(3).embed_many(_images(1))  # one chunk: the same share, so the same session
    make(3).compare(*_images(2))
    assert seen and set(seen) == {2}  # six cores, three chunks at a time
    seen.clear()
    make(3).embed(_images(1)[0])
    make(1).embed_many(_images(12))
    assert seen and set(seen) == {None}
