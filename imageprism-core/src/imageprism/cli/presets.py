"""``imageprism presets [--target NAME]``: the named thresholds (exact, near-duplicate,
similar) of each dimension and profile, with the precision and recall they measured and on
which benchmark; a table with notes, or JSON.
"""

from __future__ import annotations

import argparse

from imageprism.cli._common import EXIT_OK, UsageError, add_json_option, print_json, print_table
from imageprism.io.names import display_text


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``presets`` command to the subcommands ``sub``."""
    p = sub.add_parser(
        "presets", help="named thresholds (exact, near-duplicate, similar) and how they measured"
    )
    p.add_argument("--target", help="only the presets of this dimension or profile")
    add_json_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the presets (of ``args.target``, if given); returns the exit code."""
    from imageprism.thresholds.presets import BENCHMARKS, presets

    found = presets(args.target)
    if args.target and not found:
        targets = sorted({p.target for p in presets()})
        raise UsageError(f"no presets for {args.target!r}; presets exist for: {', '.join(targets)}")
    used = {p.benchmark: BENCHMARKS.get(p.benchmark, "") for p in found if p.benchmark}
    if args.json:
        print_json({"presets": [p.model_dump() for p in found], "benchmarks": used})
        return EXIT_OK

    def share(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    rows = [("TARGET", "NAME", "THRESHOLD", "PRECISION", "RECALL", "BENCHMARK")]
    rows += [
        (p.target, p.name, f"{p.threshold:g}", share(p.precision), share(p.recall),
         p.benchmark or "not measured")
        for p in found
    ]  # fmt: skip
    print_table(rows)
    print("\nnotes:")
    for p in found:
        print(display_text(f"  {p.target} {p.name}: {p.note}"))
    if used:
        print("\nbenchmarks:")
        for name, text in used.items():
            print(display_text(f"  {name}: {text}"))
    return EXIT_OK
