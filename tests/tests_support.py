"""Helpers for tests: real (on-disk) distributions with entry points."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest


def make_distribution(
    root: Path, monkeypatch: pytest.MonkeyPatch, name: str, modules: dict[str, str]
) -> list[metadata.EntryPoint]:
    """Write modules and a ``.dist-info`` declaring one ``imageprism`` entry point per module.

    Returns the distribution's entry points (with ``dist`` set, as installed ones have).
    """
    site = root / f"site-{name}"
    site.mkdir()
    for module, code in modules.items():
        (site / f"{module}.py").write_text(code)
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    entries = "".join(f"{module} = {module}\n" for module in modules)
    (info / "entry_points.txt").write_text(f"[imageprism]\n{entries}")
    monkeypatch.syspath_prepend(str(site))
    (dist,) = metadata.distributions(path=[str(site)])
    return [ep for ep in dist.entry_points if ep.group == "imageprism"]


def pip_install_target(package: Path, target: Path) -> Path:
    """pip-install a local package (offline, no dependencies) into ``target`` for ``PYTHONPATH``."""
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-index", "--no-cache-dir", "--no-deps", "--no-build-isolation",
            "--target", str(target), str(package),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, f"pip install failed:\n{result.stdout}\n{result.stderr}"
    return target
