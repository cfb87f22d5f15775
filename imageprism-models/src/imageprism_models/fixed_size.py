"""Compute once what a model graph derives from its input's height and width alone.

ViT exports take images of any size and derive some tensors from the input's
shape on every call: DINOv2 resizes its 37x37 grid of position embeddings
(bicubic) to the input's patch grid, and ONNX Runtime's bicubic resize is slow
(about 11 ms per call on 2 cores, a third of a one-image DINOv2 call). The
dimensions always feed one size (the recipe's crop), so those tensors are
constants: this module evaluates them once for that size, stores them in a copy
of the graph as initializers and drops the nodes that computed them.

Only tensors that depend on the input's shape (through ``Shape`` or ``Size``),
never on its values, and that come out the same for batches of 1 and 2 are
folded, so the copy still takes any batch. The copy is checked against the
original on a random batch before it is used; a graph with nothing to fold, or
whose copy does not give the same outputs, is used as is. Copies are cached under
``IMAGEPRISM_CACHE_DIR`` keyed by the source's sha256 and the size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from imageprism._files import atomic_write
from imageprism._optional import require
from imageprism.errors import ModelFileError
from imageprism.hub import derived_dir, sha256_of

_VERSION = "1"
_SHAPE_READERS = frozenset({"Shape", "Size"})


def with_size_constants_folded(path: Path, height: int, width: int) -> Path:
    """``path``, or a cached copy where every input-size-only tensor is a constant.

    Args:
        path: An ONNX model whose first input is an NxCxHxW image batch.
        height: The only input height the caller will feed.
        width: The only input width the caller will feed.
    """
    onnx = require(
        "onnx", "the model pack needs the onnx package: pip install onnx", ModelFileError
    )
    stem = f"{sha256_of(path)}-{height}x{width}-v{_VERSION}"
    folder = derived_dir("fixed-size")
    target, unchanged = folder / f"{stem}.onnx", folder / f"{stem}.unchanged"
    if target.is_file():
        return target
    if unchanged.is_file():
        return path
    try:
        model = onnx.load(str(path))
    except Exception as err:  # protobuf DecodeError, missing external data, ...
        raise ModelFileError(
            f"model file {path} cannot be read as an ONNX model: {type(err).__name__}: {err}"
        ) from err
    folded = _folded(model, height, width)
    if folded is None:
        atomic_write(unchanged, lambda temp: temp.write_text("nothing to fold\n"))
        return path
    return atomic_write(target, lambda temp: onnx.save(folded, str(temp)))


def _size_only_frontier(graph: Any) -> list[str]:
    """Tensors computed from the input's shape alone that feed the rest of the graph."""
    initializers = {tensor.name for tensor in graph.initializer}
    images = [i.name for i in graph.input if i.name not in initializers]
    if len(images) != 1:  # only a graph fed nothing but the image batch is understood here
        return []
    values, size_only = set(images), set()
    size_only_nodes = []
    for node in graph.node:
        inputs = [name for name in node.input if name]
        if node.op_type in _SHAPE_READERS and inputs and inputs[0] in values | size_only:
            size_only.update(node.output)
            size_only_nodes.append(node)
        elif any(name in values for name in inputs) or _has_subgraph(node):
            values.update(node.output)
        elif any(name in size_only for name in inputs):
            size_only.update(node.output)
            size_only_nodes.append(node)
    read_by_values = {
        name
        for node in graph.node
        if any(output in values for output in node.output)
        for name in node.input
    }
    return [
        output for node in size_only_nodes for output in node.output if output in read_by_values
    ]


def _has_subgraph(node: Any) -> bool:
    return any(attribute.g.node or attribute.graphs for attribute in node.attribute)


def _session(model: Any) -> Any:
    ort = require(
        "onnxruntime", 'needs onnxruntime: pip install "imageprism-core[onnx]"', ModelFileError
    )
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(
        model.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
    )


def _image_input(model: Any) -> tuple[str, int]:
    initializers = {tensor.name for tensor in model.graph.initializer}
    first = next(i for i in model.graph.input if i.name not in initializers)
    dims = first.type.tensor_type.shape.dim
    channels = dims[1].dim_value if len(dims) == 4 and dims[1].dim_value > 0 else 3
    return first.name, channels


def _folded(model: Any, height: int, width: int) -> Any | None:
    """A copy of ``model`` with the batch-independent size-only tensors folded, or None."""
    import onnx

    frontier = _size_only_frontier(model.graph)
    if not frontier:
        return None
    name, channels = _image_input(model)
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    known = {o.name for o in probe.graph.output}
    probe.graph.output.extend(onnx.ValueInfoProto(name=t) for t in frontier if t not in known)
    try:
        session = _session(probe)
        runs = [
            dict(
                zip(
                    frontier,
                    session.run(frontier, {name: np.zeros((batch, channels, height, width), "f")}),
                    strict=True,
                )
            )
            for batch in (1, 2)
        ]
    except Exception:  # a graph ONNX Runtime cannot run this way: leave it as it is
        return None
    constant = {
        tensor: runs[0][tensor]
        for tensor in frontier
        if runs[0][tensor].shape == runs[1][tensor].shape
        and np.array_equal(runs[0][tensor], runs[1][tensor])
    }
    if not constant:
        return None
    folded = onnx.ModelProto()
    folded.CopyFrom(model)
    graph = folded.graph
    kept = [node for node in graph.node if not set(node.output) & constant.keys()]
    del graph.node[:]
    graph.node.extend(_live(kept, {o.name for o in graph.output}))
    graph.initializer.extend(
        onnx.numpy_helper.from_array(np.asarray(value), tensor)
        for tensor, value in constant.items()
    )
    if not _same_outputs(model, folded, name, channels, height, width):
        return None
    return folded


def _live(nodes: list[Any], outputs: set[str]) -> list[Any]:
    """``nodes`` without those whose outputs nothing reads (repeated until none is left)."""
    while True:
        read = outputs | {name for node in nodes for name in node.input}
        live = [node for node in nodes if any(output in read for output in node.output)]
        if len(live) == len(nodes):
            return live
        nodes = live


def _same_outputs(
    original: Any, folded: Any, name: str, channels: int, height: int, width: int
) -> bool:
    """Whether both graphs give the same outputs for a random batch of 2 at the size."""
    batch = np.random.default_rng(0).standard_normal((2, channels, height, width), "f")
    try:
        expected = _session(original).run(None, {name: batch})
        got = _session(folded).run(None, {name: batch})
    except Exception:
        return False
    return all(_close(a, b) for a, b in zip(expected, got, strict=True))


def _close(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if not np.issubdtype(a.dtype, np.floating):
        return bool(np.array_equal(a, b))
    return bool(np.allclose(a, b, rtol=1e-4, atol=1e-5))
