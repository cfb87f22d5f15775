"""``imageprism compare A B``: score two images on every chosen dimension and print one line
a dimension (and the weighted score when there are several), or the comparison as JSON.
"""

from __future__ import annotations

import argparse

from imageprism.cli._common import EXIT_OK, add_scoring_options, fmt_score, make_prism, print_json


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``compare`` command to the subcommands ``sub``."""
    p = sub.add_parser("compare", help="score two images on every dimension")
    p.add_argument("a", help="first image")
    p.add_argument("b", help="second image")
    add_scoring_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Compare ``args.a`` with ``args.b`` and print the scores; returns the exit code."""
    result = make_prism(args).compare(args.a, args.b)
    if args.json:
        print_json(result.to_dict())
        return EXIT_OK
    width = max(len(name) for name in [*result.scores, "weighted"])
    for name, score in result.scores.items():
        print(f"{name:<{width}}  {fmt_score(score)}")
    if len(result.scores) > 1:
        print(f"{'weighted':<{width}}  {fmt_score(result.weighted_score)}")
    return EXIT_OK
