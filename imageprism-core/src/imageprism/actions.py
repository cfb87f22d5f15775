"""Acting on duplicate groups: which file to keep, what to do with the others, and undo.

``plan_actions`` turns a ``DedupResult`` (of image files) into an ``ActionPlan``:
per group, the file to keep (``choose_keeper``) and, per other member, a step.
A plan touches nothing; printing it (``describe``) or its ``to_dict`` is a dry
run. ``apply_plan`` carries it out and ``undo`` reverses it.

Keeper policies (``keep``), ties broken by input order:

- ``first``: the group's representative, the first in input order.
- ``largest``: the most bytes.
- ``highest-resolution``: the most pixels, read from the file header (nothing
  is decoded).
- ``oldest`` / ``newest``: the earliest / latest modification time.

Actions (``action``):

- ``report``: nothing happens; the plan is the report.
- ``move``: each duplicate moves into the ``to`` folder, keeping its path
  relative to the deepest folder holding every file of the groups
  (``~/Pictures/2020/a.jpg`` goes to ``TO/2020/a.jpg`` when every file is under
  ``~/Pictures``). A name already taken in ``TO`` becomes ``a~2.jpg``,
  ``a~3.jpg``, ...; an existing file is never overwritten.
- ``hardlink``: each duplicate is replaced by a hard link to its keeper, which
  frees its space while every path still opens an image. Its original bytes are
  first moved into ``to`` (laid out as for ``move``), so undo can put them back.
  The keeper and the duplicate must be on one filesystem.
- ``delete``: each duplicate is deleted, only with ``allow_delete=True``. A
  deletion cannot be undone: the manifest records what was deleted (path, size,
  digest) and ``undo`` reports those files as not restorable. Use ``move`` to
  remove duplicates undoably.

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

``undo`` reads the filesystem rather than trusting the recorded status, so it
also reverses an interrupted run: each moved or backed-up file goes back to its
original path (only when its bytes are still the recorded ones), hard links made
by ``hardlink`` are removed first, and a step that never ran is reported as in
place. It never overwrites: a file it cannot put back stays where it is, with
the reason. Running it twice is harmless.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imageprism.errors import ConfigError, ImageLoadError, UndoManifestError
from imageprism.io.atomic import atomic_write
from imageprism.io.images import PreparedImage
from imageprism.results import DedupResult

KEEP_POLICIES = ("first", "largest", "highest-resolution", "oldest", "newest")
"""The keeper policies ``choose_keeper`` and ``plan_actions`` accept."""

ACTIONS = ("report", "move", "hardlink", "delete")
"""The actions ``plan_actions`` accepts."""

MANIFEST_NAME = "imageprism-undo.json"
"""The default file name of an undo manifest, in the ``to`` folder."""

_FORMAT = "imageprism-undo"
_VERSION = 1
_PART_SUFFIX = ".imageprism-part"


class _Untouched(Exception):
    """A step failed before changing anything: the file is at its original path."""


def _choice(name: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _file_digest(path: str | os.PathLike[str]) -> str:
    # The digest of PreparedImage.digest for a file, so dedup results compare.
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, lambda: hashlib.blake2b(digest_size=16)).hexdigest()


@dataclass(frozen=True)
class _Info:
    size: int
    mtime_ns: int
    pixels: int
    digest: str | None
    device: int
    inode: int
    is_link: bool


def _inspect(source: str, *, pixels: bool, digest: bool) -> _Info:
    """What the keeper policies and the safety checks need of one file.

    Raises:
        ImageLoadError: the file is missing, not a regular file or unreadable
            (or, for ``pixels``, not an image).
    """
    path = os.path.abspath(source)
    try:
        is_link = os.path.islink(path)
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise ImageLoadError(source, "not a regular file")
        count, content = 0, None
        if pixels:
            image = PreparedImage(source, data=Path(path).read_bytes(), max_pixels=sys.maxsize)
            count = image.size[0] * image.size[1]
            content = image.digest
        elif digest:
            content = _file_digest(path)
    except FileNotFoundError as err:
        raise ImageLoadError(source, "no such file") from err
    except OSError as err:
        raise ImageLoadError(source, f"cannot read: {err.strerror or err}") from err
    return _Info(info.st_size, info.st_mtime_ns, count, content, info.st_dev, info.st_ino, is_link)


def _pick(infos: Sequence[_Info | None], keep: str) -> int | None:
    """The index of the keeper among the readable files (None: none is readable)."""
    readable = [i for i, info in enumerate(infos) if info is not None]
    if not readable or keep == "first":
        return readable[0] if readable else None
    rank = {
        "largest": lambda info: -info.size,
        "highest-resolution": lambda info: -info.pixels,
        "oldest": lambda info: info.mtime_ns,
        "newest": lambda info: -info.mtime_ns,
    }[keep]
    return min(readable, key=lambda i: (rank(infos[i]), i))


def choose_keeper(paths: Sequence[str | os.PathLike[str]], keep: str = "first") -> int:
    """The index in ``paths`` of the file to keep under the policy ``keep``.

    Args:
        paths: The files of one duplicate group, in input order (representative
            first, as in ``DedupResult.groups``).
        keep: One of ``KEEP_POLICIES``; ties go to the earliest path.

    Raises:
        ConfigError: ``paths`` is empty or ``keep`` is unknown.
        ImageLoadError: a file cannot be read (names the file).
    """
    keep = _choice("keep", keep, KEEP_POLICIES)
    if not paths:
        raise ConfigError("choose_keeper needs at least one path")
    if keep == "first":
        return 0
    pixels = keep == "highest-resolution"
    infos = [_inspect(os.fspath(p), pixels=pixels, digest=False) for p in paths]
    choice = _pick(infos, keep)
    assert choice is not None
    return choice


@dataclass(frozen=True)
class Step:
    """What happens to one duplicate.

    Attributes:
        action: ``report``, ``move``, ``hardlink`` or ``delete``.
        path: The duplicate (absolute).
        keeper: The file kept in its place (absolute).
        target: Where the duplicate's file goes (``move``) or where its original
            bytes are kept (``hardlink``); None for the other actions.
        size: The duplicate's size in bytes when planned (None if unreadable).
        digest: Its content digest when planned (None if unreadable).
        keeper_digest: The keeper's content digest when planned.
        skipped: Why the duplicate is left alone, or None.
    """

    action: str
    path: str
    keeper: str
    target: str | None
    size: int | None
    digest: str | None
    keeper_digest: str | None
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The step as JSON-ready data."""
        return asdict(self)

    def describe(self) -> str:
        """One line: what happens to the duplicate."""
        if self.skipped:
            return f"skip {self.path}: {self.skipped}"
        if self.action == "move":
            return f"move {self.path} -> {self.target}"
        if self.action == "hardlink":
            return f"hardlink {self.path} -> {self.keeper} (original kept at {self.target})"
        if self.action == "delete":
            return f"delete {self.path}"
        return f"dup {self.path}"


