"""Shared fixtures: real photos from ../shared (skipped when absent) and demo photos."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SHARED = ROOT.parent / "shared"

sys.path.insert(0, str(TESTS))  # for demo_photos

from demo_photos import write_photos  # noqa: E402

pytest_plugins = ["strict_skips"]  # IMAGEPRISM_STRICT_TESTS: see tests/strict_skips.py


@pytest.fixture(scope="session")
def shared_photos() -> list[Path]:
    """The 300 BSDS500 photos of ../shared/data/photos (skips when ../shared is absent)."""
    folder = SHARED / "data" / "photos"
    if not folder.is_dir():
        pytest.skip(
            f"real photos not available: {folder} is absent (../shared is not beside the clone)"
        )
    return sorted(folder.glob("*.jpg"))


@pytest.fixture(scope="session")
def demo_photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real sample photos and edited copies (see tests/demo_photos.py)."""
    return write_photos(tmp_path_factory.mktemp("demo") / "photos")


@pytest.fixture(autouse=True)
def _user_folders(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Keep the command line's default embedding store, not-duplicate marks, calibrations
    and undo key out of the real home folder: each test gets empty user cache, data and
    configuration folders (``IMAGEPRISM_CONFIG_DIR`` too, so no undo key lands in ~)."""
    home = tmp_path_factory.mktemp("user")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("IMAGEPRISM_CONFIG_DIR", str(home / "config" / "imageprism"))
