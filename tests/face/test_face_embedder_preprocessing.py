"""The ONNX face embedder's input: channel order, mean/std, size from the model, fingerprints.

A probe model built here reports what it receives: the mean of each input channel and the
number of pixels per channel, as ``[m0, m1, m2, n, n, n, 1] / norm`` (the embedder scales its
output to unit length; the constant last component lets the test undo that).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from imageprism import ModelFileError
from imageprism_face import Face, FaceConfig
from imageprism_face.align import ARCFACE_TEMPLATE
from imageprism_face.embedders import onnx as onnx_embedder
from imageprism_face.embedders.onnx import OnnxFaceEmbedder

#: The uniform image the probe looks at: R, G, B.
COLOUR = (200, 100, 50)
_SCALE = 1.0 / 12544.0  # pixel counts reported relative to 112 x 112


def probe_model(
    *, layout: str = "NCHW", height: int | str = "h", width: int | str = "w", channels: int = 3
) -> bytes:
    """An ONNX "embedder" whose output tells the input's channel means and pixel count."""
    const = []

    def tensor(name: str, value: np.ndarray) -> str:
        const.append(numpy_helper.from_array(value, name))
        return name

    nodes = []
    x = "input"
    if layout == "NCHW":
        shape: list[int | str] = ["batch", channels, height, width]
    else:
        shape = ["batch", height, width, channels]
        nodes.append(helper.make_node("Transpose", [x], ["nchw"], perm=[0, 3, 1, 2]))
        x = "nchw"
    spatial = tensor("spatial", np.array([2, 3], dtype=np.int64))
    nodes += [
        helper.make_node("ReduceMean", [x], ["means"], axes=[2, 3], keepdims=0),
        helper.make_node("Mul", [x, tensor("zero", np.array(0.0, np.float32))], ["zeros"]),
        helper.make_node("Add", ["zeros", tensor("one", np.array(1.0, np.float32))], ["ones"]),
        helper.make_node("ReduceSum", ["ones", spatial], ["counts"], keepdims=0),
        helper.make_node("Mul", ["counts", tensor("scale", np.array(_SCALE, np.float32))], ["n"]),
        helper.make_node("Concat", ["means", "n"], ["both"], axis=1),
        helper.make_node(
            "MatMul", ["both", tensor("eye", np.eye(2 * channels, 7, dtype=np.float32))], ["wide"]
        ),
        helper.make_node(
            "Add", ["wide", tensor("last", np.eye(7, dtype=np.float32)[6])], ["embedding"]
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "probe",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", 7])],
        initializer=const,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def _save(tmp_path: Path, data: bytes, name: str = "probe.onnx") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _embedder(path: Path, **fields: object) -> OnnxFaceEmbedder:
    return OnnxFaceEmbedder(FaceConfig(embed_path=path, **fields), name="onnx", default=None)


def _received(embedder: OnnxFaceEmbedder) -> tuple[np.ndarray, float]:
    """What the probe model received for a uniform COLOUR face: channel means, pixels.

    The means carry float32 summation error (about 1e-4: 12544 terms).
    """
    image = np.empty((96, 96, 3), dtype=np.uint8)
    image[:] = COLOUR
    (vector,) = embedder.embed_faces(image, [Face(box=(20.0, 20.0, 76.0, 76.0), score=0.9)])
    values = vector / vector[6]
    assert values[3] == pytest.approx(values[4]) == pytest.approx(values[5])
    return values[:3], float(values[3] / _SCALE)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_the_default_input_is_rgb_scaled_to_minus_one_one_at_112(tmp_path, layout):
    embedder = _embedder(_save(tmp_path, probe_model(layout=layout)))
    means, pixels = _received(embedder)
    expected = [(c - 127.5) / 127.5 for c in COLOUR]  # 0.5686, -0.2157, -0.6078
    np.testing.assert_allclose(means, expected, atol=5e-4)
    assert pixels == pytest.approx(112 * 112)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_bgr_reverses_the_channels_the_model_receives(tmp_path, layout):
    embedder = _embedder(_save(tmp_path, probe_model(layout=layout)), embed_channel_order="BGR")
    means, _ = _received(embedder)
    expected = [(c - 127.5) / 127.5 for c in reversed(COLOUR)]
    np.testing.assert_allclose(means, expected, atol=5e-4)


def test_mean_and_std_per_channel_apply_in_the_channel_order_given(tmp_path):
    path = _save(tmp_path, probe_model())
    bgr = _embedder(path, embed_channel_order="bgr", embed_mean=(10, 20, 30), embed_std=(2, 4, 5))
    means, _ = _received(bgr)
    np.testing.assert_allclose(means, [(50 - 10) / 2, (100 - 20) / 4, (200 - 30) / 5], atol=5e-4)
    rgb = _embedder(path, embed_mean=100.0, embed_std=50.0)
    means, _ = _received(rgb)
    np.testing.assert_allclose(means, [(200 - 100) / 50, 0.0, (50 - 100) / 50], atol=5e-4)


def test_preprocess_is_exactly_reorder_subtract_divide_and_layout(tmp_path):
    rng = np.random.default_rng(7)
    crops = rng.integers(0, 256, size=(2, 112, 112, 3), dtype=np.uint8)
    mean, std = np.array([1.0, 2.0, 3.0], "f"), np.array([4.0, 5.0, 6.0], "f")
    nhwc = _embedder(
        _save(tmp_path, probe_model(layout="NHWC"), "nhwc.onnx"),
        embed_channel_order="BGR",
        embed_mean=tuple(mean),
        embed_std=tuple(std),
    )
    expected = (crops[..., ::-1].astype(np.float32) - mean) / std
    got = nhwc.preprocess(crops)
    assert got.dtype == np.float32 and got.shape == (2, 112, 112, 3)
    np.testing.assert_array_equal(got, expected)
    nchw = _embedder(
        _save(tmp_path, probe_model(), "nchw.onnx"), embed_mean=tuple(mean), embed_std=tuple(std)
    )
    expected = ((crops.astype(np.float32) - mean) / std).transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(nchw.preprocess(crops), expected)


def test_a_fixed_input_size_is_read_from_the_model(tmp_path):
    embedder = _embedder(_save(tmp_path, probe_model(height=64, width=64)))
    assert embedder.input_layout == (True, 64)
    _, pixels = _received(embedder)
    assert pixels == pytest.approx(64 * 64)


def test_a_dynamic_input_takes_embed_size(tmp_path):
    embedder = _embedder(_save(tmp_path, probe_model(layout="NHWC")), embed_size=96)
    assert embedder.input_layout == (False, 96)
    _, pixels = _received(embedder)
    assert pixels == pytest.approx(96 * 96)


def test_the_alignment_template_follows_the_model_size(tmp_path, monkeypatch):
    sizes = []
    real = onnx_embedder.align_face

    def recording(image: np.ndarray, face: Face, size: int = 112) -> np.ndarray:
        sizes.append(size)
        return real(image, face, size=size)

    monkeypatch.setattr(onnx_embedder, "align_face", recording)
    embedder = _embedder(_save(tmp_path, probe_model(height=64, width=64)))
    image = np.zeros((128, 128, 3), dtype=np.uint8)
    landmarks = ARCFACE_TEMPLATE.astype(np.float32) + 8.0
    embedder.embed_faces(image, [Face(box=(0, 0, 128, 128), score=1.0, landmarks=landmarks)])
    assert sizes == [64]


def test_embed_size_against_a_fixed_model_size_is_refused(tmp_path):
    embedder = _embedder(_save(tmp_path, probe_model(height=64, width=64)), embed_size=96)
    with pytest.raises(ModelFileError, match="fixed 64x64 input, not embed_size=96"):
        _received(embedder)


@pytest.mark.parametrize(
    ("shape", "message"),
    [({"height": 64, "width": 48}, "48x64 images"), ({"channels": 1}, "not 3-channel")],
)
def test_inputs_that_are_not_square_colour_images_are_refused(tmp_path, shape, message):
    embedder = _embedder(_save(tmp_path, probe_model(**shape)))  # type: ignore[arg-type]
    with pytest.raises(ModelFileError, match=message):
        _received(embedder)


def test_the_fingerprint_changes_with_the_preprocessing_but_not_the_providers(tmp_path):
    path = _save(tmp_path, probe_model())
    weights = hashlib.sha256(path.read_bytes()).hexdigest()
    default = _embedder(path).fingerprint
    # the default preprocessing keeps the fingerprint embeddings were saved under before
    assert default == hashlib.sha256(f"onnx/1/{weights}".encode()).hexdigest()[:16]
    assert _embedder(path, embed_mean=(127.5,) * 3, embed_std=[127.5]).fingerprint == default
    assert _embedder(path, providers=["cpu"]).fingerprint == default
    changed = [
        _embedder(path, embed_channel_order="BGR").fingerprint,
        _embedder(path, embed_mean=(127.5, 127.5, 127.0)).fingerprint,
        _embedder(path, embed_std=128.0).fingerprint,
        _embedder(path, embed_size=128).fingerprint,
    ]
    assert default not in changed and len(set(changed)) == len(changed)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"embed_channel_order": "GBR"}, "must be 'RGB' or 'BGR', got 'GBR'"),
        ({"embed_mean": (1, 2)}, "embed_mean takes one number for every channel, or three"),
        ({"embed_std": 0}, r"embed_std must be > 0 \(it divides\)"),
        ({"embed_std": (1.0, -1.0, 1.0)}, "embed_std must be > 0"),
        ({"embed_mean": float("nan")}, "embed_mean must be finite"),
        ({"embed_size": 10_000}, "less than or equal to 1024"),
    ],
)
def test_preprocessing_fields_are_validated_with_clear_messages(fields, message):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        FaceConfig(**fields)  # type: ignore[arg-type]


def test_preprocessing_fields_are_frozen_and_described():
    config = FaceConfig(embed_channel_order="bgr", embed_mean=[1, 2, 3])
    assert (config.embed_channel_order, config.embed_mean) == ("BGR", (1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="frozen"):
        config.embed_mean = 0.0  # type: ignore[misc]
    for name in ("embed_channel_order", "embed_mean", "embed_std", "embed_size", "providers"):
        assert FaceConfig.model_fields[name].description
        assert f"{name}:" in (FaceConfig.__doc__ or "")
