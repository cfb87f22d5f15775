"""Model files come from pinned, verified downloads and the caches, never silently otherwise."""

from __future__ import annotations

import hashlib

import numpy as np
import onnx_builders
import pytest
from models_support import publish

import imageprism.runtime.hub
from imageprism import ImagePrism, ModelFileError
from imageprism.runtime.hub import ModelConfig, ModelFile, resolve_model_file
from imageprism.runtime.onnx import load_session

CLIP = onnx_builders.clip_vision()
FILE = "onnx/vision_model_quantized.onnx"


def _image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (64, 80, 3), dtype=np.uint8)


def test_first_use_downloads_and_verifies_then_second_use_makes_no_request(hub):
    config = publish(hub, "test/clip", FILE, CLIP)
    first = ImagePrism(["semantic"], config={"semantic": config})
    assert first.embed(_image(1))["semantic"].shape == (512,)
    assert hub.count("GET", FILE) == 1
    before = len(hub.requests)
    second = ImagePrism(["semantic"], config={"semantic": config}, cache_size=0)
    assert second.compare(_image(2), _image(3)).scores["semantic"] is not None
    assert len(hub.requests) == before


def test_offline_with_a_cold_cache_says_which_file_where_and_how_to_pre_pull(hub, monkeypatch):
    config = publish(hub, "test/clip", FILE, CLIP)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    prism = ImagePrism(["semantic"], config={"semantic": config})
    with pytest.raises(ModelFileError) as info:
        prism.embed(_image(1))
    message = str(info.value)
    assert f"test/clip/{FILE}@{config['revision'][:12]}" in message
    assert "IMAGEPRISM_CACHE_DIR=" in message and "the Hugging Face cache" in message
    assert "imageprism models pull semantic" in message
    assert hub.requests == []


def test_offline_after_a_pull_works_from_the_cache(hub, monkeypatch):
    config = publish(hub, "test/clip", FILE, CLIP)
    model = ModelConfig(**config).model_file(ModelFile(**config))
    resolve_model_file(model)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    requests = len(hub.requests)
    ImagePrism(["semantic"], config={"semantic": config}).embed(_image(4))
    assert len(hub.requests) == requests


def test_a_file_whose_sha256_is_wrong_is_refused_and_deleted(hub, isolated_caches):
    config = publish(hub, "test/clip", FILE, CLIP, served_data=CLIP[:-10] + b"x" * 10)
    prism = ImagePrism(["semantic"], config={"semantic": config})
    with pytest.raises(ModelFileError, match="failed verification.*deleted"):
        prism.embed(_image(1))
    cached = [p for p in isolated_caches.rglob("*") if p.is_file() and p.stat().st_size > 1000]
    assert cached == []


def test_an_unknown_revision_is_an_error_not_a_fallback(hub):
    config = publish(hub, "test/clip", FILE, CLIP)
    config["revision"] = "0" * 40
    with pytest.raises(ModelFileError, match="cannot download.*Revision"):
        ImagePrism(["semantic"], config={"semantic": config}).embed(_image(1))
    assert hub.count("GET", FILE) == 0


def test_a_file_served_from_another_commit_than_pinned_is_refused(hub, monkeypatch):
    config = publish(hub, "test/clip", FILE, CLIP)
    model = ModelFile(**config)
    # The stub serves what is asked for; make the snapshot look like another commit's.
    monkeypatch.setattr(imageprism.runtime.hub, "_snapshot_commit", lambda path: "f" * 40)
    with pytest.raises(ModelFileError, match="not the pinned"):
        resolve_model_file(model)


def test_a_branch_revision_is_used_only_when_the_user_asks_and_is_then_unverified(hub):
    publish(hub, "test/clip", FILE, CLIP)
    user = ModelConfig(repo_id="test/clip", filename=FILE, revision="main")
    model = user.model_file(ModelFile(repo_id="x/y", filename="z", revision="a" * 40))
    assert model.sha256 is None and not model.pinned
    assert resolve_model_file(model).read_bytes() == CLIP


