"""The README's examples and commands are real."""

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def run_quick_example(block, demo_photos, tmp_path, monkeypatch):
    """Run a quick-example block in a folder of a.jpg, b.jpg (a re-save of a) and c.jpg; return
    the values of its lines that end in ``.scores`` and ``.labels``."""
    shutil.copy(demo_photos["coffee"], tmp_path / "a.jpg")
    shutil.copy(demo_photos["coffee_q40"], tmp_path / "b.jpg")
    shutil.copy(demo_photos["astronaut"], tmp_path / "c.jpg")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    lines = [line.split("#")[0].rstrip() for line in block.splitlines()]
    results = []
    for line in lines:
        if line.startswith("prism.") and line.endswith((".scores", ".labels")):
            results.append(eval(line, namespace))
        elif line:
            exec(line, namespace)
    return results


def test_readme_quick_example_runs_and_prints_what_it_says(demo_photos, tmp_path, monkeypatch):
    first_block = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    scores, labels = run_quick_example(first_block, demo_photos, tmp_path, monkeypatch)
    assert scores["hash"] > 0.95
    assert labels == [0, 0, 2]


def test_readme_commands_are_the_task_runner_and_ci_runs_the_test_one():
    tasks = (ROOT / "tasks.py").read_text()
    for command in ("demo", "test"):
        assert f"python3 tasks.py {command}" in README
        assert f'"{command}": {command}' in tasks
    assert "python3 tasks.py test" in (ROOT / ".ci" / "run").read_text()


def test_readme_profile_table_matches_the_code():
    from imageprism.builtins.profiles import BUILTIN_PROFILES

    for profile in BUILTIN_PROFILES:
        row = re.search(rf"\| `{profile.name}` \| (.*?) \|", README).group(1)
        written = {k: float(v) for k, v in (p.split() for p in row.split(", "))}
        assert written == pytest.approx(profile.weights)


def test_readme_is_the_front_door_and_links_into_the_docs():
    # the long sections live in imageprism-core/docs (tests/test_docs.py checks them)
    assert len(README.splitlines()) <= 200
    links = re.findall(r"\]\((imageprism-core/docs/[^)#\s]+)", README)
    for page in ("getting-started.md", "plugins/index.md", "reference/cli.md", "security.md"):
        assert f"imageprism-core/docs/{page}" in links, page
    for link in links:
        if not link.endswith("/"):  # a folder link (examples/) is for GitHub
            assert (ROOT / link).exists(), link


def test_layout_is_the_fixed_top_level():
    allowed = {
        "pyproject.toml",
        "README.md",
        "LICENSE",
        "tasks.py",
        "imageprism-core",
        "imageprism-models",
        "imageprism-face",
        "tests",
        "benchmarks",
    }
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.split()
    tracked = {name.split("/")[0] for name in listed if not name.startswith(".")}
    if not listed:  # not a git checkout: fall back to the folder
        tracked = {p.name for p in ROOT.iterdir() if not p.name.startswith(".")}
    assert tracked <= allowed, tracked - allowed
    for dist, package in [
        ("imageprism-core", "imageprism"),
        ("imageprism-models", "imageprism_models"),
        ("imageprism-face", "imageprism_face"),
    ]:
        meta = tomllib.loads((ROOT / dist / "pyproject.toml").read_text())
        assert meta["project"]["name"] == dist
        assert (ROOT / dist / "src" / package / "__init__.py").is_file()
        assert (ROOT / dist / "src" / package / "py.typed").is_file()


def test_sibling_distributions_pin_each_other_exactly():
    versions = {}
    for dist, package in [
        ("imageprism-core", "imageprism"),
        ("imageprism-models", "imageprism_models"),
        ("imageprism-face", "imageprism_face"),
    ]:
        text = (ROOT / dist / "src" / package / "_version.py").read_text()
        versions[dist] = re.search(r'"(.+)"', text).group(1)
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert set(versions.values()) == {root["version"]}
    version = root["version"]
    assert root["dependencies"] == [f"imageprism-core=={version}"]
    extras = root["optional-dependencies"]
    assert extras["models"] == [f"imageprism-models=={version}"]
    assert extras["face"] == [f"imageprism-face=={version}"]
    assert set(extras["all"]) == {f"imageprism-models=={version}", f"imageprism-face=={version}"}
    for dist in ("imageprism-models", "imageprism-face"):
        deps = tomllib.loads((ROOT / dist / "pyproject.toml").read_text())["project"]
        assert deps["dependencies"][0] == f"imageprism-core[onnx]=={version}"
