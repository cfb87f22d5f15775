"""Full-size ViT image encoders with random weights, for timing the real architectures.

The semantic and instance dimensions use ``Xenova/clip-vit-base-patch32``
``onnx/vision_model_quantized.onnx`` and ``Xenova/dinov2-small`` ``onnx/model_quantized.onnx``.
Where those files cannot be downloaded, inference speed can still be measured, because it
does not depend on the weight values: these builders write the same architectures, layer for
layer and at full size, with seeded random weights. Their outputs mean nothing.

- ``clip_vit_b32``: the CLIP ViT-B/32 vision tower with its projection
  (``CLIPVisionModelWithProjection``): 32x32 patch convolution (no bias), class token and 50
  learned position embeddings, pre-encoder LayerNorm, 12 pre-LN layers (768 wide, 12 heads,
  MLP 3072, quick-GELU ``x * sigmoid(1.702 x)``), LayerNorm of the CLS token and a 768 -> 512
  projection (no bias). Outputs ``image_embeds`` [N,512] and ``last_hidden_state`` [N,50,768]
  (the encoder output, before the final LayerNorm). 87,849,216 parameters.
- ``dinov2_small``: DINOv2 ViT-S/14 (``Dinov2Model``): 14x14 patch convolution, class token,
  1 + 37x37 learned position embeddings whose patch grid is resized (bicubic, inside the
  graph, from the input's height and width) to 16x16 for a 224x224 input, 12 pre-LN layers
  (384 wide, 6 heads, MLP 1536, exact GELU, layer scale on both branches), final LayerNorm.
  Outputs ``last_hidden_state`` [N,257,384] (token 0 is CLS) and ``pooler_output`` [N,384]
  (the CLS token). 22,056,192 parameters.

Both take ``pixel_values`` [N,3,H,W] with every axis symbolic (as ``optimum`` exports them)
and use the operators a ``torch.onnx`` export produces (MatMul + Add for every linear layer,
separate query/key/value projections, Reshape/Transpose for the heads, Softmax, Erf or
Sigmoid for the activations), except that LayerNorm is the opset-17 ``LayerNormalization``
node, which ONNX Runtime fuses the exported decomposition into anyway.

``quantize`` then applies what transformers.js's conversion script applied to the Xenova
files: ``onnxruntime.quantization.quantize_dynamic`` with its default operator types and
options, **QUInt8** weights (the script picks QUInt8 whenever the graph contains a ``Conv``,
for onnxruntime-web), per-tensor (``per_channel=False``, ``reduce_range=False``, as in some
2023 versions of the script; others quantise per channel, which changes the scales, not the
integer kernels' work). The patch ``Conv`` becomes ``ConvInteger`` and every ``MatMul`` with
a constant weight (the linear layers and CLIP's projection) becomes ``DynamicQuantizeLinear``
+ ``MatMulInteger`` (activations quantised per call); query x key and attention x value stay
float (``quantize_dynamic``'s default ``MatMulConstBOnly``). The quantised files come out at
88.4 MB (CLIP; the real one is 89.1 MB) and 23.9 MB (DINOv2; the real one 24.5 MB).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
SEED = 0
BUILDER_VERSION = "1"  # part of the saved file names; bump when a graph changes


class _Builder:
    """Collects nodes and initializers; every method returns the name of its output."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, array: np.ndarray, hint: str) -> str:
        name = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def ints(self, *values: int) -> str:
        return self.const(np.array(values, dtype=np.int64), "shape")

    def random(self, *shape: int, std: float, hint: str) -> str:
        """Seeded normal float32 values (weights are independent of the timings)."""
        values = self.rng.standard_normal(shape, dtype=np.float32) * np.float32(std)
        return self.const(values, hint)

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs: object) -> str:
        output = out or self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], **attrs))
        return output

    def linear(self, x: str, n_in: int, n_out: int, *, bias: bool = True) -> str:
        """``x @ W (+ b)``, a ``torch.nn.Linear`` as exported: MatMul then Add."""
        y = self.op("MatMul", x, self.random(n_in, n_out, std=n_in**-0.5, hint="weight"))
        return self.op("Add", y, self.random(n_out, std=0.02, hint="bias")) if bias else y

    def layer_norm(self, x: str, width: int, eps: float, out: str | None = None) -> str:
        scale = self.const(np.ones(width, np.float32), "ln_scale")
        shift = self.const(np.zeros(width, np.float32), "ln_bias")
        return self.op("LayerNormalization", x, scale, shift, out=out, axis=-1, epsilon=eps)

    def model(self, name: str, outputs: dict[str, list[int | str]]) -> onnx.ModelProto:
        pixels = helper.make_tensor_value_info(
            "pixel_values", TensorProto.FLOAT, ["batch_size", "num_channels", "height", "width"]
        )
        graph = helper.make_graph(
            self.nodes,
            name,
            [pixels],
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs.items()],
            initializer=self.inits,
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name="imageprism-benchmarks (random weights)",
            ir_version=IR_VERSION,
        )
        onnx.checker.check_model(model)
        return model


