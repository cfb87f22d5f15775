"""The embedding store is only a cache: a bad store file or a full disk never costs the run.

Each bad file (random bytes, a truncated store, another program's database, a store
stamped as ours with other tables, rows of wrong types and lengths), a locked or
read-only file and a full disk (simulated, and a real small tmpfs where this machine
may mount one) must give ONE ``StoreWarning`` naming the file and the problem, and a
run whose results are those of a run without a store.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fakes import registry_with
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from imageprism import ImagePrism, prepare
from imageprism.errors import StoreFileError
from imageprism.io import sqlite as sqlite_module
from imageprism.io.store import EmbeddingStore, StoreWarning

TESTS = Path(__file__).resolve().parent.parent


def _write_images(folder: Path, count: int) -> list[Path]:
    """``count`` small PNGs: pairs of near-copies (a pixel apart), so dedup finds groups."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        pixels = np.random.default_rng(number // 2).integers(0, 256, (16, 16, 3), dtype=np.uint8)
        pixels[0, 0, 0] = number % 2
        path = folder / f"img{number:03d}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def _prism(store, **kwargs):
    """A prism with hash and a counting ``colour`` dimension."""
    registry, pack = registry_with("colour")
    return ImagePrism(["hash", "colour"], registry=registry, store=store, **kwargs), pack


def _plain(embeddings) -> list:
    """Embeddings as nested lists, to compare runs."""
    return [
        None if e is None else {k: None if v is None else v.tolist() for k, v in e.items()}
        for e in embeddings
    ]


@pytest.fixture
def images(tmp_path) -> list[Path]:
    return _write_images(tmp_path / "photos", 8)


@pytest.fixture
def expected(images) -> tuple[list, list[int]]:
    """Embeddings and dedup labels of a run without a store."""
    prism, _ = _prism(None)
    return _plain(prism.embed_many(images).embeddings), prism.dedup(images).labels


