"""Importing an optional dependency, or failing with what to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from imageprism.errors import ImagePrismError


def require(module: str, hint: str, error: type[ImagePrismError] = ImagePrismError) -> ModuleType:
    """``module`` imported, or ``error`` saying ``hint`` (what to install) and why it failed.

    The import error's own text is kept in the message: a package that is
    installed but broken should not read as "not installed".
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise error(f"{hint} ({type(err).__name__}: {err})") from err
