"""Keeper policies, action plans, applying them safely, and undo (also after SIGKILL)."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from fakes import content_digest as _digest
from fakes import dedup_result as _result
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from imageprism import ConfigError, DedupResult, ImageLoadError, ImagePrism
from imageprism.actions import (
    MANIFEST_NAME,
    apply_plan,
    choose_keeper,
    plan_actions,
    undo,
)
from imageprism.actions import apply as actions  # apply_plan's module: tests patch its _place
from imageprism.errors import UndoManifestError


def _tree(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every file below ``root``: relative path -> (digest, mtime, mode); folders as well."""
    listing = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_dir():
            listing[relative + "/"] = ("dir", 0, 0)
        else:
            info = path.lstat()
            listing[relative] = (_digest(path.read_bytes()), info.st_mtime_ns, info.st_mode)
    return listing


def _write(path: Path, data: bytes, mtime: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


@pytest.fixture
def library(tmp_path: Path) -> tuple[Path, list[Path], DedupResult]:
    """Two groups in nested folders: [keep.jpg, a/copy.jpg, a/b/copy2.jpg] and [x.jpg, a/x.jpg]."""
    root = tmp_path / "pictures"
    paths = [
        _write(root / "keep.jpg", b"K" * 300, mtime=2_000_000),
        _write(root / "a" / "copy.jpg", b"c" * 100, mtime=1_000_000),
        _write(root / "a" / "b" / "copy2.jpg", b"C" * 200, mtime=3_000_000),
        _write(root / "x.jpg", b"x" * 50),
        _write(root / "a" / "x.jpg", b"X" * 60),
        _write(root / "alone.jpg", b"alone"),
    ]
    return root, paths, _result(paths, [[0, 1, 2], [3, 4]])


# Keeper policies


def test_each_keeper_policy_picks_its_file(tmp_path):
    paths = [
        _write(tmp_path / "mid.bin", b"m" * 200, mtime=2_000_000),
        _write(tmp_path / "old_small.bin", b"s" * 100, mtime=1_000_000),
        _write(tmp_path / "new_big.bin", b"b" * 300, mtime=3_000_000),
    ]
    assert choose_keeper(paths, "first") == 0
    assert choose_keeper(paths, "largest") == 2
    assert choose_keeper(paths, "oldest") == 1
    assert choose_keeper(paths, "newest") == 2


def test_keeper_ties_go_to_the_earliest_input(tmp_path):
    paths = [_write(tmp_path / f"{i}.bin", b"same size", mtime=5_000_000) for i in range(3)]
    for keep in ("largest", "oldest", "newest"):
        assert choose_keeper(paths, keep) == 0
    assert choose_keeper(list(reversed(paths[1:])), "largest") == 0


def _png(path: Path, array: np.ndarray) -> Path:
    Image.fromarray(array).save(path)
    return path


def test_highest_resolution_counts_pixels_not_bytes(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (80, 80, 3), dtype=np.uint8)
    small_but_heavy = _png(tmp_path / "noise.png", noise)
    large_but_light = _png(tmp_path / "flat.png", np.zeros((400, 300, 3), np.uint8))
    assert small_but_heavy.stat().st_size > large_but_light.stat().st_size
    assert choose_keeper([small_but_heavy, large_but_light], "largest") == 0
    assert choose_keeper([small_but_heavy, large_but_light], "highest-resolution") == 1


def test_highest_resolution_reads_only_the_header(tmp_path):
    full = _png(tmp_path / "full.png", np.full((500, 500, 3), 7, np.uint8))
    truncated = _write(tmp_path / "truncated.png", full.read_bytes()[:100])  # pixels cut off
    small = _png(tmp_path / "small.png", np.zeros((50, 50, 3), np.uint8))
    assert choose_keeper([small, truncated], "highest-resolution") == 1


def test_highest_resolution_of_a_non_image_names_the_file(tmp_path):
    text = _write(tmp_path / "notes.jpg", b"not an image")
    with pytest.raises(ImageLoadError, match="notes.jpg"):
        choose_keeper([text, text], "highest-resolution")


def test_unknown_keeper_policy_lists_the_allowed_ones(tmp_path):
    with pytest.raises(ConfigError, match="largest, highest-resolution"):
        choose_keeper([tmp_path], "biggest")
    with pytest.raises(ConfigError, match="at least one"):
        choose_keeper([], "largest")


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=6))
def test_largest_is_the_first_of_the_biggest(sizes):
    with tempfile.TemporaryDirectory() as folder:
        paths = [_write(Path(folder) / f"{i}.bin", b"z" * size) for i, size in enumerate(sizes)]
        assert choose_keeper(paths, "largest") == sizes.index(max(sizes))
        assert choose_keeper(paths, "first") == 0


