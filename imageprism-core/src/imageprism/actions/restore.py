"""Undoing an applied plan from the undo manifest it wrote.

``undo`` reads the filesystem rather than trusting the recorded status, so it
also reverses an interrupted run: each moved or backed-up file goes back to its
original path (only when its bytes are still the recorded ones), hard links made
by ``hardlink`` are removed first, and a step that never ran is reported as in
place. It never overwrites: a file it cannot put back stays where it is, with
the reason. Running it twice is harmless. The manifest is untrusted input:
before any file is touched it must prove to be one imageprism wrote (format,
version, and each step's fields and types).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from imageprism.actions._files import _FORMAT, _VERSION, _journal, _matches, _os_reason, _Untouched
from imageprism.actions.apply import ActionResult, StepOutcome, _part, _place
from imageprism.errors import UndoManifestError

_STEP_FIELDS = {"action": str, "path": str, "keeper": str, "status": str}


def _load_manifest(path: Path) -> dict[str, Any]:
    """The manifest with the journal of an interrupted run merged in."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise UndoManifestError(f"undo manifest {path} not found") from err
    except OSError as err:
        raise UndoManifestError(f"cannot read undo manifest {path}: {err.strerror}") from err
    except ValueError as err:
        raise UndoManifestError(f"{path} is not an undo manifest: invalid JSON ({err})") from err
    problem = _manifest_problem(data)
    if problem:
        raise UndoManifestError(f"{path} is not an imageprism undo manifest: {problem}")
    journal = _journal(path)
    with contextlib.suppress(FileNotFoundError):
        for line in journal.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                if entry["id"] < 0:
                    continue
                step = data["steps"][entry["id"]]
                step.update(status=str(entry["status"]), reason=entry.get("reason"))
            except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                continue  # a line torn by the interruption
    return data


def _manifest_problem(data: Any) -> str | None:
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        return f"no 'format': {_FORMAT!r}"
    if data.get("version") != _VERSION:
        return f"unsupported version {data.get('version')!r} (this imageprism reads {_VERSION})"
    steps = data.get("steps")
    if not isinstance(steps, list):
        return "'steps' is not a list"
    for number, step in enumerate(steps):
        if not isinstance(step, dict):
            return f"step {number} is not an object"
        for field, kind in _STEP_FIELDS.items():
            if not isinstance(step.get(field), kind):
                return f"step {number} has no {field}"
        moves = step["action"] in ("move", "hardlink") and step["status"] != "skipped"
        if moves and not isinstance(step.get("target"), str):
            return f"step {number} has no target"
    return None


def _same_inode(a: str, b: str, *, follow: bool = False) -> bool:
    try:
        first = os.lstat(a)
        second = os.stat(b) if follow else os.lstat(b)
    except OSError:
        return False
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


def _drop_parts(path: str, target: str) -> None:
    """Remove temporary copies left by an interrupted cross-filesystem move (source intact)."""
    for copy, source in ((target, path), (path, target)):
        part = _part(Path(copy))
        if os.path.lexists(part) and os.path.lexists(source):
            part.unlink()


def _undo_step(step: dict[str, Any]) -> tuple[str, str | None]:
    path, target, action = step["path"], step.get("target", ""), step["action"]
    if action == "delete":
        if os.path.lexists(path):
            return "in-place", None
        return "failed", "deleted; a deletion cannot be undone"
    if action not in ("move", "hardlink"):
        return "in-place", None
    _drop_parts(path, target)
    linked = action == "hardlink" and _same_inode(path, step["keeper"], follow=True)
    if not os.path.lexists(target):
        if linked:
            return (
                "failed",
                f"a hard link to {step['keeper']}, and the original at {target} is gone",
            )
        if os.path.lexists(path):
            return "in-place", None
        return "failed", f"missing, and not at {target} either"
    intact = _matches(target, step.get("size"), step.get("digest"))
    if not intact:
        return "failed", f"{target} has changed since it was moved there; left in place"
    if linked:
        os.unlink(path)  # the link this run made; the original bytes are at target
    elif os.path.lexists(path):
        if _same_inode(path, target) or _matches(path, step.get("size"), step.get("digest")):
            os.unlink(target)  # an interrupted move: the same bytes are at path
            return "restored", None
        return "failed", f"the path is taken by another file; the original stays at {target}"
    try:
        _place(Path(target), Path(path))
    except _Untouched as err:
        return "failed", str(err)
    return "restored", None


def _prune(folder: Path, stop: Path) -> None:
    """Remove folders left empty below ``stop``, from ``folder`` upwards."""
    while folder != stop and stop in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def undo(manifest: str | os.PathLike[str]) -> ActionResult:
    """Put back every file a run recorded in ``manifest`` (also after an interrupted run).

    Each moved file (and each original a ``hardlink`` run kept aside) goes back
    to its path, provided its bytes are still the recorded ones; the hard links
    are removed first. Nothing is ever overwritten: a file that cannot go back
    stays where it is, and its outcome says why. Steps that never ran are
    ``in-place``; deleted files are ``failed`` (a deletion cannot be undone).
    Folders in ``to`` left empty are removed. Running it again changes nothing.
    Steps the run left alone (skipped, or failed without changing anything)
    have no outcome.

    Raises:
        UndoManifestError: the manifest is missing, unreadable or not one
            imageprism wrote.
    """
    path = Path(os.path.abspath(manifest))
    data = _load_manifest(path)
    to = Path(data["to"]) if isinstance(data.get("to"), str) else None
    outcomes = []
    for step in data["steps"]:
        if step["status"] in ("skipped", "failed"):
            continue  # left alone by the run: the file never moved
        try:
            status, reason = _undo_step(step)
        except OSError as err:
            status, reason = "failed", _os_reason(err)
        if to is not None and step.get("target"):
            _prune(Path(step["target"]).parent, to)
        outcomes.append(
            StepOutcome(step["action"], step["path"], step.get("target"), status, reason)
        )
    return ActionResult(str(path), outcomes)
