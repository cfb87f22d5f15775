"""Tiny ONNX models with the input/output names and shapes of the real ones.

Each builder returns the serialized model (``bytes``): opset 17, IR version 8, float32, fixed
weights drawn from ``numpy.random.default_rng(seed)`` (same arguments → same bytes), batch axis
``"batch"`` (dynamic) or 1 with ``dynamic_batch=False``. The models are small (well under 1 MB),
pass ``onnx.checker.check_model(full_check=True)`` and run on onnxruntime's CPU provider. They
pool the image over a coarse spatial grid before their (random) projections, so different
images, including flipped or rearranged ones with the same mean colour, give different outputs.

================  ==================================  =============================================
builder           input                               outputs
================  ==================================  =============================================
clip_vision       pixel_values [b,3,224,224]          image_embeds [b,dim], last_hidden_state
                                                      [b,50,768]
dinov2            pixel_values [b,3,224,224]          last_hidden_state [b,tokens,dim] (token 0 is
                                                      CLS), pooler_output [b,dim] (= token 0)
mobilenetv2_multi input [b,3,224,224]                 features [b,1280], logits [b,1000], block3
                                                      [b,24,56,56], block6 [b,32,28,28], block13
                                                      [b,96,14,14]
arcface           input.1 [b,3,112,112] (NCHW) or     embedding [b,dim]
                  input_1 [b,112,112,3] (NHWC)
================  ==================================  =============================================
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # the IR version of opset 17; older onnxruntimes accept it too


class _Graph:
    """Collects nodes and initializers; ``op`` returns the name of the node's (first) output."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._count = 0

    def _name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, array: np.ndarray, hint: str = "c") -> str:
        name = self._name(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def weight(self, *shape: int, fan_in: int) -> str:
        """Random float32 weights scaled by 1/sqrt(fan_in) (outputs of order one)."""
        values = self.rng.standard_normal(shape) / math.sqrt(fan_in)
        return self.const(values.astype(np.float32), "w")

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs: object) -> str:
        output = out or self._name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], **attrs))
        return output

    def dense(self, x: str, n_in: int, n_out: int, out: str | None = None) -> str:
        """``x @ W + b`` for ``x`` of shape [..., n_in]."""
        y = self.op("MatMul", x, self.weight(n_in, n_out, fan_in=n_in))
        bias = self.rng.standard_normal(n_out).astype(np.float32) * 0.1
        return self.op("Add", y, self.const(bias, "b"), out=out)

    def grid(self, x: str, cells: int, size: int) -> str:
        """Average ``x`` [b,C,size,size] over a cells×cells grid → [b, C*cells*cells]."""
        k = size // cells
        pooled = self.op("AveragePool", x, kernel_shape=[k, k], strides=[k, k])
        return self.op("Flatten", pooled, axis=1)

    def model(
        self,
        inputs: list[tuple[str, list[int | str]]],
        outputs: list[tuple[str, list[int | str]]],
        name: str,
    ) -> bytes:
        graph = helper.make_graph(
            self.nodes,
            name,
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
            initializer=self.inits,
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name="imageprism-tests",
            ir_version=IR_VERSION,
        )
        onnx.checker.check_model(model, full_check=True)
        return model.SerializeToString()


def _batch(dynamic_batch: bool) -> int | str:
    return "batch" if dynamic_batch else 1


