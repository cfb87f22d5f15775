"""``imageprism dedup IMAGES...``: group near-duplicate images (files or folders) at a
threshold from ``--threshold``, ``--preset`` or ``--calibration``; optionally write an HTML
report and act on the copies (``--action move|hardlink|delete``, undone by ``imageprism
undo``). Given one video file instead, it samples frames (``--every``) and keeps the distinct
ones (``--out``).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from imageprism.actions import ACTIONS, KEEP_POLICIES, apply_plan, plan_actions
from imageprism.cli._common import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    UsageError,
    add_folder_options,
    add_scoring_options,
    check_output,
    dedup_settings,
    finish,
    image_files,
    print_json,
    progress,
)
from imageprism.io.names import display_name, display_text
from imageprism.report.render import render_report, write_report

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg"})


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``dedup`` command to the subcommands ``sub``."""
    p = sub.add_parser("dedup", help="group near-duplicate images (files or folders)")
    add_folder_options(p)
    p.add_argument("--threshold", type=float, help="score in [0, 1] (default 0.9)")
    p.add_argument(
        "--preset",
        help="a named threshold of the dimension or profile: exact, near-duplicate, similar "
        "(see `imageprism presets`)",
    )
    p.add_argument(
        "--calibration", help="a calibration saved by `imageprism calibrate --save NAME`"
    )
    p.add_argument(
        "--trust-calibration-models",
        action="store_true",
        help="use the models a calibration FILE names even when the installed packs do not "
        "pin them (or a local model file): only for a file whose author you trust",
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
        "(delete: the manifest of what was deleted); outside the folders deduplicated and "
        "the folders of the files listed",
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
    add_scoring_options(p)
    p.set_defaults(run=run)


def _not_duplicates(path: str | None) -> Any:
    """The remembered not-duplicate marks (``--not-duplicates`` or the default file), if any."""
    from imageprism.dedup.not_duplicates import NotDuplicates, default_path

    chosen = Path(path) if path else default_path()
    if not chosen.exists():
        if path:
            raise UsageError(f"--not-duplicates: {path} not found")
        return None
    return NotDuplicates(chosen)


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
        raise UsageError(
            f"--every takes seconds like 0.5s or a frame count like 10, got {text!r}"
        ) from None


def _dedup_video(args: argparse.Namespace) -> int:
    from imageprism.io.video import dedup_video

    every_seconds, every_frames = _every(args.every)
    bar = progress(args, "frames")
    prism, threshold = dedup_settings(args)
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
        print_json(result.to_dict())
    else:
        print(
            f"{len(result.frames)} frames sampled, {len(result.kept)} distinct "
            f"(threshold {threshold})"
        )
        for frame, written in zip(
            result.kept_frames, result.written or [""] * len(result.kept), strict=True
        ):
            print(
                f"keep frame {frame.index} at {frame.time:.3f}s"
                + (f" -> {written}" if written else "")
            )
    return EXIT_OK


def _check_actions(args: argparse.Namespace, video: bool) -> None:
    """Refuse action flags that cannot work, before anything is embedded."""
    if video and (args.action != "report" or args.to or args.keep != "first"):
        raise UsageError("--keep, --action and --to apply to images, not to a video input")
    if args.store and args.no_store:
        raise UsageError("use --store FILE or --no-store, not both")
    if args.action == "report":
        if args.to or args.yes_delete:
            raise UsageError("--to and --yes-delete need --action move, hardlink or delete")
        return
    if args.action == "delete" and not args.yes_delete:
        raise UsageError("--action delete cannot be undone: add --yes-delete to confirm it")
    if not args.to:
        raise UsageError(
            f"--action {args.action} needs --to FOLDER (for the duplicates and the manifest)"
        )
    to = Path(os.path.realpath(args.to))
    if to.exists() and not to.is_dir():
        raise UsageError(f"--to {display_name(args.to)} is a file, not a folder")
    for root in map(Path, _roots(args.images)):
        if to == root or root in to.parents:
            raise UsageError(
                f"--to {display_name(args.to)} is inside {display_name(root)}, which is being "
                "deduplicated: choose a folder outside it"
            )


def _roots(images: list[str]) -> list[str]:
    """The library roots: each folder given, and the folder of each file given (resolved).

    No file is moved, linked or deleted unless its folder, every link resolved,
    lies inside one of them.
    """
    roots = set()
    for image in images:
        if os.path.isdir(image):
            roots.add(os.path.realpath(image))
        else:  # the folder the file is listed in, not where a link to it leads
            roots.add(os.path.realpath(os.path.dirname(os.path.abspath(image))))
    return sorted(roots)


def _undo_command(manifest: str) -> str:
    shown = display_name(manifest)
    return f"imageprism undo {shlex.quote(shown) if shown == manifest else shown}"


def _summary(action: str, applied: Any) -> str:
    """``29 of 58 moved`` (and why the run stopped, if it did)."""
    done = sum(o.status == "done" for o in applied.outcomes)
    tried = sum(o.status != "skipped" for o in applied.outcomes)
    verb = {"move": "moved", "hardlink": "hard-linked", "delete": "deleted"}[action]
    line = f"{done} of {tried} {verb}"
    if applied.stopped:
        line += f"; stopped: {applied.stopped}"
    return line


def run(args: argparse.Namespace) -> int:
    """Deduplicate ``args.images`` (or the frames of one video); returns the exit code."""
    video = len(args.images) == 1 and Path(args.images[0]).suffix.lower() in VIDEO_SUFFIXES
    _check_actions(args, video)
    if video:
        if args.report or args.hidden:
            raise UsageError("--report and --hidden apply to images, not to a video input")
        return _dedup_video(args)
    if args.every or args.out:
        raise UsageError("--every and --out apply to a video input (one .mp4, .mov, ... file)")
    check_output(args.report)
    marks = _not_duplicates(args.not_duplicates)  # a damaged marks file stops here
    try:
        prism, threshold = dedup_settings(args)
        files, skipped = image_files(args)
        result = prism.dedup(
            files,
            threshold=threshold,
            backend=args.backend,
            not_duplicates=marks,
            progress=progress(args, "embedding"),
        )
    finally:
        if marks is not None:
            marks.close()
    plan = plan_actions(
        result,
        keep=args.keep,
        action=args.action,
        to=args.to,
        allow_delete=args.yes_delete,
        roots=_roots(args.images),
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
    manifest = "" if applied is None else str(applied.manifest)
    store = prism.store
    if args.json:
        print_json(
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
                else {
                    "path": str(store.path),
                    "reused": store.hits,
                    "embedded": store.written,
                    "problem": store.problem or store.write_problem,
                },
            }
        )
    else:
        good = len(files) - len(result.errors)
        print(
            f"{good} images, {len(result.unique)} unique, {len(result.groups)} groups of "
            f"near-duplicates (threshold {result.threshold:.4g})"
        )
        if store is not None and store.problem is not None:
            print(f"store not used: {display_text(store.problem)}")
        elif store is not None:
            print(
                f"embeddings: {store.written} computed, {store.hits} reused from "
                f"{display_name(store.path)}"
            )
            if store.write_problem is not None:
                print(f"store not written: {display_text(store.write_problem)}")
        if args.dry_run and args.action != "report":
            print("dry run: nothing is changed")
        print(plan.describe())
        if args.report:
            print(f"report: {display_name(args.report)}")
        if applied is not None:
            print(_summary(args.action, applied))
        if applied is not None and args.action == "delete":
            print(
                f"deleted files are listed in {display_name(manifest)} "
                "(a deletion cannot be undone)"
            )
        elif applied is not None:
            print(f"undo with: {_undo_command(manifest)}")
    failed = [] if applied is None else applied.failed
    for outcome in failed:
        where = f" to {display_name(outcome.target)}" if outcome.target else ""
        reason = f"{outcome.action} {display_name(outcome.path)}{where}: {outcome.reason}"
        print(f"imageprism: cannot {reason}", file=sys.stderr)
    if failed and applied is not None and args.action != "delete":
        print(
            f"imageprism: {_summary(args.action, applied)}; undo with: {_undo_command(manifest)}",
            file=sys.stderr,
        )
    return max(finish(result.errors, skipped), EXIT_SOME_FAILED if failed else EXIT_OK)
