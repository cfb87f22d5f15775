"""Remembered not-duplicates: pairs of images marked as different are never grouped again.

Marks are kept by content digest (the ``digests`` of a ``DedupResult``), so
renaming or moving a file keeps them, and editing it (new content) drops them.
They live in their own SQLite file, apart from the embedding store: marks are
decisions a person made and must outlive a wiped cache, while embeddings can
always be computed again. The HTML dedup report exports marks as JSON::

    {"format": "imageprism-not-duplicates/1", "pairs": [["<digest>", "<digest>"], ...]}

which ``import_json`` (and ``imageprism not-duplicates import``) loads.

The marks file is untrusted input, but unlike the embedding store it is not a
cache: a damaged one is refused with a ``StoreFileError`` naming it and saying
how to proceed, never silently taken for "no marks", since a dedup run without
them could group, and then move or delete, images the user marked apart. Opening
checks the file (SQLite's quick check, its tables, every pair) and every pair
read back later is checked too (two lowercase digests, the smaller first).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from imageprism.errors import ConfigError, StoreFileError
from imageprism.io.atomic import atomic_write
from imageprism.io.images import ImageInput, describe, prepare
from imageprism.io.names import display_name
from imageprism.io.sqlite import SQLiteFile

FORMAT = "imageprism-not-duplicates/1"
"""The ``format`` of an exported marks file."""

SCHEMA_VERSION = 1
"""The version of the marks file's tables this imageprism reads and writes."""

_DIGEST = re.compile(r"^[0-9a-f]{32}$")
_STORED_DIGEST = re.compile(r"[0-9a-f]{32}")

Pair = tuple[str, str]


def default_path() -> Path:
    """Where the command line keeps marks: ``$XDG_DATA_HOME/imageprism/not-duplicates.sqlite``.

    ``XDG_DATA_HOME`` defaults to ``~/.local/share``: marks are data, not cache.
    """
    base = Path(os.environ.get("XDG_DATA_HOME") or "~/.local/share").expanduser()
    return base / "imageprism" / "not-duplicates.sqlite"


def is_digest(text: str) -> bool:
    """Whether ``text`` is a content digest (32 hex digits, as in ``DedupResult.digests``)."""
    return isinstance(text, str) and _DIGEST.match(text.lower()) is not None


def _pair(digest_a: str, digest_b: str) -> Pair:
    """The pair in stored order (smaller digest first), checked."""
    for digest in (digest_a, digest_b):
        if not is_digest(digest):
            raise ConfigError(
                f"{digest!r} is not a content digest (32 hexadecimal digits, as in "
                "DedupResult.digests)"
            )
    a, b = digest_a.lower(), digest_b.lower()
    if a == b:
        raise ConfigError(
            f"both sides of the pair are {a}: an image is always a duplicate of itself"
        )
    return (a, b) if a < b else (b, a)


