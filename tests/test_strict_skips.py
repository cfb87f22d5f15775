"""IMAGEPRISM_STRICT_TESTS turns skips into failures, except machine-dependent ones."""

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent

CASES = """
import pytest

def test_needs_a_file():
    pytest.skip("../shared is absent")

@pytest.mark.machine_dependent_skip
def test_needs_no_root():
    pytest.skip("running as root")

def test_passes():
    pass
"""


def _run(tmp_path: Path, strict: str) -> str:
    (tmp_path / "test_cases.py").write_text(CASES)
    env = {**os.environ, "PYTHONPATH": str(TESTS), "IMAGEPRISM_STRICT_TESTS": strict}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "strict_skips",
            "-p",
            "no:cacheprovider",
            str(tmp_path / "test_cases.py"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    return done.stdout.strip().splitlines()[-1]


def test_a_skip_fails_under_strict_tests_unless_machine_dependent(tmp_path):
    assert "1 failed, 1 passed, 1 skipped" in _run(tmp_path, "1")


def test_a_skip_is_a_skip_without_strict_tests(tmp_path):
    assert "1 passed, 2 skipped" in _run(tmp_path, "")
