import io
import json
import subprocess
import sys

import pytest

from imageprism.cli import main


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_compare_prints_each_score(capsys, demo_photos):
    code, out, _ = run(
        capsys, "compare", str(demo_photos["coffee"]), str(demo_photos["coffee_q40"])
    )
    assert code == 0
    name, value = out.split()
    assert name == "hash" and float(value) > 0.95


def test_compare_json_has_scores_and_weighted_score(capsys, demo_photos):
    code, out, _ = run(
        capsys, "compare", str(demo_photos["coffee"]), str(demo_photos["astronaut"]), "--json"
    )
    data = json.loads(out)
    assert code == 0
    assert set(data) == {"scores", "weighted_score", "weights"}
    assert data["scores"]["hash"] < 0.8


def test_dedup_folder_groups_copies_and_reports_unreadable_files(capsys, demo_photos, tmp_path):
    folder = demo_photos["coffee"].parent
    code, out, err = run(capsys, "dedup", str(folder), "--threshold", "0.9", "--json")
    data = json.loads(out)
    assert code == 0 and data["errors"] == []
    grouped = {
        tuple(sorted(data["sources"][i].rsplit("/", 1)[1] for i in g)) for g in data["groups"]
    }
    assert ("coffee.jpg", "coffee_q40.jpg") in grouped

    (tmp_path / "good.jpg").write_bytes(demo_photos["coffee"].read_bytes())
    (tmp_path / "bad.jpg").write_bytes(b"this is text, not a jpeg")
    code, out, err = run(capsys, "dedup", str(tmp_path))
    assert code == 1
    assert "bad.jpg" in err and "1 images, 1 unique" in out


def test_embed_json_gives_hex_hashes(capsys, demo_photos):
    code, out, _ = run(capsys, "embed", str(demo_photos["rocket"]), "--json")
    data = json.loads(out)
    assert code == 0
    # 3 windows x 2 orientations x 3 algorithms x 64 bits
    assert len(bytes.fromhex(data["embeddings"][0]["hash"])) == 144