class NotDuplicates(SQLiteFile):
    """A persistent set of unordered pairs of content digests marked "not duplicates".

    Safe to share between threads. ``pairs_among`` gives the dedup engine the
    marked pairs among its inputs.

    Args:
        path: The marks' SQLite file; it and its folder are created on first use.

    Attributes:
        path: The file, with ``~`` expanded.

    Raises:
        StoreFileError: the file is not an SQLite database, is damaged (SQLite's
            quick check, not our tables, a pair that is not two digests), is another
            program's database (an embedding store, say), has an unknown schema
            version, or cannot be created; any method: the file cannot be read or
            written, or holds a damaged pair. The message names the file and says
            how to proceed.
    """

    _KIND = "not-duplicates file"
    _VERSION = SCHEMA_VERSION
    _SCHEMA = (
        "CREATE TABLE pairs (a TEXT NOT NULL, b TEXT NOT NULL, added_ns INTEGER NOT NULL, "
        "PRIMARY KEY (a, b), CHECK (a < b)) WITHOUT ROWID",
    )
    _DAMAGED = (
        "it holds your not-duplicate marks, so imageprism stops rather than group images "
        "you marked apart: restore it from a backup, or save the pairs it still holds "
        "(`imageprism not-duplicates salvage OUT.json --file THIS`), move it aside (a new, "
        "empty one is then started) and import them (`imageprism not-duplicates import "
        "OUT.json`)"
    )
    _CHECK_INTEGRITY = True  # small, and never used damaged

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path)
        try:
            self._checked(self._db.read("SELECT a, b FROM pairs"))  # every pair, once
        except StoreFileError:
            self.close()
            raise

    def _checked(self, rows: list[tuple[object, ...]]) -> list[Pair]:
        """``rows`` of ``(a, b)`` as pairs, each checked as stored (two digests, a < b).

        Raises:
            StoreFileError: a row is not such a pair (names the file, says what to do).
        """
        pairs: list[Pair] = []
        for row in rows:
            a, b = row
            if not (
                isinstance(a, str)
                and isinstance(b, str)
                and _STORED_DIGEST.fullmatch(a)
                and _STORED_DIGEST.fullmatch(b)
                and a < b
            ):
                raise StoreFileError(
                    f"{self._KIND} {display_name(self.path)} is damaged: it holds the pair "
                    f"{display_name(repr(a))}, {display_name(repr(b))}, not two content "
                    f"digests; {self._DAMAGED}"
                )
            pairs.append((a, b))
        return pairs

    def add(self, digest_a: str, digest_b: str) -> bool:
        """Mark a pair; True if it was not marked before.

        Raises:
            ConfigError: a digest is malformed, or both are the same.
        """
        return self.add_many([(digest_a, digest_b)]) == 1

    def add_many(self, pairs: Iterable[tuple[str, str]]) -> int:
        """Mark every pair, in one transaction (all or none); returns how many were new.

        Raises:
            ConfigError: a digest is malformed, or a pair repeats one digest (nothing is added).
        """
        rows = list(dict.fromkeys(_pair(a, b) for a, b in pairs))
        now = time.time_ns()
        with self._db.write() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO pairs VALUES (?, ?, ?)", [(a, b, now) for a, b in rows]
            )
            return db.total_changes - before

    def add_images(self, image_a: ImageInput, image_b: ImageInput) -> Pair:
        """Mark two images (paths or any input ``prepare`` takes) by their content.

        Returns:
            Their digests, in the order given.

        Raises:
            ImageLoadError: an image cannot be loaded (names it).
            ConfigError: the two have the same content.
        """
        digests = (prepare(image_a).digest, prepare(image_b).digest)
        if digests[0] == digests[1]:
            raise ConfigError(
                f"{describe(image_a)} and {describe(image_b)} have the same content "
                f"({digests[0]}): identical files are always duplicates"
            )
        self.add(*digests)
        return digests

    def remove(self, digest_a: str, digest_b: str) -> bool:
        """Forget a pair (in either order); True if it was marked.

        Raises:
            ConfigError: a digest is malformed, or both are the same.
        """
        a, b = _pair(digest_a, digest_b)
        with self._db.write() as db:
            return db.execute("DELETE FROM pairs WHERE a = ? AND b = ?", (a, b)).rowcount == 1

    def contains(self, digest_a: str, digest_b: str) -> bool:
        """Whether the pair (in either order) is marked; False for malformed or equal digests."""
        try:
            a, b = _pair(digest_a, digest_b)
        except ConfigError:
            return False
        rows = self._db.read("SELECT a, b FROM pairs WHERE a = ? AND b = ?", (a, b))
        return bool(self._checked(rows))

    def __contains__(self, pair: object) -> bool:
        if not isinstance(pair, tuple) or len(pair) != 2:
            return False
        return self.contains(*pair)

    def pairs(self) -> list[Pair]:
        """Every marked pair, each with its smaller digest first, sorted."""
        return self._checked(self._db.read("SELECT a, b FROM pairs ORDER BY a, b"))

    def pairs_among(self, digests: Sequence[str | None]) -> set[tuple[int, int]]:
        """Index pairs ``(i, j)``, ``i < j``, of ``digests`` whose digests are marked.

        None entries (inputs that failed) are skipped; an input whose digest
        appears several times gives a pair for each of its positions.

        Raises:
            StoreFileError: the file cannot be read, or a pair read is damaged.
        """
        positions: dict[str, list[int]] = {}
        for index, digest in enumerate(digests):
            if digest is not None:
                positions.setdefault(digest.lower(), []).append(index)
        found: set[tuple[int, int]] = set()
        if len(positions) < 2:
            return found
        rows = self._db.read_in("SELECT a, b FROM pairs WHERE a IN ({marks})", list(positions))
        for a, b in self._checked(rows):  # a < b: each marked pair is found once, through a
            for i in positions[a]:
                for j in positions.get(b, ()):
                    found.add((i, j) if i < j else (j, i))
        return found

    def __len__(self) -> int:
        """How many pairs are marked."""
        return int(self._db.read("SELECT count(*) FROM pairs")[0][0])

    def to_json(self) -> dict[str, Any]:
        """Every pair, in the exported format (``{"format": ..., "pairs": [[a, b], ...]}``)."""
        return {"format": FORMAT, "pairs": [list(pair) for pair in self.pairs()]}

    def export_json(self, path: str | os.PathLike[str]) -> Path:
        """Write ``to_json()`` to ``path`` atomically; returns the path.

        Raises:
            OSError: the folder does not exist or cannot be written.
        """
        text = json.dumps(self.to_json(), indent=1) + "\n"
        return atomic_write(Path(path), lambda temporary: temporary.write_text(text))

    def import_json(self, path: str | os.PathLike[str]) -> int:
        """Mark every pair of an exported file (e.g. the HTML report's); returns how many are new.

        The whole file is checked first: a bad file adds nothing.

        Raises:
            ConfigError: the file cannot be read, is not JSON, is not in the
                ``imageprism-not-duplicates/1`` format, or holds a bad pair (the
                message names the file and the pair).
        """
        return self.add_many(read_marks(path))


