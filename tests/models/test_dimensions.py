"""The model pack's dimensions: contract, pinned preprocessing, batching, style blocks."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnx_builders
import pytest
from PIL import Image

import imageprism.runtime.threads
from imageprism import ImagePrism, prepare
from imageprism.runtime.onnx import OnnxModel
from imageprism_models.preprocess import (
    CLIP,
    CLIP_MEAN,
    CLIP_STD,
    DINOV2,
    IMAGENET_MEAN,
    IMAGENET_STD,
    MOBILENETV2,
)
from imageprism_models.style import BLOCKS, find_block_tensors, with_block_outputs

SHARED_MOBILENET = (
    Path(__file__).resolve().parents[2].parent / "shared/models/mobilenetv2/mobilenetv2_multi.onnx"
)
_TINY = Path(tempfile.mkdtemp(prefix="imageprism-tiny-models-"))
_BUILDERS = {
    "semantic": onnx_builders.clip_vision,
    "instance": onnx_builders.dinov2,
    "style": onnx_builders.mobilenetv2_multi,
}


def tiny_model(dimension: str) -> str:
    """A tiny stand-in of the dimension's model, with the real input and output names."""
    path = _TINY / f"{dimension}.onnx"
    if not path.exists():
        onnx_builders.save(_BUILDERS[dimension](), path)
    return str(path)


# The conformance suite (imageprism.testing) runs on these dimensions in
# test_conformance_models.py.


def _expected(value: float, mean: float, std: float) -> np.float32:
    return (np.float32(value) / np.float32(255.0) - np.float32(mean)) / np.float32(std)


@pytest.mark.parametrize(
    ("recipe", "mean", "std"),
    [
        (CLIP, CLIP_MEAN, CLIP_STD),
        (DINOV2, IMAGENET_MEAN, IMAGENET_STD),
        (MOBILENETV2, IMAGENET_MEAN, IMAGENET_STD),
    ],
    ids=["clip", "dinov2", "mobilenetv2"],
)
def test_a_flat_colour_becomes_the_normalised_value_everywhere(recipe, mean, std):
    colour = (10, 128, 250)
    tensor = recipe.tensor(Image.new("RGB", (300, 200), colour))
    assert tensor.shape == (3, 224, 224) and tensor.dtype == np.float32
    for channel in range(3):
        np.testing.assert_allclose(
            tensor[channel], _expected(colour[channel], mean[channel], std[channel]), atol=1e-6
        )


def _ramp(width: int, height: int) -> Image.Image:
    row = (np.arange(width) % 256).astype(np.uint8)
    return Image.fromarray(np.repeat(row[None, :, None], height, axis=0).repeat(3, axis=2))


def test_clip_keeps_a_224_high_image_unscaled_and_crops_its_centre():
    tensor = CLIP.tensor(_ramp(448, 224))
    columns = np.arange(112, 336) % 256  # crop left = (448 - 224) // 2
    np.testing.assert_allclose(tensor[0, 5], _expected(columns, CLIP_MEAN[0], CLIP_STD[0]))
    np.testing.assert_allclose(tensor[2, 200], _expected(columns, CLIP_MEAN[2], CLIP_STD[2]))


def test_dinov2_resizes_the_short_side_to_256_then_crops_224():
    tensor = DINOV2.tensor(_ramp(512, 256))
    columns = np.arange(144, 368) % 256  # no resize at 256 high; left = (512 - 224) // 2
    expected = _expected(columns, IMAGENET_MEAN[1], IMAGENET_STD[1])
    np.testing.assert_allclose(tensor[1, 0], expected, atol=1e-6)


def test_a_small_image_is_upscaled_bicubic_to_the_short_side():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (50, 100, 3), np.uint8))
    reference = image.resize((448, 224), Image.Resampling.BICUBIC).crop((112, 0, 336, 224))
    pixels = np.asarray(reference, dtype=np.float32) / 255.0
    expected = ((pixels - np.float32(CLIP_MEAN)) / np.float32(CLIP_STD)).transpose(2, 0, 1)
    np.testing.assert_allclose(CLIP.tensor(image), expected, atol=1e-6)