# Plans (dry runs)


def test_a_plan_touches_nothing_and_is_json_ready(library, tmp_path):
    root, _, result = library
    before = _tree(tmp_path)
    plan = plan_actions(result, keep="largest", action="move", to=tmp_path / "dupes")
    assert _tree(tmp_path) == before
    assert not (tmp_path / "dupes").exists()
    data = json.loads(json.dumps(plan.to_dict()))
    manifest = Path(data["manifest"])
    assert data["action"] == "move" and manifest.parent == tmp_path / "dupes"
    assert re.fullmatch(r"imageprism-undo-\d{8}T\d{12}Z-[0-9a-f]{8}\.json", manifest.name)
    assert data["roots"] == sorted({str(root), str(root / "a"), str(root / "a" / "b")})
    assert [g["keeper"] for g in data["groups"]] == [str(root / "keep.jpg"), str(root / "a/x.jpg")]
    text = plan.describe()
    assert f"keep {root / 'keep.jpg'}" in text
    assert f"move {root / 'a/copy.jpg'} -> {tmp_path / 'dupes/a/copy.jpg'}" in text


def test_a_report_plan_has_no_manifest_and_apply_changes_nothing(library, tmp_path):
    _, _, result = library
    before = _tree(tmp_path)
    plan = plan_actions(result, keep="newest")
    assert plan.manifest is None and plan.groups[0].keeper.endswith("copy2.jpg")
    assert apply_plan(plan).outcomes == []
    assert _tree(tmp_path) == before
    assert "dup " in plan.describe()


