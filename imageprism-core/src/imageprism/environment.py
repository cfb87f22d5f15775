"""Every environment variable imageprism reads, each a documented constant."""

import os
import sys
from pathlib import Path

DISABLE_PLUGINS = "IMAGEPRISM_DISABLE_PLUGINS"
"""Comma-separated entry-point names of plugins not to load (e.g. ``models,face``)."""

TRACE_HOOKS = "IMAGEPRISM_TRACE_HOOKS"
"""Set to 1 to print every plugin hook call to standard error."""

CACHE_DIR = "IMAGEPRISM_CACHE_DIR"
"""A Hugging Face-style cache folder for model files, searched before (and
downloaded into instead of) the Hugging Face cache."""

CONFIG_DIR = "IMAGEPRISM_CONFIG_DIR"
"""A folder for imageprism's own settings, used instead of the user config folder
(``~/.config/imageprism`` on Linux); saved calibrations go in its ``calibrations`` folder,
and the key that signs undo manifests is its ``undo.key``."""

HF_HUB_OFFLINE = "HF_HUB_OFFLINE"
"""Hugging Face's own switch, honoured by imageprism: set to 1 and no model file
is ever downloaded; a file missing from the caches is an error saying how to
bring it onto the machine."""

BATCH_MEMORY = "IMAGEPRISM_BATCH_MEMORY"
"""The memory budget of one batch of ``embed_many``, ``dedup`` and ``index``, used
when ``ImagePrism(batch_memory=...)`` is not given: a number of bytes, or with a
suffix ``K``, ``M`` or ``G`` (KiB, MiB, GiB), e.g. ``1G``. Default ``512M``. A batch
is cut so that the images in flight (their encoded bytes and a full decode each)
stay within it; an image larger than the budget is embedded alone."""

PROVIDERS = "IMAGEPRISM_PROVIDERS"
"""Comma-separated ONNX Runtime execution providers for every model whose config does
not set ``providers=``, in order of preference: short names (``cuda``, ``tensorrt``,
``rocm``, ``coreml``, ``directml``, ``openvino``, ...) or full ones
(``CUDAExecutionProvider``). The CPU is always appended as the fallback. A provider
that is not installed is an error that names it and those available."""

PLUGINS = "IMAGEPRISM_PLUGINS"
"""Comma-separated entry-point names of the only plugins to load (an allow-list, e.g.
``face,semantic,instance,style``); every other installed plugin shows as "not allowed" in
``imageprism plugins``. Core's own entry points (``hash``, ``profiles``) always load and
need not be named. Set but empty, only core loads; unset, every installed plugin loads.
A name that matches no installed plugin is warned about. ``IMAGEPRISM_DISABLE_PLUGINS``
still applies to the plugins it allows."""


def config_dir() -> Path:
    """imageprism's settings folder: ``$IMAGEPRISM_CONFIG_DIR``, else the user's own.

    The user's is ``%APPDATA%\\imageprism`` on Windows, ``~/Library/Application
    Support/imageprism`` on macOS and ``$XDG_CONFIG_HOME/imageprism`` (default
    ``~/.config/imageprism``) elsewhere.
    """
    own = os.environ.get(CONFIG_DIR)
    if own:
        return Path(own).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "imageprism"
