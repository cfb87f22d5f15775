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


def atomic_write(target: Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(temporary_path)``, then rename it over ``target``.

    A crash or error part way leaves any previous ``target`` untouched and no
    temporary file behind. The file gets the usual permissions (0666 less the
    umask), not ``mkstemp``'s 0600.

    Raises:
        OSError: the folder does not exist or cannot be written.
    """
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(handle)
    try:
        write(Path(temp))
        os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
    return target
