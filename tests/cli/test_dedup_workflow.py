"""`imageprism dedup` as a workflow: store reuse, remembered not-duplicates, keep + act + undo."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imageprism.cli import main


def _library(folder: Path) -> dict[str, Path]:
    """Two pictures, each with a smaller re-saved copy: two groups of two."""
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True)
    paths = {}
    for name in ("sea", "hill"):
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        picture = Image.fromarray(small).resize((320, 240), Image.Resampling.BICUBIC)
        paths[name] = folder / f"{name}.png"
        picture.save(paths[name])
        paths[f"{name}-copy"] = folder / "copies" / f"{name}-small.jpg"
        paths[f"{name}-copy"].parent.mkdir(exist_ok=True)
        picture.resize((160, 120)).save(paths[f"{name}-copy"], quality=90)
    return paths


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_second_dedup_run_reuses_the_store(tmp_path, capsys):
    _library(tmp_path / "lib")
    store = tmp_path / "store.sqlite"
    code, out, _ = _run(capsys, "dedup", str(tmp_path / "lib"), "--store", str(store), "--json")
    first = json.loads(out)
    assert code == 0 and first["store"]["embedded"] == 4 and first["store"]["reused"] == 0
    code, out, _ = _run(capsys, "dedup", str(tmp_path / "lib"), "--store", str(store), "--json")
    second = json.loads(out)
    assert second["store"] == {"path": str(store), "reused": 4, "embedded": 0, "problem": None}
    assert second["groups"] == first["groups"] and len(second["groups"]) == 2


def test_dedup_uses_the_default_store_unless_told_not_to(tmp_path, capsys):
    _library(tmp_path / "lib")
    _run(capsys, "dedup", str(tmp_path / "lib"))
    code, out, _ = _run(capsys, "dedup", str(tmp_path / "lib"))
    assert code == 0 and "0 computed, 4 reused" in out
    code, out, _ = _run(capsys, "dedup", str(tmp_path / "lib"), "--no-store", "--json")
    assert json.loads(out)["store"] is None


def test_pairs_marked_not_duplicates_are_never_grouped(tmp_path, capsys):
    paths = _library(tmp_path / "lib")
    _, out, _ = _run(capsys, "dedup", str(tmp_path / "lib"), "--json")
    assert len(json.loads(out)["groups"]) == 2
    assert _run(capsys, "not-duplicates", "add", str(paths["sea"]), str(paths["sea-copy"]))[0] == 0
    _, out, _ = _run(capsys, "dedup", str(tmp_path / "lib"), "--json")
    result = json.loads(out)
    groups = [{result["sources"][i] for i in group} for group in result["groups"]]
    assert groups == [{str(paths["hill-copy"]), str(paths["hill"])}]


def test_move_with_dry_run_changes_nothing_then_moves_and_undo_restores(tmp_path, capsys):
    paths = _library(tmp_path / "lib")
    before = _tree(tmp_path / "lib")
    dupes = tmp_path / "dupes"
    args = ["dedup", str(tmp_path / "lib"), "--keep", "largest", "--action", "move"]
    code, out, _ = _run(capsys, *args, "--to", str(dupes), "--dry-run")
    assert code == 0 and "dry run" in out and "move" in out
    assert _tree(tmp_path / "lib") == before and not dupes.exists()

    code, out, _ = _run(capsys, *args, "--to", str(dupes))
    assert code == 0 and "2 of 2 moved" in out and "undo with: imageprism undo" in out
    # the larger originals stay, the small copies moved
    assert paths["sea"].exists() and paths["hill"].exists()
    assert not paths["sea-copy"].exists() and not paths["hill-copy"].exists()
    manifest = Path(out.split("undo with: imageprism undo ")[1].split()[0])
    assert manifest.is_file() and manifest.parent == dupes

    code, out, _ = _run(capsys, "undo", str(dupes))  # the --to folder: its one manifest
    assert code == 0 and "2 restored" in out
    assert _tree(tmp_path / "lib") == before


def test_delete_needs_its_own_flag(tmp_path, capsys):
    _library(tmp_path / "lib")
    code, _, err = _run(capsys, "dedup", str(tmp_path / "lib"), "--action", "delete")
    assert code == 2 and "delete" in err and len(err.strip().splitlines()) == 1


def test_preset_names_a_measured_threshold(tmp_path, capsys):
    from imageprism.thresholds.presets import preset

    _library(tmp_path / "lib")
    code, out, _ = _run(capsys, "dedup", str(tmp_path / "lib"), "--preset", "exact", "--json")
    assert code == 0 and json.loads(out)["threshold"] == preset("exact", "hash").threshold
    code, _, err = _run(capsys, "dedup", str(tmp_path / "lib"), "--preset", "nope")
    assert code == 2 and "nope" in err
    code, _, err = _run(
        capsys, "dedup", str(tmp_path / "lib"), "--preset", "exact", "--threshold", "0.5"
    )
    assert code == 2 and "one of" in err


def test_calibration_saved_by_name_drives_dedup(tmp_path, capsys, monkeypatch):
    from imageprism.thresholds.calibrate import load_calibration

    monkeypatch.setenv("IMAGEPRISM_CONFIG_DIR", str(tmp_path / "config"))
    paths = _library(tmp_path / "lib")
    pairs = tmp_path / "lib" / "pairs.csv"
    pairs.write_text(
        "path_a,path_b,same\n"
        "sea.png,copies/sea-small.jpg,yes\n"
        "hill.png,copies/hill-small.jpg,yes\n"
        "sea.png,hill.png,no\n"
        "copies/sea-small.jpg,copies/hill-small.jpg,no\n"
    )
    code, _, _ = _run(capsys, "calibrate", str(pairs), "--save", "mine", "--quiet")
    assert code == 0
    folder = [str(paths[name]) for name in ("sea", "hill", "sea-copy", "hill-copy")]
    code, out, _ = _run(capsys, "dedup", *folder, "--calibration", "mine", "--json")
    result = json.loads(out)
    assert code == 0 and len(result["groups"]) == 2
    assert result["threshold"] == load_calibration("mine").threshold != 0.9


def test_report_is_written_before_files_move(tmp_path, capsys, monkeypatch):
    import imageprism.cli.dedup as dedup_cli

    paths = _library(tmp_path / "lib")
    report = tmp_path / "dupes.html"
    events = []  # what exists when the report is written and when the plan is applied
    real_write, real_apply = dedup_cli.write_report, dedup_cli.apply_plan

    def write_report(path, html):
        events.append(("report", sorted(n for n, p in paths.items() if p.exists())))
        return real_write(path, html)

    def apply_plan(plan):
        events.append(("apply", sorted(n for n, p in paths.items() if p.exists())))
        return real_apply(plan)

    monkeypatch.setattr(dedup_cli, "write_report", write_report)
    monkeypatch.setattr(dedup_cli, "apply_plan", apply_plan)
    code, out, _ = _run(
        capsys,
        "dedup",
        str(tmp_path / "lib"),
        "--action",
        "move",
        "--to",
        str(tmp_path / "dupes"),
        "--report",
        str(report),
    )
    assert code == 0 and report.exists() and "undo with" in out
    assert sum(path.exists() for path in paths.values()) == 2  # one of each group moved
    assert [name for name, _ in events] == ["report", "apply"]
    assert events[0][1] == sorted(paths)  # every file still in place when the report is written
    html = report.read_text()
    assert "sea-small.jpg" in html and "hill-small.jpg" in html
    # each of the four pictures is a thumbnail read from its original place, no placeholder
    assert 'class="placeholder"' not in html and html.count('<img src="data:') == 4


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--action", "move"], "needs --to"),
        (["--action", "delete", "--to", "X"], "--yes-delete"),
        (["--to", "X"], "need --action"),
        (["--action", "move", "--to", "LIB/inside"], "is inside"),
        (["--store", "s.sqlite", "--no-store"], "not both"),
        (["--preset", "exact", "--threshold", "0"], "--threshold and --preset"),
    ],
)
def test_action_flags_are_checked_before_anything_is_embedded(tmp_path, capsys, flags, message):
    _library(tmp_path / "lib")
    store = tmp_path / "never.sqlite"
    flags = [f.replace("LIB", str(tmp_path / "lib")) for f in flags]
    flags = [str(tmp_path / f) if f == "X" else f for f in flags]
    extra = [] if "--store" in flags else ["--store", str(store)]
    code, _, err = _run(capsys, "dedup", str(tmp_path / "lib"), *flags, *extra)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not store.exists()


def test_delete_through_the_command_line_lists_what_it_deleted(tmp_path, capsys):
    paths = _library(tmp_path / "lib")
    code, out, _ = _run(
        capsys,
        "dedup",
        str(tmp_path / "lib"),
        "--keep",
        "largest",
        "--action",
        "delete",
        "--yes-delete",
        "--to",
        str(tmp_path / "log"),
    )
    assert code == 0 and "cannot be undone" in out
    assert paths["sea"].exists() and not paths["sea-copy"].exists()


def test_dedup_json_gives_each_copys_scores(tmp_path, capsys):
    _library(tmp_path / "lib")
    _, out, _ = _run(capsys, "dedup", str(tmp_path / "lib"), "--json")
    result = json.loads(out)
    assert len(result["scores"]) == 2
    for entry in result["scores"]:
        assert entry["scores"]["hash"] >= result["threshold"]
        assert [entry["representative"], entry["member"]] in result["groups"]


def test_set_passes_dimension_settings(tmp_path, capsys):
    paths = _library(tmp_path / "lib")
    _, out, _ = _run(capsys, "embed", str(paths["sea"]), "--json")
    default = json.loads(out)["embeddings"][0]["hash"]
    _, out, _ = _run(
        capsys,
        "embed",
        str(paths["sea"]),
        "--set",
        "hash.flip=false",
        "--set",
        "hash.windows=[1.0]",
        "--json",
    )
    single = json.loads(out)["embeddings"][0]["hash"]
    assert len(single) * 6 == len(default)
    # the presets know which settings they were measured with
    code, _, err = _run(
        capsys, "dedup", str(tmp_path / "lib"), "--set", "hash.flip=false", "--preset", "exact"
    )
    assert code == 2 and "measured with" in err


@pytest.mark.parametrize("item", ["flip=false", "hash=1", ".flip=1"])
def test_set_refuses_what_is_not_dimension_field_value(tmp_path, capsys, item):
    _library(tmp_path / "lib")
    code, _, err = _run(capsys, "dedup", str(tmp_path / "lib"), "--set", item)
    assert code == 2 and "DIMENSION.FIELD=VALUE" in err


def test_set_with_an_unknown_field_is_a_usage_error(tmp_path, capsys):
    _library(tmp_path / "lib")
    code, _, err = _run(capsys, "dedup", str(tmp_path / "lib"), "--set", "hash.colour=1")
    assert code == 2 and "colour" in err and len(err.strip().splitlines()) == 1