def test_plugins_lists_distribution_and_version(capsys):
    code, out, _ = run(capsys, "plugins", "--json")
    data = json.loads(out)
    hash_plugin = next(p for p in data["plugins"] if p["name"] == "hash")
    assert code == 0
    assert hash_plugin["distribution"] == "imageprism-core" and hash_plugin["version"]
    assert data["dimensions"]["hash"]["plugin"] == "hash"
    code, out, _ = run(capsys, "plugins")
    assert "imageprism-core" in out and "dimension:hash" in out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["compare", "nope.jpg", "nope2.jpg"], 1, "nope.jpg"),
        (["compare", "a.jpg", "b.jpg", "--dimensions", "nosuch"], 2, "unknown dimension"),
        (["dedup", ".", "--threshold", "3"], 2, "threshold"),
        (["compare", "a.jpg", "b.jpg", "--profile", "nosuch"], 2, "unknown profile"),
    ],
)
def test_bad_input_exits_nonzero_with_one_line(capsys, tmp_path, monkeypatch, args, code, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.png").write_bytes(b"")
    got, _, err = run(capsys, *args)
    assert got == code
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_console_script_runs(demo_photos):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "imageprism",
            "compare",
            str(demo_photos["chelsea"]),
            str(demo_photos["chelsea_half"]),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert float(result.stdout.split()[1]) > 0.9


def test_index_build_then_search_finds_the_copies(capsys, demo_photos, tmp_path):
    folder = demo_photos["coffee"].parent
    out = tmp_path / "photos.prism"
    assert main(["index", "build", str(folder), "-o", str(out), "--json"]) == 0
    built = json.loads(capsys.readouterr().out)
    assert built["count"] == len(demo_photos) and built["errors"] == []
    assert main(["search", str(out), str(demo_photos["coffee"]), "--k", "2", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert {h["id"].rsplit("/", 1)[1] for h in hits} == {"coffee.jpg", "coffee_q40.jpg"}
    assert main(["search", str(out), str(demo_photos["coffee"]), "--threshold", "0.9"]) == 0
    assert "coffee_q40.jpg" in capsys.readouterr().out


def test_search_with_another_prism_configuration_is_refused(capsys, demo_photos, tmp_path):
    out = tmp_path / "photos.prism"
    assert main(["index", "build", str(demo_photos["coffee"]), "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["search", str(out), str(demo_photos["coffee"])]) == 0  # the build's settings
    capsys.readouterr()
    code = main(["search", str(out), str(demo_photos["coffee"]), "--profile", "dedup"])
    assert code == 2


def test_progress_bar_draws_on_a_terminal_and_not_with_quiet(capsys, demo_photos, monkeypatch):
    import sys as _sys

    folder = str(demo_photos["coffee"].parent)
    monkeypatch.setattr(_sys.stderr, "isatty", lambda: True, raising=False)
    assert main(["dedup", folder]) == 0
    assert "embedding [" in capsys.readouterr().err
    assert main(["dedup", folder, "--quiet"]) == 0
    assert "embedding [" not in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
def test_embed_writes_a_file_that_reads_back_into_an_index(capsys, demo_photos, tmp_path, suffix):
    from imageprism import ImageIndex, ImagePrism

    folder = str(demo_photos["coffee"].parent)
    out = tmp_path / f"embeddings{suffix}"
    assert main(["embed", folder, "-o", str(out), "--json"]) == 0
    written = json.loads(capsys.readouterr().out)
    assert written["count"] == len(demo_photos)
    index = ImageIndex.from_embeddings(out)
    direct = ImagePrism().index(sorted(map(str, demo_photos.values())))
    query = demo_photos["chelsea"]
    assert [h.to_dict() for h in index.search(query, k=4)] == [
        h.to_dict() for h in direct.search(query, k=4)
    ]
    assert main(["search", str(out), str(query), "--k", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["id"].endswith("chelsea.jpg")


def test_embed_output_must_be_npz_or_parquet(capsys, demo_photos, tmp_path):
    code = main(["embed", str(demo_photos["coffee"]), "-o", str(tmp_path / "x.csv")])
    assert code == 2 and ".npz or .parquet" in capsys.readouterr().err


def test_doctor_reports_each_check_with_a_fix_for_problems(capsys, monkeypatch):
    assert main(["doctor", "--json"]) in (0, 1)
    report = json.loads(capsys.readouterr().out)
    names = {c["name"] for c in report["checks"]}
    assert {"python", "imageprism-core", "plugin hash", "onnxruntime"} <= names
    assert all(c["fix"] for c in report["checks"] if not c["ok"])
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("IMAGEPRISM_CACHE_DIR", "/nonexistent-imageprism-cache")
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "problem" in out and "fix: imageprism models pull semantic" in out


def test_dedup_report_writes_one_page_with_every_group(capsys, demo_photos, tmp_path):
    folder = demo_photos["coffee"].parent
    (tmp_path / "photos").mkdir()
    for path in folder.iterdir():
        (tmp_path / "photos" / path.name).write_bytes(path.read_bytes())
    (tmp_path / "photos" / "broken.jpg").write_bytes(b"\xff\xd8\xff broken")
    report = tmp_path / "dupes.html"
    code = main(["dedup", str(tmp_path / "photos"), "--report", str(report), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 1  # the broken file
    html = report.read_text()
    assert html.count('class="group"') == len(result["groups"]) > 0
    assert "broken.jpg" in html and "data:image/jpeg;base64," in html


def test_hidden_files_are_skipped_unless_asked(capsys, demo_photos, tmp_path):
    (tmp_path / ".hidden.jpg").write_bytes(demo_photos["coffee"].read_bytes())
    (tmp_path / "seen.jpg").write_bytes(demo_photos["rocket"].read_bytes())
    assert main(["embed", str(tmp_path), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["sources"]) == 1
    assert main(["embed", str(tmp_path), "--hidden", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["sources"]) == 2


def test_missing_paths_are_listed_at_the_end_and_good_files_still_processed(
    capsys, demo_photos, tmp_path
):
    code = main(["dedup", str(demo_photos["coffee"]), str(tmp_path / "gone")])
    out, err = capsys.readouterr()
    assert code == 1 and "1 images" in out and "skipped" in err and "gone" in err


def test_a_disabled_pack_is_a_one_line_usage_error(capsys, monkeypatch):
    from imageprism.plugin.registry import get_registry

    monkeypatch.setenv("IMAGEPRISM_DISABLE_PLUGINS", "face")
    get_registry(reload=True)
    try:
        code = main(["compare", "a.jpg", "b.jpg", "--dimensions", "face"])
    finally:
        monkeypatch.delenv("IMAGEPRISM_DISABLE_PLUGINS")
        get_registry(reload=True)
    err = capsys.readouterr().err
    assert code == 2 and "imageprism-face" in err and len(err.strip().splitlines()) == 1


def test_plugins_lists_what_packs_register_through_their_own_hooks(capsys):
    assert main(["plugins", "--json"]) == 0
    registered = json.loads(capsys.readouterr().out)["registered"]
    assert {"ultraface", "yunet"} <= set(registered["face_detectors"])
    assert {"arcface", "onnx"} <= set(registered["face_embedders"])


def test_writing_into_a_missing_folder_is_a_one_line_error(capsys, demo_photos, tmp_path):
    missing = tmp_path / "nope" / "report.html"
    code = main(["dedup", str(demo_photos["coffee"]), "--report", str(missing)])
    err = capsys.readouterr().err
    assert code == 2 and "cannot write" in err and len(err.strip().splitlines()) == 1


def test_doctor_treats_missing_optional_features_as_fine(capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("av", "pyarrow", "pillow_heif") else real(name, *a),
    )
    assert main(["doctor", "--json"]) in (0, 1)
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert checks["video input"]["ok"] and "optional" in checks["video input"]["detail"]
    assert checks["video input"]["fix"] == 'pip install "imageprism-core[video]"'


def test_bad_output_paths_are_refused_before_any_embedding(
    capsys, demo_photos, tmp_path, monkeypatch
):
    from imageprism import ImagePrism

    def fail(*args, **kwargs):
        raise AssertionError("embedded before checking the output path")

    monkeypatch.setattr(ImagePrism, "embed_many", fail)
    monkeypatch.setattr(ImagePrism, "dedup", fail)
    photo = str(demo_photos["coffee"])
    assert main(["embed", photo, "-o", str(tmp_path / "missing" / "e.npz")]) == 2
    assert main(["dedup", photo, "--report", str(tmp_path)]) == 2
    assert main(["index", "build", photo, "-o", str(tmp_path / "no" / "x.prism")]) == 2
    assert "not found" in capsys.readouterr().err


def test_a_reader_that_goes_away_stops_the_output_quietly(monkeypatch, capsys):
    # `imageprism presets | head -1`: writing to a closed pipe is not an error to report
    class ClosedPipe(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["presets"]) == 1
    monkeypatch.undo()
    assert capsys.readouterr().err == ""


def test_doctor_says_to_leave_out_a_failing_plugin_not_to_upgrade_it():
    from imageprism.cli.doctor import _plugin_hint
    from imageprism.plugin.registry import Clash, PluginInfo

    broken = PluginInfo("acme", "acme-dims", "1.0", error="ImportError: no module named x")
    assert "IMAGEPRISM_DISABLE_PLUGINS=acme" in _plugin_hint(broken)
    assert "pip install -U" not in _plugin_hint(broken)
    clash = Clash("dimension", "colour", (("acme", "acme-dims"), ("other", "other-dims")))
    squatter = PluginInfo("acme", "acme-dims", "1.0", error="refused", clashes=(clash,))
    assert "two plugins claim the same name" in _plugin_hint(squatter)
    assert "pip uninstall acme-dims" in _plugin_hint(squatter)
    assert _plugin_hint(PluginInfo("fine", "fine-dims", "1.0")) == ""