def _patch_tokens(g: _Builder, width: int, patch: int, *, bias: bool) -> str:
    """Patch embedding: stride-``patch`` convolution, flattened to [N, patches, width]."""
    weight = g.random(width, 3, patch, patch, std=(3 * patch * patch) ** -0.5, hint="patch")
    inputs = ["pixel_values", weight] + ([g.random(width, std=0.02, hint="bias")] if bias else [])
    grid = g.op("Conv", *inputs, kernel_shape=[patch, patch], strides=[patch, patch])
    flat = g.op("Reshape", grid, g.ints(0, width, -1))
    return g.op("Transpose", flat, perm=[0, 2, 1])


def _with_class_token(g: _Builder, tokens: str, width: int) -> str:
    """The learned class token, expanded to the batch, in front of the patch tokens."""
    cls = g.random(1, 1, width, std=0.02, hint="class_token")
    batch = g.op("Slice", g.op("Shape", "pixel_values"), g.ints(0), g.ints(1))
    shape = g.op("Concat", batch, g.ints(1, 1), axis=0)
    return g.op("Concat", g.op("Expand", cls, shape), tokens, axis=1)


def _interpolated_positions(g: _Builder, width: int, patch: int, grid: int) -> str:
    """DINOv2's position embeddings: the trained grid x grid resized to the input's patch grid.

    As in ``Dinov2Embeddings.interpolate_pos_encoding`` (bicubic, computed in the graph from
    the input's height and width, so it runs on every call): [1, 1 + h*w, width].
    """
    cls_position = g.random(1, 1, width, std=0.02, hint="cls_position")
    trained = g.random(1, width, grid, grid, std=0.02, hint="patch_positions")
    height_width = g.op("Slice", g.op("Shape", "pixel_values"), g.ints(2), g.ints(4))
    sizes = g.op("Concat", g.ints(1, width), g.op("Div", height_width, g.ints(patch)), axis=0)
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
    patches = g.op("Reshape", g.op("Transpose", resized, perm=[0, 2, 3, 1]), g.ints(1, -1, width))
    return g.op("Concat", cls_position, patches, axis=1)


def _attention(g: _Builder, x: str, width: int, heads: int, *, scale_query: bool) -> str:
    """Multi-head self-attention with separate query, key and value projections.

    ``scale_query``: scale the query by 1/sqrt(head width) before the product (CLIP), else
    divide the attention scores (DINOv2).
    """
    head = width // heads
    split = g.ints(0, 0, heads, head)
    q, k, v = (g.op("Reshape", g.linear(x, width, width), split) for _ in range(3))
    if scale_query:
        q = g.op("Mul", q, g.const(np.float32(head**-0.5), "scale"))
    q = g.op("Transpose", q, perm=[0, 2, 1, 3])  # [N, heads, tokens, head]
    k = g.op("Transpose", k, perm=[0, 2, 3, 1])  # [N, heads, head, tokens]
    v = g.op("Transpose", v, perm=[0, 2, 1, 3])
    scores = g.op("MatMul", q, k)
    if not scale_query:
        scores = g.op("Div", scores, g.const(np.float32(math.sqrt(head)), "scale"))
    context = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)
    merged = g.op("Reshape", g.op("Transpose", context, perm=[0, 2, 1, 3]), g.ints(0, 0, width))
    return g.linear(merged, width, width)


