"""``imageprism models list|pull [NAMES...]``: the model files of the model-backed dimensions:
``list`` shows each file's pin, size, licence and whether it is in the cache; ``pull``
downloads and verifies them now, so later use works offline.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from imageprism.cli._common import EXIT_OK, add_json_option, print_json
from imageprism.io.names import display_name
from imageprism.plugin.registry import get_registry


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``models`` command group (``list``, ``pull``) to the subcommands ``sub``."""
    models = sub.add_parser("models", help="list or download the model files of dimensions")
    models_sub = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    p = models_sub.add_parser("list", help="model files, their pins, licences and cache state")
    p.add_argument("names", nargs="*", help="dimension names (default: every model-backed one)")
    add_json_option(p)
    p.set_defaults(run=run_list)
    p = models_sub.add_parser(
        "pull", help="download and verify model files now, so later use works offline"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("names", nargs="*", help="dimension names (default: every model-backed one)")
    add_json_option(p)
    p.set_defaults(run=run_pull)


def _model_specs(names: Sequence[str]) -> list[tuple[str, Any]]:
    registry = get_registry()
    chosen = names or [n for n, spec in registry.dimensions.items() if spec.model_files]
    return [(name, registry.dimension(name)) for name in chosen]


def run_list(args: argparse.Namespace) -> int:
    """``models list``: print the model files and their cache state; returns the exit code."""
    from imageprism.runtime.hub import describe_cache_state

    rows = []
    for name, spec in _model_specs(args.names):
        for model in spec.model_files:
            state = describe_cache_state(model)
            rows.append(
                {
                    "dimension": name,
                    "file": model.describe(),
                    "sha256": model.sha256,
                    "size": model.size,
                    "licence": model.licence,
                    **state,
                }
            )
    if args.json:
        print_json(rows)
        return EXIT_OK
    for row in rows:
        size = (
            f"{row['size'] / 1e6:.{0 if row['size'] >= 1e7 else 1}f} MB"
            if row["size"]
            else "size ?"
        )
        where = display_name(row["path"]) if row["cached"] else "not downloaded"
        print(f"{row['dimension']:<10} {row['file']}  {size}  {row['licence']}\n           {where}")
    return EXIT_OK


def run_pull(args: argparse.Namespace) -> int:
    """``models pull``: download and verify the model files; returns the exit code."""
    from imageprism.runtime.hub import resolve_model_file

    if args.quiet or not sys.stderr.isatty():
        try:
            from huggingface_hub.utils import disable_progress_bars
        except ImportError:  # core-only install: nothing will be downloaded by it anyway
            pass
        else:
            disable_progress_bars()  # otherwise huggingface_hub draws one per download
    pulled = []
    for name, spec in _model_specs(args.names):
        if not spec.model_files:
            print(f"{name}: needs no model files", file=sys.stderr)
        for model in spec.model_files:
            path = resolve_model_file(model, dimension=name)
            pulled.append({"dimension": name, "file": model.describe(), "path": str(path)})
            if not args.json:
                print(f"{name}: {model.describe()} -> {display_name(path)}")
    if args.json:
        print_json(pulled)
    return EXIT_OK
