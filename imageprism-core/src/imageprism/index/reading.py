"""Bounded reading of saved index and embeddings files: they are untrusted input.

An index file (``.prism``) and an ``.npz`` embeddings file are zip archives of a JSON
manifest, the ids and NumPy ``.npy`` arrays. Nothing is extracted to disk; each member
is read into memory only after its declared size, its ``.npy`` header (dtype and shape)
and the manifest's item count have been checked, so a zip bomb, a header declaring an
absurd shape, an object (pickle) dtype or a deeply nested JSON document is refused
with an ``IndexFileError`` before it costs memory. The limits are the constants below.
"""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Callable
from typing import IO, Any

import numpy as np

from imageprism.errors import ImagePrismError
from imageprism.index.manifest import IndexFileError
from imageprism.io.names import display_name

__all__ = [
    "MAX_EMBEDDING_LENGTH",
    "MAX_ITEMS",
    "MAX_JSON_DEPTH",
    "MAX_MANIFEST_BYTES",
    "MAX_MEMBERS",
    "MAX_MEMBER_BYTES",
    "ArrayCheck",
    "check_json_depth",
    "open_archive",
    "parse_json",
    "read_member",
    "read_npy",
]

MAX_MEMBERS = 1024
"""Most members a zip archive (an index or an ``.npz`` embeddings file) may hold."""

MAX_MEMBER_BYTES = 4 * 1024**3
"""Most bytes one member may hold uncompressed (declared or actual): 4 GiB, e.g. one
million 1024-float embeddings."""

MAX_MANIFEST_BYTES = 1024**2
"""Most bytes of the JSON manifest (1 MiB; a real one is a few KiB)."""

MAX_JSON_DEPTH = 32
"""Deepest nesting of lists and objects in a manifest or ids document."""

MAX_ITEMS = 50_000_000
"""Most images one index or embeddings file may hold."""

MAX_EMBEDDING_LENGTH = 1 << 20
"""Most values in one embedding (a row of a dimension's matrix)."""

_MAX_NPY_HEADER = 10_000

ArrayCheck = Callable[[np.dtype[Any], tuple[int, ...]], str | None]
"""Checks a ``.npy`` member's dtype and shape before its data is read: a problem or None."""


def _name(path: object) -> str:
    return display_name(str(path))


def open_archive(path: object) -> zipfile.ZipFile:
    """The zip archive at ``path``, with a bounded number of members.

    Raises:
        IndexFileError: the file is not a zip archive or holds too many members.
        OSError: the file cannot be opened.
    """
    try:
        archive = zipfile.ZipFile(str(path))
    except zipfile.BadZipFile as err:
        raise IndexFileError(
            f"cannot read {_name(path)}: not a zip archive ({err}); "
            "it is truncated, damaged or not written by imageprism"
        ) from err
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        archive.close()
        raise IndexFileError(
            f"cannot read {_name(path)}: {len(members)} zip members, more than the "
            f"{MAX_MEMBERS} an imageprism file may hold"
        )
    names = [info.filename for info in members]
    if len(set(names)) != len(names):
        archive.close()
        raise IndexFileError(f"cannot read {_name(path)}: a zip member name appears twice")
    return archive


def _member(archive: zipfile.ZipFile, name: str, path: object, limit: int) -> zipfile.ZipInfo:
    try:
        info = archive.getinfo(name)
    except KeyError as err:
        raise IndexFileError(
            f"cannot read {_name(path)}: member {name!r} is missing; "
            "the file is damaged or not written by imageprism"
        ) from err
    if info.file_size > limit:
        raise IndexFileError(
            f"cannot read {_name(path)}: member {name!r} declares {info.file_size} bytes "
            f"uncompressed, more than the limit of {limit}"
        )
    if info.flag_bits & 0x1:
        raise IndexFileError(f"cannot read {_name(path)}: member {name!r} is encrypted")
    return info


def _read_exactly(handle: IO[bytes], size: int, name: str, path: object) -> bytes:
    data = handle.read(size)
    if len(data) != size:
        raise IndexFileError(f"cannot read {_name(path)}: member {name!r} is truncated")
    return data


def _read_to_end(handle: IO[bytes], name: str, path: object) -> None:
    """Read past the expected data: the archive checks the member's size and CRC at its end."""
    if handle.read(1):
        raise IndexFileError(
            f"cannot read {_name(path)}: member {name!r} holds more data than its header declares"
        )