def test_moves_keep_the_relative_layout_and_never_reuse_a_taken_name(library, tmp_path):
    root, _, result = library
    dupes = _write(tmp_path / "dupes" / "a" / "copy.jpg", b"from an earlier run").parent.parent
    plan = plan_actions(result, action="move", to=dupes)
    targets = {Path(s.path).relative_to(root).as_posix(): s.target for s in plan.steps}
    assert targets == {
        "a/copy.jpg": str(dupes / "a" / "copy~2.jpg"),
        "a/b/copy2.jpg": str(dupes / "a" / "b" / "copy2.jpg"),
        "a/x.jpg": str(dupes / "a" / "x.jpg"),
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"action": "delete"}, "allow_delete"),
        ({"action": "move"}, "needs a folder"),
        ({"action": "hardlink"}, "needs a folder"),
        ({"action": "delete", "allow_delete": True}, "needs a folder"),
        ({"action": "copy", "to": "x"}, "report, move, hardlink, delete"),
        ({"keep": "best"}, "first, largest"),
    ],
)
def test_bad_plan_arguments_are_config_errors(library, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        plan_actions(library[2], **kwargs)


def test_the_folder_of_the_images_cannot_be_the_destination(library):
    root, _, result = library
    with pytest.raises(ConfigError, match="inside the library being deduplicated"):
        plan_actions(result, action="move", to=root)
    with pytest.raises(ConfigError, match="inside the library being deduplicated"):
        plan_actions(result, action="move", to=root / "a" / "dupes", roots=[root])


def test_files_that_changed_since_dedup_or_are_links_are_skipped(library, tmp_path):
    root, paths, result = library
    os.link(paths[3], root / "hard.jpg")
    os.symlink(paths[0], root / "soft.jpg")
    sources = [*result.sources, str(root / "hard.jpg"), str(root / "soft.jpg")]
    result = _result([Path(s) for s in sources], [[0, 1, 2, 7], [3, 4, 6]])
    paths[1].write_bytes(b"edited again, after the dedup run")
    plan = plan_actions(result, action="move", to=tmp_path / "dupes")
    skipped = {Path(s.path).name: s.skipped for s in plan.steps if s.skipped}
    assert skipped == {
        "copy.jpg": "changed since the dedup run (its content digest differs)",
        "soft.jpg": "a symbolic link (it holds no bytes of its own)",
        "hard.jpg": "the same file as its keeper (a link to it)",
    }
    before = _tree(root)
    outcome = apply_plan(plan)
    statuses = {Path(o.path).name: o.status for o in outcome.outcomes}
    assert statuses == {
        "copy.jpg": "skipped",
        "copy2.jpg": "done",
        "x.jpg": "done",
        "hard.jpg": "skipped",
        "soft.jpg": "skipped",
    }
    undo(outcome.manifest)
    assert _tree(root) == before


def test_a_missing_group_member_is_skipped_and_never_chosen(library, tmp_path):
    _, paths, result = library
    paths[0].unlink()
    plan = plan_actions(result, keep="first", action="move", to=tmp_path / "dupes")
    assert plan.groups[0].keeper == str(paths[1])
    assert [(Path(s.path).name, s.skipped) for s in plan.groups[0].steps] == [
        ("keep.jpg", "no such file"),
        ("copy2.jpg", None),
    ]


# Apply and undo


def test_move_then_undo_restores_the_exact_tree(library, tmp_path):
    root, _, result = library
    before = _tree(root)
    plan = plan_actions(result, keep="largest", action="move", to=tmp_path / "dupes")
    outcome = apply_plan(plan)
    assert [o.status for o in outcome.outcomes] == ["done"] * 3 and not outcome.failed
    assert sorted(_tree(root)) == ["a/", "a/b/", "a/x.jpg", "alone.jpg", "keep.jpg"]
    assert (tmp_path / "dupes" / "a" / "b" / "copy2.jpg").read_bytes() == b"C" * 200
    manifest = json.loads(Path(outcome.manifest).read_text())
    assert [s["status"] for s in manifest["steps"]] == ["done"] * 3 and manifest["undoable"]
    assert not Path(outcome.manifest + ".journal").exists()

    restored = undo(outcome.manifest)
    assert [o.status for o in restored.outcomes] == ["restored"] * 3
    assert _tree(root) == before
    assert [p.name for p in (tmp_path / "dupes").iterdir()] == [Path(outcome.manifest).name]


def test_undo_twice_changes_nothing_the_second_time(library, tmp_path):
    root, _, result = library
    before = _tree(root)
    outcome = apply_plan(plan_actions(result, action="move", to=tmp_path / "dupes"))
    undo(outcome.manifest)
    again = undo(outcome.manifest)
    assert [o.status for o in again.outcomes] == ["in-place"] * 3
    assert _tree(root) == before


def test_hardlink_replaces_each_duplicate_by_its_keeper_and_undo_brings_the_bytes_back(
    library, tmp_path
):
    root, paths, result = library
    before = _tree(root)
    outcome = apply_plan(plan_actions(result, keep="largest", action="hardlink", to=tmp_path / "d"))
    assert not outcome.failed
    keeper = paths[0].stat()
    for duplicate in (paths[1], paths[2]):
        assert (duplicate.stat().st_ino, duplicate.stat().st_dev) == (keeper.st_ino, keeper.st_dev)
    assert paths[0].stat().st_nlink == 3
    assert (tmp_path / "d" / "a" / "copy.jpg").read_bytes() == b"c" * 100  # the backup
    undo(outcome.manifest)
    assert _tree(root) == before
    assert paths[0].stat().st_nlink == 1


def test_a_failed_hard_link_puts_the_original_back(library, tmp_path, monkeypatch):
    root, _, result = library
    before = _tree(root)
    plan = plan_actions(result, action="hardlink", to=tmp_path / "d")
    real_link = os.link

    def no_link_to_keepers(source, destination, **kwargs):
        if not str(destination).startswith(str(tmp_path / "d")):  # only backups may link
            raise PermissionError(errno.EPERM, "Operation not permitted")
        return real_link(source, destination, **kwargs)

    monkeypatch.setattr(os, "link", no_link_to_keepers)
    outcome = apply_plan(plan)
    assert {o.status for o in outcome.outcomes} == {"failed"}
    assert all("cannot link to its keeper" in o.reason for o in outcome.outcomes)
    assert _tree(root) == before


def test_delete_needs_the_flag_removes_files_and_undo_says_they_are_gone(library, tmp_path):
    root, _, result = library
    plan = plan_actions(result, action="delete", allow_delete=True, to=tmp_path / "record")
    outcome = apply_plan(plan)
    assert not outcome.failed
    assert sorted(_tree(root)) == ["a/", "a/b/", "alone.jpg", "keep.jpg", "x.jpg"]
    manifest = json.loads(Path(outcome.manifest).read_text())
    assert manifest["undoable"] is False and "cannot be restored" in manifest["note"]
    assert {s["digest"] for s in manifest["steps"]} == {
        _digest(b"c" * 100),
        _digest(b"C" * 200),
        _digest(b"X" * 60),
    }
    restored = undo(outcome.manifest)
    assert [o.status for o in restored.outcomes] == ["failed"] * 3
    assert all("cannot be undone" in o.reason for o in restored.outcomes)


def test_a_destination_taken_since_the_plan_is_never_overwritten(library, tmp_path):
    _, paths, result = library
    plan = plan_actions(result, action="move", to=tmp_path / "dupes")
    squatter = _write(tmp_path / "dupes" / "a" / "copy.jpg", b"someone else's file")
    outcome = apply_plan(plan)
    statuses = {Path(o.path).name: (o.status, o.target) for o in outcome.outcomes}
    # taken since the plan: the next free name, recorded in the manifest
    assert statuses["copy.jpg"] == ("done", str(squatter.with_name("copy~2.jpg")))
    assert squatter.read_bytes() == b"someone else's file" and not paths[1].exists()
    steps = json.loads(Path(outcome.manifest).read_text())["steps"]
    assert steps[0]["target"] == str(squatter.with_name("copy~2.jpg"))
    undo(outcome.manifest)
    assert squatter.read_bytes() == b"someone else's file"
    assert paths[1].exists() and paths[2].exists()


def test_files_changed_after_the_plan_are_left_alone(library, tmp_path):
    _, paths, result = library
    plan = plan_actions(result, action="move", to=tmp_path / "dupes")
    paths[2].write_bytes(b"C" * 199 + b"!")  # same size, other bytes
    paths[3].write_bytes(b"the keeper of the second group changed")
    outcome = apply_plan(plan)
    statuses = {Path(o.path).name: (o.status, o.reason) for o in outcome.outcomes}
    assert statuses == {
        "copy.jpg": ("done", None),
        "copy2.jpg": ("failed", "missing or changed since the plan was made"),
        "x.jpg": ("failed", f"its keeper {paths[3]} is missing or changed since the plan"),
    }
    assert paths[2].exists() and paths[4].exists()


def test_the_manifest_is_written_before_the_first_file_moves(library, tmp_path, monkeypatch):
    _, _, result = library
    plan = plan_actions(result, action="move", to=tmp_path / "dupes")
    seen = []
    real_place = actions._place

    def place(source, destination, **kwargs):
        if not seen:
            manifest = json.loads(Path(plan.manifest).read_text())
            seen.append([(s["path"], s["target"], s["status"]) for s in manifest["steps"]])
        real_place(source, destination, **kwargs)

    monkeypatch.setattr(actions, "_place", place)
    apply_plan(plan)
    assert seen == [[(s.path, s.target, "pending") for s in plan.steps]]


def test_an_existing_manifest_is_never_overwritten(library, tmp_path):
    result = library[2]
    first = apply_plan(plan_actions(result, action="move", to=tmp_path / "dupes"))
    undo(first.manifest)
    second = plan_actions(result, action="move", to=tmp_path / "dupes")
    assert second.manifest != first.manifest and Path(second.manifest).parent == tmp_path / "dupes"
    with pytest.raises(ConfigError, match="already exists"):
        plan_actions(result, action="move", to=tmp_path / "dupes", manifest=first.manifest)
    Path(second.manifest).write_text("{}")
    with pytest.raises(ConfigError, match="already exists"):
        apply_plan(second)


def test_undo_never_overwrites_a_file_that_took_the_original_place(library, tmp_path):
    _, paths, result = library
    outcome = apply_plan(plan_actions(result, action="move", to=tmp_path / "dupes"))
    _write(paths[1], b"a new file with the old name")
    restored = undo(outcome.manifest)
    statuses = {Path(o.path).name: (o.status, o.reason) for o in restored.outcomes}
    target = tmp_path / "dupes" / "a" / "copy.jpg"
    assert statuses["copy.jpg"] == (
        "failed",
        f"the path is taken by another file; the original stays at {target}",
    )
    assert paths[1].read_bytes() == b"a new file with the old name"
    assert target.read_bytes() == b"c" * 100
    assert statuses["copy2.jpg"] == ("restored", None)


def test_undo_leaves_a_moved_file_that_changed_where_it_is(library, tmp_path):
    _, paths, result = library
    outcome = apply_plan(plan_actions(result, action="move", to=tmp_path / "dupes"))
    moved = tmp_path / "dupes" / "a" / "x.jpg"
    moved.write_bytes(b"edited in the dupes folder")
    restored = undo(outcome.manifest)
    assert {Path(o.path).name: o.status for o in restored.outcomes}["x.jpg"] == "failed"
    assert moved.read_bytes() == b"edited in the dupes folder" and not paths[4].exists()


def test_a_move_across_filesystems_copies_then_removes(library, tmp_path, monkeypatch):
    root, _, result = library
    before = _tree(root)

    real_link = os.link

    def no_cross_links(source, destination, **kwargs):
        if Path(source).parent != Path(destination).parent:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_link(source, destination, **kwargs)

    # As if the pictures and the dupes folder were on two filesystems.
    monkeypatch.setattr(os, "link", no_cross_links)
    outcome = apply_plan(plan_actions(result, action="move", to=tmp_path / "dupes"))
    assert not outcome.failed
    moved = tmp_path / "dupes" / "a" / "copy.jpg"
    assert moved.read_bytes() == b"c" * 100
    assert moved.stat().st_mtime_ns == before["a/copy.jpg"][1]
    assert not list((tmp_path / "dupes").rglob("*.imageprism-part"))
    undo(outcome.manifest)
    assert _tree(root) == before


def _other_filesystem(tmp_path: Path) -> Path:
    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK):
        pytest.skip("no /dev/shm to stand for a second filesystem")
    if shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("/dev/shm is on the same filesystem as the test folder")
    return Path(tempfile.mkdtemp(dir=shm, prefix="imageprism-test-"))


