"""The SQLite files behind the embedding store and the not-duplicate marks.

Each file is stamped with an application id (whose file it is) and a schema
version, checked on every open, so another program's database or a file from
a newer imageprism is refused with a message naming it rather than misread.
``Database`` is the connection; ``SQLiteFile`` is what ``EmbeddingStore`` and
``NotDuplicates`` share on top of it (opening by kind, ``path``, closing, ``with``).

Both files are untrusted input: a file stamped as ours must also hold exactly our
tables, and every failure (damaged file, full disk, lock held too long, read-only
file) becomes a ``StoreFileError`` that names the file, says what went wrong in
words and what to do; the embedding store then degrades to "no store".
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

from imageprism.errors import StoreFileError
from imageprism.io.names import display_name

_BUSY_TIMEOUT = 30.0  # seconds to wait for another process's write to finish
_CHUNK = 500  # values per IN (...) list, well under SQLite's parameter limit
_FULL = 1024 * 1024  # bytes free under which an I/O error is taken for a full disk
# The application id stamped into each kind of file ("IPRS", "IPND").
_APPLICATION_IDS = {"embedding store": 0x49505253, "not-duplicates file": 0x49504E44}


def _normal(statement: str | None) -> str:
    """A CREATE statement with its white space collapsed, to compare schemas."""
    return " ".join(str(statement).split())


def _text(data: bytes) -> str:
    """A TEXT value as read back: bytes that are not UTF-8 kept as lone surrogates, so a
    damaged value is a row to refuse, not an exception out of the query."""
    return data.decode("utf-8", "surrogateescape")


def _disk_is_full(path: Path) -> bool:
    """Whether the file system of ``path`` (or of its folder) has (almost) no room left."""
    for where in (path, path.parent):
        try:
            return shutil.disk_usage(where).free < _FULL
        except OSError:
            continue
    return False


def _cannot_write(err: BaseException, path: Path) -> bool:
    """Whether ``err`` says that nothing can be written there (full disk, read-only)."""
    text = str(err).lower()
    return (
        "full" in text
        or ("i/o" in text and _disk_is_full(path))
        or "readonly" in text
        or "read-only" in text
        or "unable to open" in text
    )


def _what_went_wrong(err: BaseException, damaged: str, path: Path) -> str:
    """``err`` (from SQLite) in words, with what to do; ``damaged``: the advice for a damaged
    file."""
    text = str(err).lower()
    if "full" in text or ("i/o" in text and _disk_is_full(path)):
        return f"its disk is full ({err}): free some space"
    if "i/o" in text:
        return f"the disk reported an error ({err}): check the disk, or {damaged}"
    if "locked" in text or "busy" in text:
        return f"another process holds it locked ({err}): wait for it to finish"
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        return f"it cannot be written ({err}): check the permissions of the file and its folder"
    if isinstance(err, MemoryError):
        return "it holds a value too large to read into memory: the file is damaged; " + damaged
    if isinstance(err, sqlite3.OperationalError):
        return f"{err}: the file is damaged or not one this imageprism wrote; {damaged}"
    return f"it is damaged ({err}); {damaged}"


class Database:
    """One SQLite file shared by threads: a single connection behind a lock.

    SQLite writes one transaction at a time anyway, and the statements here are
    short, so one connection costs no parallelism worth having and keeps every
    transaction whole.

    Args:
        path: The file; it and its folder are created when missing.
        kind: What the file is: "embedding store" or "not-duplicates file" (which
            decides the id stamped into it, ``PRAGMA application_id``).
        version: The schema version this code reads and writes (``PRAGMA user_version``).
        schema: The statements creating a new file's tables.
        synchronous: ``PRAGMA synchronous`` in WAL mode: ``NORMAL`` survives a killed
            process (not a power cut), ``FULL`` survives both.
        damaged: What to do about a damaged file, said in every message about one
            (e.g. "delete it to start afresh" for a cache).
        check_integrity: Run ``PRAGMA quick_check`` on open (reads the whole file: for
            small files whose damage must be found before they are used).

    Attributes:
        read_only: Why the file could be opened for reading only (nothing can be
            written beside it: a full disk, a read-only folder), or None.

    Raises:
        StoreFileError: the file cannot be created or opened, is not SQLite, is another
            program's database, or has another schema version.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        kind: str,
        version: int,
        schema: Sequence[str],
        synchronous: str = "FULL",
        damaged: str = "move it aside",
        check_integrity: bool = False,
    ) -> None:
        self.path = Path(path).expanduser()
        self.kind = kind
        self.damaged = damaged
        self._lock = threading.Lock()
        shown = display_name(self.path)
        if self.path.is_dir():
            raise StoreFileError(f"{kind} {shown} is a folder; give a file name")
        if self.path.exists() and not self.path.is_file():
            raise StoreFileError(f"{kind} {shown} is not a regular file; give a file name")
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the user's only
        except OSError as err:
            raise StoreFileError(
                f"cannot create the folder of {kind} {shown}: {err.strerror or err}"
            ) from err
        self.read_only: str | None = None
        try:
            self._open(version, schema, synchronous, check_integrity, immutable=False)
        except StoreFileError as err:
            if not self._readable_anyway(err):
                raise
            # e.g. a full disk: SQLite cannot create the WAL index beside the file, yet a
            # file with no pending WAL can still be read as it is
            self._open(version, schema, synchronous, check_integrity, immutable=True)
            self.read_only = str(err)

    def _readable_anyway(self, err: StoreFileError) -> bool:
        """Whether opening failed only because nothing can be written beside the file (a full
        disk, a read-only folder) and the file, with no WAL pending, can be read as it is."""
        cause = err.__cause__
        if not isinstance(cause, sqlite3.OperationalError) or not _cannot_write(cause, self.path):
            return False
        try:
            wal = self.path.with_name(self.path.name + "-wal")
            return self.path.stat().st_size > 0 and (not wal.exists() or wal.stat().st_size == 0)
        except OSError:
            return False

    def _open(
        self,
        version: int,
        schema: Sequence[str],
        synchronous: str,
        check_integrity: bool,
        *,
        immutable: bool,
    ) -> None:
        """Connect and check the file; ``immutable``: read it as it is, no locks, no writes."""
        kind, damaged, shown = self.kind, self.damaged, display_name(self.path)
        target = f"{self.path.resolve().as_uri()}?immutable=1" if immutable else self.path
        try:
            self._db = sqlite3.connect(
                target,
                timeout=_BUSY_TIMEOUT,
                isolation_level=None,
                check_same_thread=False,
                uri=immutable,
            )
        except sqlite3.Error as err:
            raise StoreFileError(
                f"cannot open {kind} {shown}: {_what_went_wrong(err, damaged, self.path)}"
            ) from err
        self._db.text_factory = _text
        try:
            self._check(_APPLICATION_IDS[kind], version, schema)
            if check_integrity:
                self._check_integrity()
            if not immutable:
                # WAL: readers never wait for a writer, and a commit is one append.
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute(f"PRAGMA synchronous={synchronous}")
        except StoreFileError:
            self._db.close()
            raise
        except sqlite3.OperationalError as err:
            self._db.close()
            raise StoreFileError(
                f"cannot open {kind} {shown}: {_what_went_wrong(err, damaged, self.path)}"
            ) from err
        except (sqlite3.DatabaseError, MemoryError, UnicodeError) as err:
            self._db.close()
            raise StoreFileError(
                f"{shown} is not an imageprism {kind}, or is damaged (SQLite cannot read it: "
                f"{err}); {damaged}"
            ) from err

    def _stamp(self) -> tuple[int, int, int]:
        application_id = self._db.execute("PRAGMA application_id").fetchone()[0]
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        tables = self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        return application_id, version, tables

    def _check(self, application_id: int, version: int, schema: Sequence[str]) -> None:
        found_id, found_version, tables = self._stamp()
        if found_id == 0 and tables == 0:  # a new (or empty) file: create the tables
            with self._transaction():
                found_id, found_version, tables = self._stamp()  # another process may have won
                if found_id == 0 and tables == 0:
                    for statement in schema:
                        self._db.execute(statement)
                    self._db.execute(f"PRAGMA application_id={application_id}")
                    self._db.execute(f"PRAGMA user_version={version}")
                    found_id, found_version = application_id, version
        if found_id != application_id:
            other = next((k for k, i in _APPLICATION_IDS.items() if i == found_id), None)
            what = f"an imageprism {other}" if other else "an SQLite database of another program"
            raise StoreFileError(
                f"{display_name(self.path)} is {what}, not an imageprism {self.kind}; give "
                "another file name"
            )
        if found_version != version:
            raise StoreFileError(
                f"{self.kind} {display_name(self.path)} has schema version {found_version}, and "
                f"this imageprism reads version {version} only: use the imageprism that wrote "
                "it, or another file"
            )
        statements = self._db.execute(
            "SELECT sql FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
        ).fetchall()
        if sorted(_normal(sql) for (sql,) in statements) != sorted(map(_normal, schema)):
            raise StoreFileError(
                f"{self.kind} {display_name(self.path)} is stamped as one but does not hold "
                f"its tables: it is damaged or was altered; {self.damaged}"
            )

    def _check_integrity(self) -> None:
        problems = self._db.execute("PRAGMA quick_check(3)").fetchall()
        if problems != [("ok",)]:
            found = " ".join(" ".join(str(row[0]).split()) for row in problems)
            raise StoreFileError(
                f"{self.kind} {display_name(self.path)} is damaged (SQLite finds: {found}); "
                f"{self.damaged}"
            )

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except (sqlite3.Error, MemoryError, UnicodeError) as err:
            raise StoreFileError(
                f"{self.kind} {display_name(self.path)} cannot be used: "
                f"{_what_went_wrong(err, self.damaged, self.path)}"
            ) from err

    def read(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of one query."""
        with self._lock, self._guard():
            return self._db.execute(sql, parameters).fetchall()

    def read_in(
        self, sql: str, values: Sequence[Any], parameters: Sequence[Any] = ()
    ) -> list[tuple[Any, ...]]:
        """All rows of a query whose ``IN ({marks})`` list holds ``values``, asked in chunks.

        Args:
            sql: The query, with ``{marks}`` where the ``?`` placeholders of a chunk go.
            values: The values of the ``IN`` list (any number: each query takes at
                most 500, well under SQLite's parameter limit).
            parameters: The query's other parameters, which come before the list.
        """
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(values), _CHUNK):
            chunk = values[start : start + _CHUNK]
            rows += self.read(sql.format(marks=",".join("?" * len(chunk))), [*parameters, *chunk])
        return rows

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE``, then ``COMMIT`` when the block ends or ``ROLLBACK`` if it raises."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises.

        Raises:
            StoreFileError: the file is open for reading only (``read_only`` says why),
                or the write fails.
        """
        if self.read_only is not None:
            raise StoreFileError(f"{self.read_only} (it is open for reading only)")
        with self._lock, self._guard(), self._transaction() as db:
            yield db

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self._db.close()


class SQLiteFile:
    """What the classes kept in one SQLite file share: opening it by kind, ``path``, closing.

    A subclass names its file's kind, schema version and tables in the private
    class attributes below; it can be used in ``with`` (closed at the end).

    Args:
        path: The SQLite file; it and its folder are created on first use.

    Attributes:
        path: The file, with ``~`` expanded.

    Raises:
        StoreFileError: as ``Database``.
    """

    _KIND: ClassVar[str]
    """What the file is: "embedding store" or "not-duplicates file" (see ``Database``)."""
    _VERSION: ClassVar[int]
    """The version of the file's tables this imageprism reads and writes."""
    _SCHEMA: ClassVar[Sequence[str]]
    """The statements creating a new file's tables."""
    _SYNCHRONOUS: ClassVar[str] = "FULL"
    """``PRAGMA synchronous`` (see ``Database``)."""
    _DAMAGED: ClassVar[str] = "move it aside"
    """What to do about a damaged file (see ``Database``)."""
    _CHECK_INTEGRITY: ClassVar[bool] = False
    """Whether opening checks the whole file (see ``Database``)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._db = Database(
            path,
            kind=self._KIND,
            version=self._VERSION,
            schema=self._SCHEMA,
            synchronous=self._SYNCHRONOUS,
            damaged=self._DAMAGED,
            check_integrity=self._CHECK_INTEGRITY,
        )
        self.path = self._db.path

    def close(self) -> None:
        """Close the file (idempotent)."""
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"
