"""A persistent embedding store: a second run over the same images embeds only new or changed ones.

One SQLite file holds embeddings keyed by (dimension fingerprint, content
digest), so a renamed file is still found (same bytes, same digest), a changed
file is embedded again (new digest), and a changed model, config or
preprocessing never reuses old embeddings (new fingerprint). "No embedding"
(e.g. no face in the image) is stored too. ``ImagePrism(store=...)`` commits
each finished batch, so killing a run loses at most the batches in flight.

The store also records the size and modification time of each file it saw
with its digest (``known_digest``), for callers that want to skip reading
unchanged files.

The store is only a cache, and its file is untrusted input. A file that cannot
be used (damaged, truncated, another program's, a newer schema, locked past the
wait, or one another user can change: owned by someone else, writable by
everyone, or in a folder where everyone may replace it) costs the run its
store, never the run: one ``StoreWarning`` names the file and the problem, and
from then on nothing is read from or written to it (``problem`` says why). A
write that fails but leaves the file readable (a full disk, a read-only file, a
lock held past the wait) stops the writing only, with one warning too
(``write_problem``). Each row read back is checked (a content digest, a plain
numeric dtype, a shape its bytes fill, and the dtype and shape of the
embeddings computed in this run, else of most of its dimension's in the file);
a bad row is left out, so that embedding is computed again and replaces it (one
``StoreWarning`` too). ``strict=True`` raises ``StoreFileError`` instead.

One module, though over ~400 lines: what the store writes and the checks of
what it reads back (rows, owners, failures) are one idea, the cache's contract.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from imageprism.errors import ConfigError, StoreFileError
from imageprism.io.names import display_name
from imageprism.io.sqlite import SQLiteFile
from imageprism.runtime.hub import cache_root

SCHEMA_VERSION = 1
"""The version of the store's tables this imageprism reads and writes."""

# A file modified this close to when it was recorded may have changed again within the
# same mtime tick (2 s on FAT), unseen: its record is not trusted (git's "racy clean").
_RACY_NS = 2_000_000_000
# Rows whose data is longer are not even read (a damaged or crafted row must not cost
# the memory): far above any embedding (a 4096-d float64 vector is 32 KiB).
_MAX_EMBEDDING_BYTES = 4 * 1024 * 1024
_DIGEST = re.compile(r"[0-9a-f]{32}")
_NUMERIC_KINDS = "biuf"  # bool, signed and unsigned integers, floats

_T = TypeVar("_T")

Layout = tuple[str, tuple[int, ...]]
"""An embedding's ``(dtype string, shape)``."""


class StoreWarning(UserWarning):
    """An embedding store, or some of its rows, cannot be used: the run goes on without them.

    The message names the file and the problem. Given once per store and kind of
    problem: when the whole store is given up, and when damaged rows are skipped.
    """


def default_path() -> Path:
    """Where the command line keeps its store: ``embeddings.sqlite`` in imageprism's cache folder.

    That is ``IMAGEPRISM_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/imageprism``
    (default ``~/.cache/imageprism``).
    """
    return cache_root() / "embeddings.sqlite"


def _encode(value: np.ndarray | None) -> tuple[str | None, str | None, bytes | None]:
    if value is None:
        return None, None, None
    if not isinstance(value, np.ndarray) or value.dtype.hasobject:
        raise ConfigError(
            f"only numeric numpy arrays or None can be stored, got {type(value).__name__}"
            + (f" of {value.dtype}" if isinstance(value, np.ndarray) else "")
        )
    return value.dtype.str, ",".join(map(str, value.shape)), value.tobytes()


