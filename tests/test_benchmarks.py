"""Every benchmark script imports and parses its arguments (they run outside the test suite),
and has its table and reproducing command in a docs page."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_"))
DOCS = ROOT / "imageprism-core" / "docs"
TABLE_RULE = re.compile(r"^\|\s*-{3}", re.M)  # a Markdown table's |---| line


def test_there_are_benchmark_scripts():
    assert {p.name for p in SCRIPTS} >= {"speed.py", "hash_robustness.py", "model_batching.py"}


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_benchmark_script_starts(script):
    result = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_benchmark_script_has_its_table_and_command_in_a_docs_page(script):
    command = re.compile(rf"python\s+benchmarks/{re.escape(script.name)}\b")
    pages = [
        page.relative_to(DOCS)
        for page in sorted(DOCS.rglob("*.md"))
        if command.search(page.read_text()) and TABLE_RULE.search(page.read_text())
    ]
    assert pages, f"no docs page has a table and `python benchmarks/{script.name}`"
    index = (DOCS / "benchmarks" / "index.md").read_text()
    assert f"`benchmarks/{script.name}`" in index, "the Benchmarks overview does not list it"


def test_every_benchmarks_page_has_a_table_and_a_reproducing_command():
    pages = sorted((DOCS / "benchmarks").glob("*.md"))
    assert len(pages) >= 8
    for page in pages:
        text = page.read_text()
        assert TABLE_RULE.search(text), page.name
        assert re.search(r"python\s+benchmarks/\w+\.py|`benchmarks/\w+\.py`", text), page.name


def test_the_readme_keeps_no_benchmark_table():
    readme = (ROOT / "README.md").read_text()
    assert "Reproduce" not in readme
    for script in SCRIPTS:
        assert f"benchmarks/{script.name}" not in readme, script.name


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
