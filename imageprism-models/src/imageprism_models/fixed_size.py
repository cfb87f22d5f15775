"""Compute once what a model graph derives from its input's height and width alone.

ViT exports take images of any size and derive some tensors from the input's
shape on every call: DINOv2 resizes its 37x37 grid of position embeddings
(bicubic) to the input's patch grid, and ONNX Runtime's bicubic resize is slow
(about 11 ms per call on 2 cores, a third of a one-image DINOv2 call). The
dimensions always feed one size (the recipe's crop), so those tensors are
constants: this module evaluates them once for that size, stores them in a copy
of the graph as initializers and drops the nodes that computed them.

What is folded: tensors computed only from ``Shape``/``Size`` of the image input
itself and from constants (never from pixel values or from the shape of an
intermediate tensor, which some operators make depend on the pixels), and that
come out the same for batches of 1 and 3, so the copy still takes any batch. The
copy must give the same outputs as the original on a random batch of 3 before it
is used; a graph with nothing to fold, one whose copy differs, one with more
inputs than the image or with external data is used as is. Copies are cached
under ``IMAGEPRISM_CACHE_DIR``, keyed by the source's sha256, the size and the
ONNX Runtime version that computed the constants, but never trusted: the copy is
folded again from the verified source once per process and the cached file used
only when byte for byte the same (``imageprism.runtime.hub.derived_file``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from imageprism.errors import ModelFileError
from imageprism.io.atomic import atomic_write
from imageprism.runtime.hub import derived_dir, derived_file, file_sha256
from imageprism.runtime.optional import require

_VERSION = "2"
_SHAPE_READERS = frozenset({"Shape", "Size"})
_PROBE_BATCHES = (1, 3)


class _CannotProbe(Exception):
    """ONNX Runtime could not run the graph to evaluate or check the fold."""


def with_size_constants_folded(path: Path, height: int, width: int) -> Path:
    """``path``, or a cached copy where every input-size-only tensor is a constant.

    Args:
        path: An ONNX model whose only input is an NxCxHxW image batch.
        height: The only input height the caller will feed.
        width: The only input width the caller will feed.
    """
    require("onnx", "the model pack needs onnx: pip install onnx", ModelFileError)
    ort = _ort()
    try:
        stem = f"{file_sha256(path)}-{height}x{width}-ort{ort.__version__}-v{_VERSION}"
    except OSError as err:
        raise ModelFileError(f"model file {path} cannot be read: {err.strerror or err}") from err
    try:
        unchanged = derived_dir("fixed-size") / f"{stem}.unchanged"
    except OSError as err:
        raise ModelFileError(
            f"cannot create the folder for derived model files: {err.strerror or err}"
        ) from err
    if unchanged.is_file():  # a planted marker can only make the source itself run
        return path
    try:
        folded = derived_file(
            "fixed-size", f"{stem}.onnx", lambda: _folded_bytes(path, height, width)
        )
    except _UseSource as use:
        if use.remember:
            reason = f"{use}\n"
            with contextlib.suppress(OSError):  # only spares a look next time
                atomic_write(unchanged, lambda temp: temp.write_text(reason))
        return path
    return path if folded is None else folded


class _UseSource(Exception):
    """The source is used as is; ``remember``: for good (a marker says so next time)."""

    def __init__(self, reason: str, *, remember: bool) -> None:
        super().__init__(reason)
        self.remember = remember


def _folded_bytes(path: Path, height: int, width: int) -> bytes:
    """The serialized folded copy of ``path`` (``_UseSource`` when there is none to make)."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # protobuf DecodeError, ...
        raise ModelFileError(
            f"model file {path} cannot be read as an ONNX model: {type(err).__name__}: {err}"
        ) from err
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer):
        # its weights live beside it: a copy would go stale when they change
        raise _UseSource("external data", remember=False)
    try:
        folded = _folded(model, height, width)
    except _CannotProbe as err:  # may work another time (e.g. after a memory error): no marker
        raise _UseSource("cannot probe", remember=False) from err
    if folded is None:
        raise _UseSource("nothing to fold", remember=True)
    return bytes(folded.SerializeToString())


