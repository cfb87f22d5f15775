"""`imageprism not-duplicates add | remove | import | list`."""

from __future__ import annotations

import json
import shutil
import sqlite3

import numpy as np
import pytest
from PIL import Image

from imageprism import prepare
from imageprism.cli import main
from imageprism.dedup.not_duplicates import FORMAT, NotDuplicates


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def images(tmp_path):
    paths = []
    for seed in range(3):
        pixels = np.random.default_rng(seed).integers(0, 256, (16, 16, 3), dtype=np.uint8)
        path = tmp_path / f"photo{seed}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def marks_file(tmp_path):
    return str(tmp_path / "state" / "marks.sqlite")


def test_add_marks_two_images_once_and_list_exports_the_pair(capsys, images, marks_file):
    a, b = (str(p) for p in images[:2])
    code, out, _ = run(capsys, "not-duplicates", "add", a, b, "--file", marks_file)
    assert code == 0 and out.startswith("marked as not duplicates:") and "photo0.png" in out
    code, out, _ = run(capsys, "not-duplicates", "add", b, a, "--file", marks_file, "--json")
    data = json.loads(out)
    assert code == 0 and data["added"] is False
    assert data["pair"] == [prepare(b).digest, prepare(a).digest]

    code, out, _ = run(capsys, "not-duplicates", "list", "--file", marks_file, "--json")
    assert code == 0
    assert json.loads(out) == {"format": FORMAT, "pairs": [sorted(data["pair"])]}
    code, out, _ = run(capsys, "not-duplicates", "list", "--file", marks_file)
    assert out.split() == sorted(data["pair"])


def test_remove_takes_files_or_the_digests_of_files_gone_since(capsys, images, marks_file):
    a, b, c = (str(p) for p in images)
    run(capsys, "not-duplicates", "add", a, b, "--file", marks_file)
    run(capsys, "not-duplicates", "add", a, c, "--file", marks_file)
    gone = prepare(c).digest
    images[2].unlink()

    code, out, _ = run(capsys, "not-duplicates", "remove", b, a, "--file", marks_file, "--json")
    assert code == 0 and json.loads(out)["removed"] is True
    code, out, _ = run(capsys, "not-duplicates", "remove", a, gone, "--file", marks_file)
    assert code == 0 and out.startswith("removed the mark:")
    code, out, _ = run(capsys, "not-duplicates", "remove", a, gone, "--file", marks_file)
    assert code == 0 and out.startswith("no mark to remove:")
    with NotDuplicates(marks_file) as marks:
        assert len(marks) == 0


def test_import_loads_an_exported_file_and_counts_new_pairs(capsys, tmp_path, marks_file):
    pairs = [["a" * 32, "b" * 32], ["c" * 32, "a" * 32]]
    exported = tmp_path / "not-duplicates.json"
    exported.write_text(json.dumps({"format": FORMAT, "pairs": pairs}))
    code, out, _ = run(capsys, "not-duplicates", "import", str(exported), "--file", marks_file)
    assert code == 0 and out.startswith("imported 2 new pairs")
    code, out, _ = run(
        capsys, "not-duplicates", "import", str(exported), "--file", marks_file, "--json"
    )
    assert json.loads(out) == {"added": 0, "in_file": 2, "total": 2, "file": marks_file}


def test_list_and_remove_never_create_a_marks_file(capsys, images, marks_file):
    from pathlib import Path

    code, out, _ = run(capsys, "not-duplicates", "list", "--file", marks_file, "--json")
    assert code == 0 and json.loads(out) == {"format": FORMAT, "pairs": []}
    code, out, _ = run(capsys, "not-duplicates", "list", "--file", marks_file)
    assert code == 0 and out == ""
    a, b = (str(p) for p in images[:2])
    code, out, _ = run(capsys, "not-duplicates", "remove", a, b, "--file", marks_file)
    assert code == 0 and out.startswith("no mark to remove:") and "does not exist" in out
    assert not Path(marks_file).exists() and not Path(marks_file).parent.exists()


