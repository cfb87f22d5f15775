"""``imageprism undo MANIFEST``: put back the files a ``dedup --action move`` or ``hardlink``
run changed, from the undo manifest it wrote (or the ``--to`` folder holding it); prints what
was restored or already in place, and exits 1 when some file could not be restored. A manifest
this user's imageprism did not sign is refused unless ``--trust-roots`` confirms the folders it
records (printed first); every path must still lie inside them.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from imageprism.cli._common import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    UsageError,
    add_json_option,
    print_json,
)
from imageprism.io.names import display_name

_OLD_NAME = re.compile(r"imageprism-undo(-[0-9]+)?\.json")  # the names 0.2 gave manifests


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``undo`` command to the subcommands ``sub``."""
    p = sub.add_parser(
        "undo", help="put back the files a dedup --action run moved (from its undo manifest)"
    )
    p.add_argument(
        "manifest",
        help="the undo manifest a dedup run printed (DUPES/imageprism-undo-....json), "
        "or its --to folder when it holds one manifest",
    )
    p.add_argument(
        "--trust-roots",
        action="store_true",
        help="undo a manifest whose signature does not verify (written by imageprism 0.2, "
        "by another user or on another machine), trusting the folders it records; they are "
        "printed first, and every file must still lie inside them",
    )
    add_json_option(p)
    p.set_defaults(run=run)


def _find(given: str) -> Path:
    """The manifest ``given`` names: a file, or the one manifest of a ``--to`` folder."""
    from imageprism.actions.restore import manifests_in

    path = Path(given)
    if path.is_dir():
        folder = path
    elif not os.path.lexists(path) and _OLD_NAME.fullmatch(path.name):
        folder = path.parent  # 0.2's name: each run now writes its own manifest there
    else:
        return path
    found = manifests_in(folder)
    if not found:
        missing = "" if path.is_dir() else f"undo manifest {display_name(path)} not found, and "
        raise UsageError(f"{missing}no imageprism-undo-*.json in {display_name(folder)}")
    if len(found) > 1:
        names = ", ".join(display_name(p) for p in found)
        raise UsageError(
            f"{len(found)} undo manifests in {display_name(folder)}, one per run (newest first): "
            f"{names}; give the one to undo"
        )
    return found[0]


def run(args: argparse.Namespace) -> int:
    """Undo the run recorded in ``args.manifest``; returns the exit code."""
    from imageprism.actions import undo
    from imageprism.actions.restore import manifest_roots

    manifest = _find(args.manifest)
    if args.trust_roots:
        roots, to, verified = manifest_roots(manifest)
        if not verified:
            folders = ", ".join(display_name(f) for f in [*roots, *([to] if to else [])])
            print(
                f"imageprism: trusting the folders {display_name(manifest)} records "
                f"(--trust-roots): {folders}",
                file=sys.stderr,
            )
    result = undo(manifest, trust_roots=args.trust_roots)
    if args.json:
        print_json(result.to_dict())
    else:
        for outcome in result.outcomes:
            if outcome.status == "restored":
                print(f"restored {display_name(outcome.path)}")
            elif outcome.status == "in-place":
                print(f"in place {display_name(outcome.path)}")
        counts = {s: sum(o.status == s for o in result.outcomes) for s in ("restored", "in-place")}
        print(
            f"{counts['restored']} restored, {counts['in-place']} already in place, "
            f"{len(result.failed)} not restored"
        )
    for outcome in result.failed:
        print(
            f"imageprism: cannot restore {display_name(outcome.path)}: {outcome.reason}",
            file=sys.stderr,
        )
    return EXIT_SOME_FAILED if result.failed else EXIT_OK
