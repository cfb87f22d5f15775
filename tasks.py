"""The README's two commands, needing nothing but Python 3.11+ and pip.

    python3 tasks.py demo   # compare and dedup a few real photos with the default prism
    python3 tasks.py test   # ruff, the import layers (lint-imports), mypy + the whole pytest suite
                            # (which builds the docs site strict: tests/test_docs.py)

Each creates ./.venv on first use (or when a pyproject.toml changed) and installs
the three distributions (editable) with the dev tools into it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".installed"
PROJECTS = ("imageprism-core", "imageprism-models", "imageprism-face", ".")
INSTALL = [
    "-e", "./imageprism-core[onnx,numba]",
    "-e", "./imageprism-models",
    "-e", "./imageprism-face",
    "-e", ".[all,dev]",
]  # fmt: skip
DEMO = ROOT / ".demo" / "photos"


def run(*args: str | Path) -> None:
    """Run a command from the repository root, echoing it; stop on failure."""
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], cwd=ROOT, check=True)


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for project in PROJECTS:
        digest.update((ROOT / project / "pyproject.toml").read_bytes())
    digest.update(" ".join(INSTALL).encode())
    return digest.hexdigest()


def _has_pip() -> bool:
    try:
        done = subprocess.run(
            [str(PYTHON), "-m", "pip", "--version"], capture_output=True, check=False
        )
    except OSError:  # e.g. .venv/bin/python points at a Python that is gone
        return False
    return done.returncode == 0


def _create_venv() -> None:
    """Make .venv with pip; fall back to virtualenv (e.g. Debian's Python without python3-venv)."""
    shutil.rmtree(VENV, ignore_errors=True)
    try:
        venv.EnvBuilder(with_pip=True).create(VENV)
        if _has_pip():
            return
    except Exception as err:
        print(f"venv failed ({err}); trying virtualenv", flush=True)
    shutil.rmtree(VENV, ignore_errors=True)
    tools = ROOT / ".venv-tools"
    try:
        run(sys.executable, "-m", "pip", "install", "--quiet", "--target", tools, "virtualenv")
        env = {**os.environ, "PYTHONPATH": str(tools)}
        print("+ python -m virtualenv .venv", flush=True)
        subprocess.run([sys.executable, "-m", "virtualenv", str(VENV)], env=env, check=True)
    except subprocess.CalledProcessError:
        shutil.rmtree(VENV, ignore_errors=True)
        sys.exit(
            "cannot create a virtual environment: install Python's venv module "
            "(on Debian/Ubuntu: apt-get install python3-venv) and run this again"
        )


def install() -> None:
    """Create .venv and install everything into it, unless already done for these pyprojects."""
    if STAMP.is_file() and STAMP.read_text() == _fingerprint() and _has_pip():
        return
    if not PYTHON.exists() or not _has_pip():
        _create_venv()
    run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(PYTHON, "-m", "pip", "install", "--quiet", *INSTALL)
    STAMP.write_text(_fingerprint())


def demo() -> None:
    """Prepare real photos and edited copies, then compare, dedup and list plugins."""
    install()
    run(PYTHON, "tests/demo_photos.py", DEMO.parent)
    cli = BIN / "imageprism"
    run(cli, "compare", DEMO / "coffee.jpg", DEMO / "coffee_q40.jpg")
    run(cli, "compare", DEMO / "coffee.jpg", DEMO / "astronaut.jpg")
    run(cli, "dedup", DEMO, "--threshold", "0.9")
    run(cli, "plugins")


def test() -> None:
    """Lint, check formatting, the import layers and the types, and run the whole test suite
    (tests/test_docs.py builds the docs site, imageprism-core/mkdocs.yml, with --strict)."""
    install()
    run(BIN / "ruff", "check", ".")
    run(BIN / "ruff", "format", "--check", ".")
    run(BIN / "lint-imports")
    run(BIN / "mypy")  # the three src trees: [tool.mypy] in pyproject.toml
    run(PYTHON, "-m", "pytest", *sys.argv[2:])


COMMANDS = {"install": install, "demo": demo, "test": test}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(f"usage: python3 {Path(__file__).name} {{{'|'.join(COMMANDS)}}} [pytest args]")
    try:
        COMMANDS[sys.argv[1]]()
    except subprocess.CalledProcessError as err:
        sys.exit(err.returncode)
