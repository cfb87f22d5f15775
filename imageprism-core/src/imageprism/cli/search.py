"""``imageprism search INDEX QUERY``: find the images of an index (from ``index build``, or an
embeddings file from ``embed -o``) most like a query image: the ``--k`` best, or every one
scoring ``--threshold`` or more; one ``score id`` line a hit (the id escaped), or JSON (raw).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from imageprism.cli._common import EXIT_OK, add_scoring_options, fmt_score, make_prism, print_json
from imageprism.index.embeddings_file import SUFFIXES as EMBEDDING_SUFFIXES
from imageprism.index.index import ImageIndex
from imageprism.io.names import display_name


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``search`` command to the subcommands ``sub``."""
    p = sub.add_parser("search", help="find the images of an index most like a query image")
    p.add_argument(
        "index", help="an index from `imageprism index build`, or a file from `embed -o`"
    )
    p.add_argument("query", help="the query image")
    p.add_argument("--k", type=int, default=10, help="how many hits (default 10)")
    p.add_argument("--threshold", type=float, help="instead of --k: every hit scoring this or more")
    p.add_argument(
        "--backend",
        choices=("auto", "exact", "faiss"),
        default="auto",
        help="top-k search: exact scan, FAISS, or auto (FAISS from 100,000 images when installed)",
    )
    p.add_argument(
        "--trust-index-models",
        action="store_true",
        help="use the models the index file names even when the installed packs do not pin "
        "them or they are local files (only for index files you trust: a model is code)",
    )
    add_scoring_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Search ``args.index`` for ``args.query`` and print the hits; returns the exit code."""
    prism = make_prism(args) if args.dimensions or args.profile else None
    trust = args.trust_index_models
    if Path(args.index).suffix.lower() in EMBEDDING_SUFFIXES:
        index = ImageIndex.from_embeddings(
            args.index, prism, backend=args.backend, trust_models=trust
        )
    else:
        index = ImageIndex.load(args.index, prism, backend=args.backend, trust_models=trust)
    if args.missing_scores:  # scoring rule only: no need to rebuild the index
        index.prism.missing_scores = args.missing_scores
    if args.threshold is not None:
        hits = index.range_search(args.query, args.threshold)
    else:
        hits = index.search(args.query, k=args.k)
    if args.json:
        print_json([hit.to_dict() for hit in hits])
        return EXIT_OK
    for hit in hits:
        print(f"{fmt_score(hit.weighted_score)}  {display_name(hit.id)}")
    return EXIT_OK