def test_pins_carry_over_only_to_the_same_file_and_revision():
    default = ModelFile(repo_id="a/b", filename="m.onnx", revision="1" * 40, sha256="2" * 64)
    assert ModelConfig().model_file(default) == default
    other = ModelConfig(repo_id="c/d").model_file(default)
    assert other.sha256 is None and other.revision == "main"
    moved = ModelConfig(revision="3" * 40).model_file(default)
    assert moved.sha256 is None


def test_a_local_model_path_is_used_without_the_hub_and_checked_when_pinned(hub, tmp_path):
    path = tmp_path / "clip.onnx"
    path.write_bytes(CLIP)
    prism = ImagePrism(["semantic"], config={"semantic": {"model_path": str(path)}})
    assert prism.embed(_image(1))["semantic"] is not None
    assert hub.requests == []
    pinned = {"model_path": str(path), "sha256": hashlib.sha256(b"other").hexdigest()}
    with pytest.raises(ModelFileError, match="failed verification"):
        ImagePrism(["semantic"], config={"semantic": pinned}).embed(_image(1))
    assert path.exists()  # a user's own file is never deleted


def test_a_truncated_model_file_gives_a_clear_error(tmp_path):
    path = tmp_path / "truncated.onnx"
    path.write_bytes(CLIP[: len(CLIP) // 2])
    with pytest.raises(ModelFileError, match="cannot be loaded by ONNX Runtime.*pull it again"):
        load_session(path)


def test_one_session_per_model_file_per_process(tmp_path):
    path = tmp_path / "clip.onnx"
    path.write_bytes(CLIP)
    assert load_session(path) is load_session(path)
    assert load_session(path, intra_op_threads=1) is not load_session(path)


def test_sessions_free_their_run_memory_instead_of_keeping_an_arena(tmp_path):
    # an arena keeps every session's largest run resident: five models' worth at once
    path = tmp_path / "clip.onnx"
    path.write_bytes(CLIP)
    assert load_session(path).get_session_options().enable_cpu_mem_arena is False


def test_model_file_pins_are_validated():
    with pytest.raises(ValueError, match="sha256"):
        ModelFile(repo_id="a/b", filename="f", revision="main", sha256="abc")
    with pytest.raises(ValueError):
        ModelFile(repo_id="no-slash", filename="f", revision="main")


def test_an_interrupted_download_leaves_no_half_file_and_a_retry_works(hub, isolated_caches):
    config = publish(hub, "test/clip", FILE, CLIP)
    model = ModelFile(**config)
    hub.cut_body_at = 1000
    with pytest.raises(ModelFileError, match="cannot download"):
        resolve_model_file(model)
    leftovers = [p for p in isolated_caches.rglob("*") if p.is_file() and p.stat().st_size >= 1000]
    assert leftovers == []
    hub.cut_body_at = None
    assert resolve_model_file(model).read_bytes() == CLIP


def test_a_missing_model_path_is_a_model_file_error_naming_it(tmp_path):
    missing = tmp_path / "nowhere.onnx"
    prism = ImagePrism(["semantic"], config={"semantic": {"model_path": str(missing)}})
    with pytest.raises(ModelFileError, match="nowhere.onnx"):
        prism.embed(np.zeros((8, 8, 3), np.uint8))


def test_sha256_in_a_config_is_validated_and_normalised(tmp_path):
    from imageprism import ConfigError

    with pytest.raises(ConfigError, match="sha256 must be 64 hex digits"):
        ImagePrism(["semantic"], config={"semantic": {"sha256": "xyz"}})
    path = tmp_path / "clip.onnx"
    path.write_bytes(CLIP)
    upper = hashlib.sha256(CLIP).hexdigest().upper()
    prism = ImagePrism(
        ["semantic"], config={"semantic": {"model_path": str(path), "sha256": upper}}
    )
    assert prism.embed(_image(1))["semantic"] is not None


def test_a_corrupt_style_model_fails_once_for_the_whole_batch(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a protobuf" * 10)
    prism = ImagePrism(["style"], config={"style": {"model_path": str(junk)}})
    with pytest.raises(ModelFileError, match="junk.onnx"):
        prism.embed_many([_image(i) for i in range(4)])
