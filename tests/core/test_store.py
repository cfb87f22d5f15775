"""The persistent embedding store: reuse across runs, resumption after a kill, bad files."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fakes import registry_with
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from imageprism import ConfigTypeError, ImagePrism, prepare
from imageprism.errors import StoreFileError
from imageprism.io.store import SCHEMA_VERSION, EmbeddingStore, default_path

TESTS = Path(__file__).resolve().parent.parent


def _write_images(folder: Path, count: int, *, start: int = 0) -> list[Path]:
    """``count`` small PNGs of distinct random pixels (distinct digests and mean colours)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(start, start + count):
        pixels = np.random.default_rng(number).integers(0, 256, (12, 12, 3), dtype=np.uint8)
        path = folder / f"img{number:04d}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def _prism(store, **kwargs):
    """A prism with hash and a counting ``colour`` dimension (``pack.built["colour"].embedded``)."""
    registry, pack = registry_with("colour")
    return ImagePrism(["hash", "colour"], registry=registry, store=store, **kwargs), pack


def _same(first, second) -> bool:
    """Two lists of embedding dicts hold the same arrays (None alike)."""
    if len(first) != len(second):
        return False
    for a, b in zip(first, second, strict=True):
        if a is None or b is None:
            if a is not b:
                return False
            continue
        if a.keys() != b.keys():
            return False
        for name in a:
            if (a[name] is None) != (b[name] is None):
                return False
            if a[name] is not None and not (
                a[name].dtype == b[name].dtype and np.array_equal(a[name], b[name])
            ):
                return False
    return True


# --- reuse across runs ----------------------------------------------------------------


def test_second_run_embeds_nothing_and_returns_the_same_embeddings(tmp_path):
    paths = _write_images(tmp_path / "photos", 20)
    store_path = tmp_path / "store.sqlite"
    first, first_pack = _prism(store_path, batch_size=4)
    done = first.embed_many(paths)
    assert len(first_pack.built["colour"].embedded) == 20
    assert (first.store.hits, first.store.misses, first.store.written) == (0, 40, 40)

    second, second_pack = _prism(store_path, batch_size=4)
    again = second.embed_many(paths)
    assert second_pack.built["colour"].embedded == []
    assert (second.store.hits, second.store.misses, second.store.written) == (40, 0, 0)
    assert _same(again.embeddings, done.embeddings)
    assert again.embeddings[0]["colour"].flags.writeable is False


def test_changed_file_is_embedded_again_and_renamed_file_is_not(tmp_path):
    paths = _write_images(tmp_path / "photos", 6)
    store_path = tmp_path / "store.sqlite"
    _prism(store_path)[0].embed_many(paths)

    renamed = paths[0].with_name("renamed.png")
    paths[0].rename(renamed)
    Image.new("RGB", (12, 12), (200, 10, 10)).save(paths[1])  # same path, new content
    prism, pack = _prism(store_path)
    prism.embed_many([renamed, *paths[1:]])
    assert pack.built["colour"].embedded == [prepare(paths[1]).digest]
    assert prism.store.written == 2  # hash and colour of the changed file


def test_changed_dimension_config_never_reuses_stored_embeddings(tmp_path):
    paths = _write_images(tmp_path / "photos", 3)
    store_path = tmp_path / "store.sqlite"
    ImagePrism(store=store_path).embed_many(paths)
    other = ImagePrism(config={"hash": {"hash_size": 16}}, store=store_path)
    batch = other.embed_many(paths)
    assert other.store.hits == 0 and other.store.written == 3
    assert len(batch.embeddings[0]["hash"]) > len(ImagePrism().embed(paths[0])["hash"])


def test_no_embedding_is_stored_and_reused_as_none(tmp_path):
    dark = tmp_path / "dark.png"
    Image.new("RGB", (12, 12), (5, 5, 5)).save(dark)
    store_path = tmp_path / "store.sqlite"
    registry, pack = registry_with("colour")
    config = {"colour": {"none_when_dark": True}}
    ImagePrism(["colour"], registry=registry, config=config, store=store_path).embed(dark)
    assert len(pack.built["colour"].embedded) == 1

    registry, pack = registry_with("colour")
    prism = ImagePrism(["colour"], registry=registry, config=config, store=store_path)
    assert prism.embed(dark) == {"colour": None}
    assert pack.built["colour"].embedded == [] and prism.store.hits == 1