def test_a_move_onto_a_real_second_filesystem_is_undone_exactly(library, tmp_path):
    root, _, result = library
    other = _other_filesystem(tmp_path)
    try:
        before = _tree(root)
        outcome = apply_plan(plan_actions(result, action="move", to=other / "dupes"))
        assert not outcome.failed and (other / "dupes" / "a" / "x.jpg").exists()
        undo(outcome.manifest)
        assert _tree(root) == before
    finally:
        subprocess.run(["rm", "-rf", str(other)], check=True)


def test_the_plan_digests_are_those_of_imageprism_dedup(demo_photos, tmp_path):
    root = tmp_path / "photos"
    names = ["coffee", "coffee_q40", "chelsea", "chelsea_half", "rocket"]
    paths = [_write(root / f"{n}.jpg", demo_photos[n].read_bytes()) for n in names]
    result = ImagePrism().dedup(paths, threshold=0.9)
    plan = plan_actions(result, keep="highest-resolution", action="move", to=tmp_path / "dupes")
    assert [s.skipped for s in plan.steps] == [None, None]
    assert sorted(Path(g.keeper).name for g in plan.groups) == ["chelsea.jpg", "coffee.jpg"]
    before = _tree(root)
    outcome = apply_plan(plan)
    assert sorted(p.name for p in root.iterdir()) == ["chelsea.jpg", "coffee.jpg", "rocket.jpg"]
    undo(outcome.manifest)
    assert _tree(root) == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found"),
        ("{not json", "invalid JSON"),
        ('{"format": "something-else"}', "not an imageprism undo manifest"),
        ('{"format": "imageprism-undo", "version": 9, "steps": []}', "unsupported version 9"),
        ('{"format": "imageprism-undo", "version": 1, "steps": [{"action": "move"}]}', "step 0"),
    ],
)
def test_a_bad_manifest_is_an_undo_manifest_error(tmp_path, content, message):
    path = tmp_path / MANIFEST_NAME
    if content is not None:
        path.write_text(content)
    with pytest.raises(UndoManifestError, match=message):
        undo(path)