def _size_only_frontier(graph: Any, image: str) -> list[str]:
    """Tensors computed from the shape of input ``image`` alone that feed the rest of the graph."""
    values, size_only = {image}, set()
    size_only_nodes = []
    for node in graph.node:
        inputs = [name for name in node.input if name]
        if node.op_type in _SHAPE_READERS and inputs == [image]:
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


def _ort() -> Any:
    return require(
        "onnxruntime",
        'the model pack needs onnxruntime: pip install "imageprism-core[onnx]"',
        ModelFileError,
    )


def _run(model: Any, outputs: list[str] | None, feed: dict[str, np.ndarray]) -> list[Any]:
    """``model`` run once by ONNX Runtime (``_CannotProbe`` when it cannot)."""
    ort = _ort()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(
            model.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
        )
        return list(session.run(outputs, feed))
    except Exception as err:
        raise _CannotProbe(str(err)) from err


def _image_input(graph: Any) -> tuple[str, int] | None:
    """The graph's one fed input and its channels (3 unless static), or None if it has more."""
    initializers = {tensor.name for tensor in graph.initializer}
    fed = [i for i in graph.input if i.name not in initializers]
    if len(fed) != 1:  # only a graph fed nothing but the image batch is understood here
        return None
    dims = fed[0].type.tensor_type.shape.dim
    channels = dims[1].dim_value if len(dims) == 4 and dims[1].dim_value > 0 else 3
    return fed[0].name, channels


def _folded(model: Any, height: int, width: int) -> Any | None:
    """A copy of ``model`` with the batch-independent size-only tensors folded, or None."""
    import onnx

    image = _image_input(model.graph)
    frontier = _size_only_frontier(model.graph, image[0]) if image else []
    if not image or not frontier:
        return None
    name, channels = image
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    known = {o.name for o in probe.graph.output}
    probe.graph.output.extend(onnx.ValueInfoProto(name=t) for t in frontier if t not in known)
    runs = [
        dict(
            zip(
                frontier,
                _run(probe, frontier, {name: np.zeros((batch, channels, height, width), "f")}),
                strict=True,
            )
        )
        for batch in _PROBE_BATCHES
    ]
    constant = {
        tensor: runs[0][tensor]
        for tensor in frontier
        if all(
            run[tensor].shape == runs[0][tensor].shape
            and np.array_equal(run[tensor], runs[0][tensor])
            for run in runs[1:]
        )
    }
    if not constant:
        return None
    folded = onnx.ModelProto()
    folded.CopyFrom(model)
    graph = folded.graph
    kept = [node for node in graph.node if not set(node.output) & constant.keys()]
    del graph.node[:]
    graph.node.extend(_live(kept, {o.name for o in graph.output}))
    read = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    for tensor in [t for t in graph.initializer if t.name not in read]:
        graph.initializer.remove(tensor)  # e.g. the position grid the folded resize read
    for listed in [i for i in graph.input if i.name not in read and i.name != name]:
        graph.input.remove(listed)  # old files list initializers as inputs too
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
    """Whether both graphs give the same outputs for a random batch of 3 at the size."""
    shape = (_PROBE_BATCHES[-1], channels, height, width)
    feed = {name: np.random.default_rng(0).standard_normal(shape, "f")}
    expected = _run(original, None, feed)
    try:
        got = _run(folded, None, feed)
    except _CannotProbe:  # the copy is broken (e.g. a node lost an input it needed)
        return False
    return all(_close(a, b) for a, b in zip(expected, got, strict=True))


def _close(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if not np.issubdtype(a.dtype, np.floating):
        return bool(np.array_equal(a, b))
    return bool(np.allclose(a, b, rtol=1e-4, atol=1e-5))
