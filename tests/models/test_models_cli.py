"""`imageprism models list` and `models pull` against the local hub stand-in."""

from __future__ import annotations

import json

import onnx_builders
import pytest
from fakes import core_entry_points
from models_support import publish

import imageprism.cli.models
from imageprism import DimensionSpec, hookimpl
from imageprism.cli import main
from imageprism.plugin.registry import Registry
from imageprism.runtime.hub import ModelFile
from imageprism_models.semantic import SemanticConfig, SemanticDimension


class _PackWith:
    def __init__(self, model: ModelFile) -> None:
        self.model = model

    @hookimpl
    def imageprism_register_dimensions(self, register):
        register(
            DimensionSpec(
                name="semantic",
                factory=SemanticDimension,
                config_model=SemanticConfig,
                summary="test semantic",
                model_files=(self.model,),
            )
        )


@pytest.fixture
def published(hub, monkeypatch):
    config = publish(
        hub, "test/clip", "onnx/vision_model_quantized.onnx", onnx_builders.clip_vision()
    )
    model = ModelFile(**config, licence="MIT")
    registry = Registry(entry_points=core_entry_points(), plugins=[("semantic", _PackWith(model))])
    monkeypatch.setattr(imageprism.cli.models, "get_registry", lambda: registry)
    return model


def test_models_list_shows_pins_and_cache_state(published, capsys):
    assert main(["models", "list", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["dimension"] == "semantic" and row["sha256"] == published.sha256
    assert row["cached"] is False


def test_models_pull_downloads_then_list_shows_it_cached(published, hub, capsys):
    assert main(["models", "pull", "semantic"]) == 0
    assert "semantic: test/clip/onnx/vision_model_quantized.onnx" in capsys.readouterr().out
    assert hub.count("GET", "onnx/vision_model_quantized.onnx") == 1
    assert main(["models", "list", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["cached"] is True


def test_models_pull_offline_fails_with_one_line(published, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["models", "pull", "semantic"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "HF_HUB_OFFLINE=1" in err


def test_models_pull_of_an_unknown_dimension_is_a_usage_error(published, capsys):
    assert main(["models", "pull", "nosuch"]) == 2
    assert "unknown dimension 'nosuch'" in capsys.readouterr().err
