"""`imageprism presets` and `imageprism calibrate`: tables, JSON, saving, exit codes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from imageprism.cli import main
from imageprism.thresholds.calibrate import load_calibration
from imageprism.thresholds.presets import presets


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def config_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "config"
    monkeypatch.setenv("IMAGEPRISM_CONFIG_DIR", str(folder))
    return folder


@pytest.fixture
def pairs_csv(demo_photos, tmp_path) -> Path:
    """Copies and edits of the demo photos (same) and pairs of different photos (not); the
    CSV lives in its own folder (not the shared demo one) and names the photos by path."""
    folder = demo_photos["coffee"].parent
    rows = [
        ("coffee.jpg", "coffee_q40.jpg", "yes"),
        ("chelsea.jpg", "chelsea_half.jpg", "yes"),
        ("astronaut.jpg", "astronaut_crop.jpg", "yes"),
        ("rocket.jpg", "rocket_png.png", "yes"),
    ]
    originals = ["coffee", "chelsea", "astronaut", "rocket", "motorcycle_left"]
    rows += [
        (f"{a}.jpg", f"{b}.jpg", "no") for i, a in enumerate(originals) for b in originals[i + 1 :]
    ]
    path = tmp_path / "pairs.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path_a", "path_b", "same"])
        writer.writerows((folder / a, folder / b, same) for a, b, same in rows)
    return path


def test_presets_prints_a_table_of_every_preset(capsys):
    code, out, err = run(capsys, "presets")
    assert code == 0 and err == ""
    header = out.splitlines()[0].split()
    assert header == ["TARGET", "NAME", "THRESHOLD", "PRECISION", "RECALL", "BENCHMARK"]
    assert any(line.split()[:3] == ["hash", "near-duplicate", "0.79"] for line in out.splitlines())
    assert "photos-transforms/v1:" in out  # the benchmark is described
    assert "not measured" in out


def test_presets_json_is_the_registered_presets(capsys):
    code, out, _ = run(capsys, "presets", "--json", "--target", "hash")
    data = json.loads(out)
    assert code == 0
    assert data["presets"] == [p.model_dump() for p in presets("hash")]
    assert list(data["benchmarks"]) == ["photos-transforms/v1"]


def test_presets_of_an_unknown_target_is_a_usage_error(capsys):
    code, _, err = run(capsys, "presets", "--target", "nothing")
    assert code == 2
    assert err.startswith("imageprism: error: no presets for 'nothing'; presets exist for:")


def test_calibrate_prints_thresholds_with_intervals_and_saves(capsys, pairs_csv, config_dir):
    code, out, err = run(capsys, "calibrate", str(pairs_csv), "--save", "demo", "--quiet")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("14 pairs: 4 same, 10 different; thresholds by best f1")
    hash_row = next(line for line in lines if line.startswith("hash"))
    assert "1.000 [" in hash_row
    assert f"saved as demo: {config_dir / 'calibrations' / 'demo.json'}" in out
    loaded = load_calibration("demo")
    assert loaded.source == str(pairs_csv.resolve())
    assert hash_row.split()[1] == f"{loaded.threshold:.4f}"


def test_calibrate_json_with_a_target_and_weights(capsys, pairs_csv):
    code, out, _ = run(
        capsys, "calibrate", str(pairs_csv), "--target-precision", "0.99", "--json", "--quiet"
    )
    data = json.loads(out)
    assert code == 0
    assert data["target_precision"] == 0.99
    assert data["dimensions"]["hash"]["precision"] >= 0.99
    assert data["dimensions"]["hash"]["achieved"] is True
    assert data["saved"] is None
    assert data["pairs"]["count"] == 14


def test_a_bad_csv_exits_2_with_one_line(capsys, tmp_path):
    bad = tmp_path / "pairs.csv"
    bad.write_text("path_a,path_b,same\na.jpg,b.jpg,perhaps\n")
    code, out, err = run(capsys, "calibrate", str(bad))
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert f"{bad}: line 2, column 'same': 'perhaps' is not" in err


def test_a_bad_save_name_exits_2_before_any_work(capsys, pairs_csv, monkeypatch):
    import imageprism.thresholds.calibrate

    def fail(*args, **kwargs):
        raise AssertionError("embedded before checking the name")

    monkeypatch.setattr(imageprism.thresholds.calibrate, "calibrate", fail)
    code, _, err = run(capsys, "calibrate", str(pairs_csv), "--save", "../escape")
    assert code == 2
    assert "a calibration name is" in err


def test_pairs_with_unreadable_images_are_listed_and_exit_1(capsys, pairs_csv):
    with pairs_csv.open("a", newline="") as handle:
        handle.write("gone.jpg,also-gone.jpg,yes\n")  # relative to the CSV's folder
    code, out, err = run(capsys, "calibrate", str(pairs_csv), "--quiet")
    assert code == 1
    assert "14 pairs" in out
    assert f"cannot use {pairs_csv.parent / 'gone.jpg'}" in err


def test_target_precision_and_recall_are_exclusive(capsys, pairs_csv):
    with pytest.raises(SystemExit) as caught:
        main(["calibrate", str(pairs_csv), "--target-precision", "0.9", "--target-recall", "0.9"])
    assert caught.value.code == 2
    _, err = capsys.readouterr()
    assert "not allowed with argument" in err


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--target-precision", "1.5", "argument --target-precision: must be in (0, 1], got 1.5"),
        ("--target-recall", "0", "argument --target-recall: must be in (0, 1], got 0"),
        ("--target-recall", "most", "argument --target-recall: not a number: 'most'"),
    ],
)
def test_a_target_outside_0_1_names_the_flag(capsys, pairs_csv, flag, value, message):
    with pytest.raises(SystemExit) as caught:
        main(["calibrate", str(pairs_csv), flag, value])
    assert caught.value.code == 2
    assert message in capsys.readouterr().err


def test_face_calibrates_from_the_command_line_with_set(tmp_path, capsys, monkeypatch):
    faces = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "faces"
    yunet = faces.parent.parent / "models" / "yunet" / "face_detection_yunet_2026may.onnx"
    if not (faces / "master.csv").exists() or not yunet.exists():
        pytest.skip("../shared (faces and the YuNet model) is not beside the repository")
    pytest.importorskip("dlib", reason="dlib is not installed (imageprism-face[dlib])")
    monkeypatch.setenv("IMAGEPRISM_CONFIG_DIR", str(tmp_path / "config"))
    with (faces / "master.csv").open() as file:
        rows = list(csv.DictReader(file))
    chosen = [r for r in rows if r["Decision"] == "Yes"][:4]
    chosen += [r for r in rows if r["Decision"] == "No"][:4]
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(
        "path_a,path_b,same\n"
        + "".join(
            f"{faces / r['file_x']},{faces / r['file_y']},{r['Decision'].lower()}\n" for r in chosen
        )
    )
    code = main(
        [
            "calibrate",
            str(pairs),
            "--dimensions",
            "face",
            "--set",
            "face.embedder=dlib",
            "--set",
            "face.detector=yunet",
            "--set",
            f"face.detector_path={yunet}",
            "--save",
            "faces",
            "--json",
            "--quiet",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    face = load_calibration("faces")
    assert face.settings["dimensions"]["face"]["config"]["embedder"] == "dlib"
    assert out["saved"] and 0.5 < face.threshold < 1.0


def test_dedup_refuses_a_calibration_file_naming_a_local_model_unless_trusted(
    capsys, pairs_csv, config_dir, tmp_path
):
    assert run(capsys, "calibrate", str(pairs_csv), "--save", "demo", "--quiet")[0] == 0
    data = json.loads((config_dir / "calibrations" / "demo.json").read_text())
    planted = tmp_path / "planted.onnx"
    data["settings"]["dimensions"]["hash"]["config"]["algorithms"] = ["phash"]
    data["settings"]["dimensions"]["semantic"] = {
        "fingerprint": "0" * 16,
        "metric": "cosine",
        "config": {"model_path": str(planted)},
    }
    shared = tmp_path / "shared.json"
    shared.write_text(json.dumps(data))
    folder = pairs_csv.parent
    code, _, err = run(capsys, "dedup", str(folder), "--calibration", str(shared))
    assert code == 2 and "names a local file" in err and "--trust-calibration-models" in err
    code, _, err = run(
        capsys, "dedup", str(folder), "--calibration", str(shared), "--trust-calibration-models"
    )
    assert code == 2 and "planted.onnx" in err and "names a local file" not in err
