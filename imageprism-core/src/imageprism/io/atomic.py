"""Writing files atomically: a temporary file beside the target, then a rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
        handle, temp = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".part"
        )
        os.close(handle)
        write(Path(temp))
        os.chmod(temp, 0o666 & ~_umask())
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
