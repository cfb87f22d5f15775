"""Every environment variable imageprism reads, each a documented constant."""

DISABLE_PLUGINS = "IMAGEPRISM_DISABLE_PLUGINS"
"""Comma-separated entry-point names of plugins not to load (e.g. ``models,face``)."""

TRACE_HOOKS = "IMAGEPRISM_TRACE_HOOKS"
"""Set to 1 to print every plugin hook call to standard error."""
