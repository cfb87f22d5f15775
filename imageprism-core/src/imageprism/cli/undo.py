"""``imageprism undo MANIFEST``: put back the files a ``dedup --action move`` or ``hardlink``
run changed, from the undo manifest it wrote; prints what was restored or already in place,
and exits 1 when some file could not be restored.
"""

from __future__ import annotations

import argparse
import sys

from imageprism.cli._common import EXIT_OK, EXIT_SOME_FAILED, add_json_option, print_json


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``undo`` command to the subcommands ``sub``."""
    p = sub.add_parser(
        "undo", help="put back the files a dedup --action run moved (from its undo manifest)"
    )
    p.add_argument("manifest", help="the undo manifest, e.g. DUPES/imageprism-undo.json")
    add_json_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Undo the run recorded in ``args.manifest``; returns the exit code."""
    from imageprism.actions import undo

    result = undo(args.manifest)
    if args.json:
        print_json(result.to_dict())
    else:
        for outcome in result.outcomes:
            if outcome.status == "restored":
                print(f"restored {outcome.path}")
            elif outcome.status == "in-place":
                print(f"in place {outcome.path}")
        counts = {s: sum(o.status == s for o in result.outcomes) for s in ("restored", "in-place")}
        print(
            f"{counts['restored']} restored, {counts['in-place']} already in place, "
            f"{len(result.failed)} not restored"
        )
    for outcome in result.failed:
        print(f"imageprism: cannot restore {outcome.path}: {outcome.reason}", file=sys.stderr)
    return EXIT_SOME_FAILED if result.failed else EXIT_OK