def _quick_gelu(g: _Builder, x: str) -> str:
    """CLIP's activation: ``x * sigmoid(1.702 x)``."""
    return g.op("Mul", x, g.op("Sigmoid", g.op("Mul", x, g.const(np.float32(1.702), "alpha"))))


def _gelu(g: _Builder, x: str) -> str:
    """Exact GELU as exported: ``x * 0.5 * (1 + erf(x / sqrt(2)))``."""
    erf = g.op("Erf", g.op("Div", x, g.const(np.float32(math.sqrt(2.0)), "sqrt2")))
    half = g.op("Mul", x, g.const(np.float32(0.5), "half"))
    return g.op("Mul", half, g.op("Add", erf, g.const(np.float32(1.0), "one")))


def _mlp(g: _Builder, x: str, width: int, hidden: int, activation: Callable[..., str]) -> str:
    return g.linear(activation(g, g.linear(x, width, hidden)), hidden, width)


def _layer_scale(g: _Builder, x: str, width: int) -> str:
    return g.op("Mul", x, g.random(width, std=0.1, hint="layer_scale"))


def _encoder_layer(
    g: _Builder,
    x: str,
    *,
    width: int,
    heads: int,
    hidden: int,
    eps: float,
    activation: Callable[..., str],
    scale_query: bool,
    layer_scale: bool,
) -> str:
    """Pre-LN transformer layer: ``x + attn(LN(x))``, then ``x + mlp(LN(x))``."""
    attended = _attention(g, g.layer_norm(x, width, eps), width, heads, scale_query=scale_query)
    x = g.op("Add", x, _layer_scale(g, attended, width) if layer_scale else attended)
    mixed = _mlp(g, g.layer_norm(x, width, eps), width, hidden, activation)
    return g.op("Add", x, _layer_scale(g, mixed, width) if layer_scale else mixed)


def _class_token(g: _Builder, x: str) -> str:
    """Token 0 of [N, tokens, width], as [N, width]."""
    return g.op("Gather", x, g.const(np.array(0, np.int64), "index"), axis=1)


def clip_vit_b32(seed: int = SEED) -> onnx.ModelProto:
    """The CLIP ViT-B/32 vision tower with projection, random weights."""
    width, eps = 768, 1e-5
    g = _Builder(seed)
    x = _with_class_token(g, _patch_tokens(g, width, 32, bias=False), width)
    x = g.op("Add", x, g.random(1, 50, width, std=0.02, hint="positions"))
    x = g.layer_norm(x, width, eps)  # CLIP's pre_layrnorm
    for _ in range(12):
        x = _encoder_layer(
            g,
            x,
            width=width,
            heads=12,
            hidden=3072,
            eps=eps,
            activation=_quick_gelu,
            scale_query=True,
            layer_scale=False,
        )
    g.op("Identity", x, out="last_hidden_state")
    pooled = g.layer_norm(_class_token(g, x), width, eps)
    g.op("Identity", g.linear(pooled, width, 512, bias=False), out="image_embeds")
    outputs: dict[str, list[int | str]] = {
        "image_embeds": ["batch_size", 512],
        "last_hidden_state": ["batch_size", 50, width],
    }
    return g.model("clip_vit_b32_vision_random", outputs)


