"""The ``imageprism`` command: compare, embed, dedup, index, search, models, plugins.

Exit codes: 0 success; 1 some inputs could not be used (each is reported, the
rest are processed); 2 bad usage or configuration (one-line message).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from imageprism._version import __version__
from imageprism.actions import ACTIONS, KEEP_POLICIES, apply_plan, plan_actions
from imageprism.errors import ImageLoadError, ImagePrismError
from imageprism.index.embeddings_file import SUFFIXES as EMBEDDING_SUFFIXES
from imageprism.index.embeddings_file import write_embeddings
from imageprism.index.index import ImageIndex
from imageprism.io.folders import Skipped, find_images
from imageprism.plugin.registry import get_registry
from imageprism.prism import ImagePrism
from imageprism.report.render import render_report, write_report

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2


class _UsageError(Exception):
    pass


def _files(args: argparse.Namespace) -> tuple[list[str], list[Skipped]]:
    """Image files in the given paths (folders walked), and the paths skipped with reasons."""
    files, skipped = find_images(args.images, include_hidden=args.hidden)
    if not files:
        reasons = "; ".join(f"{s.path}: {s.reason}" for s in skipped)
        raise _UsageError(
            "no image files found in the given paths" + (f" ({reasons})" if reasons else "")
        )
    return files, skipped


def _check_output(path: str | None, *, suffixes: Sequence[str] = ()) -> None:
    """Refuse an output path before any work: missing folder, a folder, wrong suffix."""
    if path is None:
        return
    target = Path(path)
    if suffixes and target.suffix.lower() not in suffixes:
        raise _UsageError(f"{path} must end in {' or '.join(suffixes)}")
    if target.is_dir():
        raise _UsageError(f"{path} is a folder; give a file name")
    if not target.parent.is_dir():
        raise _UsageError(f"cannot write {path}: folder {target.parent} not found")
    if target.suffix.lower() == ".parquet" and importlib.util.find_spec("pyarrow") is None:
        raise _UsageError('Parquet files need pyarrow: pip install "imageprism-core[parquet]"')


def _finish(errors: Sequence[Any], skipped: Sequence[Skipped]) -> int:
    """List every input that could not be used, at the end; the exit code says if any."""
    for item in skipped:
        print(f"imageprism: skipped {item.path}: {item.reason}", file=sys.stderr)
    _report_errors(errors)
    return EXIT_SOME_FAILED if errors or skipped else EXIT_OK


def _prism(args: argparse.Namespace, *, store: bool = False) -> ImagePrism:
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
        config=_settings(getattr(args, "set", None) or []) or None,
        store=path,
    )


def _settings(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``--set DIMENSION.FIELD=VALUE`` options as per-dimension config dicts (a value is read
    as JSON when it parses, e.g. ``false``, ``16``, ``[1.0, 0.5]``, else as text)."""
    config: dict[str, dict[str, Any]] = {}
    for item in items:
        name, _, value = item.partition("=")
        dimension, _, field = name.partition(".")
        if not _ or not field or not dimension:
            raise _UsageError(
                f"--set takes DIMENSION.FIELD=VALUE, e.g. face.embedder=dlib; got {item!r}"
            )
        try:
            parsed: Any = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        config.setdefault(dimension.strip(), {})[field.strip()] = parsed
    return config


def _dedup_settings(args: argparse.Namespace) -> tuple[ImagePrism, float]:
    """The prism and threshold ``dedup`` runs with: from ``--calibration``, or the scoring
    options with ``--preset`` or ``--threshold`` (default 0.9)."""
    from imageprism.thresholds.presets import preset

    flags = ("threshold", "preset", "calibration")
    chosen = [f"--{flag}" for flag in flags if getattr(args, flag) is not None]
    if len(chosen) > 1:
        raise _UsageError(
            f"use one of --threshold, --preset, --calibration, not {' and '.join(chosen)}"
        )
    store = None
    if not args.no_store:
        from imageprism.io.store import default_path

        store = args.store or default_path()
    if args.calibration:
        from imageprism.thresholds.calibrate import load_calibration

        if args.dimensions or args.profile:
            raise _UsageError("--calibration sets the dimensions: drop --dimensions/--profile")
        calibration = load_calibration(args.calibration)
        return calibration.prism(store=store), calibration.threshold
    prism = _prism(args, store=not args.no_store)
    if not args.preset:
        return prism, 0.9 if args.threshold is None else args.threshold
    target = args.profile
    if target is None:
        if len(prism.dimensions) != 1:
            raise _UsageError("--preset needs --profile, or a single dimension")
        target = prism.dimensions[0]
    found = preset(args.preset, target)
    if target in prism.dimensions:
        found.check(getattr(prism.dimension(target), "config", None))
    return prism, found.threshold


