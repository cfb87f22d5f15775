"""Carrying out an action plan, never overwriting a file, with an undo manifest.

One module, though over ~400 lines: the rules below are one idea (each file is at
its path or where the signed manifest records it, inside the run's roots) and
share its helpers for placing files, which ``undo`` uses as well.

Safety rules of ``apply_plan``:

- The undo manifest (JSON, ``imageprism-undo-<UTC time>-<random>.json`` in ``to``
  unless another path is given) is created exclusively (it never replaces a file,
  so two runs on one ``to`` each keep their own) before the first file is touched,
  with every step and its destination, each marked ``pending``, the run's roots
  (the library folders and ``to``) and an HMAC-SHA256 over its content with the
  user's secret key (``undo.key`` in the configuration folder, made on first use):
  ``undo`` refuses a manifest this user's imageprism did not write. As steps
  finish, one line per step is appended to a journal beside it
  (``<manifest>.journal``); at the end the manifest is rewritten with every step's
  status and the folders the run created, and the journal removed.
- A file is only acted on inside the plan's roots: right before each step, the
  duplicate's folder (every link in it resolved) must lie inside a library root,
  and the destination's folder inside ``to``; a step reached through a link out
  of them is left alone and reported. Folders are created one by one below
  ``to`` and recorded, so undo removes only those (when empty).
- A full disk, a quota or a read-only destination stops the run at the first
  such error: the steps after it are reported as not attempted (nothing
  changed), and the manifest says how far it got.
- A file is always at its original path or at the destination the manifest
  records for it (for a moment at both, as one file or two identical copies),
  whenever the process is stopped, even by SIGKILL. Within a filesystem a move
  is a hard link then an unlink (or a rename where hard links are not
  supported); across filesystems, a copy to a temporary name beside the
  destination, fsync, rename, then unlink of the original.
- Before a duplicate is touched, it and its keeper are checked against the
  size and content digest recorded when the plan was made (and the plan checks
  every file against the dedup run's digests): a file changed since is left
  alone and reported.
- Duplicates that are symbolic links, or the same file as their keeper (a hard
  link to it), are left alone: removing them would free nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import stat
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imageprism.actions._files import (
    _FORMAT,
    _MAC_FIELD,
    _VERSION,
    _file_digest,
    _journal,
    _matches,
    _os_reason,
    _really_inside,
    _sign,
    _Taken,
    _Untouched,
)
from imageprism.actions.plan import ActionPlan, Step
from imageprism.errors import ConfigError
from imageprism.io.atomic import atomic_write
from imageprism.io.names import display_name

_PART_SUFFIX = ".imageprism-part"
# errors that will not go away for the next file: the run stops there
_STOPPING = frozenset(
    {errno.ENOSPC, errno.EROFS, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG}
)


@dataclass(frozen=True)
class StepOutcome:
    """What happened to one duplicate in ``apply_plan`` or ``undo``.

    Attributes:
        action: The step's action.
        path: The duplicate's original path.
        target: Its recorded destination (or backup), if any.
        status: ``apply_plan``: ``done``, ``failed`` (nothing was changed) or
            ``skipped`` (left alone by the plan). ``undo``: ``restored``,
            ``in-place`` (never moved, or already restored) or ``failed``.
        reason: Why it failed or was skipped.
    """

    action: str
    path: str
    target: str | None
    status: str
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The outcome as JSON-ready data."""
        return asdict(self)


