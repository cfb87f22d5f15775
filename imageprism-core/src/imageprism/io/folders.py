"""Finding the image files in folders: a recursive walk that sniffs file contents.

``find_images`` turns the paths a user gives (files and folders) into a list of
image files to process and a list of what had to be skipped, with reasons:

- A path given explicitly as a regular file is always returned, image or not:
  the loader reports it if it cannot be decoded. A given path that does not
  exist or cannot be listed is skipped with its reason, and so is a given path
  that is not a regular file or a folder (a FIFO, a socket, a device such as
  ``/dev/zero``): ``"not a regular file (FIFO)"``. Such a file is never opened,
  so a FIFO cannot hang the run and a device cannot feed it endless bytes.
- Folders are searched recursively. The names of each folder are sorted (by
  code point) and its subfolders are expanded in place, so the order is the
  same on every run and every platform. Results keep the order of the given
  paths, each folder expanded where it was given.
- Inside folders, a file is an image when its first bytes are those of an image
  format (JPEG, PNG, GIF, BMP, TIFF, WebP, ICO, PNM, HEIC/HEIF/AVIF, JPEG 2000),
  whatever its name. A file whose extension is an image extension is returned
  even when its contents do not match (the loader then reports it instead of it
  being dropped silently); TGA, which has no signature, is found by extension
  only. Other files, and special files (FIFOs, sockets, devices), are ignored
  without being opened.
- At most 32 bytes are read from each regular file, opened without blocking
  (``O_NONBLOCK``) and checked again once open (``fstat``), so a file swapped
  for a FIFO or a device between the listing and the read is ignored too. A
  file that cannot be read for this (permission denied, broken symbolic link,
  ...) is skipped with its reason.
- Hidden files and folders (name starting with ``.``) are left out unless
  ``include_hidden`` is true. Paths given explicitly are never hidden.
- Links stay inside the roots. The roots are the paths the user gave, each
  resolved (``os.path.realpath``): a given path is the user's own, even when it
  is itself a symbolic link to somewhere else. A symbolic link found inside a
  given folder, to a file or to a folder, is followed only when its resolved
  target lies inside one of the roots; a link leading out (``lib/ext ->
  ../outside``) is skipped with the reason ``"link leads outside the library:
  <target>"``, so a file written into a library cannot pull files from
  elsewhere into a run that may move or delete them. Each folder (by device
  and inode) is searched at most once per call, so a link back to an ancestor
  ends the walk rather than looping, and a folder reached twice (given twice,
  or through a second link) adds nothing the second time; that is not an error.
  Files are not de-duplicated: a file link beside its target is returned under
  both names, as they are two paths the user has.
- The walk describes the tree as it was when listed: whoever acts on the files
  later (moving, deleting) checks them again at that time.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

__all__ = ["IMAGE_EXTENSIONS", "Skipped", "find_images", "special_file_kind"]

IMAGE_EXTENSIONS = frozenset(
    {
        ".jpg", ".jpeg", ".jpe", ".jfif",
        ".png", ".apng",
        ".gif",
        ".bmp", ".dib",
        ".tif", ".tiff",
        ".webp",
        ".ico",
        ".ppm", ".pgm", ".pbm", ".pnm", ".pam",
        ".heic", ".heif", ".hif", ".avif",
        ".jp2", ".j2k", ".j2c", ".jpf", ".jpx",
        ".tga",
    }
)  # fmt: skip
"""Lower-case extensions (with the dot) of files returned whatever their contents."""

_SNIFF_BYTES = 32
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO swapped in after the check must not block
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
# A name that was no symbolic link when listed is opened without following one, so a
# link swapped in after the check cannot lead the sniff out of the roots.
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

_KINDS = (
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
)

_REASONS = {
    errno.ENOENT: "no such file or directory",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOTDIR: "not a directory",
    errno.ELOOP: "too many levels of symbolic links",
    errno.ENAMETOOLONG: "file name too long",
}

# BITMAPINFOHEADER sizes: OS/2 1.x, OS/2 2.x (16 to 64), Windows v1 to v5.
_BMP_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})
_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}
)
_PNM_WHITESPACE = b" \t\n\r\v\f"


@dataclass(frozen=True)
class Skipped:
    """A path that was not processed, and why (for example ``"permission denied"``)."""

    path: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        """``{"path": ..., "reason": ...}``, for JSON output."""
        return asdict(self)


def find_images(
    paths: Sequence[str | os.PathLike[str]], *, include_hidden: bool = False
) -> tuple[list[str], list[Skipped]]:
    """Image files in ``paths`` (files as given, folders searched recursively), and the skipped.

    See the module documentation for the rules. Never raises for a bad path:
    every problem becomes a ``Skipped`` entry and the other paths are searched.

    Returns:
        The image paths, in the order of ``paths`` with each folder expanded in
        place (sorted, depth first), and the skipped paths in the order met.
    """
    found: list[str] = []
    skipped: list[Skipped] = []
    visited: set[object] = set()
    given: list[tuple[str, os.stat_result | str]] = []  # the status, or why there is none
    for raw in paths:
        path = os.fsdecode(raw)
        try:
            given.append((path, os.stat(path)))
        except OSError as exc:
            given.append((path, _reason(path, exc)))
        except ValueError:  # a NUL byte: no file can have this name
            given.append((path, "no such file or directory (the name holds a NUL byte)"))
    # Every given path that exists is a root, so a link in one may lead into another.
    roots = tuple({_root(path) for path, info in given if isinstance(info, os.stat_result)})
    for path, info in given:
        if isinstance(info, str):
            skipped.append(Skipped(path, info))
        elif stat.S_ISDIR(info.st_mode):
            _walk(path, info, _Walk(include_hidden, roots, visited, found, skipped))
        elif stat.S_ISREG(info.st_mode):
            found.append(path)
        else:
            skipped.append(Skipped(path, f"not a regular file ({special_file_kind(info.st_mode)})"))
    return found, skipped


@dataclass(frozen=True)
class _Walk:
    """What one ``find_images`` call shares between the folders it searches."""

    include_hidden: bool
    roots: tuple[str, ...]
    visited: set[object]
    found: list[str]
    skipped: list[Skipped]


def _root(path: str) -> str:
    """The resolved ``path``, ending in a separator so only what lies under it starts with it."""
    resolved = os.path.realpath(path)
    return resolved if resolved.endswith(os.sep) else resolved + os.sep


def _inside(target: str, roots: tuple[str, ...]) -> bool:
    """Whether the resolved ``target`` is one of ``roots`` or lies under one."""
    return any((target + os.sep).startswith(root) for root in roots)


def special_file_kind(mode: int) -> str:
    """What kind of special file an ``st_mode`` describes, e.g. ``"FIFO"``."""
    return next((name for test, name in _KINDS if test(mode)), "special file")


def _walk(top: str, info: os.stat_result, walk: _Walk) -> None:
    """Search the folder ``top`` depth first, without recursion (deep trees are fine)."""
    if not _first_visit(top, info, walk.visited):
        return
    stack: list[Iterator[os.DirEntry[str]]] = []
    entries = _list(top, walk.skipped)
    if entries is not None:
        stack.append(iter(entries))
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        if not walk.include_hidden and entry.name.startswith("."):
            continue
        path = entry.path
        try:
            link = entry.is_symlink()
            info = entry.stat()  # follows symbolic links
        except OSError as exc:
            walk.skipped.append(Skipped(path, _reason(path, exc)))
            continue
        if link:
            target = os.path.realpath(path)
            if not _inside(target, walk.roots):
                walk.skipped.append(Skipped(path, f"link leads outside the library: {target}"))
                continue
        if stat.S_ISDIR(info.st_mode):
            if _first_visit(path, info, walk.visited):
                entries = _list(path, walk.skipped)
                if entries is not None:
                    stack.append(iter(entries))
        elif stat.S_ISREG(info.st_mode):
            try:
                head = _read_head(path, follow=link)
            except OSError as exc:
                walk.skipped.append(Skipped(path, _reason(path, exc)))
                continue
            if head is None:  # no longer a regular file: swapped since it was listed
                continue
            if _sniff(head) or os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS:
                walk.found.append(path)


def _first_visit(path: str, info: os.stat_result, visited: set[object]) -> bool:
    """Record the folder; false when it was already searched in this call."""
    # st_ino is 0 on file systems without inode numbers: fall back to the real path.
    key: object = (info.st_dev, info.st_ino) if info.st_ino else os.path.realpath(path)
    if key in visited:
        return False
    visited.add(key)
    return True


def _list(folder: str, skipped: list[Skipped]) -> list[os.DirEntry[str]] | None:
    """The entries of ``folder`` sorted by name; None (and a Skipped) when it cannot be listed."""
    try:
        with os.scandir(folder) as scan:
            return sorted(scan, key=lambda entry: entry.name)
    except OSError as exc:
        skipped.append(Skipped(folder, _reason(folder, exc)))
        return None


def _read_head(path: str, *, follow: bool) -> bytes | None:
    """The first ``_SNIFF_BYTES`` bytes of the file (fewer when it is shorter).

    None when what opens is not a regular file. Without ``follow``, a symbolic link
    at ``path`` is not followed (the open fails).
    """
    handle = os.open(path, _OPEN_FLAGS | (0 if follow else _NOFOLLOW))
    try:
        if not stat.S_ISREG(os.fstat(handle).st_mode):
            return None
        head = b""
        while len(head) < _SNIFF_BYTES:
            chunk = os.read(handle, _SNIFF_BYTES - len(head))
            if not chunk:
                break
            head += chunk
        return head
    finally:
        os.close(handle)


def _reason(path: str, exc: OSError) -> str:
    """A short lower-case reason for ``exc``, naming broken symbolic links as such."""
    if exc.errno == errno.ENOENT and os.path.islink(path):
        return "broken symbolic link"
    if exc.errno in _REASONS:
        return _REASONS[exc.errno]
    text = exc.strerror or str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]


def _sniff(head: bytes) -> bool:
    """Whether ``head`` (a file's first bytes) starts like an image format we load."""
    return (
        head.startswith(b"\xff\xd8\xff")  # JPEG
        or head.startswith(b"\x89PNG\r\n\x1a\n")
        or head.startswith((b"GIF87a", b"GIF89a"))
        or head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"))  # TIFF, BigTIFF
        or (head.startswith(b"RIFF") and head[8:12] == b"WEBP")
        or head.startswith(b"\x00\x00\x00\x0cjP  \r\n\x87\n")  # JPEG 2000 (JP2 box)
        or head.startswith(b"\xff\x4f\xff\x51")  # JPEG 2000 codestream
        or _is_bmp(head)
        or _is_ico(head)
        or _is_pnm(head)
        or _is_heif(head)
    )


def _is_bmp(head: bytes) -> bool:
    # "BM" alone is too weak: also require a known info-header size after the file header.
    return (
        head.startswith(b"BM")
        and len(head) >= 18
        and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES
    )


def _is_ico(head: bytes) -> bool:
    # Reserved 0, type 1, at least one image, and a first entry with 0 or 1 colour planes.
    return (
        head.startswith(b"\x00\x00\x01\x00")
        and len(head) >= 12
        and int.from_bytes(head[4:6], "little") > 0
        and int.from_bytes(head[10:12], "little") <= 1
    )


def _is_pnm(head: bytes) -> bool:
    """P1 to P7, whitespace, then (after any comments) a number: not just any "P1 " text."""
    if len(head) < 3 or head[0] != ord("P") or head[1] not in b"1234567":
        return False
    if head[2] not in _PNM_WHITESPACE:
        return False
    in_comment = False
    for byte in head[3:]:
        if in_comment:
            in_comment = byte not in b"\r\n"
        elif byte == ord("#"):
            in_comment = True
        elif byte not in _PNM_WHITESPACE:
            # A plain PNM header goes on with the width; a PAM one (P7) with a WIDTH line etc.
            return byte in b"0123456789" or (head[1] == ord("7") and byte in b"WHDMT")
    return True  # the 32 bytes ended in whitespace or a comment


def _is_heif(head: bytes) -> bool:
    """An ISO BMFF ``ftyp`` box whose major or a compatible brand is a HEIF/AVIF brand."""
    if len(head) < 12 or head[4:8] != b"ftyp":
        return False
    if head[8:12] in _HEIF_BRANDS:
        return True
    end = min(len(head), int.from_bytes(head[:4], "big"))
    return any(head[i : i + 4] in _HEIF_BRANDS for i in range(16, end - 3, 4))