def _not_duplicates(path: str | None) -> Any:
    """The remembered not-duplicate marks (``--not-duplicates`` or the default file), if any."""
    from imageprism.dedup.not_duplicates import NotDuplicates, default_path

    chosen = Path(path) if path else default_path()
    if not chosen.exists():
        if path:
            raise _UsageError(f"--not-duplicates: {path} not found")
        return None
    return NotDuplicates(chosen)


class _ProgressBar:
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


def _progress(args: argparse.Namespace, label: str) -> _ProgressBar | None:
    """A progress bar when standard error is a terminal and --quiet is not given."""
    if getattr(args, "quiet", False) or not sys.stderr.isatty():
        return None
    return _ProgressBar(label)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


def _fmt(score: float | None) -> str:
    return "none" if score is None else f"{score:.4f}"


def _report_errors(errors: Sequence[Any]) -> None:
    for error in errors:
        print(f"imageprism: cannot use {error.source}: {error.reason}", file=sys.stderr)


def _compare(args: argparse.Namespace) -> int:
    result = _prism(args).compare(args.a, args.b)
    if args.json:
        _print_json(result.to_dict())
        return EXIT_OK
    width = max(len(name) for name in [*result.scores, "weighted"])
    for name, score in result.scores.items():
        print(f"{name:<{width}}  {_fmt(score)}")
    if len(result.scores) > 1:
        print(f"{'weighted':<{width}}  {_fmt(result.weighted_score)}")
    return EXIT_OK


def _embed(args: argparse.Namespace) -> int:
    _check_output(args.output, suffixes=EMBEDDING_SUFFIXES)
    files, skipped = _files(args)
    prism = _prism(args)
    batch = prism.embed_many(files, progress=_progress(args, "embedding"))
    if args.output:
        good = [i for i, e in enumerate(batch.embeddings) if e is not None]
        path = write_embeddings(
            args.output,
            [batch.sources[i] for i in good],
            [batch.embeddings[i] for i in good],  # type: ignore[misc]
            prism,
        )
        if args.json:
            _print_json(
                {
                    "output": str(path),
                    "count": len(good),
                    "errors": [e.to_dict() for e in batch.errors],
                    "skipped": [item.to_dict() for item in skipped],
                }
            )
        else:
            print(f"wrote {len(good)} embeddings to {path}")
        return _finish(batch.errors, skipped)
    if args.json:
        _print_json({**batch.to_dict(), "skipped": [item.to_dict() for item in skipped]})
    else:
        data = batch.to_dict()
        for source, embedding in zip(batch.sources, data["embeddings"], strict=True):
            if embedding is not None:
                parts = "  ".join(
                    f"{k}={v if isinstance(v, str) or v is None else f'[{len(v)} floats]'}"
                    for k, v in embedding.items()
                )
                print(f"{source}  {parts}")
    return _finish(batch.errors, skipped)


VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg"})


def _every(text: str | None) -> tuple[float | None, int | None]:
    """``--every``: ``0.5s`` (seconds) or ``10`` / ``10f`` (every Nth frame)."""
    if text is None:
        return None, None
    value = text.strip().lower()
    try:
        if value.endswith("s"):
            return float(value[:-1]), None
        return None, int(value.removesuffix("f"))
    except ValueError:
        raise _UsageError(
            f"--every takes seconds like 0.5s or a frame count like 10, got {text!r}"
        ) from None


