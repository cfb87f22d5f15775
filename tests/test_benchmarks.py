"""Every benchmark script imports and parses its arguments (they run outside the test suite)."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_"))


def test_there_are_benchmark_scripts():
    assert {p.name for p in SCRIPTS} >= {"speed.py", "hash_robustness.py", "model_batching.py"}


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_benchmark_script_starts(script):
    result = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


def test_scale_quick_run_passes_its_checks_and_prints_every_table():
    # --quick: every method, the planted set and every search at tiny sizes; the script exits
    # 1 when an answer is wrong (a distinct item grouped, NumPy probing, FAISS or the old paths
    # disagreeing with exact, a search not finding its source first)
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "scale.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    for heading in (
        "Dedup of N distinct",
        "NumPy = exact",
        "near copies",
        "Top-10 search",
        "Goals:",
    ):
        assert heading in result.stdout
    assert "NO (" not in result.stdout


@pytest.mark.parametrize(
    ("name", "parameters"), [("clip-vit-b32", 87_849_216), ("dinov2-small", 22_056_192)]
)
def test_random_vit_graphs_have_the_real_architectures_size_and_outputs(name, parameters, tmp_path):
    # the batching benchmark times these in place of the real (undownloadable) files
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import _vit_graphs
    finally:
        sys.path.remove(str(BENCHMARKS))
    path, count = _vit_graphs.saved_graph(name, tmp_path)  # checks float and quantised outputs
    assert count == parameters
    shapes = _vit_graphs.check_outputs(path, name, batch=3)
    assert shapes == {o: (3, *s) for o, s in _vit_graphs.EXPECTED_OUTPUTS[name].items()}