def test_embeddings_of_a_batch_come_from_one_model_call_per_batch(monkeypatch):
    calls = []
    original = OnnxModel.run

    def counting(self, batch, outputs=None):
        calls.append(len(batch))
        return original(self, batch, outputs)

    monkeypatch.setattr(OnnxModel, "run", counting)
    prism = ImagePrism(
        ["semantic"], config={"semantic": {"model_path": tiny_model("semantic")}}, batch_size=16
    )
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (40, 50, 3), dtype=np.uint8) for _ in range(20)]
    batch = prism.embed_many(images)
    assert sorted(calls) == [10, 10] and batch.errors == []  # two even chunks, side by side
    result = prism.dedup(images + images[:3], threshold=0.999)
    assert sorted(calls) == [10, 10]  # everything came from the cache
    assert result.labels[20:] == [0, 1, 2]


def _session_threads(monkeypatch) -> list[int]:
    """Records the intra-op threads of the session behind every model call (0: ORT default)."""
    threads: list[int] = []
    original = OnnxModel.run

    def recording(self, batch, outputs=None):
        threads.append(self.session.get_session_options().intra_op_num_threads)
        return original(self, batch, outputs)

    monkeypatch.setattr(OnnxModel, "run", recording)
    return threads


def test_model_calls_run_side_by_side_share_the_cores_and_a_lone_call_keeps_the_default(
    monkeypatch,
):
    monkeypatch.setattr(imageprism.runtime.threads, "available_cores", lambda: 4)
    threads = _session_threads(monkeypatch)
    config = {"semantic": {"model_path": tiny_model("semantic")}}
    prism = ImagePrism(["semantic"], config=config, batch_size=4, threads=2, cache_size=0)
    rng = np.random.default_rng(5)
    images = [rng.integers(0, 256, (40, 50, 3), dtype=np.uint8) for _ in range(8)]
    shared = prism.embed_many(images).embeddings
    assert threads == [2, 2]  # two calls at once, two of the four cores each
    threads.clear()
    alone = [prism.embed(image) for image in images]
    assert set(threads) == {0}  # ONNX Runtime's default: every core
    for a, b in zip(shared, alone, strict=True):
        np.testing.assert_allclose(a["semantic"], b["semantic"], rtol=1e-5, atol=1e-6)


def test_an_explicit_intra_op_threads_is_kept_when_calls_run_side_by_side(monkeypatch):
    monkeypatch.setattr(imageprism.runtime.threads, "available_cores", lambda: 4)
    threads = _session_threads(monkeypatch)
    config = {"semantic": {"model_path": tiny_model("semantic"), "intra_op_threads": 3}}
    prism = ImagePrism(["semantic"], config=config, batch_size=4, threads=2, cache_size=0)
    rng = np.random.default_rng(6)
    prism.embed_many([rng.integers(0, 256, (40, 50, 3), dtype=np.uint8) for _ in range(8)])
    prism.embed(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8))
    assert threads == [3, 3, 3]


@pytest.mark.parametrize(
    ("dimension", "default_calls"),
    [
        ("style", [1] * 6),  # MobileNetV2 is fastest an image at a time (see StyleDimension)
        ("instance", [2] * 3),  # DINOv2, its resize folded, two at a time
        ("semantic", [6]),  # CLIP: the whole chunk
    ],
)
def test_models_run_their_own_images_per_call_unless_configured(
    monkeypatch, dimension, default_calls
):
    import onnxruntime

    calls: list[int] = []
    original = onnxruntime.InferenceSession.run

    def counting(self, output_names, input_feed, run_options=None):
        calls.append(len(next(iter(input_feed.values()))))
        return original(self, output_names, input_feed, run_options)

    monkeypatch.setattr(onnxruntime.InferenceSession, "run", counting)
    rng = np.random.default_rng(7)
    images = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(6)]
    path = tiny_model(dimension)
    default = ImagePrism([dimension], config={dimension: {"model_path": path}}, threads=1)
    by_default = default.embed_many(images).embeddings
    assert calls == default_calls
    calls.clear()
    config = {dimension: {"model_path": path, "images_per_call": 4}}
    four = ImagePrism([dimension], config=config, threads=1)
    by_four = four.embed_many(images).embeddings
    assert calls == [4, 2]
    for a, b in zip(by_default, by_four, strict=True):
        np.testing.assert_allclose(a[dimension], b[dimension], rtol=1e-5, atol=1e-6)