def _dedup_video(args: argparse.Namespace) -> int:
    from imageprism.io.video import dedup_video

    every_seconds, every_frames = _every(args.every)
    bar = _progress(args, "frames")
    prism, threshold = _dedup_settings(args)
    result = dedup_video(
        prism,
        args.images[0],
        threshold=threshold,
        every_seconds=every_seconds,
        every_frames=every_frames,
        out_dir=args.out,
        progress=bar,
    )
    if bar is not None:
        bar.close()
    if args.json:
        _print_json(result.to_dict())
    else:
        print(
            f"{len(result.frames)} frames sampled, {len(result.kept)} distinct "
            f"(threshold {threshold})"
        )
        for frame, written in zip(
            result.kept_frames, result.written or [None] * len(result.kept), strict=True
        ):
            print(
                f"keep frame {frame.index} at {frame.time:.3f}s"
                + (f" -> {written}" if written else "")
            )
    return EXIT_OK


def _check_actions(args: argparse.Namespace, video: bool) -> None:
    """Refuse action flags that cannot work, before anything is embedded."""
    if video and (args.action != "report" or args.to or args.keep != "first"):
        raise _UsageError("--keep, --action and --to apply to images, not to a video input")
    if args.store and args.no_store:
        raise _UsageError("use --store FILE or --no-store, not both")
    if args.action == "report":
        if args.to or args.yes_delete:
            raise _UsageError("--to and --yes-delete need --action move, hardlink or delete")
        return
    if args.action == "delete" and not args.yes_delete:
        raise _UsageError("--action delete cannot be undone: add --yes-delete to confirm it")
    if not args.to:
        raise _UsageError(
            f"--action {args.action} needs --to FOLDER (for the duplicates and the manifest)"
        )
    to = Path(args.to).resolve()
    if to.exists() and not to.is_dir():
        raise _UsageError(f"--to {args.to} is a file, not a folder")
    for root in (Path(image).resolve() for image in args.images):
        if root.is_dir() and (to == root or root in to.parents):
            raise _UsageError(
                f"--to {args.to} is inside {root}, which is being deduplicated: "
                "choose a folder outside it"
            )


def _dedup(args: argparse.Namespace) -> int:
    video = len(args.images) == 1 and Path(args.images[0]).suffix.lower() in VIDEO_SUFFIXES
    _check_actions(args, video)
    if video:
        if args.report or args.hidden:
            raise _UsageError("--report and --hidden apply to images, not to a video input")
        return _dedup_video(args)
    if args.every or args.out:
        raise _UsageError("--every and --out apply to a video input (one .mp4, .mov, ... file)")
    _check_output(args.report)
    prism, threshold = _dedup_settings(args)
    files, skipped = _files(args)
    result = prism.dedup(
        files,
        threshold=threshold,
        backend=args.backend,
        not_duplicates=_not_duplicates(args.not_duplicates),
        progress=_progress(args, "embedding"),
    )
    plan = plan_actions(
        result,
        keep=args.keep,
        action=args.action,
        to=args.to,
        allow_delete=args.yes_delete,
    )
    # scores of each copy against its representative, before any file moves
    pairs = {}
    if args.report or args.json:
        pairs = {
            (group[0], member): prism.compare(files[group[0]], files[member])
            for group in result.groups
            for member in group[1:]
        }
    if args.report:
        html = render_report(
            result,
            {pair: compared.scores for pair, compared in pairs.items()},
            weighted={pair: compared.weighted_score for pair, compared in pairs.items()},
            profile=args.profile,
            dimensions=prism.dimensions,
            skipped=[(item.path, item.reason) for item in skipped],
        )
        write_report(args.report, html)
    acting = not args.dry_run and args.action != "report" and plan.steps
    applied = apply_plan(plan) if acting else None
    store = prism.store
    if args.json:
        _print_json(
            {
                **result.to_dict(),
                "scores": [
                    {"representative": rep, "member": member, **compared.to_dict()}
                    for (rep, member), compared in pairs.items()
                ],
                "skipped": [item.to_dict() for item in skipped],
                "plan": plan.to_dict(),
                "applied": None if applied is None else applied.to_dict(),
                "store": None
                if store is None
                else {"path": str(store.path), "reused": store.hits, "embedded": store.written},
            }
        )
    else:
        good = len(files) - len(result.errors)
        print(
            f"{good} images, {len(result.unique)} unique, {len(result.groups)} groups of "
            f"near-duplicates (threshold {result.threshold:.4g})"
        )
        if store is not None:
            print(f"embeddings: {store.written} computed, {store.hits} reused from {store.path}")
        if args.dry_run and args.action != "report":
            print("dry run: nothing is changed")
        print(plan.describe())
        if args.report:
            print(f"report: {args.report}")
        if applied is not None and args.action == "delete":
            print(f"deleted files are listed in {applied.manifest} (a deletion cannot be undone)")
        elif applied is not None:
            print(f"undo with: imageprism undo {applied.manifest}")
    failed = [] if applied is None else applied.failed
    for outcome in failed:
        reason = f"{outcome.action} {outcome.path}: {outcome.reason}"
        print(f"imageprism: cannot {reason}", file=sys.stderr)
    return max(_finish(result.errors, skipped), EXIT_SOME_FAILED if failed else EXIT_OK)


