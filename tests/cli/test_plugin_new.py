"""``imageprism plugin new``: the package it writes installs, registers and passes its tests.

One package of each kind is generated once per module and pip-installed, all three in one
call, into a temporary directory (offline: ``--no-index --no-deps --no-build-isolation``
uses the venv's hatchling and the imageprism already installed). Child processes get that
directory first on ``PYTHONPATH``, so entry-point discovery sees the three distributions
exactly as after ``pip install``; they run each package's own tests with pytest and list
the plugins with ``imageprism plugins``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest

from imageprism.cli import main
from imageprism.cli.plugin import KINDS, plugin_names
from imageprism.environment import DISABLE_PLUGINS

ROOT = Path(__file__).resolve().parents[2]
#: The distribution generated for each kind.
NAMES = {
    "dimension": "acme-colours",
    "face-embedder": "imageprism-acme-faces",
    "face-detector": "acme-finder",
}
#: What each kind registers under (the module's name without a leading ``imageprism_``).
COMPONENTS = {"acme-colours": "acme_colours", "imageprism-acme-faces": "acme_faces"}
COMPONENTS["acme-finder"] = "acme_finder"


def child_env(site: Path) -> dict[str, str]:
    """The environment of a child process that sees the packages installed in ``site``."""
    env = {**os.environ}
    env.pop(DISABLE_PLUGINS, None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    return env


def run_child(site: Path, *argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python *argv`` seeing the packages in ``site``; fail, showing its output, on error."""
    result = subprocess.run(
        [sys.executable, *argv],
        env=child_env(site),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{argv} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The folder ``plugin new`` wrote for each kind."""
    work = tmp_path_factory.mktemp("plugins")
    folders = {}
    for kind, name in NAMES.items():
        folders[kind] = work / name
        assert main(["plugin", "new", name, "--kind", kind, "--dir", str(folders[kind])]) == 0
    return folders


@pytest.fixture(scope="module")
def site(packages: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory the three generated packages were pip-installed into (``--target``)."""
    target = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-index", "--no-cache-dir", "--no-deps", "--no-build-isolation",
            "--target", str(target), *map(str, packages.values()),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, f"pip install failed:\n{result.stdout}\n{result.stderr}"
    return target


def new(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``imageprism plugin new *argv``; its exit code, standard output and error."""
    code = main(["plugin", "new", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_generated_package_installs_and_passes_its_own_tests(
    kind: str, packages: dict[str, Path], site: Path
) -> None:
    result = run_child(site, "-m", "pytest", "-v", "-p", "no:cacheprovider", cwd=packages[kind])
    lines = result.stdout.splitlines()
    passed = [line for line in lines if line.endswith(" PASSED") or " PASSED " in line]
    assert len(passed) >= 6, result.stdout
    assert not any(word in result.stdout for word in ("SKIPPED", "FAILED", "ERROR")), result.stdout
    assert f"test_{plugin_names(NAMES[kind]).module}.py" in result.stdout
    if kind == "dimension":  # imageprism's conformance suite ran on it
        assert any("TestConformance::test_an_image_scores_one_with_itself" in x for x in passed)


def test_imageprism_plugins_lists_each_generated_plugin_from_its_distribution(
    site: Path,
) -> None:
    listing: dict[str, Any] = json.loads(
        run_child(site, "-m", "imageprism", "plugins", "--json").stdout
    )
    plugins = {plugin["name"]: plugin for plugin in listing["plugins"]}
    for name, component in COMPONENTS.items():
        assert plugins[component]["distribution"] == name
        assert plugins[component]["version"] == "0.1.0"
        assert plugins[component]["status"] == "ok", plugins[component]["error"]
    assert listing["dimensions"]["acme_colours"]["plugin"] == "acme_colours"
    assert "acme_faces" in listing["registered"]["face_embedders"]
    assert "acme_finder" in listing["registered"]["face_detectors"]
    table = run_child(site, "-m", "imageprism", "plugins").stdout
    rows = {line.split()[0]: line.split() for line in table.splitlines() if line.strip()}
    assert rows["acme_colours"][1:4] == ["acme-colours", "0.1.0", "ok"]
    assert rows["acme_faces"][1:4] == ["imageprism-acme-faces", "0.1.0", "ok"]


def test_generated_packages_pass_ruff_with_their_own_settings(packages: dict[str, Path]) -> None:
    for args in (["check", "--no-cache"], ["format", "--no-cache", "--check"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *args, *map(str, packages.values())],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_pyproject_declares_the_entry_point_and_the_pack_it_needs(
    packages: dict[str, Path],
) -> None:
    wanted = {
        "dimension": "imageprism-core>=",
        "face-embedder": "imageprism-face>=",
        "face-detector": "imageprism-face>=",
    }
    for kind, folder in packages.items():
        names = plugin_names(NAMES[kind])
        meta = tomllib.loads((folder / "pyproject.toml").read_text())
        assert meta["project"]["name"] == NAMES[kind]
        assert meta["project"]["entry-points"] == {"imageprism": {names.component: names.module}}
        (dependency,) = meta["project"]["dependencies"]
        assert dependency.startswith(wanted[kind]), dependency
        assert meta["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == [
            f"src/{names.module}"
        ]
        assert (folder / "README.md").read_text().startswith(f"# {NAMES[kind]}\n")
        assert (folder / "tests" / f"test_{names.module}.py").is_file()


def test_names_are_derived_from_the_distribution_name() -> None:
    colours = plugin_names("acme-colours")
    assert (colours.distribution, colours.module, colours.component) == (
        "acme-colours",
        "acme_colours",
        "acme_colours",
    )
    prefixed = plugin_names("imageprism-colours")
    assert (prefixed.module, prefixed.component) == ("imageprism_colours", "colours")


def test_plugin_new_writes_into_name_by_default_and_says_what_next(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = new(capsys, "acme-colours", "--kind", "dimension")
    assert (code, err) == (0, "")
    assert (tmp_path / "acme-colours" / "src" / "acme_colours" / "__init__.py").is_file()
    assert "dimension 'acme_colours'" in out
    assert 'pip install -e "./acme-colours[test]"' in out
    assert [p.name for p in tmp_path.iterdir()] == ["acme-colours"]  # no staging folder left


@pytest.mark.parametrize("existing", ["folder", "empty folder", "file"])
def test_plugin_new_refuses_an_existing_path_and_leaves_it_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, existing: str
) -> None:
    target = tmp_path / "acme-colours"
    if existing == "file":
        target.write_text("mine")
    else:
        target.mkdir()
        if existing == "folder":
            (target / "keep.txt").write_text("mine")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    code, out, err = new(capsys, "acme-colours", "--kind", "dimension", "--dir", str(target))
    assert code == 2 and out == ""
    assert "already exists" in err and "acme-colours" in err and "\n" not in err.rstrip("\n")
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Acme", "is not valid"),
        ("acme colours", "is not valid"),
        ("1acme", "is not valid"),
        ("acme--colours", "is not valid"),
        ("acme-", "is not valid"),
        ("acme.colours", "is not valid"),
        ("imageprism-3d", "after 'imageprism-'"),
        ("a" * 41, "too long (41 characters; at most 40)"),
        ("json", "taken by imageprism or Python"),
        ("imageprism-face", "taken by imageprism or Python"),
        ("imageprism_core", "taken by imageprism or Python"),
        ("class", "taken by imageprism or Python"),
        ("numpy", "would shadow the installed module 'numpy'"),
    ],
)
def test_plugin_new_refuses_a_name_that_cannot_name_a_plugin(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, reason: str
) -> None:
    code, out, err = new(capsys, name, "--kind", "dimension", "--dir", str(tmp_path / "p"))
    assert code == 2 and out == ""
    assert err.startswith(f"imageprism: error: plugin name {name!r}") and reason in err, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("kind", "name"), [("dimension", "hash"), ("face-embedder", "arcface")])
def test_plugin_new_refuses_a_name_already_registered_for_that_kind(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str, name: str
) -> None:
    code, _, err = new(capsys, name, "--kind", kind, "--dir", str(tmp_path / "p"))
    assert code == 2
    assert f"named {name!r} is already registered" in err, err
    assert list(tmp_path.iterdir()) == []


def test_plugin_new_refuses_a_folder_whose_parent_is_missing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = new(capsys, "acme", "--kind", "dimension", "--dir", str(tmp_path / "no" / "p"))
    assert code == 2 and "not found" in err, err
    assert list(tmp_path.iterdir()) == []


def test_the_templates_ship_in_the_core_wheel(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
            "--no-index", "--no-deps", "--no-build-isolation", "--wheel-dir", str(tmp_path),
            str(ROOT / "imageprism-core"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = tmp_path.glob("imageprism_core-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = ROOT / "imageprism-core" / "src" / "imageprism" / "cli" / "plugin_templates"
    shipped = {f"imageprism/cli/plugin_templates/{p.name}" for p in templates.iterdir()}
    assert len(shipped) >= 10
    assert shipped <= names, shipped - names