def test_failed_images_are_not_stored_and_are_tried_again(tmp_path):
    paths = _write_images(tmp_path / "photos", 3)
    red = tmp_path / "photos" / "red.png"
    Image.new("RGB", (12, 12), (250, 0, 0)).save(red)
    store_path = tmp_path / "store.sqlite"
    registry, _ = registry_with("colour")
    config = {"colour": {"fail_on_red": True}}
    first = ImagePrism(["colour"], registry=registry, config=config, store=store_path)
    batch = first.embed_many([*paths, red])
    assert [e.index for e in batch.errors] == [3]
    assert first.store.written == 3

    registry, _ = registry_with("colour")
    second = ImagePrism(["colour"], registry=registry, config=config, store=store_path)
    assert [e.index for e in second.embed_many([*paths, red]).errors] == [3]
    assert second.store.hits == 3 and second.store.misses == 1  # the red one, tried again


def test_hits_and_misses_count_each_embedding_once_when_files_are_known_by_path(tmp_path):
    # files recorded long after their last change are looked up by path first; one that
    # cannot be taken whole from there is looked up again when embedded, and counts once
    paths = _write_images(tmp_path / "photos", 3)
    red = tmp_path / "photos" / "red.png"
    Image.new("RGB", (12, 12), (250, 0, 0)).save(red)
    hour_ago = time.time() - 3600
    for path in [*paths, red]:
        os.utime(path, (hour_ago, hour_ago))
    store_path = tmp_path / "store.sqlite"
    config = {"colour": {"fail_on_red": True}}
    registry, _ = registry_with("colour")
    ImagePrism(["colour"], registry=registry, config=config, store=store_path).embed_many(
        [*paths, red]
    )
    registry, _ = registry_with("colour")
    second = ImagePrism(["colour"], registry=registry, config=config, store=store_path)
    second.embed_many([*paths, red])
    assert (second.store.hits, second.store.misses) == (3, 1)