def clip_vision(dim: int = 512, *, dynamic_batch: bool = True, seed: int = 1) -> bytes:
    """CLIP ViT-B/32 vision: ``pixel_values`` → ``image_embeds`` [b,dim], ``last_hidden_state``.

    ``image_embeds`` = MLP of the 4×4-grid mean colours (not normalized, like the real
    projection output); ``last_hidden_state`` [b,50,768] = a CLS token from the same hidden
    layer followed by 49 patch tokens (7×7 grid of 32-pixel patches, projected 3 → 768).
    """
    g = _Graph(seed)
    x = "pixel_values"
    hidden = g.op("Tanh", g.dense(g.grid(x, 4, 224), 48, 64))
    g.dense(hidden, 64, dim, out="image_embeds")
    cls = g.op("Unsqueeze", g.dense(hidden, 64, 768), g.const(np.array([1], np.int64)))
    patches = g.op("AveragePool", x, kernel_shape=[32, 32], strides=[32, 32])  # [b,3,7,7]
    patches = g.op("Reshape", patches, g.const(np.array([0, 3, 49], np.int64)))
    patches = g.dense(g.op("Transpose", patches, perm=[0, 2, 1]), 3, 768)  # [b,49,768]
    g.op("Concat", cls, patches, out="last_hidden_state", axis=1)
    b = _batch(dynamic_batch)
    return g.model(
        [(x, [b, 3, 224, 224])],
        [("image_embeds", [b, dim]), ("last_hidden_state", [b, 50, 768])],
        "clip_vision",
    )


def dinov2(
    dim: int = 384,
    tokens: int = 257,
    *,
    dynamic_batch: bool = True,
    seed: int = 2,
    interpolated_positions: bool = False,
) -> bytes:
    """DINOv2 (ViT-S/14 by default): ``pixel_values`` → ``last_hidden_state``, ``pooler_output``.

    ``tokens`` is 1 (CLS) + a square grid of patches that divides 224 (257 = 1 + 16×16 patches
    of 14 pixels). The CLS token is an MLP of the 4×4-grid mean colours; ``pooler_output`` is
    the CLS token, as in ``transformers``' Dinov2Model.

    ``interpolated_positions``: like the real export, add to the patch tokens a 5×5 grid of
    position embeddings resized (bicubic) in the graph to the input's patch grid, computed
    from the input's shape on every call, and reshape the tokens with the batch size read
    from the input's shape.
    """
    cells = math.isqrt(tokens - 1)
    if tokens < 2 or cells * cells != tokens - 1 or 224 % cells:
        raise ValueError(f"tokens must be 1 + n*n with n dividing 224, got {tokens}")
    g = _Graph(seed)
    x = "pixel_values"
    hidden = g.op("Tanh", g.dense(g.grid(x, 4, 224), 48, 64))
    cls = g.dense(hidden, 64, dim)
    g.op("Identity", cls, out="pooler_output")
    cls3 = g.op("Unsqueeze", cls, g.const(np.array([1], np.int64)))
    k = 224 // cells
    patches = g.op("AveragePool", x, kernel_shape=[k, k], strides=[k, k])
    patches = g.op("Reshape", patches, g.const(np.array([0, 3, tokens - 1], np.int64)))
    patches = g.dense(g.op("Transpose", patches, perm=[0, 2, 1]), 3, dim)
    if interpolated_positions:
        patches = g.op("Add", patches, _resized_positions(g, x, dim, k))
        batch = g.op(
            "Slice", g.op("Shape", x), g.const(np.array([0], np.int64)), g.const(np.array([1]))
        )
        token_shape = g.op("Concat", batch, g.const(np.array([tokens - 1, dim])), axis=0)
        patches = g.op("Reshape", patches, token_shape)
    g.op("Concat", cls3, patches, out="last_hidden_state", axis=1)
    b = _batch(dynamic_batch)
    return g.model(
        [(x, [b, 3, 224, 224])],
        [("last_hidden_state", [b, tokens, dim]), ("pooler_output", [b, dim])],
        "dinov2",
    )


