"""Carrying out an action plan, never overwriting a file, with an undo manifest.

Safety rules of ``apply_plan``:

- The undo manifest (JSON, ``imageprism-undo.json`` in ``to`` unless another
  path is given; ``imageprism-undo-2.json`` and so on when that name is taken)
  is written before the first file is touched, with every step and its
  destination, each marked ``pending``. As steps finish, one line per step is
  appended to a journal beside it (``<manifest>.journal``); at the end the
  manifest is rewritten with every step's status and the journal removed.
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
import errno
import json
import os
import stat
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imageprism.actions._files import (
    _FORMAT,
    _VERSION,
    _file_digest,
    _journal,
    _matches,
    _os_reason,
    _Untouched,
)
from imageprism.actions.plan import ActionPlan, Step
from imageprism.errors import ConfigError
from imageprism.io.atomic import atomic_write

_PART_SUFFIX = ".imageprism-part"


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
    """

    manifest: str | None
    outcomes: list[StepOutcome]

    @property
    def failed(self) -> list[StepOutcome]:
        """The steps that failed (``apply_plan``) or could not be restored (``undo``)."""
        return [o for o in self.outcomes if o.status == "failed"]

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data."""
        return {"manifest": self.manifest, "outcomes": [o.to_dict() for o in self.outcomes]}


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
        raise _Untouched(f"{destination} exists (never overwritten)")
    try:
        os.link(source, destination, follow_symlinks=False)
    except FileExistsError as err:
        raise _Untouched(f"{destination} exists (never overwritten)") from err
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


def _place(source: Path, destination: Path) -> None:
    """Move a file, never overwriting; it is at ``source`` or ``destination`` at every instant.

    Raises:
        _Untouched: the destination exists; nothing was changed.
        OSError: the move failed (the file is still at ``source``).
    """
    if os.path.lexists(destination):
        raise _Untouched(f"{destination} exists (never overwritten)")
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        _rename_no_clobber(source, destination)
    except OSError as err:
        if err.errno != errno.EXDEV:
            raise
        _copy_across(source, destination)


def _apply_step(step: Step, keepers: dict[str, bool]) -> None:
    if not _matches(step.path, step.size, step.digest):
        raise _Untouched("missing or changed since the plan was made")
    if step.keeper not in keepers:
        keepers[step.keeper] = step.keeper_digest == _digest_or_none(step.keeper)
    if not keepers[step.keeper]:
        raise _Untouched(f"its keeper {step.keeper} is missing or changed since the plan")
    path = Path(step.path)
    if step.action == "delete":
        os.unlink(path)
        return
    assert step.target is not None
    target = Path(step.target)
    _place(path, target)
    if step.action == "hardlink":
        try:
            os.link(step.keeper, path)
        except OSError as err:
            try:
                _place(target, path)  # put the original back
            except (OSError, _Untouched):
                raise err from None  # the original stays at target; undo puts it back
            raise _Untouched(f"cannot link to its keeper: {err.strerror or err}") from err


def _digest_or_none(path: str) -> str | None:
    try:
        return _file_digest(path)
    except OSError:
        return None


def _write_manifest(path: Path, plan: ActionPlan, statuses: list[dict[str, Any]]) -> None:
    data = {
        "format": _FORMAT,
        "version": _VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "action": plan.action,
        "keep": plan.keep,
        "to": plan.to,
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

    def write(temporary: Path) -> None:
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())

    atomic_write(path, write)
    _fsync_folder(path.parent)


def apply_plan(plan: ActionPlan) -> ActionResult:
    """Carry out ``plan``: write the undo manifest, then each step (see the module notes).

    A step that cannot be done is reported and the others still run. A ``report``
    plan changes nothing and returns no outcomes.

    Raises:
        ConfigError: the manifest file exists already.
        OSError: the ``to`` folder or the manifest cannot be written (before
            any file is touched).
    """
    if plan.action == "report" or plan.manifest is None:
        return ActionResult(None, [])
    manifest = Path(plan.manifest)
    if os.path.lexists(manifest) or os.path.lexists(_journal(manifest)):
        raise ConfigError(f"undo manifest {manifest} already exists; make a new plan")
    if plan.to is not None:
        Path(plan.to).mkdir(parents=True, exist_ok=True)
    steps = plan.steps
    statuses: list[dict[str, Any]] = [
        {"status": "skipped", "reason": s.skipped} if s.skipped else {"status": "pending"}
        for s in steps
    ]
    _write_manifest(manifest, plan, statuses)
    keepers: dict[str, bool] = {}
    try:
        with open(_journal(manifest), "a", encoding="utf-8") as journal:
            for i, step in enumerate(steps):
                if step.skipped:
                    continue
                try:
                    _apply_step(step, keepers)
                    statuses[i] = {"status": "done"}
                except _Untouched as err:
                    statuses[i] = {"status": "failed", "reason": str(err)}
                except OSError as err:  # the state is not known: undo will look
                    statuses[i] = {"status": "pending", "reason": _os_reason(err)}
                journal.write(json.dumps({"id": i, **statuses[i]}) + "\n")
                journal.flush()
    finally:
        _write_manifest(manifest, plan, statuses)
        _journal(manifest).unlink(missing_ok=True)
    return ActionResult(
        str(manifest),
        [
            StepOutcome(
                step.action,
                step.path,
                step.target,
                "failed" if status["status"] == "pending" else status["status"],
                status.get("reason"),
            )
            for step, status in zip(steps, statuses, strict=True)
        ],
    )