def _index_build(args: argparse.Namespace) -> int:
    _check_output(args.output)
    files, skipped = _files(args)
    index = ImageIndex(_prism(args))
    failures = index.add(files, progress=_progress(args, "indexing"))
    path = index.save(args.output)
    if args.json:
        _print_json(
            {
                "output": str(path),
                "count": len(index),
                "errors": [f.to_dict() for f in failures],
                "skipped": [item.to_dict() for item in skipped],
            }
        )
    else:
        print(f"indexed {len(index)} images into {path}")
    return _finish(failures, skipped)


def _search(args: argparse.Namespace) -> int:
    prism = _prism(args) if args.dimensions or args.profile else None
    if Path(args.index).suffix.lower() in EMBEDDING_SUFFIXES:
        index = ImageIndex.from_embeddings(args.index, prism, backend=args.backend)
    else:
        index = ImageIndex.load(args.index, prism, backend=args.backend)
    if args.missing_scores:  # scoring rule only: no need to rebuild the index
        index.prism.missing_scores = args.missing_scores
    if args.threshold is not None:
        hits = index.range_search(args.query, args.threshold)
    else:
        hits = index.search(args.query, k=args.k)
    if args.json:
        _print_json([hit.to_dict() for hit in hits])
        return EXIT_OK
    for hit in hits:
        print(f"{_fmt(hit.weighted_score)}  {hit.id}")
    return EXIT_OK


_CORE_HOOKS = frozenset(
    {
        "imageprism_add_hookspecs",
        "imageprism_register_dimensions",
        "imageprism_register_profiles",
        "imageprism_register_presets",
    }
)


def _pack_registrations() -> dict[str, list[str]]:
    """What plugins registered through hooks that packs added (e.g. face detectors)."""
    registry = get_registry()
    out = {}
    for hook in sorted(vars(registry.manager.hook)):
        if hook.startswith("imageprism_register_") and hook not in _CORE_HOOKS:
            kind = hook.removeprefix("imageprism_register_")
            found, errors = registry.collect(hook, object, kind)
            out[kind] = sorted(found)
            for error in errors:
                print(f"imageprism: {error}", file=sys.stderr)
    return out


