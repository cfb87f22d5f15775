"""``imageprism index build IMAGES... -o FILE``: embed image files (folders walked) on the
chosen dimensions and save them as one search index file, for ``imageprism search``.
"""

from __future__ import annotations

import argparse

from imageprism.cli._common import (
    add_folder_options,
    add_scoring_options,
    check_output,
    finish_written,
    image_files,
    make_prism,
    progress,
)
from imageprism.index.index import ImageIndex


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``index`` command group (its one action, ``build``) to the subcommands
    ``sub``."""
    p = sub.add_parser("index", help="build a search index of images (files or folders)")
    index_sub = p.add_subparsers(dest="index_command", required=True, metavar="ACTION")
    p = index_sub.add_parser("build", help="embed images and save the index to one file")
    add_folder_options(p)
    p.add_argument("-o", "--output", required=True, help="the index file to write")
    add_scoring_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """``index build``: index ``args.images`` into ``args.output``; returns the exit code."""
    check_output(args.output)
    files, skipped = image_files(args)
    index = ImageIndex(make_prism(args))
    failures = index.add(files, progress=progress(args, "indexing"))
    path = index.save(args.output)
    summary = f"indexed {len(index)} images into {path}"
    return finish_written(args, path, len(index), failures, skipped, summary)