def test_default_file_is_under_xdg_data_home(capsys, images, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    code, _, _ = run(capsys, "not-duplicates", "add", str(images[0]), str(images[1]))
    assert code == 0
    assert (tmp_path / "data" / "imageprism" / "not-duplicates.sqlite").is_file()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["add", "{a}", "{a}"], 2, "same content"),
        (["add", "{a}", "{missing}"], 1, "missing.png: no such file"),
        (["import", "{bad}"], 2, "bad.json is not JSON"),
        (["import", "{missing}"], 2, "cannot read marks file"),
        (["list", "--file", "{corrupt}"], 2, "corrupt.sqlite is not an imageprism"),
    ],
)
def test_bad_input_exits_nonzero_with_one_line(
    capsys, images, tmp_path, marks_file, args, code, message
):
    (tmp_path / "bad.json").write_text("{oops")
    (tmp_path / "corrupt.sqlite").write_bytes(b"not sqlite at all " * 20)
    names = {
        "a": str(images[0]),
        "missing": str(tmp_path / "missing.png"),
        "bad": str(tmp_path / "bad.json"),
        "corrupt": str(tmp_path / "corrupt.sqlite"),
    }
    argv = [part.format(**names) for part in args]
    if "--file" not in argv:
        argv += ["--file", marks_file]
    got, out, err = run(capsys, "not-duplicates", *argv)
    assert got == code and out == ""
    assert message in err and len(err.strip().splitlines()) == 1


def _damaged_marks(path, digest):
    """A marks file whose one pair is not two digests (as a damaged or edited file)."""
    with NotDuplicates(path):
        pass
    db = sqlite3.connect(path)
    db.execute("INSERT INTO pairs VALUES (?, ?, 0)", (digest, "~ not a digest"))
    db.commit()
    db.close()


def _tree(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("explicit", [True, False], ids=["--not-duplicates FILE", "default file"])
def test_dedup_with_a_damaged_marks_file_stops_before_any_action(
    capsys, images, tmp_path, explicit
):
    from imageprism.dedup.not_duplicates import default_path

    library = tmp_path / "lib"
    library.mkdir()
    for path in images:
        shutil.copyfile(path, library / path.name)
    shutil.copyfile(images[0], library / "copy.png")  # a duplicate to move
    marks = tmp_path / "marks.sqlite" if explicit else default_path()
    marks.parent.mkdir(parents=True, exist_ok=True)
    _damaged_marks(marks, prepare(images[0]).digest)
    before = _tree(library)
    argv = ["dedup", str(library), "--action", "move", "--to", str(tmp_path / "dupes")]
    argv += ["--no-store", *(["--not-duplicates", str(marks)] if explicit else [])]
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert str(marks) in err and "is damaged" in err and "move it aside" in err
    assert len(err.strip().splitlines()) == 1
    assert _tree(library) == before and not (tmp_path / "dupes").exists()


@pytest.mark.parametrize("action", ["list", "add", "remove", "import"])
def test_every_marks_command_refuses_a_damaged_file_saying_how_to_proceed(
    capsys, images, tmp_path, action
):
    marks = tmp_path / "marks.sqlite"
    _damaged_marks(marks, prepare(images[0]).digest)
    export = tmp_path / "export.json"
    export.write_text(json.dumps({"format": FORMAT, "pairs": []}))
    operands = {"list": [], "import": [str(export)]}.get(action, [str(p) for p in images[:2]])
    code, out, err = run(capsys, "not-duplicates", action, *operands, "--file", str(marks))
    assert code == 2 and out == ""
    assert str(marks) in err and "imageprism not-duplicates import" in err
    assert len(err.strip().splitlines()) == 1


def test_salvage_then_import_recovers_the_marks_of_a_damaged_file(capsys, images, tmp_path):
    marks = tmp_path / "marks.sqlite"
    a, b = (str(p) for p in images[:2])
    assert run(capsys, "not-duplicates", "add", a, b, "--file", str(marks))[0] == 0
    _damaged_marks(marks, prepare(images[2]).digest)
    out_file = tmp_path / "saved.json"
    code, out, _ = run(capsys, "not-duplicates", "salvage", str(out_file), "--file", str(marks))
    assert code == 0 and "saved 1 pairs" in out and "1 damaged rows left out" in out
    assert "imageprism not-duplicates import" in out
    marks.rename(tmp_path / "marks.damaged")
    code, _, _ = run(capsys, "not-duplicates", "import", str(out_file), "--file", str(marks))
    assert code == 0
    code, out, _ = run(capsys, "not-duplicates", "list", "--json", "--file", str(marks))
    assert json.loads(out)["pairs"] == [sorted([prepare(a).digest, prepare(b).digest])]