def _resized_positions(g: _Graph, x: str, dim: int, patch: int) -> str:
    """[1, h*w, dim]: a 5×5 grid of position embeddings resized (bicubic) to the patch grid."""
    trained = g.const(g.rng.standard_normal((1, dim, 5, 5)).astype(np.float32), "positions")
    height_width = g.op(
        "Slice", g.op("Shape", x), g.const(np.array([2], np.int64)), g.const(np.array([4]))
    )
    grid = g.op("Div", height_width, g.const(np.array([patch], np.int64)))
    sizes = g.op("Concat", g.const(np.array([1, dim], np.int64)), grid, axis=0)
    resized = g.op(
        "Resize",
        trained,
        "",
        "",
        sizes,
        mode="cubic",
        cubic_coeff_a=-0.75,
        coordinate_transformation_mode="pytorch_half_pixel",
    )
    rows = g.op("Transpose", resized, perm=[0, 2, 3, 1])
    return g.op("Reshape", rows, g.const(np.array([1, -1, dim], np.int64)))


def mobilenetv2_multi(*, dynamic_batch: bool = True, seed: int = 3) -> bytes:
    """MobileNetV2 with intermediate outputs: ``input`` → features, logits and three blocks.

    block3 = ReLU(conv 4×4/4, 3→24), block6 = ReLU(conv 2×2/2, 24→32), block13 = ReLU(conv
    2×2/2, 32→96); ``features`` = ReLU(MLP 384→16→1280) of block13 averaged over a 2×2 grid
    and centred (non-negative, like the real pooled features); ``logits`` = low-rank dense
    1280→16→1000.
    """
    g = _Graph(seed)

    def conv(x: str, c_in: int, c_out: int, k: int, out: str | None = None) -> str:
        w = g.weight(c_out, c_in, k, k, fan_in=c_in * k * k)
        bias = g.const((g.rng.standard_normal(c_out) * 0.1).astype(np.float32), "b")
        return g.op("Conv", x, w, bias, out=out, kernel_shape=[k, k], strides=[k, k])

    block3 = g.op("Relu", conv("input", 3, 24, 4), out="block3")
    block6 = g.op("Relu", conv(block3, 24, 32, 2), out="block6")
    block13 = g.op("Relu", conv(block6, 32, 96, 2), out="block13")
    cells = g.grid(block13, 2, 14)  # [b, 96*2*2]
    centred = g.op("Sub", cells, g.op("ReduceMean", cells, axes=[1], keepdims=1))
    hidden = g.op("Tanh", g.dense(centred, 384, 16))
    features = g.op("Relu", g.dense(hidden, 16, 1280), out="features")
    g.dense(g.dense(features, 1280, 16), 16, 1000, out="logits")
    b = _batch(dynamic_batch)
    return g.model(
        [("input", [b, 3, 224, 224])],
        [
            ("features", [b, 1280]),
            ("logits", [b, 1000]),
            ("block3", [b, 24, 56, 56]),
            ("block6", [b, 32, 28, 28]),
            ("block13", [b, 96, 14, 14]),
        ],
        "mobilenetv2_multi",
    )


def arcface(
    layout: Literal["NCHW", "NHWC"] = "NCHW",
    dim: int = 512,
    *,
    dynamic_batch: bool = True,
    seed: int = 4,
) -> bytes:
    """ArcFace: ``input.1`` [b,3,112,112] (NCHW) / ``input_1`` [b,112,112,3] (NHWC) → ``embedding``.

    ``embedding`` [b,dim] = MLP of the 14×14-grid mean colours (8-pixel cells; not normalized).
    """
    b = _batch(dynamic_batch)
    g = _Graph(seed)
    if layout == "NCHW":
        name, shape = "input.1", [b, 3, 112, 112]
        x = name
    elif layout == "NHWC":
        name, shape = "input_1", [b, 112, 112, 3]
        x = g.op("Transpose", name, perm=[0, 3, 1, 2])
    else:
        raise ValueError(f"layout must be 'NCHW' or 'NHWC', got {layout!r}")
    hidden = g.op("Tanh", g.dense(g.grid(x, 14, 112), 3 * 14 * 14, 32))
    g.dense(hidden, 32, dim, out="embedding")
    return g.model([(name, shape)], [("embedding", [b, dim])], f"arcface_{layout.lower()}")


def save(model_bytes: bytes, path: str | Path) -> Path:
    """Write a serialized model (creating parent folders) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model_bytes)
    return path
