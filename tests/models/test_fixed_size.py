"""Folding what a model graph derives from the input size alone (DINOv2's resized positions)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnx_builders
import onnxruntime
import pytest

import imageprism_models.fixed_size as fixed_size
from imageprism import ImagePrism, prepare
from imageprism.runtime.hub import derived_dir
from imageprism_models.fixed_size import with_size_constants_folded
from imageprism_models.preprocess import DINOV2


def _ops(path: Path) -> list[str]:
    return [node.op_type for node in onnx.load(str(path)).graph.node]


def _run(path: Path, batch: np.ndarray) -> list[np.ndarray]:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"pixel_values": batch})


@pytest.fixture
def dinov2_with_positions(tmp_path: Path) -> Path:
    return onnx_builders.save(
        onnx_builders.dinov2(interpolated_positions=True), tmp_path / "dinov2.onnx"
    )


def test_the_position_resize_is_folded_and_any_batch_still_gives_the_same_outputs(
    dinov2_with_positions,
):
    folded = with_size_constants_folded(dinov2_with_positions, 224, 224)
    assert folded != dinov2_with_positions and folded.parent == derived_dir("fixed-size")
    assert "Resize" in _ops(dinov2_with_positions) and "Resize" not in _ops(folded)
    assert "Shape" in _ops(folded)  # the batch-size reshape still reads the batch
    initializers = {t.name for t in onnx.load(str(folded)).graph.initializer}
    assert not any(name.startswith("positions") for name in initializers)  # the grid is gone
    rng = np.random.default_rng(0)
    for size in (1, 3):
        batch = rng.standard_normal((size, 3, 224, 224)).astype(np.float32)
        for want, got in zip(_run(dinov2_with_positions, batch), _run(folded, batch), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_a_folded_copy_is_reused_and_a_graph_with_nothing_to_fold_is_remembered(
    dinov2_with_positions, tmp_path, monkeypatch
):
    plain = onnx_builders.save(onnx_builders.dinov2(), tmp_path / "plain.onnx")
    folded = with_size_constants_folded(dinov2_with_positions, 224, 224)
    assert with_size_constants_folded(plain, 224, 224) == plain

    def no_second_look(*args):
        raise AssertionError("folded again")

    monkeypatch.setattr(fixed_size, "_folded", no_second_look)
    assert with_size_constants_folded(dinov2_with_positions, 224, 224) == folded
    assert with_size_constants_folded(plain, 224, 224) == plain
    with pytest.raises(AssertionError, match="folded again"):  # another size, another fold
        with_size_constants_folded(dinov2_with_positions, 196, 196)


def test_a_copy_whose_outputs_differ_from_the_original_is_not_used(
    dinov2_with_positions, monkeypatch
):
    monkeypatch.setattr(fixed_size, "_close", lambda a, b: False)
    assert with_size_constants_folded(dinov2_with_positions, 224, 224) == dinov2_with_positions
    assert not list(derived_dir("fixed-size").glob("*.onnx"))


def test_the_instance_dimension_runs_the_folded_graph_with_the_same_embeddings(
    dinov2_with_positions,
):
    prism = ImagePrism(["instance"], config={"instance": {"model_path": dinov2_with_positions}})
    rng = np.random.default_rng(4)
    images = [rng.integers(0, 256, (90, 120, 3), dtype=np.uint8) for _ in range(3)]
    embeddings = prism.embed_many(images).embeddings
    (copy,) = derived_dir("fixed-size").glob("*.onnx")
    assert prism._dimensions["instance"].model._path == copy  # the session runs the copy
    (hidden, _) = _run(dinov2_with_positions, DINOV2.batch([prepare(i) for i in images]))
    for embedding, cls in zip(embeddings, hidden[:, 0], strict=True):
        np.testing.assert_allclose(
            embedding["instance"], cls / np.linalg.norm(cls), rtol=1e-5, atol=1e-6
        )


def test_a_graph_with_a_second_input_is_used_as_is(tmp_path):
    model = onnx.load_from_string(onnx_builders.dinov2(interpolated_positions=True))
    model.graph.input.append(
        onnx.helper.make_tensor_value_info("scale", onnx.TensorProto.FLOAT, [1])
    )
    path = tmp_path / "two_inputs.onnx"
    onnx.save(model, str(path))
    assert with_size_constants_folded(path, 224, 224) == path


def test_a_shape_that_depends_on_pixel_values_is_never_folded(tmp_path):
    # Shape(NonZero(x > 5)): zero for the zeros and the random batch the fold is checked on,
    # not for brighter inputs; only the image input's own shape may be folded
    helper = onnx.helper
    nodes = [
        helper.make_node("Greater", ["pixel_values", "five"], ["bright"]),
        helper.make_node("NonZero", ["bright"], ["where"]),
        helper.make_node("Shape", ["where"], ["where_shape"], start=1),
        helper.make_node("Cast", ["where_shape"], ["count"], to=onnx.TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["pixel_values"], ["mean"], keepdims=0),
        helper.make_node("Add", ["mean", "count"], ["out"]),
    ]
    graph = helper.make_graph(
        nodes,
        "bright_count",
        [helper.make_tensor_value_info("pixel_values", onnx.TensorProto.FLOAT, ["n", 3, 8, 8])],
        [helper.make_tensor_value_info("out", onnx.TensorProto.FLOAT, None)],
        initializer=[onnx.numpy_helper.from_array(np.array(5.0, np.float32), "five")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "bright_count.onnx"
    onnx.save(model, str(path))
    assert with_size_constants_folded(path, 8, 8) == path
    bright = np.full((1, 3, 8, 8), 10.0, np.float32)
    assert _run(path, bright)[0] == pytest.approx(10.0 + 192)