def test_threads_embedding_at_once_embed_each_image_once(tmp_path):
    paths = _write_images(tmp_path / "photos", 40)
    prism, pack = _prism(tmp_path / "store.sqlite", batch_size=3, threads=2)
    results = []

    def work(order):
        results.append(prism.embed_many([paths[i] for i in order]))

    orders = [range(40), reversed(range(40)), range(0, 40, 2), range(40)]
    threads = [threading.Thread(target=work, args=(list(order),)) for order in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    embedded = pack.built["colour"].embedded
    assert sorted(embedded) == sorted({prepare(p).digest for p in paths})
    assert len(prism.store) == 80 and prism._inflight == {}
    assert all(not batch.errors for batch in results)


def test_a_closed_store_raises_naming_it_and_releases_waiters(tmp_path):
    paths = _write_images(tmp_path / "photos", 4)
    store = EmbeddingStore(tmp_path / "store.sqlite")
    prism, _ = _prism(store)
    store.close()
    with pytest.raises(StoreFileError, match=r"store\.sqlite is closed"):
        prism.embed_many(paths)
    assert prism._inflight == {}  # nothing left claimed: later calls do not hang


class FullDisk:
    """An SQLite connection whose writes fail as on a full disk (reads work)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def executemany(self, *args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    def __getattr__(self, name):
        return getattr(self._connection, name)


def test_a_strict_store_that_fails_to_write_raises_naming_it_and_releases_waiters(
    tmp_path, monkeypatch
):
    paths = _write_images(tmp_path / "photos", 4)
    store = EmbeddingStore(tmp_path / "store.sqlite", strict=True)
    prism, _ = _prism(store)

    monkeypatch.setattr(store._db, "_db", FullDisk(store._db._db))
    with pytest.raises(StoreFileError, match=r"store\.sqlite cannot be used: its disk is full"):
        prism.embed_many(paths)
    assert prism._inflight == {}


def test_store_argument_must_be_a_store_or_a_path():
    with pytest.raises(ConfigTypeError, match="store must be an EmbeddingStore"):
        ImagePrism(store=42)


# --- the store itself (strict: a bad file raises) ---------------------------------------


@st.composite
def _embeddings(draw):
    """Up to five embeddings (or None) of one dimension: one dtype and shape for all."""
    dtype = draw(st.sampled_from(["uint8", "<f4", ">f4", "<f8", "<i8", "bool"]))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))
    one = st.one_of(st.none(), hnp.arrays(dtype=dtype, shape=shape))
    return draw(st.lists(one, min_size=1, max_size=5))


@settings(max_examples=60, deadline=None)
@given(values=_embeddings())
def test_embeddings_come_back_bit_for_bit_with_dtype_and_shape(tmp_path_factory, values):
    path = tmp_path_factory.mktemp("store") / "store.sqlite"
    digests = [f"{number:032x}" for number in range(len(values))]
    with EmbeddingStore(path) as store:
        store.put_many("fp", dict(zip(digests, values, strict=True)))
    with EmbeddingStore(path) as store:
        found = store.lookup_many("fp", [*digests, "f" * 32])
        assert store.hits == len(values) and store.misses == 1
    assert list(found) == digests
    for value, back in zip(values, found.values(), strict=True):
        if value is None:
            assert back is None
        else:
            assert back.dtype == value.dtype and back.shape == value.shape
            assert back.tobytes() == value.tobytes() and not back.flags.writeable


def test_lookup_is_per_fingerprint(tmp_path):
    with EmbeddingStore(tmp_path / "s.sqlite") as store:
        store.put_many("one", {"a" * 32: np.ones(3)})
        assert store.lookup_many("two", ["a" * 32]) == {}
        assert list(store.lookup_many("one", ["a" * 32])) == ["a" * 32]


def test_many_digests_are_looked_up_in_chunks(tmp_path):
    digests = [f"{number:032x}" for number in range(1234)]
    with EmbeddingStore(tmp_path / "s.sqlite") as store:
        store.put_many("fp", {d: np.array([n], np.int64) for n, d in enumerate(digests)})
        found = store.lookup_many("fp", digests)
    assert len(found) == 1234 and int(found[digests[-1]][0]) == 1233


def test_only_numeric_arrays_can_be_stored(tmp_path):
    with EmbeddingStore(tmp_path / "s.sqlite") as store:
        with pytest.raises(ValueError, match="numeric numpy arrays"):
            store.put_many("fp", {"a" * 32: np.array([object()])})
        assert len(store) == 0


def test_store_and_its_folder_are_created_on_first_use(tmp_path):
    path = tmp_path / "deep" / "er" / "store.sqlite"
    with EmbeddingStore(path) as store:
        assert len(store) == 0
    assert path.is_file()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_file_that_is_not_sqlite_is_refused_naming_it(tmp_path):
    path = tmp_path / "photos.sqlite"
    path.write_bytes(b"this is a text file, long enough to have a header of sorts" * 4)
    with pytest.raises(StoreFileError, match=r"photos\.sqlite is not an imageprism embedding"):
        EmbeddingStore(path, strict=True)
    assert path.read_bytes().startswith(b"this is a text file")  # left untouched


def test_another_programs_database_is_refused(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    db.close()
    with pytest.raises(StoreFileError, match="another program"):
        EmbeddingStore(path, strict=True)


def test_a_not_duplicates_file_is_refused_as_a_store(tmp_path):
    from imageprism.dedup.not_duplicates import NotDuplicates

    NotDuplicates(tmp_path / "marks.sqlite").close()
    with pytest.raises(StoreFileError, match="is an imageprism not-duplicates file"):
        EmbeddingStore(tmp_path / "marks.sqlite", strict=True)


def test_an_unknown_schema_version_is_refused_clearly(tmp_path):
    path = tmp_path / "store.sqlite"
    EmbeddingStore(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(StoreFileError, match="schema version 99.*reads version 1"):
        EmbeddingStore(path, strict=True)


def test_a_folder_is_refused_as_a_store(tmp_path):
    with pytest.raises(StoreFileError, match="is a folder"):
        EmbeddingStore(tmp_path, strict=True)


def test_default_path_is_in_the_imageprism_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGEPRISM_CACHE_DIR", str(tmp_path / "cache"))
    assert default_path() == tmp_path / "cache" / "embeddings.sqlite"
    monkeypatch.delenv("IMAGEPRISM_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_path() == tmp_path / "xdg" / "imageprism" / "embeddings.sqlite"


def test_files_are_recorded_and_trusted_only_while_unchanged_and_not_racy(tmp_path):
    (old, fresh) = _write_images(tmp_path / "photos", 2)
    past = time.time_ns() - 60 * 10**9
    os.utime(old, ns=(past, past))
    prism, _ = _prism(tmp_path / "store.sqlite")
    prism.embed_many([old, fresh])
    assert prism.store.known_digest(old) == prepare(old).digest
    assert prism.store.known_digest(fresh) is None  # modified just now: could change unseen
    assert prism.store.known_digest(tmp_path / "nowhere.png") is None

    again, _ = _prism(tmp_path / "store.sqlite")
    again.embed_many([old])  # every embedding reused: the file note is still written
    Image.new("RGB", (12, 12), (1, 2, 3)).save(old)
    os.utime(old, ns=(past, past))
    assert again.store.known_digest(old) is None  # size changed


# --- a killed run resumes -----------------------------------------------------------------

_CHILD = """
import json, sys, threading
sys.path.insert(0, {tests!r})
from fakes import MeanColourDimension, registry_with
from imageprism import ImagePrism

original = MeanColourDimension.embed_batch
lock = threading.Lock()
count = 0


def embed_batch(self, images):
    global count
    with lock:
        count += len(images)
        stop = count > {limit}
    if stop:
        threading.Event().wait()  # hang like a long model call, until killed
    return original(self, images)


MeanColourDimension.embed_batch = embed_batch
registry, _ = registry_with("colour")
prism = ImagePrism(["hash", "colour"], registry=registry, store={store!r}, batch_size=8, threads=2)
prism.embed_many(json.load(open({paths!r})))
"""


def _stored_count(path: Path, fingerprint: str) -> int:
    if not path.exists():
        return 0
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute(
                "SELECT count(*) FROM embeddings WHERE fingerprint = ?", (fingerprint,)
            ).fetchone()[0]
        finally:
            db.close()
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_a_killed_run_resumes_embedding_only_what_the_store_lacks(tmp_path):
    paths = _write_images(tmp_path / "photos", 240)
    digests = [prepare(p).digest for p in paths]
    store_path = tmp_path / "store.sqlite"
    listing = tmp_path / "paths.json"
    listing.write_text(json.dumps([str(p) for p in paths]))
    script = _CHILD.format(tests=str(TESTS), limit=150, store=str(store_path), paths=str(listing))
    colour = _prism(None)[0].dimension("colour").fingerprint

    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)])
    try:
        deadline = time.monotonic() + 120  # a guard against a stuck child, not a measurement
        while _stored_count(store_path, colour) < 40:
            assert child.poll() is None, "the child ended before it was killed"
            assert time.monotonic() < deadline, "the child stored nothing in 120 s"
            time.sleep(0.01)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL

    with EmbeddingStore(store_path) as store:
        kept = set(store.lookup_many(colour, digests))
    assert 40 <= len(kept) < 240

    resumed, pack = _prism(store_path, batch_size=8)
    batch = resumed.embed_many(paths)
    embedded = pack.built["colour"].embedded
    assert len(embedded) == len(set(embedded))  # nothing embedded twice
    assert set(embedded) == set(digests) - kept  # only what the killed run had not stored
    assert resumed.store.hits + resumed.store.misses == 480
    assert resumed.store.written == resumed.store.misses

    uninterrupted, _ = _prism(None, batch_size=8)
    assert _same(batch.embeddings, uninterrupted.embed_many(paths).embeddings)
    assert not batch.errors


def test_unchanged_files_are_not_even_read_on_a_second_run(tmp_path, monkeypatch):
    paths = _write_images(tmp_path / "in", 6)
    old = time.time() - 3600  # well before the store records them (no racy mtimes)
    for path in paths:
        os.utime(path, (old, old))
    store = tmp_path / "store.sqlite"
    first = ImagePrism(store=store).embed_many(paths).embeddings
    opened: list[object] = []
    import imageprism.prism as prism_module

    real_prepare = prism_module.prepare
    monkeypatch.setattr(
        prism_module,
        "prepare",
        lambda image, **kw: opened.append(image) or real_prepare(image, **kw),
    )
    paths[2].write_bytes(paths[3].read_bytes())  # one file changed: read again
    second = ImagePrism(store=store).embed_many(paths).embeddings
    assert opened == [paths[2]]
    for index in (0, 1, 3, 4, 5):
        assert np.array_equal(first[index]["hash"], second[index]["hash"])
    assert np.array_equal(second[2]["hash"], first[3]["hash"])