def _check_trust(path: Path) -> None:
    """Refuse a store file that another user can change: owned by another user (root
    aside), writable by everyone, or in a folder where everyone may replace it.

    Raises:
        StoreFileError: naming the file and who else can write it.
    """
    if not hasattr(os, "getuid"):  # no POSIX owners (Windows)
        return
    shown = display_name(path)
    try:
        state = os.stat(path)
    except OSError:
        state = None
    if state is not None and state.st_uid not in (os.getuid(), 0):
        raise StoreFileError(
            f"embedding store {shown} belongs to another user (uid {state.st_uid}), who could "
            "change the embeddings it gives: use a store of your own"
        )
    if state is not None and state.st_mode & 0o002:
        raise StoreFileError(
            f"embedding store {shown} can be written by every user, who could change the "
            f"embeddings it gives: make it yours only (chmod o-w {shown})"
        )
    try:
        folder = os.stat(path.parent)
    except OSError:
        return
    if folder.st_mode & 0o002 and not folder.st_mode & 0o1000:
        raise StoreFileError(
            f"the folder of embedding store {shown} can be written by every user, who could "
            "replace the file: keep the store in a folder of your own"
        )


def _path_key(path: str | os.PathLike[str]) -> str | bytes:
    """The ``files`` key of a path: its absolute form, as bytes when it is not UTF-8 (an
    undecodable name, which SQLite text cannot hold)."""
    absolute = os.path.abspath(path)
    try:
        absolute.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(absolute)
    return absolute


def _layout(value: np.ndarray) -> Layout:
    return value.dtype.str, value.shape


def _parse_layout(dtype: object, shape: object) -> tuple[np.dtype, tuple[int, ...]]:
    """A stored ``(dtype, shape)`` pair of texts, read.

    Raises:
        ValueError: they are not text, or not a plain numeric dtype and a shape.
    """
    if not (isinstance(dtype, str) and isinstance(shape, str)):
        raise ValueError(f"dtype {dtype!r} and shape {shape!r} must be text")
    try:
        kind = np.dtype(dtype)
        dims = tuple(int(side) for side in shape.split(",")) if shape else ()
    except (TypeError, ValueError) as err:
        raise ValueError(f"dtype {dtype!r} or shape {shape!r} cannot be read: {err}") from err
    if kind.kind not in _NUMERIC_KINDS or kind.shape or kind.names is not None:
        raise ValueError(f"dtype {dtype!r} is not a plain numeric type")
    if any(side < 0 for side in dims):
        raise ValueError(f"shape {shape!r} has a negative side")
    return kind, dims


def _decode(
    digest: object, dtype: object, shape: object, data: object, size: object
) -> np.ndarray | None:
    """One stored row as an embedding (read-only), or None for "nothing to embed".

    Raises:
        ValueError: the row is damaged (the message says how).
    """
    if not (isinstance(digest, str) and _DIGEST.fullmatch(digest)):
        raise ValueError(f"the digest {digest!r} is not 32 hexadecimal digits")
    if dtype is None and shape is None and data is None:
        return None
    kind, dims = _parse_layout(dtype, shape)
    if not isinstance(data, bytes):
        too_long = isinstance(size, int) and size > _MAX_EMBEDDING_BYTES
        raise ValueError(
            f"{size} bytes of data, more than any embedding"
            if too_long
            else f"data of type {type(data).__name__}, not bytes"
        )
    if int(np.prod(dims)) * kind.itemsize != len(data):
        raise ValueError(f"{len(data)} bytes do not make a {dtype} array of shape {dims}")
    return np.frombuffer(data, dtype=kind).reshape(dims)  # read-only: bytes are