@dataclass(frozen=True)
class KeeperGroup:
    """One duplicate group: the file kept and a step per other member."""

    keeper: str
    steps: list[Step]

    def to_dict(self) -> dict[str, Any]:
        """The group as JSON-ready data."""
        return {"keeper": self.keeper, "steps": [s.to_dict() for s in self.steps]}


@dataclass(frozen=True)
class ActionPlan:
    """What ``apply_plan`` would do; making one touches nothing (a dry run).

    Attributes:
        action: One of ``ACTIONS``.
        keep: The keeper policy used.
        to: The folder duplicates (or, for ``hardlink``, their originals) go to.
        manifest: The undo manifest ``apply_plan`` will write (None for ``report``).
        groups: One ``KeeperGroup`` per duplicate group, in ``DedupResult`` order.
    """

    action: str
    keep: str
    to: str | None
    manifest: str | None
    groups: list[KeeperGroup]

    @property
    def steps(self) -> list[Step]:
        """Every step, group after group."""
        return [step for group in self.groups for step in group.steps]

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready data."""
        return {
            "action": self.action,
            "keep": self.keep,
            "to": self.to,
            "manifest": self.manifest,
            "groups": [g.to_dict() for g in self.groups],
        }

    def describe(self) -> str:
        """The plan as text: ``keep`` lines, each followed by its duplicates' steps."""
        lines = []
        for group in self.groups:
            lines.append(f"keep {group.keeper}")
            lines.extend(f"  {step.describe()}" for step in group.steps)
        return "\n".join(lines)


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


