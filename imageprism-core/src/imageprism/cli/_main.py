"""The ``imageprism`` entry point: ``main`` builds the argument parser from the command
modules, in the order ``imageprism --help`` lists them, runs the chosen command and turns
its errors into one-line messages and exit codes (0 ok; 1 some inputs could not be used;
2 bad usage or configuration). A reader that goes away (``imageprism presets | head``)
stops the output quietly. Error messages and warnings are printed with the names they
quote escaped (``imageprism.io.names``), on one line each (a warning without Python's
source line: ``imageprism: warning: ...``).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any, TextIO

from imageprism._version import __version__
from imageprism.cli import (
    calibrate,
    compare,
    dedup,
    doctor,
    embed,
    index,
    models,
    not_duplicates,
    plugin,
    plugins,
    presets,
    search,
    undo,
)
from imageprism.cli._common import EXIT_SOME_FAILED, EXIT_USAGE, UsageError
from imageprism.errors import ImageLoadError, ImagePrismError
from imageprism.io.names import display_name, display_text

#: The command modules, in the order ``imageprism --help`` lists their commands.
COMMANDS = (
    compare,
    embed,
    dedup,
    index,
    search,
    models,
    doctor,
    not_duplicates,
    undo,
    presets,
    calibrate,
    plugins,
    plugin,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imageprism",
        description="Compare images on several kinds of similarity at once.",
        epilog="Exit codes: 0 ok; 1 some inputs could not be used; 2 bad usage or configuration.",
    )
    parser.add_argument("--version", action="version", version=f"imageprism {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def _silence_stdout() -> None:
    """Point stdout at the null device, so flushing it at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (e.g. under a test)
        pass


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Print a warning as one line, without the source line Python would add."""
    print(f"imageprism: warning: {display_text(str(message))}", file=file or sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return _run(args)


def _run(args: Any) -> int:
    try:
        return int(args.run(args))
    except ImageLoadError as err:
        shown = f"cannot load image {display_name(err.source)}: {display_text(err.reason)}"
        print(f"imageprism: error: {shown}", file=sys.stderr)
        return EXIT_SOME_FAILED
    except (ImagePrismError, UsageError) as err:
        print(f"imageprism: error: {display_text(str(err))}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # the reader went away (`imageprism presets | head`): stop quietly
        _silence_stdout()
        return EXIT_SOME_FAILED
    except OSError as err:  # e.g. an output path in a missing folder, or a folder
        name = err.filename if isinstance(err.filename, bytes) else str(err.filename)
        where = f" {display_name(name)}" if err.filename else ""
        reason = display_text(err.strerror or str(err))
        print(f"imageprism: error: cannot write{where}: {reason}", file=sys.stderr)
        return EXIT_USAGE