class EmbeddingStore(SQLiteFile):
    """Embeddings on disk, keyed by (dimension fingerprint, content digest); safe across threads.

    Pass it (or just a path) to ``ImagePrism(store=...)``: each embedding is looked
    up in the in-memory cache, then here, and computed only when neither has it.

    Every embedding of one fingerprint has one dtype and shape (as every embedding of
    one dimension does): rows that differ from the others are damaged ones.

    Args:
        path: The store's SQLite file; it and its folder are created on first use.
        strict: Raise ``StoreFileError`` where the store would warn and go on
            without the file (or without a damaged row).

    Attributes:
        path: The file, with ``~`` expanded.
        hits: Embeddings looked up and found (each dimension of each image counts once).
        misses: Embeddings looked up and not found (damaged rows included).
        written: Embeddings written.
        problem: Why the file is no longer used (the warning's text), or None while it is.
        write_problem: Why nothing more is written to it (a full disk, a read-only or
            locked file), or None; stored embeddings are still read.
        damaged: Rows read back and left out as damaged (each row counts once).

    Raises:
        StoreFileError: only with ``strict``: the file is not an SQLite database, is
            another program's database (a not-duplicates file, say), has an unknown
            schema version, or cannot be created.

    Warns:
        StoreWarning: without ``strict``, where it would raise: the store is then
            not used (``problem`` says why); and once when damaged rows are left out.
    """

    _KIND = "embedding store"
    _VERSION = SCHEMA_VERSION
    _SCHEMA = (
        "CREATE TABLE embeddings (fingerprint TEXT NOT NULL, digest TEXT NOT NULL, "
        "dtype TEXT, shape TEXT, data BLOB, PRIMARY KEY (fingerprint, digest)) WITHOUT ROWID",
        "CREATE TABLE files (path TEXT PRIMARY KEY, size INTEGER NOT NULL, "
        "mtime_ns INTEGER NOT NULL, digest TEXT NOT NULL, recorded_ns INTEGER NOT NULL)",
    )
    _SYNCHRONOUS = "NORMAL"  # a killed run keeps every commit; it is only a cache
    _DAMAGED = "delete it to start afresh (it is only a cache)"

    def __init__(self, path: str | os.PathLike[str], *, strict: bool = False) -> None:
        self.strict = strict
        self.hits = 0
        self.misses = 0
        self.written = 0
        self.damaged = 0
        self.problem: str | None = None
        self.write_problem: str | None = None
        self._closed = False
        self._warned_rows = False
        self._damaged_seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._files: dict[str | bytes, tuple[int, int, str, int]] = {}  # noted, not written
        self._layouts: dict[str, Layout] = {}  # per fingerprint, once known
        try:
            _check_trust(Path(path).expanduser())
            super().__init__(path)
        except StoreFileError as err:
            if strict:
                raise
            self.path = Path(path).expanduser()
            self._give_up(err)
            return
        if self._db.read_only is not None:  # e.g. a full disk: read it, write nothing
            if strict:
                self._db.close()
                raise StoreFileError(self._db.read_only)
            self._stop_writing(StoreFileError(self._db.read_only))

    def _give_up(self, err: StoreFileError) -> None:
        """Stop using the file, with one warning (the first problem is the one reported)."""
        with self._lock:
            if self.problem is not None:
                return
            self.problem = str(err)
            self._files = {}
        warnings.warn(
            StoreWarning(
                f"{err}; going on without the embedding store: embeddings are computed, "
                "not reused or saved"
            ),
            stacklevel=4,
        )
        if hasattr(self, "_db"):
            self._db.close()

    def _stop_writing(self, err: StoreFileError) -> None:
        """Write nothing more (the disk is full, the file read-only or locked), with one warning."""
        with self._lock:
            if self.problem is not None or self.write_problem is not None:
                return
            self.write_problem = str(err)
            self._files = {}
        warnings.warn(
            StoreWarning(
                f"{err}; going on with what the embedding store holds: new embeddings are "
                "computed but not saved"
            ),
            stacklevel=4,
        )

    def _use(self, action: Callable[[], _T], fallback: _T, *, writing: bool = False) -> _T:
        """``action()``, or ``fallback`` once the file is given up (or when it fails now).

        A failed write that leaves the file readable (a full disk, a lock held too
        long, a read-only file) stops writing only; any other failure stops reading too.
        """
        if self._closed:
            raise StoreFileError(f"embedding store {display_name(self.path)} is closed")
        if self.problem is not None or (writing and self.write_problem is not None):
            return fallback
        try:
            return action()
        except StoreFileError as err:
            if self.strict or self._closed:
                raise
            if writing and isinstance(err.__cause__, sqlite3.OperationalError):
                self._stop_writing(err)
            else:
                self._give_up(err)
            return fallback

    def lookup_many(
        self, fingerprint: str, digests: Iterable[str], *, count: bool = True
    ) -> dict[str, np.ndarray | None]:
        """The stored embeddings of ``digests`` for the dimension with ``fingerprint``.

        ``count=False`` leaves ``hits`` and ``misses`` alone: for a look that another
        lookup of the same embeddings follows (see ``count_hits``).

        Returns:
            Per digest found, its embedding (read-only), or None where the
            dimension had nothing to embed; digests not stored, and damaged rows,
            are left out.

        Raises:
            StoreFileError: only with ``strict``: the file cannot be read, or holds a
                damaged row.
        """
        asked = list(dict.fromkeys(digests))
        wanted = [d for d in asked if isinstance(d, str) and _DIGEST.fullmatch(d)]
        rows: list[tuple[Any, ...]] = self._use(lambda: self._read_rows(fingerprint, wanted), [])
        decoded: dict[str, np.ndarray | None] = {}
        bad: list[str] = []
        for digest, dtype, shape, data, size in rows:
            try:
                decoded[digest] = _decode(digest, dtype, shape, data, size)
            except ValueError as err:
                bad.append(f"{display_name(str(digest))}: {err}")
        found = self._keep_one_layout(fingerprint, decoded, bad)
        if bad:
            self._damaged_rows(fingerprint, bad)
        if count:
            with self._lock:
                self.hits += len(found)
                self.misses += len(asked) - len(found)
        return found

    def count_hits(self, hits: int) -> None:
        """Add ``hits`` embeddings found by lookups made with ``count=False``."""
        with self._lock:
            self.hits += hits

    def _read_rows(self, fingerprint: str, wanted: list[str]) -> list[tuple[Any, ...]]:
        # data longer than any embedding is never read (its length says enough)
        return self._db.read_in(
            "SELECT digest, dtype, shape, CASE WHEN length(data) <= ? THEN data END, "
            "length(data) FROM embeddings WHERE fingerprint = ? AND digest IN ({marks})",
            wanted,
            [_MAX_EMBEDDING_BYTES, fingerprint],
        )

    def _keep_one_layout(
        self, fingerprint: str, decoded: dict[str, np.ndarray | None], bad: list[str]
    ) -> dict[str, np.ndarray | None]:
        """``decoded`` less the embeddings whose dtype and shape differ from the
        fingerprint's: those of the embeddings written in this run, else the most common
        in the file."""
        with self._lock:
            known = self._layouts.get(fingerprint)
        if known is None and any(value is not None for value in decoded.values()):
            known = self._stored_layout(fingerprint)
            with self._lock:
                if known is not None:
                    known = self._layouts.setdefault(fingerprint, known)
        found: dict[str, np.ndarray | None] = {}
        for digest, value in decoded.items():
            if value is not None and _layout(value) != known:
                bad.append(
                    f"{digest}: a {value.dtype.str} array of shape {value.shape}, where this "
                    f"dimension's are {known[0] if known else '?'} of shape "
                    f"{known[1] if known else '?'}"
                )
            else:
                found[digest] = value
        return found

    def _stored_layout(self, fingerprint: str) -> Layout | None:
        """The most common readable dtype and shape of the fingerprint's stored embeddings."""
        rows: list[tuple[Any, ...]] = self._use(
            lambda: self._db.read(
                "SELECT dtype, shape, count(*) AS n FROM embeddings WHERE fingerprint = ? "
                "AND data IS NOT NULL GROUP BY dtype, shape ORDER BY n DESC LIMIT 5",
                [fingerprint],
            ),
            [],
        )
        for dtype, shape, _ in rows:
            try:
                kind, dims = _parse_layout(dtype, shape)
            except ValueError:
                continue
            return kind.str, dims
        return None

    def _damaged_rows(self, fingerprint: str, bad: list[str]) -> None:
        message = (
            f"embedding store {display_name(self.path)} holds {len(bad)} damaged "
            f"embedding(s) of fingerprint {display_name(fingerprint[:16])}... (first: "
            f"{bad[0]}); they are computed again and replace the damaged rows"
        )
        if self.strict:
            raise StoreFileError(message + "; or delete the file to start afresh")
        with self._lock:
            # a run may read one row twice (by file, then by dimension): count rows, not reads
            new = {(fingerprint, digest) for digest in bad} - self._damaged_seen
            self._damaged_seen |= new
            self.damaged += len(new)
            first, self._warned_rows = not self._warned_rows, True
        if first:
            warnings.warn(StoreWarning(message), stacklevel=3)

    def put_many(
        self,
        fingerprint: str,
        embeddings: Mapping[str, np.ndarray | None] | Iterable[tuple[str, np.ndarray | None]],
    ) -> None:
        """Store embeddings (None: nothing to embed) of one dimension, in one transaction.

        Files noted with ``note_file`` since the last write are written with them.

        Args:
            fingerprint: The dimension's fingerprint.
            embeddings: ``{digest: embedding}`` or ``(digest, embedding)`` pairs.

        Raises:
            ConfigError: an embedding is not a numeric numpy array or None.
            StoreFileError: only with ``strict``: the file cannot be written (the
                message says why).
        """
        items = list(embeddings.items() if isinstance(embeddings, Mapping) else embeddings)
        for digest, _ in items:
            if not (isinstance(digest, str) and _DIGEST.fullmatch(digest)):
                raise ConfigError(
                    f"{digest!r} is not a content digest (32 lowercase hexadecimal digits)"
                )
        rows = [(fingerprint, str(digest), *_encode(value)) for digest, value in items]
        layouts = [_layout(value) for _, value in items if value is not None]
        if layouts:
            with self._lock:  # what the dimension computes is its layout
                self._layouts[fingerprint] = layouts[-1]
        self._use(lambda: self._write(rows), None, writing=True)

    def _write(self, rows: list[tuple[str, str, str | None, str | None, bytes | None]]) -> None:
        with self._lock:
            files, self._files = self._files, {}
        with self._db.write() as db:
            db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?, ?)", rows)
            db.executemany(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)",
                [(path, *record) for path, record in files.items()],
            )
        with self._lock:
            self.written += len(rows)

    def note_file(
        self, path: str | os.PathLike[str], size: int, mtime_ns: int, digest: str
    ) -> None:
        """Remember that the file at ``path``, of this size and mtime, has content ``digest``.

        Call it with the file's ``os.stat`` from before reading it. The note is
        written with the next ``put_many`` or ``flush``.
        """
        record = (int(size), int(mtime_ns), str(digest), time.time_ns())
        with self._lock:
            if self.problem is None and self.write_problem is None:
                self._files[_path_key(path)] = record

    def flush(self) -> None:
        """Write the files noted since the last write (a no-op when there are none)."""
        with self._lock:
            pending = bool(self._files)
        if pending:
            self._use(lambda: self._write([]), None, writing=True)

    def known_digest(self, path: str | os.PathLike[str]) -> str | None:
        """The recorded digest of the file at ``path`` if its size and mtime are unchanged since.

        None when the file is unknown, changed, missing, or was modified so close to
        being recorded that a later change could share its mtime.
        """
        try:
            now = os.stat(path)
        except OSError:
            return None
        rows: list[tuple[Any, ...]] = self._use(
            lambda: self._db.read(
                "SELECT size, mtime_ns, digest, recorded_ns FROM files WHERE path = ?",
                [_path_key(path)],
            ),
            [],
        )
        if not rows:
            return None
        size, mtime_ns, digest, recorded_ns = rows[0]
        if not (
            all(type(value) is int for value in (size, mtime_ns, recorded_ns))
            and isinstance(digest, str)
            and _DIGEST.fullmatch(digest)
        ):
            return None  # a damaged record: the file is read again
        if (size, mtime_ns) != (now.st_size, now.st_mtime_ns) or mtime_ns > recorded_ns - _RACY_NS:
            return None
        return digest

    def __len__(self) -> int:
        """How many embeddings are stored (over every fingerprint; 0 once the file is given up)."""
        rows = self._use(lambda: self._db.read("SELECT count(*) FROM embeddings"), [(0,)])
        return int(rows[0][0])

    def close(self) -> None:
        """Write pending file notes and close the file (idempotent)."""
        if self._closed:
            return
        self.flush()
        self._closed = True
        if hasattr(self, "_db"):
            super().close()
