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
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from imageprism.errors import ConfigError, StoreFileError
from imageprism.io.sqlite import SQLiteFile
from imageprism.runtime.hub import cache_root

SCHEMA_VERSION = 1
"""The version of the store's tables this imageprism reads and writes."""

# A file modified this close to when it was recorded may have changed again within the
# same mtime tick (2 s on FAT), unseen: its record is not trusted (git's "racy clean").
_RACY_NS = 2_000_000_000


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


class EmbeddingStore(SQLiteFile):
    """Embeddings on disk, keyed by (dimension fingerprint, content digest); safe across threads.

    Pass it (or just a path) to ``ImagePrism(store=...)``: each embedding is looked
    up in the in-memory cache, then here, and computed only when neither has it.

    Args:
        path: The store's SQLite file; it and its folder are created on first use.

    Attributes:
        path: The file, with ``~`` expanded.
        hits: Embeddings looked up and found (each dimension of each image counts once).
        misses: Embeddings looked up and not found.
        written: Embeddings written.

    Raises:
        StoreFileError: the file is not an SQLite database, is another program's
            database (a not-duplicates file, say), has an unknown schema version, or
            cannot be created.
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

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path)
        self.hits = 0
        self.misses = 0
        self.written = 0
        self._lock = threading.Lock()
        self._files: dict[str, tuple[int, int, str, int]] = {}  # noted, not yet written

    def lookup_many(self, fingerprint: str, digests: Iterable[str]) -> dict[str, np.ndarray | None]:
        """The stored embeddings of ``digests`` for the dimension with ``fingerprint``.

        Returns:
            Per digest found, its embedding (read-only), or None where the
            dimension had nothing to embed; digests not stored are left out.

        Raises:
            StoreFileError: the file cannot be read, or holds a damaged row.
        """
        wanted = list(dict.fromkeys(digests))
        found: dict[str, np.ndarray | None] = {}
        rows = self._db.read_in(
            "SELECT digest, dtype, shape, data FROM embeddings WHERE fingerprint = ? "
            "AND digest IN ({marks})",
            wanted,
            [fingerprint],
        )
        for digest, dtype, shape, data in rows:
            found[digest] = self._decode(fingerprint, digest, dtype, shape, data)
        with self._lock:
            self.hits += len(found)
            self.misses += len(wanted) - len(found)
        return found

    def _decode(
        self, fingerprint: str, digest: str, dtype: str | None, shape: str | None, data: bytes
    ) -> np.ndarray | None:
        if dtype is None:
            return None
        try:
            kind = np.dtype(dtype)
            dims = tuple(int(side) for side in shape.split(",")) if shape else ()
            if kind.hasobject or int(np.prod(dims)) * kind.itemsize != len(data):
                raise ValueError(f"{len(data)} bytes do not make a {dtype} array of shape {dims}")
            return np.frombuffer(data, dtype=kind).reshape(dims)  # read-only: bytes are
        except (TypeError, ValueError, AttributeError) as err:
            raise StoreFileError(
                f"embedding store {self.path} holds a damaged embedding of {digest} "
                f"(fingerprint {fingerprint[:16]}...): {err}; delete the file to start afresh"
            ) from err

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
            StoreFileError: the file cannot be written (the message says why).
        """
        items = embeddings.items() if isinstance(embeddings, Mapping) else embeddings
        self._write([(fingerprint, str(digest), *_encode(value)) for digest, value in items])

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
            self._files[os.path.abspath(path)] = record

    def flush(self) -> None:
        """Write the files noted since the last write (a no-op when there are none)."""
        with self._lock:
            pending = bool(self._files)
        if pending:
            self._write([])

    def known_digest(self, path: str | os.PathLike[str]) -> str | None:
        """The recorded digest of the file at ``path`` if its size and mtime are unchanged since.

        None when the file is unknown, changed, missing, or was modified so close to
        being recorded that a later change could share its mtime.
        """
        try:
            now = os.stat(path)
        except OSError:
            return None
        rows = self._db.read(
            "SELECT size, mtime_ns, digest, recorded_ns FROM files WHERE path = ?",
            [os.path.abspath(path)],
        )
        if not rows:
            return None
        size, mtime_ns, digest, recorded_ns = rows[0]
        if (size, mtime_ns) != (now.st_size, now.st_mtime_ns) or mtime_ns > recorded_ns - _RACY_NS:
            return None
        return str(digest)

    def __len__(self) -> int:
        """How many embeddings are stored (over every fingerprint)."""
        return int(self._db.read("SELECT count(*) FROM embeddings")[0][0])

    def close(self) -> None:
        """Write pending file notes and close the file."""
        self.flush()
        super().close()
