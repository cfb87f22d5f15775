"""The test helpers work: the hub stub serves the real ``hf_hub_download``; ONNX builders run."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import onnx
import onnx_builders
import onnxruntime as ort
import pytest
from hubstub import HubStub, patch_endpoint
from huggingface_hub import constants, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    LocalEntryNotFoundError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

REPO = "imageprism-test/tiny"
DATA = b"\x00tiny model bytes\xff" * 100


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[HubStub]:
    # Online whatever the environment says, and no agent-registry side request to huggingface.co.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    with HubStub() as stub:
        yield stub


def download(hub: HubStub, cache: Path, filename: str = "model.onnx", **kwargs: object) -> str:
    kwargs = {"repo_id": REPO, "revision": "main"} | kwargs
    return hf_hub_download(filename=filename, cache_dir=cache, endpoint=hub.endpoint, **kwargs)


def test_download_lands_in_the_cache_under_the_commit(hub: HubStub, tmp_path: Path) -> None:
    commit = hub.add_file(REPO, "model.onnx", DATA)
    path = Path(download(hub, tmp_path, revision=commit))
    assert path.read_bytes() == DATA
    assert path.parent.name == commit
    assert path.is_relative_to(tmp_path / "models--imageprism-test--tiny" / "snapshots")
    assert path.resolve().name == hashlib.sha256(DATA).hexdigest()  # the blob is named by ETag
    assert hub.requests == [
        ("HEAD", hub.path(REPO, "model.onnx", commit)),
        ("GET", hub.path(REPO, "model.onnx", commit)),
    ]


def test_second_download_by_commit_makes_no_request(hub: HubStub, tmp_path: Path) -> None:
    commit = hub.add_file(REPO, "model.onnx", DATA)
    first = download(hub, tmp_path, revision=commit)
    seen = list(hub.requests)
    assert download(hub, tmp_path, revision=commit) == first
    assert hub.requests == seen


def test_second_download_by_branch_only_asks_for_metadata(hub: HubStub, tmp_path: Path) -> None:
    commit = hub.add_file(REPO, "model.onnx", DATA)
    first = download(hub, tmp_path)
    assert Path(first).parent.name == commit
    assert (tmp_path / "models--imageprism-test--tiny" / "refs" / "main").read_text() == commit
    assert download(hub, tmp_path) == first
    assert hub.count("HEAD", "model.onnx") == 2
    assert hub.count("GET", "model.onnx") == 1


def test_new_commits_keep_earlier_files(hub: HubStub, tmp_path: Path) -> None:
    first = hub.add_file(REPO, "model.onnx", DATA)
    second = hub.add_file(REPO, "sub/config.json", b"{}")
    assert first != second == hub.head(REPO)
    assert Path(download(hub, tmp_path, revision=second)).read_bytes() == DATA
    assert Path(download(hub, tmp_path, "sub/config.json")).read_bytes() == b"{}"
    assert HubStub().add_file(REPO, "model.onnx", DATA) == first  # deterministic hashes


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"filename": "missing.onnx"}, RemoteEntryNotFoundError),
        ({"repo_id": "nobody/nothing"}, RepositoryNotFoundError),
        ({"revision": "f" * 40}, RevisionNotFoundError),
        ({"revision": "no-such-branch"}, RevisionNotFoundError),
    ],
)
def test_unknown_repo_file_or_revision_raise_the_hub_errors(
    hub: HubStub, tmp_path: Path, kwargs: dict[str, str], error: type[Exception]
) -> None:
    hub.add_file(REPO, "model.onnx", DATA)
    with pytest.raises(error):
        download(hub, tmp_path, **kwargs)


def test_missing_file_error_is_an_entry_not_found_error(hub: HubStub, tmp_path: Path) -> None:
    commit = hub.add_file(REPO, "model.onnx", DATA)
    with pytest.raises(EntryNotFoundError):
        download(hub, tmp_path, "missing.onnx")
    # the stub sends X-Repo-Commit with the 404, so huggingface_hub caches the absence
    assert (
        tmp_path / "models--imageprism-test--tiny" / ".no_exist" / commit / "missing.onnx"
    ).exists()


def test_tampered_file_is_served_under_the_announced_etag(hub: HubStub, tmp_path: Path) -> None:
    commit = hub.add_file(REPO, "model.onnx", DATA, served_data=b"something else")
    path = Path(download(hub, tmp_path, revision=commit))
    assert path.read_bytes() == b"something else"
    assert hashlib.sha256(path.read_bytes()).hexdigest() != hashlib.sha256(DATA).hexdigest()
    assert path.resolve().name == hashlib.sha256(DATA).hexdigest()


def test_offline_constant_stops_every_request(
    hub: HubStub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit = hub.add_file(REPO, "model.onnx", DATA)
    cached = download(hub, tmp_path)  # by branch: also writes refs/main
    seen = list(hub.requests)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert download(hub, tmp_path, revision=commit) == cached
    assert download(hub, tmp_path) == cached  # "main" resolved through refs/main
    with pytest.raises(LocalEntryNotFoundError):
        download(hub, tmp_path, "other.onnx")
    assert hub.requests == seen


def test_offline_env_after_import_is_ignored(
    hub: HubStub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.add_file(REPO, "model.onnx", DATA)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # read only at import: no effect now
    download(hub, tmp_path)
    assert hub.count("GET", "model.onnx") == 1


def test_patch_endpoint_points_default_downloads_at_the_stub(
    hub: HubStub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.add_file(REPO, "model.onnx", DATA)
    patch_endpoint(monkeypatch, hub.endpoint)
    path = hf_hub_download(REPO, "model.onnx", cache_dir=tmp_path)
    assert Path(path).read_bytes() == DATA
    assert hub.count("GET", "model.onnx") == 1


def test_hf_endpoint_set_before_import_works(hub: HubStub, tmp_path: Path) -> None:
    hub.add_file(REPO, "model.onnx", DATA)
    code = (
        "import sys; from huggingface_hub import hf_hub_download as d; "
        "print(d(sys.argv[1], 'model.onnx', cache_dir=sys.argv[2]))"
    )
    env = os.environ | {"HF_ENDPOINT": hub.endpoint, "HF_HUB_DISABLE_TELEMETRY": "1"}
    env.pop("HF_HUB_OFFLINE", None)
    done = subprocess.run(
        [sys.executable, "-c", code, REPO, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert Path(done.stdout.strip()).read_bytes() == DATA


def test_range_requests(hub: HubStub) -> None:
    hub.add_file(REPO, "model.onnx", DATA)
    request = urllib.request.Request(hub.url(REPO, "model.onnx"), headers={"Range": "bytes=5-"})
    with urllib.request.urlopen(request) as response:
        assert response.status == 206
        assert response.headers["Content-Range"] == f"bytes 5-{len(DATA) - 1}/{len(DATA)}"
        assert response.read() == DATA[5:]


# -- ONNX builders ---------------------------------------------------------------------------

BUILDERS: dict[str, tuple[Callable[..., bytes], list[int], dict[str, list[int]]]] = {
    "clip_vision": (
        onnx_builders.clip_vision,
        [3, 224, 224],
        {"image_embeds": [512], "last_hidden_state": [50, 768]},
    ),
    "dinov2": (
        onnx_builders.dinov2,
        [3, 224, 224],
        {"last_hidden_state": [257, 384], "pooler_output": [384]},
    ),
    "mobilenetv2_multi": (
        onnx_builders.mobilenetv2_multi,
        [3, 224, 224],
        {
            "features": [1280],
            "logits": [1000],
            "block3": [24, 56, 56],
            "block6": [32, 28, 28],
            "block13": [96, 14, 14],
        },
    ),
    "arcface_nchw": (
        lambda **kw: onnx_builders.arcface("NCHW", **kw),
        [3, 112, 112],
        {"embedding": [512]},
    ),
    "arcface_nhwc": (
        lambda **kw: onnx_builders.arcface("NHWC", **kw),
        [112, 112, 3],
        {"embedding": [512]},
    ),
}


def images(batch: int, shape: list[int], seed: int) -> np.ndarray:
    """Smooth random images (a colour gradient per image), normalized like model inputs."""
    rng = np.random.default_rng(seed)
    channels_last = shape[-1] == 3
    size = shape[1] if channels_last else shape[-1]
    ramp = np.linspace(-1.5, 1.5, size, dtype=np.float32)
    out = np.empty([batch, *shape], np.float32)
    for i in range(batch):
        a, b, c = rng.uniform(-1, 1, (3, 3, 1, 1)).astype(np.float32)
        chw = a * ramp[None, :, None] + b * ramp[None, None, :] + c
        out[i] = chw.transpose(1, 2, 0) if channels_last else chw
    return out


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_onnx_builder_runs_with_the_documented_shapes(name: str, tmp_path: Path) -> None:
    build, shape, outputs = BUILDERS[name]
    model = build()
    assert model == build()  # deterministic
    assert len(model) < 1_000_000
    onnx.checker.check_model(onnx.load_from_string(model), full_check=True)
    path = onnx_builders.save(model, tmp_path / "sub" / f"{name}.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (feed,) = session.get_inputs()
    assert [o.name for o in session.get_outputs()] == list(outputs)
    for batch in (1, 3):
        results = session.run(None, {feed.name: images(batch, shape, seed=batch)})
        for (out_name, dims), result in zip(outputs.items(), results, strict=True):
            assert result.shape == (batch, *dims), out_name
            assert result.dtype == np.float32
            assert np.isfinite(result).all()
    one, other = images(2, shape, seed=7)
    a = session.run(None, {feed.name: one[None]})
    b = session.run(None, {feed.name: other[None]})
    for out_name, x, y in zip(outputs, a, b, strict=True):
        assert not np.allclose(x, y, atol=1e-4), out_name
    fixed = ort.InferenceSession(build(dynamic_batch=False), providers=["CPUExecutionProvider"])
    assert fixed.get_inputs()[0].shape == [1, *shape]


def test_dinov2_cls_token_is_the_pooler_output() -> None:
    session = ort.InferenceSession(onnx_builders.dinov2(), providers=["CPUExecutionProvider"])
    hidden, pooled = session.run(None, {"pixel_values": images(2, [3, 224, 224], seed=3)})
    np.testing.assert_array_equal(hidden[:, 0], pooled)


def test_builders_reject_bad_arguments() -> None:
    with pytest.raises(ValueError, match="tokens"):
        onnx_builders.dinov2(tokens=100)
    with pytest.raises(ValueError, match="layout"):
        onnx_builders.arcface("CHW")  # type: ignore[arg-type]
