"""Planning what to do with duplicates: which file to keep, and a step for each other.

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

Roots: a plan acts only inside its library roots (``roots``; by default the
folder of each file, as when files are given one by one) and ``to``, both
resolved (``os.path.realpath``) when the plan is made. A duplicate whose folder,
links resolved, lies outside every root (reached through a link such as
``lib/ext -> ../outside``) is skipped, and ``apply_plan`` checks it again right
before acting. ``to`` must not be, or be inside, a library root.

Names: ``describe`` prints every file name through ``display_name`` (newlines,
escape sequences and other controls escaped); ``to_dict`` keeps them raw.

(Slightly over ~400 lines: keeper policies, the layout in ``to`` and the roots
are what one plan is made of.)
"""

from __future__ import annotations

import math
import os
import stat
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from imageprism.actions._files import (
    _file_digest,
    _inside,
    _journal,
    _really_inside,
    _unique_manifest_name,
)
from imageprism.errors import ConfigError, ImageLoadError
from imageprism.io.images import PreparedImage, read_image_bytes
from imageprism.io.names import display_name
from imageprism.results import DedupResult

KEEP_POLICIES = ("first", "largest", "highest-resolution", "oldest", "newest")
"""The keeper policies ``choose_keeper`` and ``plan_actions`` accept."""

ACTIONS = ("report", "move", "hardlink", "delete")
"""The actions ``plan_actions`` accepts."""

MANIFEST_NAME = "imageprism-undo.json"
"""The name imageprism 0.2 gave every undo manifest; each run now writes its own,
``imageprism-undo-<UTC time>-<random>.json``, and ``undo`` given this name (or the
``to`` folder) finds the manifests in that folder."""


def _choice(name: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value


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
            # read as the loader reads (regular file, size limit): the file may have been
            # swapped since the dedup run; the pixel and aspect limits were applied then
            image = PreparedImage(
                source,
                data=read_image_bytes(path),
                max_pixels=sys.maxsize,
                max_aspect_ratio=math.inf,
            )
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
        path, target = display_name(self.path), display_name(self.target or "")
        if self.skipped:
            return f"skip {path}: {self.skipped}"
        if self.action == "move":
            return f"move {path} -> {target}"
        if self.action == "hardlink":
            keeper = display_name(self.keeper)
            return f"hardlink {path} -> {keeper} (original kept at {target})"
        if self.action == "delete":
            return f"delete {path}"
        return f"dup {path}"


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
        roots: The library roots, resolved: no file outside them is acted on.
    """

    action: str
    keep: str
    to: str | None
    manifest: str | None
    groups: list[KeeperGroup]
    roots: list[str] = field(default_factory=list)

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
            "roots": list(self.roots),
            "groups": [g.to_dict() for g in self.groups],
        }

    def describe(self) -> str:
        """The plan as text: ``keep`` lines, each followed by its duplicates' steps."""
        lines = []
        for group in self.groups:
            lines.append(f"keep {display_name(group.keeper)}")
            lines.extend(f"  {step.describe()}" for step in group.steps)
        return "\n".join(lines)


def _folder(to: str | os.PathLike[str] | None) -> Path | None:
    if to is None:
        return None
    folder = Path(os.path.realpath(to))
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"to must be a folder; {display_name(to)} is a file")
    return folder


def _manifest_path(manifest: str | os.PathLike[str] | None, to: Path | None, action: str) -> Path:
    if manifest is not None:
        path = Path(os.path.abspath(manifest))
        if os.path.lexists(path) or os.path.lexists(_journal(path)):
            raise ConfigError(
                f"undo manifest {display_name(manifest)} already exists (from an earlier run?); "
                "undo that run or move the file away, or give another path"
            )
        return path
    if to is None:
        raise ConfigError(f"action {action!r} needs a folder (to=...) or a manifest path")
    return to / _unique_manifest_name()


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


def _why_skip(
    info: _Info | str, keeper: _Info | str, keeper_path: str, action: str, outside: str | None
) -> str | None:
    if isinstance(info, str):
        return info
    if isinstance(keeper, str):
        return f"its keeper {display_name(keeper_path)} cannot be used: {keeper}"
    if outside is not None:
        return outside
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
    roots: Sequence[str | os.PathLike[str]] | None = None,
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
        roots: The library roots (the folders the user gave); no file whose
            folder, links resolved, is outside them is acted on. By default the
            folder of each file (files given one by one).

    Raises:
        ConfigError: an unknown policy or action, ``delete`` without
            ``allow_delete``, ``move``/``hardlink`` without ``to``, ``to`` being
            a file or inside a library root, or an existing ``manifest``.
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
    if roots is None:
        roots = [os.path.dirname(os.path.abspath(result.sources[i])) for i in members]
    real_roots = sorted({os.path.realpath(r) for r in roots})
    if folder is not None and (str(folder) == root or _inside(str(folder), real_roots)):
        raise ConfigError(
            f"to must not be {display_name(to or '')}: it is inside the library being "
            f"deduplicated ({', '.join(map(display_name, real_roots))}); give a folder outside it"
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
            outside = None
            if not _really_inside(os.path.dirname(path), real_roots):
                outside = (
                    "reached through a link out of the library roots "
                    f"({', '.join(map(display_name, real_roots))}); never followed"
                )
            reason = _why_skip(info, keeper, keeper_path, action, outside)
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
        roots=real_roots,
    )
