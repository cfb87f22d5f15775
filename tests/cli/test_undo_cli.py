"""`imageprism undo MANIFEST`: what it restored; exit 1 when something stays, 2 when unusable."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from imageprism.actions import MANIFEST_NAME, apply_plan, plan_actions
from imageprism.cli import main
from imageprism.results import DedupResult


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def moved(tmp_path: Path) -> tuple[list[Path], Path]:
    """Three files, two of them duplicates moved into ``dupes``; returns (paths, manifest)."""
    root = tmp_path / "pictures"
    root.mkdir()
    paths = [root / "keep.jpg", root / "copy.jpg", root / "sub" / "copy2.jpg"]
    for i, path in enumerate(paths):
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(f"file {i}".encode())
    result = DedupResult(
        unique=[0],
        labels=[0, 0, 0],
        groups=[[0, 1, 2]],
        errors=[],
        sources=[str(p) for p in paths],
        threshold=0.9,
        digests=[hashlib.blake2b(p.read_bytes(), digest_size=16).hexdigest() for p in paths],
    )
    outcome = apply_plan(plan_actions(result, action="move", to=tmp_path / "dupes"))
    assert not outcome.failed and not paths[1].exists()
    return paths, Path(outcome.manifest)


def test_undo_lists_the_restored_files_and_exits_0(capsys, moved):
    paths, manifest = moved
    code, out, err = run(capsys, "undo", str(manifest))
    assert code == 0 and err == ""
    assert out.splitlines() == [
        f"restored {paths[1]}",
        f"restored {paths[2]}",
        "2 restored, 0 already in place, 0 not restored",
    ]
    assert paths[1].read_bytes() == b"file 1" and paths[2].read_bytes() == b"file 2"
    code, out, _ = run(capsys, "undo", str(manifest))
    assert code == 0 and out.splitlines()[-1] == "0 restored, 2 already in place, 0 not restored"


def test_undo_json_gives_every_outcome(capsys, moved):
    paths, manifest = moved
    code, out, _ = run(capsys, "undo", str(manifest), "--json")
    data = json.loads(out)
    assert code == 0 and data["manifest"] == str(manifest)
    assert [(o["path"], o["status"]) for o in data["outcomes"]] == [
        (str(paths[1]), "restored"),
        (str(paths[2]), "restored"),
    ]


def test_undo_exits_1_and_names_what_it_could_not_restore(capsys, moved):
    paths, manifest = moved
    paths[1].write_bytes(b"a new file in the old place")
    code, out, err = run(capsys, "undo", str(manifest))
    assert code == 1
    assert f"restored {paths[2]}" in out and "1 restored, 0 already in place, 1 not restored" in out
    assert err.startswith(f"imageprism: cannot restore {paths[1]}: the path is taken")
    assert paths[1].read_bytes() == b"a new file in the old place"
    assert (manifest.parent / "copy.jpg").read_bytes() == b"file 1"  # kept where it was


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found"),
        ("[1, 2", "invalid JSON"),
        ('{"some": "other file"}', "not an imageprism undo manifest"),
    ],
)
def test_a_missing_or_invalid_manifest_exits_2_with_one_line(capsys, tmp_path, content, message):
    path = tmp_path / MANIFEST_NAME
    if content is not None:
        path.write_text(content)
    code, out, err = run(capsys, "undo", str(path))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("imageprism: error:") and message in err and str(path) in err


@pytest.mark.parametrize("given", ["folder", "0.2 name"])
def test_undo_given_the_to_folder_or_the_0_2_name_finds_the_runs_manifest(capsys, moved, given):
    paths, manifest = moved
    argument = manifest.parent if given == "folder" else manifest.parent / MANIFEST_NAME
    code, out, _ = run(capsys, "undo", str(argument))
    assert code == 0 and out.splitlines()[-1] == "2 restored, 0 already in place, 0 not restored"
    assert paths[1].exists() and paths[2].exists()


def test_a_mistyped_manifest_name_is_never_taken_for_another_manifest(capsys, moved):
    paths, manifest = moved
    typo = manifest.with_name(manifest.name.replace(".json", "0.json"))
    code, out, err = run(capsys, "undo", str(typo))
    assert code == 2 and out == "" and "not found" in err and str(typo) in err
    assert not paths[1].exists()


def test_untrusted_manifest_exits_2_and_names_the_folders_to_trust(capsys, moved):
    paths, manifest = moved
    data = json.loads(manifest.read_text())
    data["hmac_sha256"] = "0" * 64
    manifest.write_text(json.dumps(data))
    code, out, err = run(capsys, "undo", str(manifest))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "--trust-roots" in err and str(paths[0].parent) in err
    assert not paths[1].exists()
    code, out, err = run(capsys, "undo", "--trust-roots", str(manifest))
    assert code == 0 and err.startswith("imageprism: trusting the folders")
    assert str(paths[0].parent) in err and paths[1].exists()
