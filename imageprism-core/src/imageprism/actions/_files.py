"""Private helpers that planning, applying and undoing share: the manifest format,
its name and journal, its MAC and the per-user key, the content digest and check of a
file, the check that a path stays inside the run's roots, the error of a step that
changed nothing, and the text of an ``OSError``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import stat
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imageprism import environment
from imageprism.io.names import display_name

_FORMAT = "imageprism-undo"
_VERSION = 2
_VERSIONS = (1, 2)  # 1: imageprism 0.2, no roots and no MAC (undone only with trust_roots)
_MAC_FIELD = "hmac_sha256"
_KEY_NAME = "undo.key"
_MANIFEST_PREFIX = "imageprism-undo"


class _Untouched(Exception):
    """A step failed before changing anything: the file is at its original path."""


class _Taken(_Untouched):
    """The destination exists (it is never overwritten); nothing was changed."""


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


def _unique_manifest_name() -> str:
    """``imageprism-undo-<UTC time>-<random>.json``: one per run, sorting by time."""
    now = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{_MANIFEST_PREFIX}-{now}-{secrets.token_hex(4)}.json"


def _os_reason(err: OSError) -> str:
    where = f" ({display_name(err.filename)})" if err.filename else ""
    return f"{err.strerror or err}{where}"


# --- the roots a run may touch ------------------------------------------------


def _inside(path: str, roots: Iterable[str]) -> bool:
    """Whether ``path`` is one of ``roots`` or below one (lexically, absolute paths)."""
    for root in roots:
        with contextlib.suppress(ValueError):  # another drive
            if os.path.commonpath([path, root]) == root:
                return True
    return False


def _really_inside(folder: str | os.PathLike[str], roots: Iterable[str]) -> bool:
    """Whether ``folder``, every link in it resolved, lies inside ``roots``."""
    return _inside(os.path.realpath(folder), roots)


def _plain_absolute(path: str) -> bool:
    """An absolute path with no ``.``/``..`` parts or doubled separators."""
    return os.path.isabs(path) and os.path.normpath(path) == path and "\0" not in path


# --- the per-user key and the manifest's MAC -----------------------------------


def _key_path() -> Path:
    return environment.config_dir() / _KEY_NAME


def _read_key(path: Path) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        text = handle.read(200).strip()
    try:
        key = bytes.fromhex(text.decode("ascii"))
    except ValueError:
        return None
    return key if len(key) >= 32 else None


def _key(*, create: bool) -> bytes | None:
    """The per-user secret that signs undo manifests; made (0600, exclusively) on first use.

    The key is written to a private temporary file, then hard-linked to its name, which
    fails when it exists: two first runs at once agree on one key, never a half-written one.
    """
    path = _key_path()
    key = _read_key(path)
    if key is not None or not create:
        return key
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    part = path.with_name(f".{_KEY_NAME}.{secrets.token_hex(8)}")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(part, path)
        except FileExistsError:
            pass  # another run made it first: use that one
        except OSError:  # no hard links here: an exclusive create instead
            with contextlib.suppress(FileExistsError):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w", encoding="ascii") as handle:
                    handle.write(part.read_text(encoding="ascii"))
    finally:
        with contextlib.suppress(OSError):
            os.unlink(part)
    key = _read_key(path)
    if key is None:
        raise OSError(f"cannot read the undo key {path} (it is not imageprism's)")
    return key


def _canonical(data: dict[str, Any]) -> bytes:
    content = {k: v for k, v in data.items() if k != _MAC_FIELD}
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _sign(data: dict[str, Any]) -> str:
    key = _key(create=True)
    assert key is not None
    return hmac.new(key, _canonical(data), hashlib.sha256).hexdigest()


def _verified(data: dict[str, Any]) -> bool:
    """Whether ``data`` carries a MAC made with this user's key over exactly its content."""
    mac = data.get(_MAC_FIELD)
    key = _key(create=False)
    if not isinstance(mac, str) or key is None:
        return False
    expected = hmac.new(key, _canonical(data), hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, expected)
