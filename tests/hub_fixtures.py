"""Fixtures for model tests: a local hub stand-in and isolated caches (autouse)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hubstub import HubStub
from huggingface_hub import constants

import imageprism.runtime.hub
import imageprism.runtime.onnx


@pytest.fixture(autouse=True)
def isolated_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Empty IMAGEPRISM_CACHE_DIR and HF cache; online; no stray sessions or verifications."""
    monkeypatch.setenv("IMAGEPRISM_CACHE_DIR", str(tmp_path / "imageprism-cache"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for memo in ("_verified", "_refused", "_derived", "_locks"):
        monkeypatch.setattr(imageprism.runtime.hub, memo, {})
    monkeypatch.setattr(imageprism.runtime.onnx, "_sessions", {})
    return tmp_path


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[HubStub]:
    """The local hub; our code finds it through HF_ENDPOINT (read at call time)."""
    with HubStub() as stub:
        monkeypatch.setenv("HF_ENDPOINT", stub.endpoint)
        yield stub