@contextlib.contextmanager
def _one_store_warning(*names: str) -> Iterator[list[warnings.WarningMessage]]:
    """Expect exactly one ``StoreWarning``, whose text holds each of ``names``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught
    found = [w for w in caught if issubclass(w.category, StoreWarning)]
    assert len(found) == 1, [str(w.message) for w in found]
    for name in names:
        assert name in str(found[0].message), (name, str(found[0].message))


def _filled_store(path: Path, images: list[Path], *, extra: int = 0) -> None:
    """A good store of ``images`` (plus ``extra`` rows of made-up digests, for bulk)."""
    prism, _ = _prism(path)
    prism.embed_many(images)
    if extra:
        fingerprint = prism._dimensions["colour"].fingerprint
        rows = {f"{n:032x}": np.full(64, n, np.float32) for n in range(extra)}
        prism.store.put_many(fingerprint, rows)
    prism.store.close()


def _other_programs_database(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
        db.commit()


def _not_duplicates_file(path: Path) -> None:
    from imageprism.dedup.not_duplicates import NotDuplicates

    NotDuplicates(path).close()


def _newer_schema(path: Path) -> None:
    EmbeddingStore(path).close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA user_version = 2")


def _ours_with_other_tables(path: Path) -> None:
    EmbeddingStore(path).close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("DROP TABLE embeddings")
        db.execute("CREATE TABLE embeddings (fingerprint TEXT, digest TEXT, vector TEXT)")
        db.commit()


def _random_bytes(path: Path) -> None:
    path.write_bytes(np.random.default_rng(7).bytes(8192))


def _sqlite_header_then_garbage(path: Path) -> None:
    path.write_bytes(b"SQLite format 3\x00" + np.random.default_rng(8).bytes(8192))


BAD_FILES = {
    "random bytes": (_random_bytes, "is not an imageprism embedding store"),
    "an SQLite header then random bytes": (_sqlite_header_then_garbage, "store.sqlite"),
    "another program's database": (_other_programs_database, "another program"),
    "a not-duplicates file": (_not_duplicates_file, "not-duplicates file"),
    "a newer schema": (_newer_schema, "schema version 2"),
    "our stamp on other tables": (_ours_with_other_tables, "does not hold its tables"),
}


@pytest.mark.parametrize("make", BAD_FILES.values(), ids=list(BAD_FILES))
def test_a_bad_store_file_gives_one_warning_and_the_run_completes_without_it(
    tmp_path, images, expected, make
):
    path = tmp_path / "store.sqlite"
    write, problem = make
    write(path)
    before = path.read_bytes()
    with _one_store_warning(str(path), problem):
        prism, _ = _prism(path)
        embeddings = prism.embed_many(images).embeddings
        labels = prism.dedup(images).labels
    assert _plain(embeddings) == expected[0] and labels == expected[1]
    assert prism.store is not None and prism.store.problem is not None
    assert prism.store.written == 0 and len(prism.store) == 0
    assert path.read_bytes() == before  # a file that is not ours is never changed


def test_a_truncated_store_gives_one_warning_and_the_run_completes(tmp_path, images, expected):
    path = tmp_path / "store.sqlite"
    _filled_store(path, images, extra=3000)
    size = path.stat().st_size
    assert size > 100_000
    with open(path, "r+b") as file:
        file.truncate(size // 3)
    with _one_store_warning(str(path), "damaged"):
        prism, _ = _prism(path)
        embeddings = prism.embed_many(images).embeddings
        labels = prism.dedup(images).labels
    assert _plain(embeddings) == expected[0] and labels == expected[1]


def test_a_folder_or_a_fifo_as_the_store_gives_one_warning(tmp_path, images, expected):
    fifo = tmp_path / "fifo.sqlite"
    os.mkfifo(fifo)
    for path, problem in ((tmp_path, "is a folder"), (fifo, "not a regular file")):
        with _one_store_warning(str(path), problem):
            prism, _ = _prism(path)
            assert _plain(prism.embed_many(images).embeddings) == expected[0]


def test_a_store_folder_that_cannot_be_created_gives_one_warning(
    tmp_path, images, expected, monkeypatch
):
    def no_space(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    monkeypatch.setattr(Path, "mkdir", no_space)
    path = tmp_path / "cache" / "store.sqlite"
    with _one_store_warning(str(path), "No space left on device"):
        prism, _ = _prism(path)
        assert _plain(prism.embed_many(images).embeddings) == expected[0]


# --- failures while the run goes on -------------------------------------------------------


class _FailingWrites:
    """An SQLite connection whose writes fail with ``error`` (reads work)."""

    def __init__(self, connection: sqlite3.Connection, error: Exception) -> None:
        self._connection = connection
        self._error = error

    def executemany(self, *args, **kwargs):
        raise self._error

    def __getattr__(self, name):
        return getattr(self._connection, name)


@pytest.mark.parametrize(
    ("error", "problem"),
    [
        (sqlite3.OperationalError("database or disk is full"), "its disk is full"),
        (sqlite3.OperationalError("attempt to write a readonly database"), "cannot be written"),
        (sqlite3.OperationalError("disk I/O error"), "the disk reported an error"),
        (sqlite3.DatabaseError("database disk image is malformed"), "damaged"),
    ],
    ids=["full disk", "read-only", "I/O error", "malformed"],
)
def test_a_write_that_fails_mid_run_gives_one_warning_and_the_run_completes(
    tmp_path, images, expected, monkeypatch, error, problem
):
    path = tmp_path / "store.sqlite"
    prism, _ = _prism(path, batch_size=2, threads=2)
    monkeypatch.setattr(prism.store._db, "_db", _FailingWrites(prism.store._db._db, error))
    with _one_store_warning(str(path), problem):
        embeddings = prism.embed_many(images).embeddings
        labels = prism.dedup(images).labels
    assert _plain(embeddings) == expected[0] and labels == expected[1]
    assert prism._inflight == {}
    assert (prism.store.problem or prism.store.write_problem) is not None


def test_a_store_locked_by_another_process_gives_one_warning(
    tmp_path, images, expected, monkeypatch
):
    monkeypatch.setattr(sqlite_module, "_BUSY_TIMEOUT", 0.1)
    path = tmp_path / "store.sqlite"
    _filled_store(path, images[:2])
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with _one_store_warning(str(path), "locked"):
            prism, _ = _prism(path)
            assert _plain(prism.embed_many(images).embeddings) == expected[0]
    finally:
        holder.close()


def test_a_store_locked_mid_run_gives_one_warning_and_keeps_what_it_read(
    tmp_path, images, expected, monkeypatch
):
    monkeypatch.setattr(sqlite_module, "_BUSY_TIMEOUT", 0.1)
    path = tmp_path / "store.sqlite"
    _filled_store(path, images[:4])
    prism, pack = _prism(path)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # readers go on, writers wait
        with _one_store_warning(str(path), "locked"):
            embeddings = prism.embed_many(images).embeddings
    finally:
        holder.close()
    assert _plain(embeddings) == expected[0]
    # writing stopped at the first commit; reading went on
    assert prism.store.write_problem is not None and prism.store.problem is None
    assert prism.store.hits == 8  # two dimensions of the four stored images
    assert sorted(pack.built["colour"].embedded) == sorted(prepare(p).digest for p in images[4:])


# --- damaged rows ------------------------------------------------------------------------


def _damage(path: Path, fingerprint: str, digest: str, **columns: object) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db:
        for column, value in columns.items():
            db.execute(
                f"UPDATE embeddings SET {column} = ? WHERE fingerprint = ? AND digest = ?",
                (value, fingerprint, digest),
            )
        db.commit()


DAMAGE = {
    "data too short": {"data": b"\x00" * 12},
    "data as text": {"data": "not bytes"},
    "no data": {"data": None},
    "object dtype": {"dtype": "|O"},
    "unknown dtype": {"dtype": "<x9"},
    "dtype as a number": {"dtype": 5},
    "bad shape": {"shape": "sixty-four"},
    "negative shape": {"shape": "-64"},
    "another length": {"shape": "32", "data": b"\x00" * 128},
    "another dtype": {"dtype": "<f8", "shape": "32"},
    "huge data": {"data": b"\x00" * (5 * 1024 * 1024)},
}


@pytest.mark.parametrize("columns", DAMAGE.values(), ids=list(DAMAGE))
def test_a_damaged_row_is_recomputed_not_used_with_one_warning(tmp_path, images, expected, columns):
    path = tmp_path / "store.sqlite"
    _filled_store(path, images)
    prism, pack = _prism(path)
    fingerprint = prism._dimensions["colour"].fingerprint
    victim = prepare(images[3]).digest
    _damage(path, fingerprint, victim, **columns)
    with _one_store_warning(str(path), victim):
        embeddings = prism.embed_many(images).embeddings
        labels = prism.dedup(images).labels
    assert _plain(embeddings) == expected[0] and labels == expected[1]
    assert pack.built["colour"].embedded == [victim]  # only the damaged one, computed again
    assert prism.store.damaged == 1 and prism.store.problem is None
    prism.store.close()
    again, pack = _prism(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", StoreWarning)  # the row was replaced
        assert _plain(again.embed_many(images).embeddings) == expected[0]
    assert pack.built["colour"].embedded == []


def test_a_damaged_row_read_twice_counts_once(tmp_path, images):
    # files recorded long after their last change are looked up by path first, then per
    # dimension: the same damaged row is read twice in one run, and is still one row
    hour_ago = time.time() - 3600
    for image in images:
        os.utime(image, (hour_ago, hour_ago))
    path = tmp_path / "store.sqlite"
    _filled_store(path, images)
    prism, _ = _prism(path)
    fingerprint = prism._dimensions["colour"].fingerprint
    _damage(path, fingerprint, prepare(images[3]).digest, data=None)
    with _one_store_warning(str(path)):
        prism.embed_many(images)
    assert prism.store.damaged == 1


def test_a_damaged_file_record_makes_the_file_read_again(tmp_path, images, expected):
    path = tmp_path / "store.sqlite"
    _filled_store(path, images)
    target = os.path.abspath(images[0])
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute(
            "UPDATE files SET digest = 'not a digest', recorded_ns = 'x' WHERE path = ?", (target,)
        )
        db.commit()
    with EmbeddingStore(path) as store:
        assert store.known_digest(images[0]) is None
    prism, _ = _prism(path)
    assert _plain(prism.embed_many(images).embeddings) == expected[0]


def test_a_strict_store_raises_on_a_damaged_row_naming_the_file(tmp_path, images):
    path = tmp_path / "store.sqlite"
    _filled_store(path, images)
    prism, _ = _prism(path)
    fingerprint = prism._dimensions["colour"].fingerprint
    _damage(path, fingerprint, prepare(images[0]).digest, data=b"")
    store = EmbeddingStore(path, strict=True)
    with pytest.raises(StoreFileError, match=r"store\.sqlite holds 1 damaged"):
        store.lookup_many(fingerprint, [prepare(images[0]).digest])
    store.close()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    changes=st.lists(
        st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)),
        min_size=1,
        max_size=40,
    )
)
def test_any_bytes_changed_in_a_store_file_never_cost_the_run(
    tmp_path_factory, images, expected, changes
):
    template = tmp_path_factory.getbasetemp() / "template.sqlite"
    if not template.exists():
        _filled_store(template, images)
    path = tmp_path_factory.mktemp("fuzz") / "store.sqlite"
    data = bytearray(template.read_bytes())
    for offset, value in changes:
        data[offset % len(data)] = value
    path.write_bytes(bytes(data))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prism, _ = _prism(path)
        embeddings = prism.embed_many(images).embeddings
    assert len([w for w in caught if issubclass(w.category, StoreWarning)]) <= 2
    # a change may alter a value a valid row holds (the store is a cache, not a
    # signature), but the run completes with one embedding per dimension per image
    assert all(e is not None and set(e) == {"hash", "colour"} for e in embeddings)
    assert len(embeddings) == len(expected[0])


# --- a real full disk ---------------------------------------------------------------------


@contextlib.contextmanager
def _small_tmpfs(size: str) -> Iterator[Path]:
    where = Path(tempfile.mkdtemp(prefix="imageprism-tmpfs-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        where.rmdir()
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'not allowed'})")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)
        shutil.rmtree(where, ignore_errors=True)


@pytest.mark.machine_dependent_skip
@pytest.mark.skipif(shutil.which("mount") is None, reason="no mount command on this machine")
def test_a_full_disk_under_the_store_gives_one_warning_and_the_run_completes(images, expected):
    with _small_tmpfs("256k") as disk:
        path = disk / "store.sqlite"
        prism, _ = _prism(path, batch_size=2)
        filler = disk / "filler"
        with contextlib.suppress(OSError), open(filler, "wb") as file:
            while True:  # fill the disk to the last block
                file.write(b"\x00" * 4096)
                file.flush()
        with _one_store_warning(str(path), "full"):
            embeddings = prism.embed_many(images).embeddings
            labels = prism.dedup(images).labels
        assert _plain(embeddings) == expected[0] and labels == expected[1]
        prism.store.close()


# --- the command line --------------------------------------------------------------------


def test_cli_dedup_with_a_corrupt_store_warns_once_and_finds_the_same_groups(tmp_path, images):
    store = tmp_path / "store.sqlite"
    _random_bytes(store)
    command = [sys.executable, "-m", "imageprism", "dedup", str(images[0].parent), "--json"]
    env = {**os.environ, "IMAGEPRISM_CACHE_DIR": str(tmp_path / "cache")}
    plain = subprocess.run(
        [*command, "--no-store"], capture_output=True, text=True, env=env, check=False
    )
    damaged = subprocess.run(
        [*command, "--store", str(store)], capture_output=True, text=True, env=env, check=False
    )
    assert plain.returncode == 0 and damaged.returncode == 0, damaged.stderr
    assert json.loads(damaged.stdout)["groups"] == json.loads(plain.stdout)["groups"]
    assert len(json.loads(plain.stdout)["groups"]) == 4
    # one line, without Python's source line of the warning
    assert damaged.stderr.count("imageprism: warning:") == 1, damaged.stderr
    assert len(damaged.stderr.strip().splitlines()) == 1, damaged.stderr
    assert str(store) in damaged.stderr and "not an imageprism embedding store" in damaged.stderr
    assert "not an imageprism embedding store" in json.loads(damaged.stdout)["store"]["problem"]
    assert json.loads(plain.stdout)["store"] is None
    text = subprocess.run(
        [*command[:-1], "--store", str(store)], capture_output=True, text=True, env=env
    )
    assert "store not used: " in text.stdout and "computed" not in text.stdout, text.stdout


@pytest.mark.skipif(sys.platform != "linux", reason="needs a file system taking any bytes")
def test_an_undecodable_file_name_is_recorded_and_found_again(tmp_path, images, expected):
    odd = Path(os.fsdecode(os.fsencode(str(tmp_path / "photos")) + b"/caf\xe9.png"))
    shutil.copyfile(images[0], odd)
    os.utime(odd, ns=(0, 0))  # long before it is recorded: not racy
    path = tmp_path / "store.sqlite"
    with warnings.catch_warnings():
        warnings.simplefilter("error", StoreWarning)
        prism, _ = _prism(path)
        prism.embed_many([odd, *images])
        prism.store.close()
        with EmbeddingStore(path) as store:
            assert store.known_digest(odd) == prepare(images[0]).digest


def _fill(disk: Path) -> None:
    """Fill the file system of ``disk`` to the last block."""
    with contextlib.suppress(OSError), open(disk / "filler", "wb") as file:
        while True:
            file.write(b"\x00" * 4096)
            file.flush()


@pytest.mark.machine_dependent_skip
@pytest.mark.skipif(shutil.which("mount") is None, reason="no mount command on this machine")
def test_a_store_opened_on_a_full_disk_is_still_read_with_one_warning(images, expected):
    with _small_tmpfs("512k") as disk:
        path = disk / "store.sqlite"
        _filled_store(path, images[:4])
        _fill(disk)
        with _one_store_warning(str(path), "its disk is full"):
            prism, pack = _prism(path)
            embeddings = prism.embed_many(images).embeddings
        assert _plain(embeddings) == expected[0]
        assert prism.store.hits == 8 and prism.store.write_problem is not None
        assert sorted(pack.built["colour"].embedded) == sorted(
            prepare(p).digest for p in images[4:]
        )
        prism.store.close()


@pytest.mark.machine_dependent_skip
@pytest.mark.skipif(shutil.which("mount") is None, reason="no mount command on this machine")
def test_marks_on_a_full_disk_are_still_honoured_and_adding_one_says_why_not(images):
    from imageprism.dedup.not_duplicates import NotDuplicates

    twins = images[:2]  # near-copies: one group unless marked apart
    digests = [prepare(p).digest for p in twins]
    with _small_tmpfs("256k") as disk:
        path = disk / "marks.sqlite"
        with NotDuplicates(path) as marks:
            marks.add(*digests)
        _fill(disk)
        prism, _ = _prism(None)
        assert prism.dedup(twins).labels == [0, 0]
        assert prism.dedup(twins, not_duplicates=path).labels == [0, 1]
        with NotDuplicates(path) as marks, pytest.raises(StoreFileError) as caught:
            marks.add("c" * 32, "d" * 32)
        assert str(path) in str(caught.value) and "its disk is full" in str(caught.value)


# --- a store another user can change ------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX owners and modes only")
def test_a_store_everyone_can_write_is_not_used(tmp_path, images, expected):
    path = tmp_path / "store.sqlite"
    _filled_store(path, images)
    path.chmod(0o666)
    with _one_store_warning(str(path), "can be written by every user"):
        prism, pack = _prism(path)
        assert _plain(prism.embed_many(images).embeddings) == expected[0]
    assert prism.store.hits == 0 and len(pack.built["colour"].embedded) == len(images)
    with pytest.raises(StoreFileError, match="chmod o-w"):
        EmbeddingStore(path, strict=True)


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX owners and modes only")
def test_a_store_in_a_folder_everyone_may_write_is_not_used_unless_sticky(
    tmp_path, images, expected
):
    folder = tmp_path / "open"
    folder.mkdir()
    path = folder / "store.sqlite"
    _filled_store(path, images)
    folder.chmod(0o777)
    with _one_store_warning(str(path), "folder of embedding store"):
        prism, _ = _prism(path)
        assert _plain(prism.embed_many(images).embeddings) == expected[0]
    folder.chmod(0o1777)  # as /tmp: nobody may replace another's file
    with warnings.catch_warnings():
        warnings.simplefilter("error", StoreWarning)
        prism, _ = _prism(path)
        prism.embed_many(images)
    assert prism.store.hits == 2 * len(images)


@pytest.mark.machine_dependent_skip
@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX owners and modes only")
def test_a_store_owned_by_another_user_is_not_used(tmp_path, images, expected):
    path = tmp_path / "store.sqlite"
    _filled_store(path, images)
    try:
        os.chown(path, 4242, -1)
    except PermissionError:
        pytest.skip("only root may give a file to another user here")
    with _one_store_warning(str(path), "belongs to another user (uid 4242)"):
        prism, _ = _prism(path)
        assert _plain(prism.embed_many(images).embeddings) == expected[0]


@pytest.mark.machine_dependent_skip
@pytest.mark.skipif(shutil.which("mount") is None, reason="no mount command on this machine")
def test_a_store_on_a_read_only_file_system_is_read_and_never_written(images, expected):
    with _small_tmpfs("1m") as disk:
        path = disk / "store.sqlite"
        _filled_store(path, images[:4])
        before = path.read_bytes()
        remounted = subprocess.run(
            ["mount", "-o", "remount,ro", str(disk)], capture_output=True, text=True, check=False
        )
        if remounted.returncode != 0:
            pytest.skip(f"cannot remount a tmpfs read-only here ({remounted.stderr.strip()})")
        with _one_store_warning(str(path), "cannot be written"):
            prism, pack = _prism(path)
            embeddings = prism.embed_many(images).embeddings
        assert _plain(embeddings) == expected[0]
        assert prism.store.hits == 8 and prism.store.write_problem is not None
        assert len(pack.built["colour"].embedded) == 4
        prism.store.close()
        assert path.read_bytes() == before
