"""ONNX Runtime execution providers: ``providers=`` on model and face configs, and
``IMAGEPRISM_PROVIDERS``, passed to every session with the CPU last.

Only the CPU provider is installed here: a provider that is not ("CUDAExecutionProvider") is an
``ExecutionProviderError`` naming it and those available. How a GPU provider is passed through
is checked with a stand-in ``InferenceSession`` that records what it was given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx_builders
import onnxruntime
import pytest
from PIL import Image
from pydantic import ValidationError

from imageprism import ImagePrism, ImagePrismError, ModelFileError, environment
from imageprism.cli import main
from imageprism.runtime.onnx import load_session
from imageprism.runtime.providers import (
    CPU_PROVIDER,
    ExecutionProviderError,
    execution_providers,
    provider_names,
)
from imageprism_face import Face, FaceConfig
from imageprism_face.detectors.ultraface import UltraFaceDetector
from imageprism_face.embedders.onnx import OnnxFaceEmbedder
from imageprism_models.semantic import SemanticConfig, SemanticDimension

CUDA = "CUDAExecutionProvider"


@pytest.fixture(autouse=True)
def _no_providers_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(environment.PROVIDERS, raising=False)


@pytest.fixture
def clip_file(tmp_path: Path) -> Path:
    return onnx_builders.save(onnx_builders.clip_vision(dim=8), tmp_path / "clip.onnx")


class _RecordingSession:
    """Stands in for ``onnxruntime.InferenceSession``: records the providers it was given."""

    made: list[list[str]] = []
    starts: set[str] | None = None  # providers that start (None: every one given)

    def __init__(self, path: str, sess_options: Any = None, providers: Any = None) -> None:
        self.providers = list(providers)
        type(self).made.append(self.providers)

    def get_providers(self) -> list[str]:
        started = type(self).starts
        return [p for p in self.providers if started is None or p in started]


@pytest.fixture
def cuda_installed(monkeypatch: pytest.MonkeyPatch) -> type[_RecordingSession]:
    """An onnxruntime that says CUDA is installed, with recording sessions."""
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [CUDA, CPU_PROVIDER])
    monkeypatch.setattr(onnxruntime, "InferenceSession", _RecordingSession)
    monkeypatch.setattr(_RecordingSession, "made", [])
    monkeypatch.setattr(_RecordingSession, "starts", None)
    return _RecordingSession


def test_short_and_full_names_become_onnx_runtime_names_in_order():
    assert provider_names("cuda, CPU") == (CUDA, CPU_PROVIDER)
    assert provider_names(["CoreML", "directml", "dml", "OpenVINO"]) == (
        "CoreMLExecutionProvider",
        "DmlExecutionProvider",
        "OpenVINOExecutionProvider",
    )
    assert provider_names(["VitisAIExecutionProvider"]) == ("VitisAIExecutionProvider",)
    assert provider_names("") == ()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("cuad", "unknown execution provider 'cuad': give a short name"),
        (["CUDA Execution Provider"], "unknown execution provider"),
        ([3], "provider names must be strings"),
        ([f"X{i}ExecutionProvider" for i in range(9)], "at most 8 execution providers"),
    ],
)
def test_names_that_are_no_provider_are_refused(value, message):
    with pytest.raises(ValueError, match=message):
        provider_names(value)
    with pytest.raises(ValidationError, match=message):
        SemanticConfig(providers=value)
    with pytest.raises(ValidationError, match=message):
        FaceConfig(providers=value)


def test_configs_keep_the_providers_as_full_names():
    assert SemanticConfig(providers="cuda").providers == (CUDA,)
    assert FaceConfig(providers=["cuda", "cpu"]).providers == (CUDA, CPU_PROVIDER)
    assert SemanticConfig().providers is None and FaceConfig().providers is None


def test_the_cpu_is_the_default_and_always_the_fallback(monkeypatch, cuda_installed):
    assert execution_providers(None) == (CPU_PROVIDER,)
    assert execution_providers(()) == (CPU_PROVIDER,)
    assert execution_providers(["cuda"]) == (CUDA, CPU_PROVIDER)
    assert execution_providers(["cpu", "cuda"]) == (CPU_PROVIDER, CUDA)  # as asked
    monkeypatch.setenv(environment.PROVIDERS, "cuda")
    assert execution_providers(None) == (CUDA, CPU_PROVIDER)
    assert execution_providers(()) == (CPU_PROVIDER,)  # a config's own choice wins


def test_a_cpu_session_runs_on_the_cpu(clip_file):
    session = load_session(clip_file, providers=["cpu"])
    assert session.get_providers() == [CPU_PROVIDER]
    assert load_session(clip_file, providers=[CPU_PROVIDER]) is session
    assert load_session(clip_file) is session  # the default is the CPU alone


def test_a_provider_that_is_not_installed_is_an_error_naming_it_and_the_available(clip_file):
    assert CUDA not in onnxruntime.get_available_providers()
    with pytest.raises(ExecutionProviderError) as caught:
        load_session(clip_file, providers=["cuda"])
    message = str(caught.value)
    assert f"{CUDA} (asked for by providers=) is not installed here" in message
    assert f"available: {', '.join(onnxruntime.get_available_providers())}" in message
    assert "onnxruntime-gpu" in message
    assert isinstance(caught.value, ModelFileError)  # a batch stops instead of failing per image


def test_the_variable_applies_to_models_whose_config_does_not_say(monkeypatch, clip_file):
    monkeypatch.setenv(environment.PROVIDERS, "cuda")
    with pytest.raises(ExecutionProviderError, match=f"asked for by {environment.PROVIDERS}"):
        load_session(clip_file)
    assert load_session(clip_file, providers=["cpu"]).get_providers() == [CPU_PROVIDER]
    monkeypatch.setenv(environment.PROVIDERS, "cuad")
    with pytest.raises(ExecutionProviderError, match="IMAGEPRISM_PROVIDERS: unknown execution"):
        load_session(clip_file)


def test_installed_providers_are_passed_first_and_sessions_are_kept_apart(
    clip_file, cuda_installed
):
    on_cuda = load_session(clip_file, providers=["cuda"])
    on_cpu = load_session(clip_file, providers=["cpu"])
    assert cuda_installed.made == [[CUDA, CPU_PROVIDER], [CPU_PROVIDER]]
    assert on_cuda is not on_cpu
    assert load_session(clip_file, providers=[CUDA, CPU_PROVIDER]) is on_cuda


def test_a_provider_that_does_not_start_is_an_error(clip_file, cuda_installed):
    cuda_installed.starts = {CPU_PROVIDER}  # as when onnxruntime falls back to the CPU
    with pytest.raises(ExecutionProviderError, match=f"could not start {CUDA}"):
        load_session(clip_file, providers=["cuda"])
    with pytest.raises(ExecutionProviderError):
        load_session(clip_file, providers=["cuda"])  # not cached


def test_model_dimensions_refuse_an_uninstalled_provider_when_built(clip_file):
    with pytest.raises(ExecutionProviderError, match=CUDA):
        SemanticDimension(SemanticConfig(model_path=clip_file, providers=["cuda"]))
    config = {"semantic": {"model_path": clip_file, "providers": "cuda"}}
    with pytest.raises(ImagePrismError, match="is not installed here"):
        ImagePrism(["semantic"], config=config)


def test_the_command_line_says_so_in_one_line(clip_file, tmp_path, capsys):
    image = tmp_path / "a.png"
    Image.new("RGB", (32, 32), (10, 20, 30)).save(image)
    argv = ["compare", str(image), str(image), "--dimensions", "semantic"]
    argv += ["--set", f"semantic.model_path={clip_file}", "--set", "semantic.providers=cuda"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and CUDA in err[0] and err[0].startswith("imageprism: error:")


def test_model_dimensions_pass_their_providers_and_keep_their_fingerprint(
    clip_file, cuda_installed
):
    plain = SemanticDimension(SemanticConfig(model_path=clip_file))
    on_cuda = SemanticDimension(SemanticConfig(model_path=clip_file, providers=["cuda"]))
    assert on_cuda.model.providers == (CUDA,)
    assert on_cuda.model.session.providers == [CUDA, CPU_PROVIDER]
    assert on_cuda.fingerprint == plain.fingerprint


def test_cpu_embeddings_are_the_same_whether_asked_for_or_not(clip_file):
    image = np.random.default_rng(1).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    plain = ImagePrism(["semantic"], config={"semantic": {"model_path": clip_file}})
    on_cpu = ImagePrism(
        ["semantic"], config={"semantic": {"model_path": clip_file, "providers": ["cpu"]}}
    )
    np.testing.assert_array_equal(plain.embed(image)["semantic"], on_cpu.embed(image)["semantic"])
    assert plain.dimension("semantic").fingerprint == on_cpu.dimension("semantic").fingerprint


def test_the_face_embedder_and_detectors_pass_the_providers(tmp_path, cuda_installed):
    model = onnx_builders.save(onnx_builders.arcface(), tmp_path / "emb.onnx")
    embedder = OnnxFaceEmbedder(
        FaceConfig(embed_path=model, providers=["cuda"]), name="onnx", default=None
    )
    assert embedder.model.session.providers == [CUDA, CPU_PROVIDER]
    detector = UltraFaceDetector(model, providers=["cuda"])
    assert detector.session.providers == [CUDA, CPU_PROVIDER]


def test_the_face_embedder_refuses_an_uninstalled_provider(tmp_path):
    model = onnx_builders.save(onnx_builders.arcface(), tmp_path / "emb.onnx")
    cpu = OnnxFaceEmbedder(FaceConfig(embed_path=model, providers="cpu"), name="onnx", default=None)
    image = np.zeros((128, 128, 3), dtype=np.uint8)
    face = Face(box=(16.0, 16.0, 112.0, 112.0), score=0.9)
    assert len(cpu.embed_faces(image, [face])) == 1
    plain = OnnxFaceEmbedder(FaceConfig(embed_path=model), name="onnx", default=None)
    assert plain.fingerprint == cpu.fingerprint
    config = FaceConfig(embed_path=model, providers="cuda")
    cuda = OnnxFaceEmbedder(config, name="onnx", default=None)
    with pytest.raises(ExecutionProviderError, match=f"{CUDA} .* is not installed here"):
        cuda.embed_faces(image, [face])
    with pytest.raises(ExecutionProviderError, match=CUDA):
        UltraFaceDetector(model, providers=["cuda"]).session  # noqa: B018


def test_the_face_dimension_refuses_an_uninstalled_provider_when_built():
    from imageprism_face import FaceConfig
    from imageprism_face.dimension import FaceDimension

    with pytest.raises(ExecutionProviderError, match="CUDAExecutionProvider"):
        FaceDimension(FaceConfig(providers=["cuda"]))


def test_saved_index_manifests_leave_the_providers_out(clip_file):
    # where a model ran is the machine's business: a file made with a GPU provider must
    # load on a machine without one
    from imageprism.index.manifest import prism_manifest

    prism = ImagePrism(
        ["semantic"], config={"semantic": {"model_path": clip_file, "providers": ["cpu"]}}
    )
    config = prism_manifest(prism)["dimensions"]["semantic"]["config"]
    assert "providers" not in config
    assert config["model_path"] == str(clip_file)