def _folder(to: str | os.PathLike[str] | None) -> Path | None:
    if to is None:
        return None
    folder = Path(os.path.abspath(to))
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"to must be a folder; {to} is a file")
    return folder


def _journal(manifest: Path) -> Path:
    return manifest.with_name(manifest.name + ".journal")


def _manifest_path(manifest: str | os.PathLike[str] | None, to: Path | None, action: str) -> Path:
    if manifest is not None:
        path = Path(os.path.abspath(manifest))
        if os.path.lexists(path) or os.path.lexists(_journal(path)):
            raise ConfigError(
                f"undo manifest {manifest} already exists (from an earlier run?); "
                "undo that run or move the file away, or give another path"
            )
        return path
    if to is None:
        raise ConfigError(f"action {action!r} needs a folder (to=...) or a manifest path")
    path, number = to / MANIFEST_NAME, 1
    while os.path.lexists(path) or os.path.lexists(_journal(path)):
        number += 1
        path = to / f"{Path(MANIFEST_NAME).stem}-{number}.json"
    return path


def _layout_root(paths: Sequence[str]) -> str:
    """The deepest folder holding every path (the root of the layout kept in ``to``)."""
    try:
        return os.path.commonpath([os.path.dirname(p) for p in paths])
    except ValueError:  # different drives: keep each path whole
        return ""


def _destination(path: str, root: str, to: Path, taken: set[str]) -> str:
    relative = os.path.relpath(path, root) if root else os.path.splitdrive(path)[1].lstrip("\\/")
    wanted = to / relative
    candidate, number = wanted, 1
    while str(candidate) in taken or os.path.lexists(candidate):
        number += 1
        candidate = wanted.with_name(f"{wanted.stem}~{number}{wanted.suffix}")
    taken.add(str(candidate))
    return str(candidate)


def _member(source: str, recorded: str | None, pixels: bool) -> _Info | str:
    """The file's facts, or why it cannot take part."""
    try:
        info = _inspect(source, pixels=pixels, digest=True)
    except ImageLoadError as err:
        return err.reason
    if recorded is not None and info.digest != recorded:
        return "changed since the dedup run (its content digest differs)"
    return info


def _why_skip(info: _Info | str, keeper: _Info | str, keeper_path: str, action: str) -> str | None:
    if isinstance(info, str):
        return info
    if isinstance(keeper, str):
        return f"its keeper {keeper_path} cannot be used: {keeper}"
    if info.is_link:
        return "a symbolic link (it holds no bytes of its own)"
    if (info.device, info.inode) == (keeper.device, keeper.inode):
        return "the same file as its keeper (a link to it)"
    if action == "hardlink" and info.device != keeper.device:
        return "on another filesystem than its keeper (a hard link cannot cross filesystems)"
    return None