# Killed mid-run

_RUNNER = """
import json, os, sys, time
from pathlib import Path
from imageprism.actions import apply_plan, plan_actions
from imageprism.results import DedupResult

spec = json.loads(Path(sys.argv[1]).read_text())
result = DedupResult(**spec["result"])
plan = plan_actions(
    result, action=spec["action"], to=spec["to"], allow_delete=True, manifest=spec["manifest"]
)
name, prefix, stop_at, when, pause = spec["hook"]
real = getattr(os, name)
calls = 0

def stop():
    Path(spec["marker"]).write_text("stopped")
    time.sleep(3600)

def hooked(*args, **kwargs):
    global calls
    if not any(isinstance(a, (str, os.PathLike)) and os.fspath(a).startswith(prefix) for a in args):
        return real(*args, **kwargs)
    calls += 1
    time.sleep(pause)
    if calls == stop_at and when == "before":
        stop()
    value = real(*args, **kwargs)
    if calls == stop_at and when == "after":
        stop()
    return value

setattr(os, name, hooked)
apply_plan(plan)
"""


def _kill_run(tmp_path: Path, action: str, to: Path, hook: list, wait_for) -> tuple[Path, dict]:
    """Apply ``action`` to 300 files in a subprocess, SIGKILL it when ``wait_for()``; return
    the library root and the original tree."""
    root = tmp_path / "library"
    paths = [
        _write(root / f"folder{i % 7}" / f"sub{i % 3}" / f"img{i:03}.jpg", f"image {i}".encode())
        for i in range(300)
    ]
    result = _result(paths, [[i, i + 1, i + 2] for i in range(0, 300, 3)])
    spec = tmp_path / "spec.json"
    marker = tmp_path / "stopped"
    spec.write_text(
        json.dumps(
            {
                "result": result.to_dict() | {"errors": []},
                "action": action,
                "to": str(to),
                "manifest": str(to / MANIFEST_NAME),
                "hook": hook,
                "marker": str(marker),
            }
        )
    )
    script = tmp_path / "runner.py"
    script.write_text(_RUNNER)
    before = _tree(root)
    process = subprocess.Popen(
        [sys.executable, str(script), str(spec)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while not wait_for(marker) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    still_running = process.poll() is None
    process.send_signal(signal.SIGKILL)
    _, err = process.communicate()
    assert still_running, f"the run ended before it could be killed:\n{err.decode()}"
    return root, before


def _check_every_file_is_in_place_or_recorded(root: Path, before: dict, manifest: Path) -> int:
    """Each original file is at its path or at the manifest's target for it; returns how many
    are not at their path."""
    steps = {s["path"]: s for s in json.loads(manifest.read_text())["steps"]}
    away = 0
    for relative, (digest, _, _) in before.items():
        if relative.endswith("/"):
            continue
        path = root / relative
        if path.exists() and _digest(path.read_bytes()) == digest:
            continue
        away += 1
        step = steps[str(path)]
        if step["action"] == "delete":
            assert not path.exists()
            continue
        target = Path(step["target"])
        assert _digest(target.read_bytes()) == digest, f"{relative} is lost"
    return away


def _journal_lines(manifest: Path) -> int:
    journal = manifest.with_name(manifest.name + ".journal")
    lines = journal.read_text().splitlines() if journal.exists() else []
    return sum('"id": -1' not in line for line in lines)  # steps, not the folders made


@pytest.mark.parametrize(
    ("action", "hook"),
    [
        pytest.param("move", ["link", "LIB", 50, "after", 0], id="move-between-link-and-unlink"),
        pytest.param("move", ["unlink", "LIB", 50, "after", 0], id="move-before-journal"),
        pytest.param("move", ["link", "LIB", 50, "before", 0], id="move-between-steps"),
        pytest.param("hardlink", ["link", "LIB", 61, "after", 0], id="hardlink-backup-half-done"),
        pytest.param("hardlink", ["unlink", "LIB", 31, "after", 0], id="hardlink-before-link"),
        pytest.param("hardlink", ["link", "LIB", 62, "after", 0], id="hardlink-linked"),
        pytest.param("delete", ["unlink", "LIB", 40, "after", 0], id="delete-before-journal"),
    ],
)
def test_a_run_killed_at_any_instant_loses_nothing_and_undo_restores_all(tmp_path, action, hook):
    to = tmp_path / "dupes"
    hook = [hook[0], str(tmp_path / "library"), *hook[2:]]
    root, before = _kill_run(tmp_path, action, to, hook, wait_for=Path.exists)
    manifest = to / MANIFEST_NAME
    away = _check_every_file_is_in_place_or_recorded(root, before, manifest)
    assert away > 0
    restored = undo(manifest)
    if action == "delete":
        assert len(restored.failed) == away  # each deleted file is reported, nothing else
        return
    assert not restored.failed
    assert _tree(root) == before
    assert not [
        p for p in to.rglob("*") if p.name not in (MANIFEST_NAME, MANIFEST_NAME + ".journal")
    ]


def test_a_slowed_run_killed_after_some_steps_loses_nothing(tmp_path):
    to = tmp_path / "dupes"
    manifest = to / MANIFEST_NAME
    hook = ["link", str(tmp_path / "library"), 190, "before", 0.002]  # ends blocked at step 190
    root, before = _kill_run(
        tmp_path, "move", to, hook, wait_for=lambda _: _journal_lines(manifest) >= 40
    )
    assert _check_every_file_is_in_place_or_recorded(root, before, manifest) >= 40
    assert not undo(manifest).failed
    assert _tree(root) == before


@pytest.mark.parametrize(
    "hook",
    [
        pytest.param(["utime", "TO", 20, "before", 0], id="copy-not-yet-renamed"),
        pytest.param(["unlink", "LIB", 20, "before", 0], id="copy-renamed-source-still-there"),
    ],
)
def test_a_run_killed_mid_copy_to_another_filesystem_loses_nothing(tmp_path, hook):
    other = _other_filesystem(tmp_path)
    try:
        to = other / "dupes"
        hook = [hook[0], str(to) if hook[1] == "TO" else str(tmp_path / "library"), *hook[2:]]
        root, before = _kill_run(tmp_path, "move", to, hook, wait_for=Path.exists)
        manifest = to / MANIFEST_NAME
        _check_every_file_is_in_place_or_recorded(root, before, manifest)
        assert not undo(manifest).failed
        assert _tree(root) == before
        assert not list(to.rglob("*.imageprism-part"))
    finally:
        subprocess.run(["rm", "-rf", str(other)], check=True)
