"""Writing files atomically: a temporary file beside the target, then a rename."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path


def _create_beside(target: Path) -> str:
    """A new empty temporary file beside ``target``, created exclusively.

    Its mode is 0666 less the umask, applied by the kernel: reading the umask would
    mean setting it for a moment, when another thread could create a file open to all.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        temp = target.parent / f".{target.name}.{secrets.token_hex(6)}.part"
        try:
            os.close(os.open(temp, flags, 0o666))
        except FileExistsError:
            continue  # 2**48 names: taken only by chance or by a planted file
        return str(temp)


def _ours(filename: object, target: Path) -> bool:
    """Whether an error's file name is ``target``'s folder or temporary file (or none)."""
    if filename is None:
        return True
    name = Path(os.fsdecode(filename)) if isinstance(filename, str | bytes) else None
    return name is not None and (
        name == target.parent
        or (name.parent == target.parent and name.name.startswith(f".{target.name}."))
    )


def atomic_write(target: Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(temporary_path)``, then rename it over ``target``.

    A crash or error part way leaves any previous ``target`` untouched and no
    temporary file behind. The file gets the usual permissions (0666 less the
    umask), not ``mkstemp``'s 0600.

    Raises:
        OSError: the folder does not exist or cannot be written, or the disk is
            full; its ``filename`` is ``target`` (not the temporary file), so the
            message names the file the user asked for.
    """
    temp: str | None = None
    try:
        temp = _create_beside(target)
        write(Path(temp))
        os.replace(temp, target)
    except OSError as err:
        if err.errno is not None and _ours(err.filename, target):
            raise OSError(err.errno, err.strerror, str(target)) from err
        raise  # about another file (say, one ``write`` reads): its own name
    finally:
        if temp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
    return target