def test_semantic_embeddings_are_unit_length_and_identical_images_score_one():
    prism = ImagePrism(["semantic"], config={"semantic": {"model_path": tiny_model("semantic")}})
    image = np.random.default_rng(2).integers(0, 256, (60, 90, 3), dtype=np.uint8)
    embedding = prism.embed(image)["semantic"]
    assert embedding.dtype == np.float32
    assert np.linalg.norm(embedding) == pytest.approx(1.0, abs=1e-5)
    assert prism.compare(image, image.copy()).scores["semantic"] == pytest.approx(1.0)


def test_instance_uses_the_cls_token():
    import onnxruntime

    path = tiny_model("instance")
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    image = np.random.default_rng(3).integers(0, 256, (80, 80, 3), dtype=np.uint8)
    batch = DINOV2.batch([prepare(image)])
    (hidden,) = session.run(["last_hidden_state"], {"pixel_values": batch})
    cls = hidden[0, 0] / np.linalg.norm(hidden[0, 0])
    prism = ImagePrism(["instance"], config={"instance": {"model_path": path}})
    np.testing.assert_allclose(prism.embed(image)["instance"], cls, rtol=1e-5, atol=1e-6)


@pytest.fixture
def shared_mobilenet() -> Path:
    if not SHARED_MOBILENET.is_file():
        pytest.skip(f"real MobileNetV2 not available: {SHARED_MOBILENET} is absent")
    return SHARED_MOBILENET


def _strip_blocks(source: Path, target: Path) -> Path:
    """The model with only ``features``/``logits`` outputs and its block tensors renamed."""
    model = onnx.load(str(source))
    keep = [o for o in model.graph.output if o.name in ("features", "logits")]
    del model.graph.output[:]
    model.graph.output.extend(keep)
    for node in model.graph.node:
        node.input[:] = [f"t_{n}" if n in BLOCKS else n for n in node.input]
        node.output[:] = [f"t_{n}" if n in BLOCKS else n for n in node.output]
    onnx.save(model, str(target))
    return target


def test_block_outputs_are_found_by_shape_in_a_model_without_them(shared_mobilenet, tmp_path):
    import onnxruntime

    stripped = _strip_blocks(shared_mobilenet, tmp_path / "stripped.onnx")
    assert find_block_tensors(onnx.load(str(stripped))) == {b: f"t_{b}" for b in BLOCKS}
    edited = with_block_outputs(stripped)
    assert edited != stripped and with_block_outputs(stripped) == edited  # cached
    x = np.random.default_rng(4).standard_normal((2, 3, 224, 224)).astype(np.float32)
    reference = onnxruntime.InferenceSession(str(shared_mobilenet)).run(list(BLOCKS), {"input": x})
    found = onnxruntime.InferenceSession(str(edited)).run(list(BLOCKS), {"input": x})
    for a, b in zip(reference, found, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_model_that_already_has_the_blocks_is_used_as_is(shared_mobilenet):
    assert with_block_outputs(shared_mobilenet) == shared_mobilenet


def test_style_on_real_weights_ranks_a_rendering_of_the_same_look_higher(
    shared_mobilenet, shared_photos
):
    from PIL import ImageOps

    prism = ImagePrism(["style"], config={"style": {"model_path": str(shared_mobilenet)}})
    photos = [Image.open(p).convert("RGB") for p in shared_photos[:6]]
    posters = [ImageOps.posterize(p, 2) for p in photos]
    same_look = [prism.compare(posters[0], q).scores["style"] for q in posters[1:]]
    other_look = [prism.compare(posters[0], q).scores["style"] for q in photos[1:]]
    assert np.mean(same_look) > np.mean(other_look)
