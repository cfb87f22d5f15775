"""An index or embeddings file carries settings, never model locations used without the user's
say (issue 22 item 3): one naming an unpinned hub model or a local model file is refused
before anything is downloaded, hashed or run, unless ``trust_models`` /
``--trust-index-models``. Against the local hub stand-in."""

from __future__ import annotations

import io
import json
import shutil
import zipfile

import numpy as np
import onnx_builders
import pytest
from huggingface_hub import constants

import imageprism.runtime.hub
import imageprism.runtime.model_dimension
import imageprism.runtime.onnx
from imageprism import ImagePrism
from imageprism.cli import main
from imageprism.index import ImageIndex, IndexFileError, UntrustedModelError
from imageprism.index.embeddings_file import write_embeddings
from imageprism_models.semantic import CLIP_VIT_B32

EVIL = {"repo_id": "attacker/evil", "filename": "model.onnx", "revision": "main"}


@pytest.fixture
def attacker(hub, tmp_path, demo_photos, isolated_caches):
    """An index and an embeddings file made with ``attacker/evil@main`` (unpinned), then
    the caches emptied: a fresh machine that never saw the model."""
    hub.add_file("attacker/evil", "model.onnx", onnx_builders.clip_vision())
    prism = ImagePrism(["semantic"], config={"semantic": EVIL})
    photos = [demo_photos[name] for name in sorted(demo_photos)[:3]]
    index_path = prism.index(photos, ids=["a", "b", "c"]).save(tmp_path / "evil.prism")
    rows = prism.embed_many(photos).embeddings
    npz_path = write_embeddings(tmp_path / "evil.npz", ["a", "b", "c"], rows, prism)
    write_embeddings(tmp_path / "evil.parquet", ["a", "b", "c"], rows, prism)
    for cache in (isolated_caches / "imageprism-cache", constants.HF_HUB_CACHE):
        shutil.rmtree(cache, ignore_errors=True)
    imageprism.runtime.onnx._sessions.clear()
    hub.requests.clear()
    return index_path, npz_path, photos[0]


def test_an_index_naming_an_unpinned_hub_model_downloads_nothing_without_trust(
    attacker, hub, capsys
):
    index_path, npz_path, query = attacker
    problem = r"evil.prism: dimension 'semantic': field 'repo_id' \('attacker/evil'\)"
    with pytest.raises(UntrustedModelError, match=problem):
        ImageIndex.load(index_path)
    with pytest.raises(UntrustedModelError, match="evil.npz: dimension 'semantic'"):
        ImageIndex.from_embeddings(npz_path)
    parquet = npz_path.with_suffix(".parquet")
    with pytest.raises(UntrustedModelError, match="evil.parquet: dimension 'semantic'"):
        ImageIndex.from_embeddings(parquet)
    assert main(["search", str(index_path), str(query)]) == 2
    err = capsys.readouterr().err
    assert "--trust-index-models" in err and "attacker/evil" in err
    assert main(["search", str(npz_path), str(query)]) == 2
    assert hub.requests == []


def test_an_index_naming_an_unpinned_hub_model_works_when_trusted(attacker, hub, capsys):
    index_path, npz_path, query = attacker
    index = ImageIndex.load(index_path, trust_models=True)
    assert hub.count("GET", "model.onnx") == 1
    assert index.search(query, k=1)[0].id == "a"
    assert len(ImageIndex.from_embeddings(npz_path, trust_models=True)) == 3
    capsys.readouterr()
    assert main(["search", str(index_path), str(query), "--trust-index-models", "--k", "1"]) == 0
    assert capsys.readouterr().out.split()[-1] == "a"


def test_a_local_model_path_in_an_index_is_refused_before_the_file_is_read(
    tmp_path, demo_photos, monkeypatch
):
    model = tmp_path / "evil.onnx"
    model.write_bytes(onnx_builders.clip_vision())
    prism = ImagePrism(["semantic"], config={"semantic": {"model_path": str(model)}})
    photos = [demo_photos[name] for name in sorted(demo_photos)[:2]]
    path = prism.index(photos).save(tmp_path / "local.prism")
    assert len(ImageIndex.load(path, trust_models=True)) == 2

    def no_reading(path):
        raise AssertionError(f"{path} was read")

    monkeypatch.setattr(imageprism.runtime.model_dimension, "file_sha256", no_reading)
    monkeypatch.setattr(imageprism.runtime.hub, "file_sha256", no_reading)
    with pytest.raises(
        UntrustedModelError,
        match=r"local.prism: dimension 'semantic': field "
        r"'model_path' names a local file",
    ):
        ImageIndex.load(path)


def _index_with(tmp_path, name: str, config: dict):
    """An empty index file whose manifest has one dimension with ``config``."""
    manifest = {
        "format": "imageprism-index/1",
        "count": 0,
        "dimensions": {name: {"fingerprint": "0" * 16, "metric": "cosine", "config": config}},
        "weights": {name: 1.0},
        "missing_scores": "zero",
    }
    path = tmp_path / "crafted.prism"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        archive.writestr("ids.json", "[]")
        archive.writestr("dim0_matrix.npy", _npy(np.zeros((0, 0), np.float32)))
        archive.writestr("dim0_present.npy", _npy(np.zeros(0, bool)))
    return path


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "config", "field"),
    [
        ("semantic", {"revision": "main"}, "revision"),
        ("semantic", {"sha256": "b" * 64}, "sha256"),
        ("semantic", {**EVIL, "revision": "0" * 40, "sha256": "a" * 64}, "repo_id"),
        ("semantic", {"model_path": "/etc/passwd"}, "model_path"),
        ("style", {"filename": "other.onnx"}, "filename"),
        ("instance", {"repo_id": "attacker/evil"}, "repo_id"),
        ("face", {"embed_repo": "attacker/evil", "embed_file": "m.onnx"}, "embed_repo"),
        ("face", {"embed_path": "/tmp/evil.onnx"}, "embed_path"),
        ("face", {"detector_path": "/tmp/evil.onnx"}, "detector_path"),
    ],
)
def test_configs_naming_models_the_packs_do_not_pin_are_refused(tmp_path, hub, name, config, field):
    path = _index_with(tmp_path, name, config)
    with pytest.raises(
        UntrustedModelError,
        match=rf"crafted.prism: dimension '{name}': "
        rf"field '{field}'",
    ):
        ImageIndex.load(path)
    assert hub.requests == []


def test_the_packs_pinned_default_spelled_out_is_not_refused(tmp_path, hub):
    pinned = {
        "repo_id": CLIP_VIT_B32.repo_id,
        "filename": CLIP_VIT_B32.filename,
        "revision": CLIP_VIT_B32.revision,
        "intra_op_threads": 1,
    }
    path = _index_with(tmp_path, "semantic", pinned)
    with pytest.raises(IndexFileError, match="made with other dimensions") as caught:
        ImageIndex.load(path)  # the pinned file's fingerprint needs no download
    assert not isinstance(caught.value, UntrustedModelError)
    assert hub.requests == []
