"""The ``imageprism`` command line: compare, embed, dedup, index, search, models, plugins, doctor.

``main`` parses the arguments and runs one command; ``doctor`` checks the
installation. Exit codes: 0 success, 1 some inputs could not be used, 2 bad
usage or configuration.
"""

from imageprism.cli.commands import main

__all__ = ["main"]
