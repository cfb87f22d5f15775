"""Private helpers that planning, applying and undoing share: the manifest format
and its journal's name, the content digest and check of a file, the error of a
step that changed nothing, and the text of an ``OSError``.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

_FORMAT = "imageprism-undo"
_VERSION = 1


class _Untouched(Exception):
    """A step failed before changing anything: the file is at its original path."""


def _file_digest(path: str | os.PathLike[str]) -> str:
    # The digest of PreparedImage.digest for a file, so dedup results compare.
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, lambda: hashlib.blake2b(digest_size=16)).hexdigest()


def _matches(path: str, size: int | None, digest: str | None) -> bool:
    try:
        info = os.lstat(path)
        return stat.S_ISREG(info.st_mode) and info.st_size == size and _file_digest(path) == digest
    except OSError:
        return False


def _journal(manifest: Path) -> Path:
    return manifest.with_name(manifest.name + ".journal")


def _os_reason(err: OSError) -> str:
    where = f" ({err.filename})" if err.filename else ""
    return f"{err.strerror or err}{where}"
