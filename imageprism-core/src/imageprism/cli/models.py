"""``imageprism models list|pull [NAMES...]``: the model files of the model-backed dimensions
and of what packs register (face detectors and embedders): ``list`` shows each file's pin,
size, licence and whether it is in the cache; ``pull`` downloads and verifies a dimension's
files now, so later use works offline.
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
    p.add_argument(
        "names",
        nargs="*",
        help="dimension, face detector or face embedder names (default: every one with "
        "model files)",
    )
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


def _listed(names: Sequence[str]) -> list[tuple[str, str, str | None, Any]]:
    """``(kind, name, dimension, spec)`` of what ``models list`` shows: the dimensions with
    model files, then what packs' hooks registered with model files (face detectors and
    embedders, whose dimension is the first word of their kind); with ``names``, those
    (an unknown name raises the registry's error)."""
    registry = get_registry()
    components = [
        r
        for r in registry.registrations()
        if r.kind not in ("dimension", "profile", "preset") and r.model_files
    ]

    def dimension_of(kind: str) -> str | None:
        first = kind.split(" ")[0]
        return first if first in registry.dimensions else None

    out: list[tuple[str, str, str | None, Any]] = []
    if not names:
        out += [("dimension", n, n, s) for n, s in registry.dimensions.items() if s.model_files]
        out += [(r.kind, r.name, dimension_of(r.kind), r) for r in components]
        return out
    for name in names:
        matching = [r for r in components if r.name == name]
        if name in registry.dimensions or not matching:
            out.append(("dimension", name, name, registry.dimension(name)))
        out += [(r.kind, r.name, dimension_of(r.kind), r) for r in matching]
    return out


def run_list(args: argparse.Namespace) -> int:
    """``models list``: print the model files and their cache state; returns the exit code."""
    from imageprism.runtime.hub import describe_cache_state

    rows = []
    for kind, name, dimension, spec in _listed(args.names):
        for model in spec.model_files:
            state = describe_cache_state(model)
            rows.append(
                {
                    "dimension": dimension,
                    "kind": kind,
                    "name": name,
                    "file": model.describe(),
                    "sha256": model.sha256,
                    "pinned": model.pinned,
                    "size": model.size,
                    "licence": model.licence,
                    **state,
                }
            )
    if args.json:
        print_json(rows)
        return EXIT_OK
    labels = [r["name"] if r["kind"] == "dimension" else f"{r['kind']} {r['name']}" for r in rows]
    width = max((len(label) for label in labels), default=0)
    for label, row in zip(labels, rows, strict=True):
        size = (
            f"{row['size'] / 1e6:.{0 if row['size'] >= 1e7 else 1}f} MB"
            if row["size"]
            else "size ?"
        )
        where = display_name(row["path"]) if row["cached"] else "not downloaded"
        if not row["pinned"]:
            where += " (not pinned: no verified commit and sha256)"
        print(f"{label:<{width}} {row['file']}  {size}  {row['licence']}\n{'':<{width}} {where}")
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