def read_member(archive: zipfile.ZipFile, name: str, path: object, limit: int) -> bytes:
    """The bytes of member ``name``, refused when over ``limit`` (declared or actual).

    Raises:
        IndexFileError: the member is missing, too large or damaged.
    """
    info = _member(archive, name, path, limit)
    with archive.open(info) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:  # pragma: no cover - zipfile stops at the declared size
        raise IndexFileError(
            f"cannot read {_name(path)}: member {name!r} is larger than the limit of {limit} bytes"
        )
    return data


def _valid_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, e.g. from a "\udcff" escape
        return False
    return True


def check_json_depth(value: Any, what: str, path: object, *, text: bool = False) -> None:
    """Refuse lists and objects nested deeper than ``MAX_JSON_DEPTH`` (and, with ``text``,
    strings that are not valid Unicode: lone surrogates)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if text and isinstance(item, str) and not _valid_text(item):
            raise IndexFileError(
                f"cannot read {_name(path)}: its {what} holds text that is not valid Unicode"
            )
        if isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise IndexFileError(
                    f"cannot read {_name(path)}: its {what} nests deeper than "
                    f"{MAX_JSON_DEPTH} levels"
                )
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def parse_json(data: bytes | str, what: str, path: object, *, text: bool = False) -> Any:
    """JSON from an untrusted file, with its nesting bounded.

    Args:
        data: The document.
        what: What it is, for messages (``"manifest"``).
        path: The file, for messages.
        text: Also refuse strings that are not valid Unicode (lone surrogates), which
            settings never hold (ids may: undecodable file names).

    Raises:
        IndexFileError: it is not valid JSON (or not UTF-8), or nests too deep.
    """
    try:
        value = json.loads(data)
    except RecursionError as err:
        raise IndexFileError(
            f"cannot read {_name(path)}: its {what} nests deeper than {MAX_JSON_DEPTH} levels"
        ) from err
    except (ValueError, TypeError) as err:
        raise IndexFileError(f"cannot read {_name(path)}: its {what} is not JSON ({err})") from err
    check_json_depth(value, what, path, text=text)
    return value


def read_npy(archive: zipfile.ZipFile, name: str, path: object, check: ArrayCheck) -> np.ndarray:
    """The array in ``.npy`` member ``name``, read only once ``check`` accepts its header.

    Object dtypes (pickles) and Fortran-ordered arrays are refused; the data must be
    exactly as long as the header's shape and dtype say. The array is read-only.

    Raises:
        IndexFileError: the member is missing, damaged, or its header is refused.
    """
    info = _member(archive, name, path, MAX_MEMBER_BYTES)
    with archive.open(info) as handle:
        try:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                header = np.lib.format.read_array_header_1_0(
                    handle, max_header_size=_MAX_NPY_HEADER
                )
            elif version in ((2, 0), (3, 0)):
                header = np.lib.format.read_array_header_2_0(
                    handle, max_header_size=_MAX_NPY_HEADER
                )
            else:
                raise ValueError(f"unsupported .npy version {version}")
        except Exception as err:  # numpy's header parser raises many kinds on junk
            if isinstance(err, ImagePrismError):
                raise
            raise IndexFileError(
                f"cannot read {_name(path)}: member {name!r} is not a valid .npy array ({err})"
            ) from err
        shape, fortran_order, dtype = header
        problem: str | None = None
        if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
            problem = f"dtype {dtype} is not allowed (objects and records could hide pickles)"
        elif fortran_order:
            problem = "Fortran-ordered arrays are not written by imageprism"
        elif not dtype.isnative or dtype.itemsize == 0:
            problem = f"dtype {dtype} is not written by imageprism"
        else:
            problem = check(dtype, tuple(shape))
        if problem is not None:
            raise IndexFileError(f"cannot read {_name(path)}: member {name!r}: {problem}")
        size = math.prod(shape) * dtype.itemsize
        if size > MAX_MEMBER_BYTES:
            raise IndexFileError(
                f"cannot read {_name(path)}: member {name!r} declares shape {shape} of {dtype}, "
                f"{size} bytes, more than the limit of {MAX_MEMBER_BYTES}"
            )
        data = _read_exactly(handle, size, name, path)
        _read_to_end(handle, name, path)
    if dtype.kind == "U" and size and int(np.frombuffer(data, np.uint32).max()) > 0x10FFFF:
        # NumPy would make Python strings of these invalid characters, which crash later
        raise IndexFileError(
            f"cannot read {_name(path)}: member {name!r} holds characters beyond Unicode"
        )
    return np.frombuffer(data, dtype=dtype).reshape(shape)
