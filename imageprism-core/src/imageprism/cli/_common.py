"""What the ``imageprism`` commands share: exit codes, the usage error, finding the input
images, checking an output path before any work, building the prism the scoring options ask
for, the dedup threshold settings, the progress bar, JSON and table printing, and the option
groups several commands take (``scoring``, ``folders``, ``--json``). Private to the command
line: the command modules import from here, nothing else should.

Names are printed through ``imageprism.io.names`` (``display_name`` for a path,
``display_text`` for a reason or message that may quote one): a file name holding a newline
or an escape sequence shows escaped, on one line. ``--json`` output keeps them raw.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from imageprism.io.folders import Skipped, find_images
from imageprism.io.names import display_name, display_text
from imageprism.plugin import Configured
from imageprism.prism import ImagePrism

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad usage or configuration: ``main`` prints it as one line and exits 2."""


def image_files(args: argparse.Namespace) -> tuple[list[str], list[Skipped]]:
    """Image files in the given paths (folders walked), and the paths skipped with reasons."""
    files, skipped = find_images(args.images, include_hidden=args.hidden)
    if not files:
        reasons = "; ".join(f"{display_name(s.path)}: {display_text(s.reason)}" for s in skipped)
        raise UsageError(
            "no image files found in the given paths" + (f" ({reasons})" if reasons else "")
        )
    return files, skipped


def check_output(path: str | None, *, suffixes: Sequence[str] = ()) -> None:
    """Refuse an output path before any work: missing folder, a folder, wrong suffix."""
    if path is None:
        return
    target = Path(path)
    shown = display_name(path)
    if suffixes and target.suffix.lower() not in suffixes:
        raise UsageError(f"{shown} must end in {' or '.join(suffixes)}")
    if target.is_dir():
        raise UsageError(f"{shown} is a folder; give a file name")
    if not target.parent.is_dir():
        raise UsageError(f"cannot write {shown}: folder {display_name(target.parent)} not found")
    if target.suffix.lower() == ".parquet" and importlib.util.find_spec("pyarrow") is None:
        raise UsageError('Parquet files need pyarrow: pip install "imageprism-core[parquet]"')


def report_errors(errors: Sequence[Any]) -> None:
    """Print one line on standard error for each input that could not be used."""
    for error in errors:
        print(
            f"imageprism: cannot use {display_name(error.source)}: {display_text(error.reason)}",
            file=sys.stderr,
        )


def finish(errors: Sequence[Any], skipped: Sequence[Skipped]) -> int:
    """List every input that could not be used, at the end; the exit code says if any."""
    for item in skipped:
        print(
            f"imageprism: skipped {display_name(item.path)}: {display_text(item.reason)}",
            file=sys.stderr,
        )
    report_errors(errors)
    return EXIT_SOME_FAILED if errors or skipped else EXIT_OK


def finish_written(
    args: argparse.Namespace,
    path: Path,
    count: int,
    errors: Sequence[Any],
    skipped: Sequence[Skipped],
    summary: str,
) -> int:
    """After ``count`` results were written to ``path``: say so (``summary``, or JSON with
    ``--json``), then :func:`finish`. ``summary`` is printed through ``display_text``."""
    if args.json:
        print_json(
            {
                "output": str(path),
                "count": count,
                "errors": [e.to_dict() for e in errors],
                "skipped": [item.to_dict() for item in skipped],
            }
        )
    else:
        print(display_text(summary))
    return finish(errors, skipped)


