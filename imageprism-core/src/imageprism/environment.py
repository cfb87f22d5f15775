"""Every environment variable imageprism reads, each a documented constant."""

DISABLE_PLUGINS = "IMAGEPRISM_DISABLE_PLUGINS"
"""Comma-separated entry-point names of plugins not to load (e.g. ``models,face``)."""

TRACE_HOOKS = "IMAGEPRISM_TRACE_HOOKS"
"""Set to 1 to print every plugin hook call to standard error."""

CACHE_DIR = "IMAGEPRISM_CACHE_DIR"
"""A Hugging Face-style cache folder for model files, searched before (and
downloaded into instead of) the Hugging Face cache."""

CONFIG_DIR = "IMAGEPRISM_CONFIG_DIR"
"""A folder for imageprism's own settings, used instead of the user config folder
(``~/.config/imageprism`` on Linux); saved calibrations go in its ``calibrations`` folder."""

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
