"""``imageprism embed IMAGES...``: embed image files (folders walked) on the chosen dimensions
and print a summary line per image (its name escaped), the embeddings as JSON (names raw),
or, with ``-o``, write them to an ``.npz`` or ``.parquet`` file (ids, one column per
dimension).
"""

from __future__ import annotations

import argparse

from imageprism.cli._common import (
    add_folder_options,
    add_scoring_options,
    check_output,
    finish,
    finish_written,
    image_files,
    make_prism,
    print_json,
    progress,
)
from imageprism.index.embeddings_file import SUFFIXES as EMBEDDING_SUFFIXES
from imageprism.index.embeddings_file import write_embeddings
from imageprism.io.names import display_name


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``embed`` command to the subcommands ``sub``."""
    p = sub.add_parser("embed", help="print or save embeddings of images (files or folders)")
    add_folder_options(p)
    p.add_argument(
        "-o",
        "--output",
        help="write the embeddings to FILE.npz or FILE.parquet (ids, one column per dimension)",
    )
    add_scoring_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Embed the images of ``args.images``; returns the exit code (1 if some could not be
    used)."""
    check_output(args.output, suffixes=EMBEDDING_SUFFIXES)
    files, skipped = image_files(args)
    prism = make_prism(args)
    batch = prism.embed_many(files, progress=progress(args, "embedding"))
    if args.output:
        good = [i for i, e in enumerate(batch.embeddings) if e is not None]
        path = write_embeddings(
            args.output,
            [batch.sources[i] for i in good],
            [batch.embeddings[i] for i in good],  # type: ignore[misc]
            prism,
        )
        summary = f"wrote {len(good)} embeddings to {path}"
        return finish_written(args, path, len(good), batch.errors, skipped, summary)
    if args.json:
        print_json({**batch.to_dict(), "skipped": [item.to_dict() for item in skipped]})
    else:
        data = batch.to_dict()
        for source, embedding in zip(batch.sources, data["embeddings"], strict=True):
            if embedding is not None:
                parts = "  ".join(
                    f"{k}={v if isinstance(v, str) or v is None else f'[{len(v)} floats]'}"
                    for k, v in embedding.items()
                )
                print(f"{display_name(source)}  {parts}")
    return finish(batch.errors, skipped)
