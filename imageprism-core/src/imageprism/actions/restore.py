"""Undoing an applied plan from the undo manifest it wrote.

``undo`` reads the filesystem rather than trusting the recorded status, so it
also reverses an interrupted run: each moved or backed-up file goes back to its
original path (only when its bytes are still the recorded ones), hard links made
by ``hardlink`` are removed first, and a step that never ran is reported as in
place. It never overwrites: a file it cannot put back stays where it is, with
the reason. Running it twice is harmless.

The manifest is untrusted input. Before any file is touched it must prove to be
one imageprism wrote (format, version, each step's fields and types) and, unless
the caller passes ``trust_roots=True`` after showing the user its recorded roots,
carry a valid HMAC made with this user's key (see ``actions.apply``): a crafted,
edited or another user's manifest is refused. Every path in it must be a plain
absolute path inside the roots it records: each step's path and keeper inside a
library root, each target and created folder inside ``to``. Right before a file
moves, its folder and its destination's folder are resolved again
(``os.path.realpath``): a folder replaced by a link out of the roots is never
followed. Only the folders the run recorded as created are removed, deepest
first, and only when empty.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from pathlib import Path
from typing import Any

from imageprism.actions._files import (
    _FORMAT,
    _MANIFEST_PREFIX,
    _VERSIONS,
    _inside,
    _journal,
    _matches,
    _os_reason,
    _plain_absolute,
    _really_inside,
    _Untouched,
    _verified,
)
from imageprism.actions.apply import ActionResult, StepOutcome, _part, _place
from imageprism.errors import UndoManifestError, UntrustedManifestError
from imageprism.io.names import display_name

_STEP_FIELDS = {"action": str, "path": str, "keeper": str, "status": str}


_MAX_MANIFEST = 256 << 20  # bytes: far above any real run, below exhausting memory


def _read_json(path: Path) -> Any:
    shown = display_name(path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # never open a FIFO or a device
            raise UndoManifestError(f"undo manifest {shown} is not a regular file")
        with open(path, "rb") as handle:
            raw = handle.read(_MAX_MANIFEST + 1)
    except FileNotFoundError as err:
        raise UndoManifestError(f"undo manifest {shown} not found") from err
    except OSError as err:
        raise UndoManifestError(f"cannot read undo manifest {shown}: {err.strerror}") from err
    if len(raw) > _MAX_MANIFEST:
        raise UndoManifestError(f"{shown} is not an undo manifest: over {_MAX_MANIFEST} bytes")
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as err:
        raise UndoManifestError(f"{shown} is not an undo manifest: invalid JSON ({err})") from err


def _roots_of(data: dict[str, Any]) -> tuple[list[str], str | None]:
    """The library roots and ``to`` a manifest records (0.2 manifests: the steps' folders)."""
    to = data.get("to") if isinstance(data.get("to"), str) else None
    roots = data.get("roots")
    if isinstance(roots, list) and all(isinstance(r, str) for r in roots):
        return list(roots), to
    steps = data["steps"]
    return sorted({os.path.dirname(s[f]) for s in steps for f in ("path", "keeper")}), to


def _load_manifest(path: Path, *, trust_roots: bool) -> dict[str, Any]:
    """The checked manifest with the journal of an interrupted run merged in.

    Raises:
        UndoManifestError: not a manifest, or a path outside its roots.
        UntrustedManifestError: its MAC does not verify and ``trust_roots`` is False.
    """
    shown = display_name(path)
    data = _read_json(path)
    problem = _manifest_problem(data)
    if problem:
        raise UndoManifestError(f"{shown} is not an imageprism undo manifest: {problem}")
    roots, to = _roots_of(data)
    if not trust_roots and not _verified(data):
        raise UntrustedManifestError(
            f"undo manifest {shown} was not written by this user's imageprism (its signature "
            "does not verify: edited, crafted, from another user or from imageprism 0.2); "
            "nothing was changed. It would move files inside "
            + ", ".join(display_name(r) for r in [*roots, *([to] if to else [])])
            + "; if you trust it, run `imageprism undo --trust-roots` on it",
            roots=roots,
            to=to,
        )
    created = data.get("created_folders")
    data["created_folders"] = list(created) if isinstance(created, list) else []
    journal = _journal(path)
    with contextlib.suppress(OSError, UndoManifestError, UnicodeDecodeError):
        text = ""
        if journal.is_file():
            with open(journal, "rb") as handle:
                text = handle.read(_MAX_MANIFEST).decode("utf-8")
        for line in text.splitlines():
            try:
                entry = json.loads(line)
                if entry["id"] < 0:
                    data["created_folders"].append(str(entry["created"]))
                    continue
                step = data["steps"][entry["id"]]
                step.update(status=str(entry["status"]), reason=entry.get("reason"))
                if "target" in entry:  # taken meanwhile: the run chose a free name
                    step["target"] = str(entry["target"])
            except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                continue  # a line torn by the interruption
    # the journal is not signed: every path is checked with it merged in
    problem = _manifest_problem(data) or _path_problem(data, roots, to)
    if problem:
        raise UndoManifestError(f"undo manifest {shown} is refused: {problem}; nothing was changed")
    data["created_folders"] = [
        f
        for f in data["created_folders"]
        if isinstance(f, str) and to and _plain_absolute(f) and f != to and _inside(f, [to])
    ]
    return data


def _path_problem(data: dict[str, Any], roots: list[str], to: str | None) -> str | None:
    """Why a manifest's paths cannot be trusted: one outside its roots, or a bad root."""
    for root in [*roots, *([to] if to else [])]:
        if not _plain_absolute(root) or os.path.dirname(root) == root:
            return f"its root {display_name(root)} is not a plain absolute folder below /"
    for number, step in enumerate(data["steps"]):
        if step["status"] == "skipped":
            continue
        for name in ("path", "keeper"):
            value = step[name]
            inside = _inside(value, roots) or _really_inside(os.path.dirname(value), roots)
            if not _plain_absolute(value) or not inside:
                return f"step {number}'s {name} {display_name(value)} is outside its roots"
        target = step.get("target")
        moves = step["action"] in ("move", "hardlink")
        if moves and (to is None or not _plain_absolute(target) or not _inside(target, [to])):
            return f"step {number}'s target {display_name(target)} is outside its 'to' folder"
    return None


def _manifest_problem(data: Any) -> str | None:
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        return f"no 'format': {_FORMAT!r}"
    if data.get("version") not in _VERSIONS:
        versions = ", ".join(map(str, _VERSIONS))
        return f"unsupported version {data.get('version')!r} (this imageprism reads {versions})"
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


def _undo_step(step: dict[str, Any], roots: list[str], to: str | None) -> tuple[str, str | None]:
    path, target, action = step["path"], step.get("target", ""), step["action"]
    if not _really_inside(os.path.dirname(path), roots):
        return "failed", (
            f"its folder leads out of {', '.join(map(display_name, roots))} through a link "
            "(never followed)"
        )
    if action == "delete":
        if os.path.lexists(path):
            return "in-place", None
        return "failed", "deleted; a deletion cannot be undone"
    if action not in ("move", "hardlink"):
        return "in-place", None
    assert to is not None  # checked with the manifest
    if not _really_inside(os.path.dirname(target), [to]):
        return "failed", (
            f"{display_name(target)} is reached through a link out of {display_name(to)} "
            "(never followed)"
        )
    _drop_parts(path, target)
    linked = (
        action == "hardlink"
        and os.path.realpath(path) != os.path.realpath(step["keeper"])
        and _same_inode(path, step["keeper"], follow=True)
        and os.lstat(path).st_nlink > 1
    )
    if not os.path.lexists(target):
        if linked:
            return (
                "failed",
                f"a hard link to {display_name(step['keeper'])}, and the original at "
                f"{display_name(target)} is gone",
            )
        if os.path.lexists(path):
            return "in-place", None
        return "failed", f"missing, and not at {display_name(target)} either"
    intact = _matches(target, step.get("size"), step.get("digest"))
    if not intact:
        return (
            "failed",
            f"{display_name(target)} has changed since it was moved there; left in place",
        )
    if linked:
        os.unlink(path)  # the link this run made; the original bytes are at target
    elif os.path.lexists(path):
        if _same_inode(path, target) or _matches(path, step.get("size"), step.get("digest")):
            os.unlink(target)  # an interrupted move: the same bytes are at path
            return "restored", None
        return "failed", (
            f"the path is taken by another file; the original stays at {display_name(target)}"
        )
    top = next(
        (r for r in sorted(roots, key=len, reverse=True) if _inside(path, [r])),
        os.path.dirname(path),  # reached through a link to the root: no folder is made
    )
    try:
        _place(Path(target), Path(path), top=Path(top), roots=roots)
    except _Untouched as err:
        return "failed", str(err)
    return "restored", None


def _prune(created: list[str]) -> None:
    """Remove the folders the run created, deepest first, each only when empty."""
    for folder in sorted(set(created), key=lambda f: (f.count(os.sep), f), reverse=True):
        with contextlib.suppress(OSError):  # not empty, gone, or not a folder
            if not os.path.islink(folder):
                os.rmdir(folder)


def manifests_in(folder: str | os.PathLike[str]) -> list[Path]:
    """The undo manifests in ``folder`` (a ``--to`` folder), newest first.

    Both each run's own ``imageprism-undo-<time>-<random>.json`` and 0.2's
    ``imageprism-undo.json`` (``-2``, ``-3``, ...) are listed.
    """
    found = [
        p
        for p in Path(folder).glob(f"{_MANIFEST_PREFIX}*.json")
        if p.is_file() and not p.is_symlink()
    ]
    return sorted(found, key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True)


def manifest_roots(manifest: str | os.PathLike[str]) -> tuple[list[str], str | None, bool]:
    """The library roots and ``to`` folder a manifest records, and whether its MAC verifies.

    This is what ``undo(..., trust_roots=True)`` would trust: show it to the user.

    Raises:
        UndoManifestError: the manifest is missing, unreadable or not one imageprism wrote.
    """
    path = Path(os.path.abspath(manifest))
    data = _read_json(path)
    problem = _manifest_problem(data)
    if problem:
        raise UndoManifestError(
            f"{display_name(path)} is not an imageprism undo manifest: {problem}"
        )
    roots, to = _roots_of(data)
    return roots, to, _verified(data)


def undo(manifest: str | os.PathLike[str], *, trust_roots: bool = False) -> ActionResult:
    """Put back every file a run recorded in ``manifest`` (also after an interrupted run).

    Each moved file (and each original a ``hardlink`` run kept aside) goes back
    to its path, provided its bytes are still the recorded ones; the hard links
    are removed first. Nothing is ever overwritten: a file that cannot go back
    stays where it is, and its outcome says why. Steps that never ran are
    ``in-place``; deleted files are ``failed`` (a deletion cannot be undone).
    The folders the run created in ``to`` are removed when left empty; no other
    folder is. Running it again changes nothing. Steps the run left alone
    (skipped, or failed without changing anything) have no outcome.

    Args:
        manifest: The undo manifest a run wrote.
        trust_roots: Undo a manifest whose signature does not verify (written
            by imageprism 0.2, or by this user on another machine), trusting the
            roots it records (``manifest_roots``): show them to the user first.
            Every path must still lie inside those roots.

    Raises:
        UndoManifestError: the manifest is missing, unreadable, not one
            imageprism wrote, or names a path outside its roots (nothing is changed).
        UntrustedManifestError: its signature does not verify and ``trust_roots``
            is False (nothing is changed).
    """
    path = Path(os.path.abspath(manifest))
    data = _load_manifest(path, trust_roots=trust_roots)
    roots, to = _roots_of(data)
    outcomes = []
    for step in data["steps"]:
        if step["status"] in ("skipped", "failed"):
            continue  # left alone by the run: the file never moved
        try:
            status, reason = _undo_step(step, roots, to)
        except OSError as err:
            status, reason = "failed", _os_reason(err)
        outcomes.append(
            StepOutcome(step["action"], step["path"], step.get("target"), status, reason)
        )
    _prune(data["created_folders"])
    return ActionResult(str(path), outcomes)