def _plugins(args: argparse.Namespace) -> int:
    registry = get_registry()
    extensions = _pack_registrations()
    if args.json:
        _print_json(
            {
                "plugins": [p.to_dict() for p in registry.plugins],
                "dimensions": {
                    name: {
                        "summary": spec.summary,
                        "plugin": getattr(registry.plugin_of(name), "name", None),
                    }
                    for name, spec in registry.dimensions.items()
                },
                "profiles": {name: p.weights for name, p in registry.profiles.items()},
                "registered": extensions,
            }
        )
        return EXIT_OK
    rows = [("PLUGIN", "DISTRIBUTION", "VERSION", "STATUS", "PROVIDES")]
    for p in registry.plugins:
        provides = ", ".join(
            [*(f"dimension:{d}" for d in p.dimensions), *(f"profile:{n}" for n in p.profiles)]
        )
        rows.append((p.name, p.distribution or "?", p.version or "?", p.status, provides or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[4]
        )
    for kind, names in extensions.items():
        print(f"{kind.replace('_', ' ')}: {', '.join(names) or 'none'}")
    for p in registry.failures:
        print(f"\n{p.name} ({p.distribution}) failed: {p.error}")
    return EXIT_OK


def _model_specs(names: Sequence[str]) -> list[tuple[str, Any]]:
    registry = get_registry()
    chosen = names or [n for n, spec in registry.dimensions.items() if spec.model_files]
    return [(name, registry.dimension(name)) for name in chosen]


def _models_list(args: argparse.Namespace) -> int:
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
        _print_json(rows)
        return EXIT_OK
    for row in rows:
        size = (
            f"{row['size'] / 1e6:.{0 if row['size'] >= 1e7 else 1}f} MB"
            if row["size"]
            else "size ?"
        )
        where = row["path"] if row["cached"] else "not downloaded"
        print(f"{row['dimension']:<10} {row['file']}  {size}  {row['licence']}\n           {where}")
    return EXIT_OK


def _models_pull(args: argparse.Namespace) -> int:
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
                print(f"{name}: {model.describe()} -> {path}")
    if args.json:
        _print_json(pulled)
    return EXIT_OK


def _doctor(args: argparse.Namespace) -> int:
    from imageprism.cli.doctor import run_checks

    checks = run_checks()
    problems = [c for c in checks if not c.ok]
    if args.json:
        _print_json({"ok": not problems, "checks": [c.to_dict() for c in checks]})
    else:
        width = max(len(c.name) for c in checks)
        for check in checks:
            status = "ok     " if check.ok else "problem"
            fix = f"\n{'':{width + 11}}fix: {check.fix}" if check.fix else ""
            print(f"{status}  {check.name:<{width}}  {check.detail}{fix}")
    return EXIT_SOME_FAILED if problems else EXIT_OK


def _marks_path(args: argparse.Namespace) -> Path:
    """The marks file of a ``not-duplicates`` command: ``--file`` or the default one."""
    from imageprism.dedup.not_duplicates import default_path

    return Path(args.file or default_path()).expanduser()


def _marks(args: argparse.Namespace) -> Any:
    from imageprism.dedup.not_duplicates import NotDuplicates

    return NotDuplicates(_marks_path(args))


def _share(text: str) -> float:
    """An argparse type: a number in (0, 1] (a precision or recall to reach)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def _mark_digest(text: str) -> str:
    """The content digest of an image file, or ``text`` itself when it is a digest and no file."""
    from imageprism.dedup.not_duplicates import is_digest
    from imageprism.io.images import prepare

    if is_digest(text) and not Path(text).exists():
        return text.lower()  # e.g. to forget a mark of a file deleted since
    return prepare(text).digest


def _mark_pair(args: argparse.Namespace) -> tuple[str, str]:
    pair = (_mark_digest(args.a), _mark_digest(args.b))
    if pair[0] == pair[1]:
        raise _UsageError(
            f"{args.a} and {args.b} have the same content ({pair[0]}): identical files are "
            "always duplicates"
        )
    return pair


_MARK_STATES = {
    ("add", True): "marked as not duplicates",
    ("add", False): "already marked as not duplicates",
    ("remove", True): "removed the mark",
    ("remove", False): "no mark to remove",
}


def _no_marks_file(args: argparse.Namespace) -> Path | None:
    """The marks file when it does not exist (reading it must not create it), else None."""
    path = _marks_path(args)
    return None if path.exists() else path


def _not_duplicates_pair(args: argparse.Namespace) -> int:
    """``not-duplicates add`` or ``remove``: one pair."""
    pair = _mark_pair(args)
    action = args.marks_command
    missing = _no_marks_file(args) if action == "remove" else None
    if missing is not None:
        if args.json:
            _print_json({"removed": False, "pair": list(pair), "file": str(missing)})
        else:
            print(f"no mark to remove: {args.a} and {args.b} ({missing} does not exist)")
        return EXIT_OK
    with _marks(args) as marks:
        changed = (marks.add if action == "add" else marks.remove)(*pair)
        if args.json:
            key = "added" if action == "add" else "removed"
            _print_json({key: changed, "pair": list(pair), "file": str(marks.path)})
        else:
            state = _MARK_STATES[action, changed]
            print(f"{state}: {args.a} and {args.b} (in {marks.path})")
    return EXIT_OK


def _not_duplicates_import(args: argparse.Namespace) -> int:
    from imageprism.dedup.not_duplicates import read_marks

    pairs = read_marks(args.marks)
    with _marks(args) as marks:
        added = marks.add_many(pairs)
        total = len(marks)
        if args.json:
            _print_json(
                {"added": added, "in_file": len(pairs), "total": total, "file": str(marks.path)}
            )
        else:
            print(
                f"imported {added} new pairs from {args.marks} ({len(pairs) - added} already "
                f"marked); {total} pairs in {marks.path}"
            )
    return EXIT_OK


def _not_duplicates_list(args: argparse.Namespace) -> int:
    from imageprism.dedup.not_duplicates import FORMAT

    if _no_marks_file(args) is not None:
        if args.json:
            _print_json({"format": FORMAT, "pairs": []})
        return EXIT_OK
    with _marks(args) as marks:
        if args.json:
            _print_json(marks.to_json())  # the export format: `import` reads it back
        else:
            for a, b in marks.pairs():
                print(f"{a} {b}")
    return EXIT_OK


def _undo(args: argparse.Namespace) -> int:
    from imageprism.actions import undo

    result = undo(args.manifest)
    if args.json:
        _print_json(result.to_dict())
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


def _presets(args: argparse.Namespace) -> int:
    from imageprism.thresholds.presets import BENCHMARKS, presets

    found = presets(args.target)
    if args.target and not found:
        targets = sorted({p.target for p in presets()})
        raise _UsageError(
            f"no presets for {args.target!r}; presets exist for: {', '.join(targets)}"
        )
    used = {p.benchmark: BENCHMARKS.get(p.benchmark, "") for p in found if p.benchmark}
    if args.json:
        _print_json({"presets": [p.model_dump() for p in found], "benchmarks": used})
        return EXIT_OK

    def share(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    rows = [("TARGET", "NAME", "THRESHOLD", "PRECISION", "RECALL", "BENCHMARK")]
    rows += [
        (p.target, p.name, f"{p.threshold:g}", share(p.precision), share(p.recall),
         p.benchmark or "not measured")
        for p in found
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        print(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[5]
        )
    print("\nnotes:")
    for p in found:
        print(f"  {p.target} {p.name}: {p.note}")
    if used:
        print("\nbenchmarks:")
        for name, text in used.items():
            print(f"  {name}: {text}")
    return EXIT_OK


def _calibrate(args: argparse.Namespace) -> int:
    from imageprism.thresholds.calibrate import calibrate, calibration_path

    if args.save:
        calibration_path(args.save)  # a bad name fails before any embedding
    bar = _progress(args, "embedding")
    result = calibrate(
        args.pairs,
        _prism(args),
        target_precision=args.target_precision,
        target_recall=args.target_recall,
        objective=args.objective,
        fit_weights=args.fit_weights,
        profile=args.profile,
        progress=bar,
    )
    saved = result.save(args.save) if args.save else None
    if args.json:
        _print_json({**result.to_dict(), "saved": None if saved is None else str(saved)})
        return _finish(result.errors, [])
    rule = (
        f"target precision {result.target_precision:g}"
        if result.target_precision is not None
        else f"target recall {result.target_recall:g}"
        if result.target_recall is not None
        else f"best {result.objective.replace('_', ' ')}"
    )
    print(
        f"{len(result.same)} pairs: {result.positives} same, {result.negatives} different; "
        f"thresholds by {rule}; 95% Wilson intervals"
    )
    fits = {**result.dimensions, **({"weighted": result.weighted} if result.weighted else {})}
    width = max(len(name) for name in fits)
    print(
        f"{'':<{width}}  threshold  {'precision [95% CI]':<21}  {'recall [95% CI]':<21}  "
        "F1     unscored"
    )
    for name, fit in fits.items():
        precision = f"{fit.precision:.3f} [{fit.precision_ci[0]:.3f}, {fit.precision_ci[1]:.3f}]"
        recall = f"{fit.recall:.3f} [{fit.recall_ci[0]:.3f}, {fit.recall_ci[1]:.3f}]"
        missed = "" if fit.achieved else "  (target not reached)"
        print(
            f"{name:<{width}}  {fit.threshold:<9.4f}  {precision:<21}  {recall:<21}  "
            f"{fit.f1:.3f}  {fit.unscored}{missed}"
        )
    if result.weighted is not None:
        weights = ", ".join(f"{name} {weight:.2f}" for name, weight in result.weights.items())
        print(f"weights: {weights}" + (" (fitted)" if result.fitted_weights else ""))
    if saved is not None:
        print(f"saved as {args.save}: {saved}")
    return _finish(result.errors, [])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imageprism",
        description="Compare images on several kinds of similarity at once.",
        epilog="Exit codes: 0 ok; 1 some inputs could not be used; 2 bad usage or configuration.",
    )
    parser.add_argument("--version", action="version", version=f"imageprism {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def scoring(p: argparse.ArgumentParser) -> None:
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
        p.add_argument("--json", action="store_true", help="print JSON")
        p.add_argument("--quiet", action="store_true", help="no progress bar")

    def folders(p: argparse.ArgumentParser) -> None:
        p.add_argument("images", nargs="+", help="image files or folders (searched recursively)")
        p.add_argument("--hidden", action="store_true", help="include hidden files and folders")

    p = sub.add_parser("compare", help="score two images on every dimension")
    p.add_argument("a", help="first image")
    p.add_argument("b", help="second image")
    scoring(p)
    p.set_defaults(run=_compare)

    p = sub.add_parser("embed", help="print or save embeddings of images (files or folders)")
    folders(p)
    p.add_argument(
        "-o",
        "--output",
        help="write the embeddings to FILE.npz or FILE.parquet (ids, one column per dimension)",
    )
    scoring(p)
    p.set_defaults(run=_embed)

    p = sub.add_parser("dedup", help="group near-duplicate images (files or folders)")
    folders(p)
    p.add_argument("--threshold", type=float, help="score in [0, 1] (default 0.9)")
    p.add_argument(
        "--preset",
        help="a named threshold of the dimension or profile: exact, near-duplicate, similar "
        "(see `imageprism presets`)",
    )
    p.add_argument(
        "--calibration", help="a calibration saved by `imageprism calibrate --save NAME`"
    )
    p.add_argument("--report", help="also write an HTML page of the duplicate groups to REPORT")
    p.add_argument(
        "--every",
        help="video input: sample a frame every 0.5s (seconds) or every 10 (frames)",
    )
    p.add_argument("--out", help="video input: write the distinct frames and frames.json here")
    p.add_argument(
        "--backend",
        choices=("exact", "faiss"),
        default="exact",
        help="how candidate pairs are found: exact (default) or faiss (imageprism-core[faiss])",
    )
    p.add_argument(
        "--keep",
        choices=KEEP_POLICIES,
        default="first",
        help="which file of a group to keep (default: first, the representative; "
        "oldest/newest go by modification time)",
    )
    p.add_argument(
        "--action",
        choices=ACTIONS,
        default="report",
        help="what to do with the other files: report (default, nothing), move, hardlink, delete",
    )
    p.add_argument(
        "--to",
        help="folder for the moved duplicates or hard-linked originals and the undo manifest "
        "(delete: the manifest of what was deleted); outside the folders deduplicated",
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument(
        "--yes-delete", action="store_true", help="allow --action delete (cannot be undone)"
    )
    p.add_argument(
        "--store",
        help="embedding store to reuse and extend (default: ~/.cache/imageprism/embeddings.sqlite)",
    )
    p.add_argument("--no-store", action="store_true", help="do not read or write a store")
    p.add_argument(
        "--not-duplicates",
        help="marks file of pairs never to group "
        "(default: ~/.local/share/imageprism/not-duplicates.sqlite)",
    )
    scoring(p)
    p.set_defaults(run=_dedup)

    p = sub.add_parser("index", help="build a search index of images (files or folders)")
    index_sub = p.add_subparsers(dest="index_command", required=True, metavar="ACTION")
    p = index_sub.add_parser("build", help="embed images and save the index to one file")
    folders(p)
    p.add_argument("-o", "--output", required=True, help="the index file to write")
    scoring(p)
    p.set_defaults(run=_index_build)

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
    scoring(p)
    p.set_defaults(run=_search)

    models = sub.add_parser("models", help="list or download the model files of dimensions")
    models_sub = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    p = models_sub.add_parser("list", help="model files, their pins, licences and cache state")
    p.add_argument("names", nargs="*", help="dimension names (default: every model-backed one)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_models_list)
    p = models_sub.add_parser(
        "pull", help="download and verify model files now, so later use works offline"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("names", nargs="*", help="dimension names (default: every model-backed one)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_models_pull)

    p = sub.add_parser(
        "doctor", help="check the setup: packs, plugins, model cache, ONNX Runtime, formats"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_doctor)

    marks = sub.add_parser(
        "not-duplicates",
        help="remember pairs of images that are not duplicates, so dedup never groups them",
    )
    marks_sub = marks.add_subparsers(dest="marks_command", required=True, metavar="ACTION")

    def marks_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--file",
            help="the marks file (default: $XDG_DATA_HOME/imageprism/not-duplicates.sqlite, "
            "XDG_DATA_HOME defaulting to ~/.local/share)",
        )
        p.add_argument("--json", action="store_true", help="print JSON")

    for action, verb in (
        ("add", "mark two images as not duplicates"),
        ("remove", "forget the mark of two images"),
    ):
        p = marks_sub.add_parser(action, help=verb + " (image files, or content digests)")
        p.add_argument("a", help="an image file, or a content digest")
        p.add_argument("b", help="the other image file, or content digest")
        marks_options(p)
        p.set_defaults(run=_not_duplicates_pair)
    p = marks_sub.add_parser(
        "import", help="add the marks of a JSON file (the HTML report's export)"
    )
    p.add_argument("marks", help="a file in the imageprism-not-duplicates/1 format")
    marks_options(p)
    p.set_defaults(run=_not_duplicates_import)
    p = marks_sub.add_parser("list", help="print every marked pair of digests (--json: export)")
    marks_options(p)
    p.set_defaults(run=_not_duplicates_list)

    p = sub.add_parser(
        "undo", help="put back the files a dedup --action run moved (from its undo manifest)"
    )
    p.add_argument("manifest", help="the undo manifest, e.g. DUPES/imageprism-undo.json")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_undo)

    p = sub.add_parser(
        "presets", help="named thresholds (exact, near-duplicate, similar) and how they measured"
    )
    p.add_argument("--target", help="only the presets of this dimension or profile")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_presets)

    p = sub.add_parser(
        "calibrate", help="fit thresholds to labelled pairs (CSV: path_a, path_b, same)"
    )
    p.add_argument(
        "pairs", help="CSV with columns path_a, path_b, same (yes/no); paths relative to it"
    )
    target = p.add_mutually_exclusive_group()
    target.add_argument(
        "--target-precision", type=_share, help="reach this precision with the most recall"
    )
    target.add_argument(
        "--target-recall", type=_share, help="reach this recall with the most precision"
    )
    p.add_argument(
        "--objective",
        choices=["f1", "balanced_accuracy"],
        default="f1",
        help="without a target, what the threshold maximises (default f1)",
    )
    p.add_argument(
        "--fit-weights",
        action="store_true",
        help="also fit the weights of the weighted score (every split in steps of 0.1)",
    )
    p.add_argument("--save", metavar="NAME", help="save the calibration under NAME")
    scoring(p)
    p.set_defaults(run=_calibrate)

    p = sub.add_parser("plugins", help="list discovered plugins, their distributions and versions")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_plugins)
    return parser


def _silence_stdout() -> None:
    """Point stdout at the null device, so flushing it at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (e.g. under a test)
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except ImageLoadError as err:
        print(f"imageprism: error: {err}", file=sys.stderr)
        return EXIT_SOME_FAILED
    except (ImagePrismError, _UsageError) as err:
        print(f"imageprism: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # the reader went away (`imageprism presets | head`): stop quietly
        _silence_stdout()
        return EXIT_SOME_FAILED
    except OSError as err:  # e.g. an output path in a missing folder, or a folder
        where = f" {err.filename}" if err.filename else ""
        print(f"imageprism: error: cannot write{where}: {err.strerror or err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
