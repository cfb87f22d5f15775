"""The ``imageprism`` command line: compare, embed, dedup, index, search, models, doctor,
not-duplicates, undo, presets, calibrate, plugins, plugin new.

``main`` parses the arguments and runs one command. Each command (or command group) is a
module of this package with ``add_parser`` and ``run`` (one ``run_*`` per action of a
group); what they share is in ``_common``; ``doctor`` also holds the installation checks.
Exit codes: 0 success, 1 some inputs could not be used, 2 bad usage or configuration.
"""

from imageprism.cli._main import main

__all__ = ["main"]