def plan_actions(
    result: DedupResult,
    *,
    keep: str = "first",
    action: str = "report",
    to: str | os.PathLike[str] | None = None,
    manifest: str | os.PathLike[str] | None = None,
    allow_delete: bool = False,
) -> ActionPlan:
    """Plan what to do with each duplicate group of ``result``; touches nothing.

    Every member of every group is read once: for its size, modification time,
    content digest (checked against the dedup run's) and, for
    ``highest-resolution``, its pixel count from the header. A member that
    cannot be used is kept in the plan as a skipped step with the reason.

    Args:
        result: A dedup result whose sources are file paths.
        keep: One of ``KEEP_POLICIES``.
        action: One of ``ACTIONS``.
        to: The folder for ``move`` and for ``hardlink`` backups (created by
            ``apply_plan``); it also holds the undo manifest by default.
        manifest: Where to write the undo manifest instead (must not exist).
        allow_delete: Required for ``delete``, which cannot be undone.

    Raises:
        ConfigError: an unknown policy or action, ``delete`` without
            ``allow_delete``, ``move``/``hardlink`` without ``to``, ``to`` being
            a file or the folder the files are in, or an existing ``manifest``.
    """
    keep = _choice("keep", keep, KEEP_POLICIES)
    action = _choice("action", action, ACTIONS)
    if action == "delete" and not allow_delete:
        raise ConfigError(
            "action 'delete' removes duplicates for good (undo cannot restore them); "
            "pass allow_delete=True (CLI: --yes-delete), or use 'move'"
        )
    folder = _folder(to)
    if action in ("move", "hardlink") and folder is None:
        raise ConfigError(f"action {action!r} needs a folder to put files in (to=...)")
    manifest_path = None if action == "report" else _manifest_path(manifest, folder, action)
    recorded = list(result.digests) or [None] * len(result.sources)
    pixels = keep == "highest-resolution"
    members = {i: _member(result.sources[i], recorded[i], pixels) for g in result.groups for i in g}
    root = _layout_root([os.path.abspath(result.sources[i]) for i in members])
    if action in ("move", "hardlink") and str(folder) == root:
        raise ConfigError(
            f"to must not be {to}: the duplicates are in that folder (give another folder)"
        )
    taken = set()
    if manifest_path is not None:
        taken = {str(manifest_path), str(_journal(manifest_path))}
    groups = []
    for group in result.groups:
        infos = [members[i] for i in group]
        chosen = _pick([i if isinstance(i, _Info) else None for i in infos], keep)
        if chosen is None:  # no member is readable: every step says why
            chosen = 0
        keeper = infos[chosen]
        keeper_path = os.path.abspath(result.sources[group[chosen]])
        steps = []
        for position, info in enumerate(infos):
            if position == chosen:
                continue
            path = os.path.abspath(result.sources[group[position]])
            reason = _why_skip(info, keeper, keeper_path, action)
            target = None
            if reason is None and action in ("move", "hardlink"):
                assert folder is not None
                target = _destination(path, root, folder, taken)
            steps.append(
                Step(
                    action=action,
                    path=path,
                    keeper=keeper_path,
                    target=target,
                    size=info.size if isinstance(info, _Info) else None,
                    digest=info.digest if isinstance(info, _Info) else None,
                    keeper_digest=keeper.digest if isinstance(keeper, _Info) else None,
                    skipped=reason,
                )
            )
        groups.append(KeeperGroup(keeper_path, steps))
    return ActionPlan(
        action=action,
        keep=keep,
        to=None if folder is None else str(folder),
        manifest=None if manifest_path is None else str(manifest_path),
        groups=groups,
    )


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


def _matches(path: str, size: int | None, digest: str | None) -> bool:
    try:
        info = os.lstat(path)
        return stat.S_ISREG(info.st_mode) and info.st_size == size and _file_digest(path) == digest
    except OSError:
        return False


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


def _os_reason(err: OSError) -> str:
    where = f" ({err.filename})" if err.filename else ""
    return f"{err.strerror or err}{where}"


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
                step = data["steps"][entry["id"]] if entry["id"] >= 0 else None
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
    path, target, action = step["path"], step.get("target"), step["action"]
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