def dinov2_small(seed: int = SEED) -> onnx.ModelProto:
    """DINOv2 ViT-S/14 (``Dinov2Model``), random weights."""
    width, patch, eps = 384, 14, 1e-6
    g = _Builder(seed)
    x = _with_class_token(g, _patch_tokens(g, width, patch, bias=True), width)
    x = g.op("Add", x, _interpolated_positions(g, width, patch, grid=37))
    for _ in range(12):
        x = _encoder_layer(
            g,
            x,
            width=width,
            heads=6,
            hidden=1536,
            eps=eps,
            activation=_gelu,
            scale_query=False,
            layer_scale=True,
        )
    hidden = g.layer_norm(x, width, eps, out="last_hidden_state")
    g.op("Identity", _class_token(g, hidden), out="pooler_output")
    outputs: dict[str, list[int | str]] = {
        "last_hidden_state": ["batch_size", "sequence_length", width],
        "pooler_output": ["batch_size", width],
    }
    return g.model("dinov2_small_random", outputs)


BUILDERS: dict[str, Callable[[int], onnx.ModelProto]] = {
    "clip-vit-b32": clip_vit_b32,
    "dinov2-small": dinov2_small,
}
"""Builder by graph name."""

EXPECTED_OUTPUTS: dict[str, dict[str, tuple[int, ...]]] = {
    "clip-vit-b32": {"image_embeds": (512,), "last_hidden_state": (50, 768)},
    "dinov2-small": {"last_hidden_state": (257, 384), "pooler_output": (384,)},
}
"""Output shapes (after the batch axis) for a 224x224 input, by graph name."""


def quantize(source: Path, target: Path) -> None:
    """Dynamic quantisation as transformers.js applied it to the Xenova files (QUInt8)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.disable(logging.WARNING)  # its advice to run shape pre-processing first
    try:
        quantize_dynamic(
            model_input=source,
            model_output=target,
            per_channel=False,
            reduce_range=False,
            weight_type=QuantType.QUInt8,
            extra_options={"EnableSubgraph": True},
        )
    finally:
        logging.disable(logging.NOTSET)


def check_outputs(path: Path, name: str, batch: int = 2) -> dict[str, tuple[int, ...]]:
    """Run the file once in ONNX Runtime on a random batch; its output shapes, checked.

    Raises:
        ValueError: an output is missing, has the wrong shape or is not finite.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(
        str(path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    pixels = np.random.default_rng(1).standard_normal((batch, 3, 224, 224), dtype=np.float32)
    expected = EXPECTED_OUTPUTS[name]
    values = dict(zip(expected, session.run(list(expected), {"pixel_values": pixels}), strict=True))
    shapes = {output: tuple(value.shape) for output, value in values.items()}
    for output, shape in expected.items():
        if shapes[output] != (batch, *shape):
            raise ValueError(f"{path.name}: {output} has shape {shapes[output]}, not {shape}")
        if not np.isfinite(values[output]).all():
            raise ValueError(f"{path.name}: {output} is not finite")
    return shapes


def saved_graph(name: str, folder: Path, seed: int = SEED) -> tuple[Path, int]:
    """The quantised random-weight graph ``name`` in ``folder`` (built on first call).

    Writes ``{name}-random-seed{seed}-v{BUILDER_VERSION}.onnx`` (float32) and
    ``...-quantized.onnx`` next to it, checks both, and returns the quantised file's path
    and the float graph's parameter count. A quantised file already there is reused.
    """
    stem = f"{name}-random-seed{seed}-v{BUILDER_VERSION}"
    float_path = folder / f"{stem}.onnx"
    quantized_path = folder / f"{stem}-quantized.onnx"
    if not (quantized_path.is_file() and float_path.is_file()):
        folder.mkdir(parents=True, exist_ok=True)
        onnx.save(BUILDERS[name](seed), float_path)
        check_outputs(float_path, name)
        partial = quantized_path.with_suffix(".partial.onnx")
        quantize(float_path, partial)
        check_outputs(partial, name)
        partial.replace(quantized_path)
    return quantized_path, parameter_count(onnx.load(float_path))


def parameter_count(model: onnx.ModelProto) -> int:
    """Number of values in the model's float tensors of weights (scalar constants left out)."""
    return sum(
        int(np.prod(t.dims))
        for t in model.graph.initializer
        if t.data_type == TensorProto.FLOAT and len(t.dims) > 0
    )