def parse_settings(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``--set DIMENSION.FIELD=VALUE`` options as per-dimension config dicts (a value is read
    as JSON when it parses, e.g. ``false``, ``16``, ``[1.0, 0.5]``, else as text)."""
    config: dict[str, dict[str, Any]] = {}
    for item in items:
        name, _, value = item.partition("=")
        dimension, _, field = name.partition(".")
        if not _ or not field or not dimension:
            raise UsageError(
                f"--set takes DIMENSION.FIELD=VALUE, e.g. face.embedder=dlib; got {item!r}"
            )
        try:
            parsed: Any = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        config.setdefault(dimension.strip(), {})[field.strip()] = parsed
    return config


def make_prism(args: argparse.Namespace, *, store: bool = False) -> ImagePrism:
    """The prism the scoring options ask for; with ``store``, backed by ``--store`` (or the
    default embedding store)."""
    dimensions = None
    if getattr(args, "dimensions", None):
        dimensions = [d.strip() for d in args.dimensions.split(",") if d.strip()]
    path = None
    if store:
        from imageprism.io.store import default_path

        path = args.store or default_path()
    return ImagePrism(
        dimensions=dimensions,
        profile=getattr(args, "profile", None),
        missing_scores=getattr(args, "missing_scores", None) or "zero",
        config=parse_settings(getattr(args, "set", None) or []) or None,
        store=path,
    )


def dedup_settings(args: argparse.Namespace) -> tuple[ImagePrism, float]:
    """The prism and threshold ``dedup`` runs with: from ``--calibration``, or the scoring
    options with ``--preset`` or ``--threshold`` (default 0.9)."""
    from imageprism.thresholds.presets import preset

    flags = ("threshold", "preset", "calibration")
    chosen = [f"--{flag}" for flag in flags if getattr(args, flag) is not None]
    if len(chosen) > 1:
        raise UsageError(
            f"use one of --threshold, --preset, --calibration, not {' and '.join(chosen)}"
        )
    store = None
    if not args.no_store:
        from imageprism.io.store import default_path

        store = args.store or default_path()
    if args.calibration:
        from imageprism.thresholds.calibrate import load_calibration

        if args.dimensions or args.profile:
            raise UsageError("--calibration sets the dimensions: drop --dimensions/--profile")
        calibration = load_calibration(args.calibration, trust_models=args.trust_calibration_models)
        return calibration.prism(store=store), calibration.threshold
    prism = make_prism(args, store=not args.no_store)
    if not args.preset:
        return prism, 0.9 if args.threshold is None else args.threshold
    target = args.profile
    if target is None:
        if len(prism.dimensions) != 1:
            raise UsageError("--preset needs --profile, or a single dimension")
        target = prism.dimensions[0]
    found = preset(args.preset, target)
    if target in prism.dimensions:
        dimension = prism.dimension(target)
        found.check(dimension.config if isinstance(dimension, Configured) else None)
    return prism, found.threshold


class ProgressBar:
    """A one-line progress bar on standard error, redrawn at most ten times a second."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.started = time.monotonic()
        self.drawn = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self.drawn < 0.1 and done != total:
            return
        self.drawn = now
        rate = done / max(now - self.started, 1e-9)
        if total:
            filled = int(30 * done / total)
            bar = "#" * filled + "." * (30 - filled)
            text = f"{self.label} [{bar}] {done}/{total} {rate:.0f}/s"
        else:
            text = f"{self.label} {done} {rate:.0f}/s"
        end = "\n" if total and done >= total else ""
        self.open = not end
        print(f"\r{text}", end=end, file=sys.stderr, flush=True)

    def close(self) -> None:
        """End the line of a bar whose total was unknown."""
        if getattr(self, "open", False):
            print(file=sys.stderr, flush=True)
            self.open = False


def progress(args: argparse.Namespace, label: str) -> ProgressBar | None:
    """A progress bar when standard error is a terminal and --quiet is not given."""
    if getattr(args, "quiet", False) or not sys.stderr.isatty():
        return None
    return ProgressBar(label)


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on standard output."""
    print(json.dumps(data, indent=2))


def print_table(rows: Sequence[Sequence[str]]) -> None:
    """Print rows (the first one the header) in columns, each padded to its widest cell but
    the last, which is printed as it is; every cell through ``display_text``."""
    rows = [[display_text(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1]
        )


def fmt_score(score: float | None) -> str:
    """A score as printed: four decimals, or ``none`` when there is none."""
    return "none" if score is None else f"{score:.4f}"


def add_json_option(p: argparse.ArgumentParser) -> None:
    """The ``--json`` flag."""
    p.add_argument("--json", action="store_true", help="print JSON")


def add_scoring_options(p: argparse.ArgumentParser) -> None:
    """The options that choose and score the dimensions, with ``--json`` and ``--quiet``."""
    p.add_argument("--dimensions", help="comma-separated dimension names (default: hash)")
    p.add_argument("--profile", help="a profile name, e.g. copyright (weights the dimensions)")
    p.add_argument(
        "--missing-scores",
        choices=["zero", "renormalize"],
        default=None,
        help="how a dimension that cannot score counts in the weighted score (default: zero)",
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="DIM.FIELD=VALUE",
        help="a dimension setting, e.g. --set face.embedder=dlib --set "
        "face.detector_path=yunet.onnx --set hash.flip=false (repeatable)",
    )
    add_json_option(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_folder_options(p: argparse.ArgumentParser) -> None:
    """The image paths (files or folders) and ``--hidden``."""
    p.add_argument("images", nargs="+", help="image files or folders (searched recursively)")
    p.add_argument("--hidden", action="store_true", help="include hidden files and folders")
