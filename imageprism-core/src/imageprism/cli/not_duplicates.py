"""``imageprism not-duplicates add|remove|import|list|salvage``: the marks file of image pairs
that are not duplicates, so ``dedup`` never groups them. Pairs are kept by content digest:
``add`` and ``remove`` take two image files (or digests), ``import`` reads the HTML report's
export, ``list`` prints every pair (``--json``: the export format ``import`` reads back), and
``salvage`` saves the pairs a damaged marks file still holds in that format.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from imageprism.cli._common import EXIT_OK, UsageError, add_json_option, print_json
from imageprism.io.names import display_name

_MARK_STATES = {
    ("add", True): "marked as not duplicates",
    ("add", False): "already marked as not duplicates",
    ("remove", True): "removed the mark",
    ("remove", False): "no mark to remove",
}


def _add_action(
    marks_sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    text: str,
    run: Callable[[argparse.Namespace], int],
    *positionals: tuple[str, str],
) -> None:
    """One ``not-duplicates`` action: its positionals (name, help), ``--file`` and ``--json``."""
    p = marks_sub.add_parser(name, help=text)
    for positional, help_text in positionals:
        p.add_argument(positional, help=help_text)
    p.add_argument(
        "--file",
        help="the marks file (default: $XDG_DATA_HOME/imageprism/not-duplicates.sqlite, "
        "XDG_DATA_HOME defaulting to ~/.local/share)",
    )
    add_json_option(p)
    p.set_defaults(run=run)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``not-duplicates`` command group (``add``, ``remove``, ``import``, ``list``,
    ``salvage``) to the subcommands ``sub``."""
    marks = sub.add_parser(
        "not-duplicates",
        help="remember pairs of images that are not duplicates, so dedup never groups them",
    )
    marks_sub = marks.add_subparsers(dest="marks_command", required=True, metavar="ACTION")
    pair = (
        ("a", "an image file, or a content digest"),
        ("b", "the other image file, or content digest"),
    )
    for action, verb in (
        ("add", "mark two images as not duplicates"),
        ("remove", "forget the mark of two images"),
    ):
        _add_action(marks_sub, action, verb + " (image files, or content digests)", run_pair, *pair)
    _add_action(
        marks_sub,
        "import",
        "add the marks of a JSON file (the HTML report's export)",
        run_import,
        ("marks", "a file in the imageprism-not-duplicates/1 format"),
    )
    _add_action(marks_sub, "list", "print every marked pair of digests (--json: export)", run_list)
    _add_action(
        marks_sub,
        "salvage",
        "save the pairs a damaged marks file still holds, in the format import reads",
        run_salvage,
        ("out", "the JSON file to write (imageprism-not-duplicates/1)"),
    )


def _marks_path(args: argparse.Namespace) -> Path:
    """The marks file of a ``not-duplicates`` command: ``--file`` or the default one."""
    from imageprism.dedup.not_duplicates import default_path

    return Path(args.file or default_path()).expanduser()


def _marks(args: argparse.Namespace) -> Any:
    from imageprism.dedup.not_duplicates import NotDuplicates

    return NotDuplicates(_marks_path(args))


def _no_marks_file(args: argparse.Namespace) -> Path | None:
    """The marks file when it does not exist (reading it must not create it), else None."""
    path = _marks_path(args)
    return None if path.exists() else path


def _mark_digest(text: str) -> str:
    """The content digest of an image file, or ``text`` itself when it is a digest and no file."""
    from imageprism.dedup.not_duplicates import is_digest
    from imageprism.io.images import prepare

    if is_digest(text) and not Path(text).exists():
        return text.lower()  # e.g. to forget a mark of a file deleted since
    return prepare(text).digest


def _mark_pair(args: argparse.Namespace) -> tuple[str, str]:
    pair = (_mark_digest(args.a), _mark_digest(args.b))
    if pair[0] == pair[1]:
        raise UsageError(
            f"{args.a} and {args.b} have the same content ({pair[0]}): identical files are "
            "always duplicates"
        )
    return pair


def run_pair(args: argparse.Namespace) -> int:
    """``not-duplicates add`` or ``remove``: one pair; returns the exit code."""
    pair = _mark_pair(args)
    action = args.marks_command
    missing = _no_marks_file(args) if action == "remove" else None
    if missing is not None:
        if args.json:
            print_json({"removed": False, "pair": list(pair), "file": str(missing)})
        else:
            print(
                f"no mark to remove: {display_name(args.a)} and {display_name(args.b)} "
                f"({display_name(missing)} does not exist)"
            )
        return EXIT_OK
    with _marks(args) as marks:
        changed = (marks.add if action == "add" else marks.remove)(*pair)
        if args.json:
            key = "added" if action == "add" else "removed"
            print_json({key: changed, "pair": list(pair), "file": str(marks.path)})
        else:
            state = _MARK_STATES[action, changed]
            print(
                f"{state}: {display_name(args.a)} and {display_name(args.b)} "
                f"(in {display_name(marks.path)})"
            )
    return EXIT_OK


def run_import(args: argparse.Namespace) -> int:
    """``not-duplicates import``: add the pairs of ``args.marks``; returns the exit code."""
    from imageprism.dedup.not_duplicates import read_marks

    pairs = read_marks(args.marks)
    with _marks(args) as marks:
        added = marks.add_many(pairs)
        total = len(marks)
        if args.json:
            print_json(
                {"added": added, "in_file": len(pairs), "total": total, "file": str(marks.path)}
            )
        else:
            print(
                f"imported {added} new pairs from {display_name(args.marks)} "
                f"({len(pairs) - added} already marked); {total} pairs in "
                f"{display_name(marks.path)}"
            )
    return EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    """``not-duplicates list``: print every marked pair (no file: none); returns the exit
    code."""
    from imageprism.dedup.not_duplicates import FORMAT

    if _no_marks_file(args) is not None:
        if args.json:
            print_json({"format": FORMAT, "pairs": []})
        return EXIT_OK
    with _marks(args) as marks:
        if args.json:
            print_json(marks.to_json())  # the export format: `import` reads it back
        else:
            for a, b in marks.pairs():
                print(f"{a} {b}")
    return EXIT_OK


def run_salvage(args: argparse.Namespace) -> int:
    """``not-duplicates salvage``: write the pairs a (damaged) marks file still holds to
    ``args.out``; returns the exit code."""
    from imageprism.dedup.not_duplicates import FORMAT, salvage
    from imageprism.io.atomic import atomic_write

    source = _marks_path(args)
    out = Path(args.out)
    if out.resolve() == source.resolve():
        raise UsageError(
            f"{display_name(args.out)} is the marks file itself: give another file to write"
        )
    pairs, damaged = salvage(source)
    text = json.dumps({"format": FORMAT, "pairs": [list(pair) for pair in pairs]}, indent=1)
    atomic_write(out, lambda temporary: temporary.write_text(text + "\n"))
    if args.json:
        print_json({"saved": len(pairs), "damaged": damaged, "file": str(source), "out": str(out)})
    else:
        print(
            f"saved {len(pairs)} pairs from {display_name(source)} to {display_name(out)} "
            f"({damaged} damaged rows left out); to go on with them: move "
            f"{display_name(source)} aside, then run "
            f"imageprism not-duplicates import {display_name(out)}"
            + ("" if args.file is None else f" --file {display_name(source)}")
        )
    return EXIT_OK