def salvage(path: str | os.PathLike[str]) -> tuple[list[Pair], int]:
    """The well-formed pairs a (damaged) marks file still holds, read as best SQLite can.

    Nothing is checked but the pairs themselves (two digests, the smaller first): the
    file is read from both ends, so rows before and after a damaged page are found.

    Returns:
        The pairs (sorted, each once) and how many rows were read but are not pairs.

    Raises:
        StoreFileError: the file cannot be opened as SQLite, or holds no ``pairs`` table.
    """
    import sqlite3

    where = Path(path).expanduser()
    if not where.is_file():
        raise StoreFileError(f"not-duplicates file {display_name(where)} is not a file")
    uri = where.resolve().as_uri()
    found: set[Pair] = set()
    bad: set[tuple[str, str]] = set()
    scans = (
        "SELECT a, b FROM pairs ORDER BY a, b",
        "SELECT a, b FROM pairs ORDER BY a DESC, b DESC",
    )
    for options in ("?mode=ro", "?immutable=1"):  # the second when nothing may be written
        db = sqlite3.connect(uri + options, uri=True)
        db.text_factory = lambda data: data.decode("utf-8", "surrogateescape")
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            break
        except sqlite3.Error as err:
            db.close()
            problem = err
    else:
        raise StoreFileError(
            f"cannot read not-duplicates file {display_name(where)} as SQLite: {problem}"
        ) from problem
    try:
        for scan in scans:
            try:
                cursor = db.execute(scan)
                while (row := cursor.fetchone()) is not None:
                    a, b = row
                    if (
                        isinstance(a, str)
                        and isinstance(b, str)
                        and _STORED_DIGEST.fullmatch(a)
                        and _STORED_DIGEST.fullmatch(b)
                        and a < b
                    ):
                        found.add((a, b))
                    else:
                        bad.add((repr(a), repr(b)))
            except sqlite3.OperationalError as err:
                if "no such table" in str(err):
                    raise StoreFileError(
                        f"{display_name(where)} holds no not-duplicate marks (no pairs table)"
                    ) from err
            except (sqlite3.DatabaseError, MemoryError):
                continue  # a damaged page: the other scan reads what lies beyond it
    finally:
        db.close()
    return sorted(found), len(bad)


def read_marks(path: str | os.PathLike[str]) -> list[Pair]:
    """The pairs of an exported marks file, checked (each with its smaller digest first).

    Raises:
        ConfigError: as ``NotDuplicates.import_json``.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"cannot read marks file {path}: {err.strerror or err}") from err
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"marks file {path} is not JSON: {err}") from err
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ConfigError(f"marks file {path} has format {found!r}, expected {FORMAT!r}")
    items = data.get("pairs")
    if not isinstance(items, list):
        raise ConfigError(f"marks file {path}: 'pairs' must be a list of [digest, digest] pairs")
    pairs = []
    for number, item in enumerate(items):
        if not (
            isinstance(item, list) and len(item) == 2 and all(isinstance(d, str) for d in item)
        ):
            raise ConfigError(
                f"marks file {path}: pairs[{number}] must be two digests, got {item!r}"
            )
        try:
            pairs.append(_pair(*item))
        except ConfigError as err:
            raise ConfigError(f"marks file {path}: pairs[{number}]: {err}") from err
    return pairs