@dataclass(frozen=True)
class ActionResult:
    """The outcomes of ``apply_plan`` or ``undo``, step by step.

    Attributes:
        manifest: The undo manifest written or read (None for a ``report`` plan).
        outcomes: One per step, in plan order.
        stopped: Why ``apply_plan`` stopped before the last step (a full disk, a
            read-only destination), or None.
    """

    manifest: str | None
    outcomes: list[StepOutcome]
    stopped: str | None = None

    @property
    def failed(self) -> list[StepOutcome]:
        """The steps that failed (``apply_plan``) or could not be restored (``undo``)."""
        return [o for o in self.outcomes if o.status == "failed"]

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data."""
        data: dict[str, Any] = {
            "manifest": self.manifest,
            "outcomes": [o.to_dict() for o in self.outcomes],
        }
        if self.stopped is not None:
            data["stopped"] = self.stopped
        return data


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform opens folders
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def _part(path: Path) -> Path:
    return path.with_name(f".{path.name}{_PART_SUFFIX}")


def _rename_no_clobber(source: Path, destination: Path) -> None:
    """Rename within a filesystem, never over an existing file (hard link, then unlink)."""
    if os.path.lexists(destination):
        raise _Taken(f"{display_name(destination)} exists (never overwritten)")
    try:
        os.link(source, destination, follow_symlinks=False)
    except FileExistsError as err:
        raise _Taken(f"{display_name(destination)} exists (never overwritten)") from err
    except OSError as err:
        if err.errno == errno.EXDEV:
            raise
        os.rename(source, destination)  # no hard links on this filesystem; checked just above
        return
    try:
        os.unlink(source)
    except OSError:
        os.unlink(destination)  # the same file under a second name: nothing is lost
        raise


def _copy_across(source: Path, destination: Path) -> None:
    """Move across filesystems: copy to a temporary name, fsync, rename, unlink the source."""
    part = _part(destination)
    part.unlink(missing_ok=True)  # left by an interrupted run; its source is intact
    try:
        with open(source, "rb") as reader, open(part, "xb") as writer:
            while chunk := reader.read(1 << 20):
                writer.write(chunk)
            writer.flush()
            os.fsync(writer.fileno())
        info = os.stat(source)
        os.utime(part, ns=(info.st_atime_ns, info.st_mtime_ns))
        os.chmod(part, stat.S_IMODE(info.st_mode))
        _rename_no_clobber(part, destination)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(part)
        raise
    _fsync_folder(destination.parent)
    os.unlink(source)


def _make_folders(folder: Path, top: Path, record: Callable[[str], None] | None) -> None:
    """Create ``folder`` and its missing parents below ``top``, one by one, recording each."""
    missing = []
    while not os.path.lexists(folder):
        if folder == top or top not in folder.parents:
            raise _Untouched(f"{display_name(folder)} is not inside {display_name(top)}")
        missing.append(folder)
        folder = folder.parent
    for each in reversed(missing):
        try:
            os.mkdir(each)
        except FileExistsError:
            continue  # made meanwhile by someone else: not ours to remove
        if record is not None:
            record(str(each))


def _place(
    source: Path,
    destination: Path,
    *,
    top: Path,
    roots: list[str],
    record: Callable[[str], None] | None = None,
) -> None:
    """Move a file, never overwriting; it is at ``source`` or ``destination`` at every instant.

    Missing folders are made below ``top`` (and recorded in ``created``); the
    destination's folder, links resolved, must lie inside ``roots``; ``record`` is
    called with each folder made, right after making it.

    Raises:
        _Untouched: the destination exists or leads out of ``roots``; nothing was changed.
        OSError: the move failed (the file is still at ``source``).
    """
    if os.path.lexists(destination):
        raise _Taken(f"{display_name(destination)} exists (never overwritten)")
    _make_folders(destination.parent, top, record)
    if not _really_inside(destination.parent, roots):
        raise _Untouched(
            f"{display_name(destination.parent)} leads out of {', '.join(map(display_name, roots))}"
            " through a link (never followed)"
        )
    try:
        _rename_no_clobber(source, destination)
    except OSError as err:
        if err.errno != errno.EXDEV:
            raise
        _copy_across(source, destination)


def _apply_step(
    step: Step,
    keepers: dict[str, bool],
    roots: list[str],
    to: Path | None,
    record: Callable[[str], None],
    retarget: Callable[[str], None],
) -> None:
    path = Path(step.path)
    if roots and not _really_inside(path.parent, roots):
        raise _Untouched(
            "reached through a link out of the library roots "
            f"({', '.join(map(display_name, roots))}); never followed"
        )
    if not _matches(step.path, step.size, step.digest):
        raise _Untouched("missing or changed since the plan was made")
    if step.keeper not in keepers:
        keepers[step.keeper] = step.keeper_digest == _digest_or_none(step.keeper)
    if not keepers[step.keeper]:
        raise _Untouched(
            f"its keeper {display_name(step.keeper)} is missing or changed since the plan"
        )
    if step.action == "delete":
        os.unlink(path)
        return
    if step.action == "hardlink" and not _own_file(step.keeper, roots):
        raise _Untouched(
            f"its keeper {display_name(step.keeper)} is a link or reached through one out of "
            "the library roots; never linked to"
        )
    assert step.target is not None
    target = Path(step.target)
    assert to is not None
    for attempt in range(_TRIES):
        try:
            _place(path, target, top=to, roots=[str(to)], record=record)
            break
        except _Taken:  # another run on this ``to`` took the name since the plan
            if attempt == _TRIES - 1:
                raise
            target = _free_name(Path(step.target))
            retarget(str(target))  # journaled before the file goes there
    if step.action == "hardlink":
        try:
            os.link(step.keeper, path, follow_symlinks=False)
        except OSError as err:
            try:
                _place(target, path, top=path.parent, roots=[os.path.realpath(path.parent)])
            except (OSError, _Untouched):
                raise err from None  # the original stays at target; undo puts it back
            raise _Untouched(f"cannot link to its keeper: {err.strerror or err}") from err


_TRIES = 20


def _own_file(path: str, roots: list[str]) -> bool:
    """A regular file (not a link) whose folder, links resolved, lies inside ``roots``."""
    try:
        regular = stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False
    return regular and (not roots or _really_inside(os.path.dirname(path), roots))


def _free_name(wanted: Path) -> Path:
    """``a~2.jpg``, ``a~3.jpg``, ...: the first name not taken beside ``wanted``."""
    number = 2
    while True:
        candidate = wanted.with_name(f"{wanted.stem}~{number}{wanted.suffix}")
        if not os.path.lexists(candidate) and not os.path.lexists(_part(candidate)):
            return candidate
        number += 1


def _digest_or_none(path: str) -> str | None:
    try:
        return _file_digest(path)
    except OSError:
        return None


def _write_manifest(
    path: Path,
    plan: ActionPlan,
    statuses: list[dict[str, Any]],
    created: list[str],
    *,
    exclusive: bool,
) -> None:
    data: dict[str, Any] = {
        "format": _FORMAT,
        "version": _VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "action": plan.action,
        "keep": plan.keep,
        "to": plan.to,
        "roots": list(plan.roots),
        "created_folders": list(created),
        "undoable": plan.action != "delete",
        "note": (
            "Deleted files cannot be restored; this lists what was deleted."
            if plan.action == "delete"
            else "Run `imageprism undo` on this file to put every file back."
        ),
        "steps": [
            {"id": i, **step.to_dict(), **status}
            for i, (step, status) in enumerate(zip(plan.steps, statuses, strict=True))
        ],
    }
    data[_MAC_FIELD] = _sign(data)

    def write(handle: Any) -> None:
        json.dump(data, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())

    if exclusive:  # the first write: never over another run's manifest
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError as err:
            raise ConfigError(
                f"undo manifest {display_name(path)} already exists; make a new plan"
            ) from err
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                write(handle)
        except BaseException:
            os.unlink(path)
            raise
    else:

        def replace(temporary: Path) -> None:
            with open(temporary, "w", encoding="utf-8") as handle:
                write(handle)

        atomic_write(path, replace)
    _fsync_folder(path.parent)


def _stopping(err: OSError) -> bool:
    return err.errno in _STOPPING


def apply_plan(plan: ActionPlan) -> ActionResult:
    """Carry out ``plan``: write the undo manifest, then each step (see the module notes).

    A step that cannot be done is reported and the others still run, except after
    a full disk or a read-only destination, where the run stops (``stopped`` says
    why; the steps after it are ``failed`` and untouched). A ``report`` plan
    changes nothing and returns no outcomes.

    Raises:
        ConfigError: the manifest file exists already.
        OSError: the ``to`` folder or the manifest cannot be written (before
            any file is touched).
    """
    if plan.action == "report" or plan.manifest is None:
        return ActionResult(None, [])
    manifest = Path(plan.manifest)
    if os.path.lexists(_journal(manifest)):
        raise ConfigError(
            f"undo manifest {display_name(manifest)} already has a journal; make a new plan"
        )
    to = None if plan.to is None else Path(plan.to)
    if to is not None:
        to.mkdir(parents=True, exist_ok=True)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    steps = plan.steps
    statuses: list[dict[str, Any]] = [
        {"status": "skipped", "reason": s.skipped} if s.skipped else {"status": "pending"}
        for s in steps
    ]
    created: list[str] = []
    if not plan.roots:  # a plan made by hand: each file's folder, as plan_actions does
        folders = {os.path.dirname(p) for s in steps for p in (s.path, s.keeper)}
        plan = dataclasses.replace(plan, roots=sorted(map(os.path.realpath, folders)))
    _write_manifest(manifest, plan, statuses, created, exclusive=True)
    keepers: dict[str, bool] = {}
    roots = list(plan.roots)
    stopped: str | None = None
    journal = None
    with contextlib.suppress(OSError):  # without a journal, undo still checks every step
        journal = open(_journal(manifest), "a", encoding="utf-8")  # noqa: SIM115

    def note(line: dict[str, Any]) -> None:
        if journal is not None:
            try:
                journal.write(json.dumps(line) + "\n")
                journal.flush()
            except OSError:
                pass  # a full disk: the manifest still holds every step as pending

    def record(folder: str) -> None:  # journaled before any file goes into it
        created.append(folder)
        note({"id": -1, "created": folder})

    try:
        for i, step in enumerate(steps):
            if step.skipped:
                continue
            if stopped is not None:
                statuses[i] = {"status": "failed", "reason": f"not attempted: {stopped}"}
                continue
            moved_to: dict[str, str] = {}

            def retarget(target: str, index: int = i, moved_to: dict[str, str] = moved_to) -> None:
                moved_to["target"] = target
                note({"id": index, "status": "pending", "target": target})

            try:
                _apply_step(step, keepers, roots, to, record, retarget)
                statuses[i] = {"status": "done", **moved_to}
            except _Untouched as err:
                statuses[i] = {"status": "failed", "reason": str(err), **moved_to}
            except OSError as err:  # the state is not known: undo will look
                statuses[i] = {"status": "pending", "reason": _os_reason(err), **moved_to}
                if _stopping(err):
                    where = display_name(moved_to.get("target") or step.target or step.path)
                    stopped = f"cannot write {where}: {err.strerror or err}"
            note({"id": i, **statuses[i]})
    finally:
        if journal is not None:
            with contextlib.suppress(OSError):
                journal.close()
        try:
            _write_manifest(manifest, plan, statuses, created, exclusive=False)
        except OSError:
            pass  # the first manifest and the journal remain: undo reads both
        else:
            _journal(manifest).unlink(missing_ok=True)
    return ActionResult(
        str(manifest),
        [
            StepOutcome(
                step.action,
                step.path,
                status.get("target", step.target),
                "failed" if status["status"] == "pending" else status["status"],
                status.get("reason"),
            )
            for step, status in zip(steps, statuses, strict=True)
        ],
        stopped,
    )
