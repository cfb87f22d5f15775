"""Per-image against batched inference of the model pack's ONNX graphs, and end to end.

Graphs (``--graph``, one or more; default all three), each timed in turn on the same photos:

- ``mobilenetv2``: the real MobileNetV2 of the style dimension (``--model``, default
  ``../shared/models/mobilenetv2/mobilenetv2_multi.onnx`` relative to the repository root;
  real weights), output ``--output`` (default ``features``), ``MOBILENETV2`` recipe
  (shortest side 224 bicubic, centre crop 224, ImageNet mean/std).
- ``clip-vit-b32``: the semantic dimension's architecture, CLIP ViT-B/32 vision tower with
  projection, output ``image_embeds`` [N,512], ``CLIP`` recipe (shortest side 224 bicubic,
  centre crop 224, CLIP mean/std).
- ``dinov2-small``: the instance dimension's architecture, DINOv2 ViT-S/14, output
  ``last_hidden_state`` [N,257,384] (the one the dimension reads), ``DINOV2`` recipe
  (shortest side 256 bicubic, centre crop 224, ImageNet mean/std). Its table also times
  the graph the instance dimension actually runs: the same file with what it computes
  from the input size alone folded for 224x224 (``imageprism_models.fixed_size``: the
  bicubic resize of the position embeddings), rows ``size constants folded: ...``.

**The two ViT graphs have random weights.** The real files (``Xenova/clip-vit-base-patch32``
``onnx/vision_model_quantized.onnx`` and ``Xenova/dinov2-small`` ``onnx/model_quantized.onnx``)
could not be downloaded on the machine this was written on (the Hugging Face hub is
unreachable there), and inference time does not depend on weight values, so
``benchmarks/_vit_graphs.py`` writes the same architectures at full size with the ``onnx``
package (seeded NumPy weights: 87,849,216 parameters for CLIP, 22,056,192 for DINOv2; same
input and output names, every input axis symbolic, the operators of a ``torch.onnx``
export) and quantises them as the Xenova files were (``onnxruntime.quantization
.quantize_dynamic``, QUInt8 weights, per-tensor: ``ConvInteger`` for the patch convolution,
``DynamicQuantizeLinear`` + ``MatMulInteger`` for every linear layer). Their outputs mean
nothing; only their timings do. They are built, checked (ONNX Runtime runs them and the
output shapes are the real ones) and saved before any timing, in ``--graph-dir`` (reused
there on later runs) or, by default, in a temporary directory deleted at exit.

What is timed, for each graph, in one process:

- ``graph``: the file loaded with imageprism's ``OnnxModel`` (``local_path``,
  ``intra_op_threads=--threads``), asked for the graph's one output. Its inputs are the first
  ``--count`` photos of ``../shared/data/photos``, preprocessed once with the graph's recipe,
  before any timing, into 224x224 float32 tensors. ``per-image`` is ``count`` calls of
  ``OnnxModel.run`` with a batch of 1; ``batch B`` is ``ceil(count / B)`` calls with batches
  of ``B`` (the last one shorter when ``B`` does not divide ``count``), for each ``B`` of
  ``--batches``. Only the model calls are timed.
- ``embed_many``: the library path of the graph's dimension (``style``, ``semantic`` or
  ``instance``): ``ImagePrism([DIMENSION], config={DIMENSION: {"model_path": FILE,
  "intra_op_threads": THREADS}}, batch_size=B, cache_size=0).embed_many(paths)`` for ``B``
  of 1 and 16 (file read, JPEG decode, preprocessing, the model, the dimension's pooling).
  Each prism is built once and reused for every round, its embedding cache disabled, so
  every round embeds every photo again (the ONNX Runtime session is process-wide, as in any
  long-running program). The prism runs its default ``threads`` (2 on 2 or more cores): two
  chunks of ``B`` images are embedded at once, so even ``B = 1`` runs two model calls
  concurrently, unlike the ``graph`` table's one call at a time.
  Two model calls at once each get half of the cores (imageprism's default; a call made
  alone gets them all), and the style dimension runs MobileNetV2 one image per call.
- ``--variants`` adds, to the ``embed_many`` table, the same with the prism's ``threads=1``
  (one chunk at a time), with ``intra_op_threads`` = every core (each of the two concurrent
  calls uses them all, as imageprism did before it shared the cores between them), with
  ``images_per_call`` = ``B`` (one model call per chunk, as before for style), and two
  Python threads each running a prism with ``threads=1``, ``intra_op_threads=1`` on every
  other path (decoding overlaps with inference). It also adds a table of ONNX Runtime
  session settings that imageprism does not expose (sessions built directly with
  ``onnxruntime``, same file and output, batch 1 against batch 16): intra-op threads 1 and
  2, spinning off, lower graph optimisation levels, and two single-threaded sessions sharing
  each batch (data parallel, two Python threads).

- ``--profile`` adds, per graph, ONNX Runtime's own profile (``enable_profiling``) of
  batch 1 against batch 16: kernel time per image by operator type, which shows what
  batching can and cannot save (the integer matrix products of the ViTs barely change).

After one warm-up pass (printed, not counted), every method of a table is timed
``--repeats`` times, the methods interleaved within each round (their order rotating from
round to round); the tables report the median. ``vs per-image`` is the throughput ratio
against batch 1 of the same table. The goal line checks batch 16 >= 1.5x per-image (the
issue's goal for 2 cores). The load average is printed before and after: another busy
process makes every number noisy.

Run from the repository root::

    .venv/bin/python benchmarks/model_batching.py [--graph clip-vit-b32 dinov2-small
        mobilenetv2] [--model PATH] [--output NAME] [--graph-dir DIR] [--count 128]
        [--batches 8 16 32] [--repeats 5] [--threads N] [--variants] [--profile]
        [--no-pipeline]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
from _common import positive_int
from _vit_graphs import saved_graph

from imageprism import ImagePrism, prepare
from imageprism.runtime.hub import ModelFile
from imageprism.runtime.onnx import OnnxModel
from imageprism.runtime.recipe import Recipe
from imageprism_models.fixed_size import with_size_constants_folded
from imageprism_models.preprocess import CLIP, DINOV2, MOBILENETV2

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
DEFAULT_MODEL = SHARED / "models" / "mobilenetv2" / "mobilenetv2_multi.onnx"
PHOTOS = SHARED / "data" / "photos"
DEFAULT_BATCHES = (8, 16, 32)
PIPELINE_BATCHES = (1, 16)
VARIANT_BATCHES = (1, 16)
PER_IMAGE = "per-image (batch 1)"
CORES = os.cpu_count() or 1
WHOLE_CHUNK = 0  # images_per_call override meaning "the prism's batch_size"
PIPELINE_VARIANTS: tuple[tuple[str, dict[str, int]], ...] = (
    ("threads=1", {"threads": 1}),
    (f"intra_op_threads={CORES} (every core per call)", {"intra_op_threads": CORES}),
    ("images_per_call=B (one model call per chunk)", {"images_per_call": WHOLE_CHUNK}),
)
GOAL_BATCH, GOAL_RATIO = 16, 1.5
FOLDED = "size constants folded: "

Method = Callable[[], None]


@dataclass(frozen=True)
class GraphSpec:
    """One graph to time: its dimension, the output that dimension reads, its recipe."""

    dimension: str
    output: str
    recipe: Recipe
    recipe_name: str


GRAPHS: dict[str, GraphSpec] = {
    "clip-vit-b32": GraphSpec("semantic", "image_embeds", CLIP, "CLIP"),
    "dinov2-small": GraphSpec("instance", "last_hidden_state", DINOV2, "DINOV2"),
    "mobilenetv2": GraphSpec("style", "features", MOBILENETV2, "MOBILENETV2"),
}


def photo_paths(folder: Path, count: int) -> list[Path]:
    """The first ``count`` JPEG photos of ``folder``, by name."""
    return sorted(folder.glob("*.jpg"))[:count]


def preprocessed(paths: Sequence[Path], recipe: Recipe = MOBILENETV2) -> np.ndarray:
    """The photos as one Nx3x224x224 float32 array (``recipe``, default ``MOBILENETV2``)."""
    return recipe.batch([prepare(path) for path in paths])


def local_model(path: Path, threads: int | None) -> OnnxModel:
    """An ``OnnxModel`` for a local file (unpinned: no sha256 check)."""
    pin = ModelFile(repo_id="local/benchmark", filename=path.name, revision="local")
    return OnnxModel(pin, local_path=path, intra_op_threads=threads)


def in_batches(run: Callable[[np.ndarray], Any], tensors: np.ndarray, size: int) -> Method:
    """A method calling ``run`` on consecutive slices of ``size`` images."""

    def method() -> None:
        for start in range(0, len(tensors), size):
            run(tensors[start : start + size])

    return method


def graph_methods(
    model: OnnxModel, output: str, tensors: np.ndarray, batches: Sequence[int], prefix: str = ""
) -> dict[str, Method]:
    """Per-image and batched calls of ``OnnxModel.run``, by table row (``prefix`` + label)."""

    def run(batch: np.ndarray) -> None:
        model.run(batch, [output])

    methods: dict[str, Method] = {prefix + PER_IMAGE: in_batches(run, tensors, 1)}
    for size in batches:
        label = f"{prefix}batch {size} ({math.ceil(len(tensors) / size)} calls)"
        methods[label] = in_batches(run, tensors, size)
    return methods


def _prism(
    dimension: str,
    model_path: Path,
    intra_op_threads: int | None,
    batch_size: int,
    threads: int | None = None,
    images_per_call: int | None = None,
) -> ImagePrism:
    """A prism of one model dimension on a local file, its embedding cache disabled."""
    config = {
        dimension: {
            "model_path": model_path,
            "intra_op_threads": intra_op_threads,
            "images_per_call": images_per_call,
        }
    }
    return ImagePrism(
        [dimension], config=config, batch_size=batch_size, cache_size=0, threads=threads
    )


def _embed_all(prism: ImagePrism, paths: Sequence[Path]) -> None:
    result = prism.embed_many(paths)
    if result.errors:
        raise RuntimeError(f"embed_many failed: {result.errors}")


def pipeline_methods(
    dimension: str,
    model_path: Path,
    threads: int | None,
    paths: Sequence[Path],
    settings: Sequence[tuple[str, dict[str, int]]] = (("", {}),),
) -> dict[str, Method]:
    """``ImagePrism([dimension]).embed_many(paths)`` by batch size, for each prism setting.

    ``settings``: (label, overrides) pairs; overrides may set the prism's ``threads`` and
    the model's ``intra_op_threads`` (default ``threads``) and ``images_per_call``
    (``WHOLE_CHUNK``: the batch size). The unlabelled setting gives the per-image row.
    """
    methods: dict[str, Method] = {}
    for prefix, overrides in settings:
        intra_op = overrides.get("intra_op_threads", threads)
        for size in PIPELINE_BATCHES:
            per_call = overrides.get("images_per_call")
            prism = _prism(
                dimension,
                model_path,
                intra_op,
                size,
                overrides.get("threads"),
                size if per_call == WHOLE_CHUNK else per_call,
            )
            label = PER_IMAGE if size == 1 else f"batch_size={size}"
            if prefix:
                label = f"{prefix}, batch_size={size}"
            methods[label] = lambda prism=prism: _embed_all(prism, paths)
    return methods


def parallel_pipeline_methods(
    dimension: str, model_path: Path, paths: Sequence[Path]
) -> dict[str, Method]:
    """Two Python threads, each a prism (intra_op_threads=1) on every other path."""
    pool = ThreadPoolExecutor(max_workers=2)
    halves = [paths[0::2], paths[1::2]]

    def embed_many(size: int) -> Method:
        prisms = [_prism(dimension, model_path, 1, size, threads=1) for _ in halves]

        def method() -> None:
            futures = [
                pool.submit(_embed_all, prism, half)
                for prism, half in zip(prisms, halves, strict=True)
            ]
            for future in futures:
                future.result()

        return method

    return {
        f"2 threads x embed_many(half), intra_op_threads=1, batch_size={size}": embed_many(size)
        for size in PIPELINE_BATCHES
    }


def session(path: Path, threads: int | None, **settings: Any) -> Any:
    """An ONNX Runtime CPU session with the given intra-op threads and settings.

    ``settings``: ``level``, a ``GraphOptimizationLevel``; ``entries``, session config
    entries by key (e.g. ``{"session.intra_op.allow_spinning": "0"}``); ``profile``, the
    file prefix of ONNX Runtime's profile (profiling on).
    """
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    if "level" in settings:
        options.graph_optimization_level = settings["level"]
    if "profile" in settings:
        options.enable_profiling = True
        options.profile_file_prefix = settings["profile"]
    for key, value in settings.get("entries", {}).items():
        options.add_session_config_entry(key, value)
    return onnxruntime.InferenceSession(
        str(path), sess_options=options, providers=["CPUExecutionProvider"]
    )


def variant_methods(path: Path, output: str, tensors: np.ndarray) -> dict[str, dict[int, Method]]:
    """Batch 1 and batch 16 for several session settings, by table row."""
    level = onnxruntime.GraphOptimizationLevel
    sessions = {
        "intra_op_threads=1": session(path, 1),
        "intra_op_threads=2": session(path, 2),
        "intra_op_threads=2, allow_spinning=0": session(
            path, 2, entries={"session.intra_op.allow_spinning": "0"}
        ),
        "intra_op_threads=2, ORT_ENABLE_EXTENDED": session(
            path, 2, level=level.ORT_ENABLE_EXTENDED
        ),
        "intra_op_threads=2, ORT_ENABLE_BASIC": session(path, 2, level=level.ORT_ENABLE_BASIC),
    }
    methods: dict[str, dict[int, Method]] = {}
    for label, sess in sessions.items():
        name = sess.get_inputs()[0].name

        def run(batch: np.ndarray, sess: Any = sess, name: str = name) -> None:
            sess.run([output], {name: batch})

        methods[label] = {size: in_batches(run, tensors, size) for size in VARIANT_BATCHES}

    # Two single-threaded sessions, each batch split in halves run concurrently (ONNX Runtime
    # releases the GIL); at batch 1 the two workers take alternate images.
    pair = [session(path, 1), session(path, 1)]
    pool = ThreadPoolExecutor(max_workers=2)
    name = pair[0].get_inputs()[0].name

    def split(size: int) -> Method:
        def method() -> None:
            step = 2 * size if size == 1 else size
            for start in range(0, len(tensors), step):
                chunk = tensors[start : start + step]
                half = (len(chunk) + 1) // 2
                parts = [chunk[:half], chunk[half:]]
                futures = [
                    pool.submit(sess.run, [output], {name: part})
                    for sess, part in zip(pair, parts, strict=True)
                    if len(part)
                ]
                for future in futures:
                    future.result()

        return method

    methods["2 sessions x 1 thread, data parallel"] = {
        size: split(size) for size in VARIANT_BATCHES
    }
    return methods


def time_once(method: Method) -> float:
    """Seconds one call of ``method`` takes."""
    start = time.perf_counter()
    method()
    return time.perf_counter() - start


def run_rounds(methods: dict[str, Method], repeats: int) -> dict[str, list[float]]:
    """Time every method ``repeats`` times, interleaved, the order rotating each round."""
    names = list(methods)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            seconds[name].append(time_once(methods[name]))
    return seconds


def warm_up(methods: dict[str, Method], count: int, label: str) -> None:
    """Run every method once (loads sessions, fills allocators) and print the rates."""
    rates = {name: count / time_once(method) for name, method in methods.items()}
    print(
        f"warm-up {label} (not counted): "
        + ", ".join(f"{name} {rate:.0f} images/s" for name, rate in rates.items())
    )


def markdown_table(seconds: dict[str, list[float]], count: int) -> str:
    """Rows of images/s (median and range over rounds), ms/image, ratio to the per-image row."""
    rate = {name: count / statistics.median(times) for name, times in seconds.items()}
    base = rate[PER_IMAGE]
    lines = [
        "| method | images/s (median) | slowest-fastest round | ms/image | vs per-image |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, images_per_second in rate.items():
        low, high = count / max(seconds[name]), count / min(seconds[name])
        lines.append(
            f"| {name} | {images_per_second:.1f} | {low:.1f}-{high:.1f} "
            f"| {1000 / images_per_second:.2f} | {images_per_second / base:.2f}x |"
        )
    return "\n".join(lines)


def op_profile(
    path: Path, output: str, tensors: np.ndarray, threads: int | None, size: int
) -> dict[str, float]:
    """Kernel milliseconds per image by operator type, the images run in batches of ``size``.

    ONNX Runtime's own profiler (``enable_profiling``) records each node's kernel time; the
    first pass over the images warms the session up and is not counted, the next two are.
    """
    passes = 2
    with tempfile.TemporaryDirectory(prefix="imageprism-profile-") as folder:
        sess = session(path, threads, profile=str(Path(folder) / "profile"))
        name = sess.get_inputs()[0].name
        one_pass = in_batches(lambda batch: sess.run([output], {name: batch}), tensors, size)
        for _ in range(1 + passes):
            one_pass()
        events = json.loads(Path(sess.end_profiling()).read_text())
    runs = sorted(e["ts"] for e in events if e.get("name") == "model_run")
    counted_from = runs[math.ceil(len(tensors) / size)]  # the first run after the warm-up
    seconds: Counter[str] = Counter()
    for event in events:
        if (
            event.get("cat") == "Node"
            and event.get("name", "").endswith("_kernel_time")
            and event["ts"] >= counted_from
        ):
            seconds[event["args"]["op_name"]] += event["dur"] / 1e3
    return {op: value / (passes * len(tensors)) for op, value in seconds.items()}


def profile_table(path: Path, output: str, tensors: np.ndarray, threads: int | None) -> str:
    """Kernel ms per image by operator type, batch 1 against batch ``GOAL_BATCH``."""
    per_image = {size: op_profile(path, output, tensors, threads, size) for size in (1, GOAL_BATCH)}
    one, many = per_image[1], per_image[GOAL_BATCH]
    total_one, total_many = sum(one.values()), sum(many.values())
    lines = [
        f"| operator type | batch 1 ms/image | share | batch {GOAL_BATCH} ms/image "
        f"| batch {GOAL_BATCH} / batch 1 |",
        "|---|---:|---:|---:|---:|",
    ]
    top = sorted(one, key=one.get, reverse=True)  # type: ignore[arg-type]
    shown, rest = top[:6], top[6:]
    rows = [(op, one[op], many.get(op, 0.0)) for op in shown]
    rows.append(
        (
            f"other ({len(rest)} types)",
            sum(one[op] for op in rest),
            sum(many.get(op, 0.0) for op in rest),
        )
    )
    rows.append(("**all kernels**", total_one, total_many))
    for label, a, b in rows:
        ratio = f"{b / a:.2f}" if a else "-"
        lines.append(f"| {label} | {a:.3f} | {100 * a / total_one:.1f}% | {b:.3f} | {ratio} |")
    return "\n".join(lines)


def variants_table(seconds: dict[str, list[float]], count: int) -> str:
    """One row per session setting: batch 1 and batch 16 images/s and their ratio."""
    lines = [
        "| session setting | batch 1 images/s | batch 16 images/s | batch 16 / batch 1 |",
        "|---|---:|---:|---:|",
    ]
    labels = dict.fromkeys(name.rsplit(" @ ", 1)[0] for name in seconds)
    for label in labels:
        one, sixteen = (
            count / statistics.median(seconds[f"{label} @ {size}"]) for size in VARIANT_BATCHES
        )
        lines.append(f"| {label} | {one:.1f} | {sixteen:.1f} | {sixteen / one:.2f}x |")
    return "\n".join(lines)


def goal_line(seconds: dict[str, list[float]], prefix: str = "") -> str | None:
    """Whether batch ``GOAL_BATCH`` reaches ``GOAL_RATIO`` times per-image (None if not timed).

    ``prefix``: compare the rows of that graph (``graph_methods``'s prefix).
    """
    name = next((n for n in seconds if n.startswith(f"{prefix}batch {GOAL_BATCH} (")), None)
    if name is None:
        return None
    ratio = statistics.median(seconds[prefix + PER_IMAGE]) / statistics.median(seconds[name])
    verdict = "met" if ratio >= GOAL_RATIO else "NOT met"
    what = f" ({prefix.rstrip(': ')})" if prefix else ""
    return f"Goal batch {GOAL_BATCH} >= {GOAL_RATIO}x per-image{what}: {verdict} ({ratio:.2f}x)"


def reproduce_command(args: argparse.Namespace) -> str:
    """The command line (from the repository root) that reruns this benchmark."""
    python = Path(sys.executable)
    if python.is_relative_to(REPO_ROOT):
        python = python.relative_to(REPO_ROOT)
    command = [str(python), "benchmarks/model_batching.py"]
    if args.graph != list(GRAPHS):
        command += ["--graph", *args.graph]
    if args.model is not None:
        command += ["--model", str(args.model)]
    if args.output != "features":
        command += ["--output", args.output]
    command += ["--count", str(args.count), "--batches", *map(str, args.batches)]
    command += ["--repeats", str(args.repeats)]
    if args.threads is not None:
        command += ["--threads", str(args.threads)]
    if args.variants:
        command.append("--variants")
    if args.no_pipeline:
        command.append("--no-pipeline")
    if args.profile:
        command.append("--profile")
    return shlex.join(command)


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as text."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def graph_files(
    names: Sequence[str], model: Path | None, folder: Path
) -> dict[str, tuple[Path, str]]:
    """Each graph's file and a description of it, the random-weight ones built in ``folder``."""
    files: dict[str, tuple[Path, str]] = {}
    for name in names:
        if name == "mobilenetv2":
            path = (model or DEFAULT_MODEL).resolve()
            files[name] = (path, f"`{path.name}` (real weights)")
            continue
        start = time.perf_counter()
        path, parameters = saved_graph(name, folder)
        print(
            f"{name}: random-weight graph {path} ({parameters:,} parameters, QUInt8 dynamic "
            f"quantisation, {path.stat().st_size / 1e6:.1f} MB; ready in "
            f"{time.perf_counter() - start:.0f} s)"
        )
        files[name] = (path, f"`{name}` architecture, RANDOM weights, quantised (`{path.name}`)")
    return files


def time_graph(
    name: str, path: Path, note: str, paths: Sequence[Path], args: argparse.Namespace
) -> list[str]:
    """Time one graph (every table the arguments ask for); the lines to print for it."""
    spec = GRAPHS[name]
    output = args.output if name == "mobilenetv2" else spec.output
    count = len(paths)
    tensors = preprocessed(paths, spec.recipe)
    model = local_model(path, args.threads)
    if output not in model.output_names:
        raise SystemExit(f"error: {path.name} has no output {output!r}: {model.output_names}")

    graph = graph_methods(model, output, tensors, args.batches)
    if spec.dimension == "instance":  # the graph the instance dimension runs
        folded = with_size_constants_folded(path, spec.recipe.crop, spec.recipe.crop)
        if folded != path:
            graph.update(
                graph_methods(
                    local_model(folded, args.threads), output, tensors, args.batches, FOLDED
                )
            )
    warm_up(graph, count, f"{name} graph")
    pipeline: dict[str, Method] = {}
    if not args.no_pipeline:
        settings = (("", {}),) + (PIPELINE_VARIANTS if args.variants else ())
        pipeline = pipeline_methods(spec.dimension, path, args.threads, paths, settings)
        if args.variants:
            pipeline.update(parallel_pipeline_methods(spec.dimension, path, paths))
        warm_up(pipeline, count, f"{name} embed_many")
    graph_seconds = run_rounds(graph, args.repeats)
    pipeline_seconds = run_rounds(pipeline, args.repeats) if pipeline else {}
    variant_seconds: dict[str, list[float]] = {}
    if args.variants:
        flat = {
            f"{label} @ {size}": method
            for label, by_size in variant_methods(path, output, tensors).items()
            for size, method in by_size.items()
        }
        warm_up(flat, count, f"{name} variants")
        variant_seconds = run_rounds(flat, args.repeats)

    lines = [
        "",
        f"### {name}: graph {note}, output `{output}`, {spec.recipe_name} preprocessed tensors",
        "",
        markdown_table(graph_seconds, count),
    ]
    goals = [goal_line(graph_seconds), goal_line(graph_seconds, FOLDED)]
    lines += [line for goal in goals if goal for line in ("", goal)]
    if pipeline_seconds:
        lines += [
            "",
            f'`ImagePrism(["{spec.dimension}"], batch_size=B).embed_many(paths)` (read, decode, '
            f"preprocess, model, pooling; the default threads={min(2, os.cpu_count() or 1)} "
            "unless the row says otherwise):",
            "",
            markdown_table(pipeline_seconds, count),
        ]
    if variant_seconds:
        lines += [
            "",
            "ONNX Runtime session settings (onnxruntime directly, not via imageprism):",
            "",
            variants_table(variant_seconds, count),
        ]
    if args.profile:
        lines += [
            "",
            f"Where the time goes (ONNX Runtime's profiler, kernel time per image by operator "
            f"type, intra_op_threads {args.threads}, batch 1 against batch {GOAL_BATCH}):",
            "",
            profile_table(path, output, tensors, args.threads),
        ]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, prepare the graphs and inputs, run the timings, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--graph",
        nargs="+",
        choices=list(GRAPHS),
        metavar="NAME",
        default=list(GRAPHS),
        help=f"graphs to time, in this order: {', '.join(GRAPHS)} (default: all; the ViT "
        "ones have random weights)",
    )
    parser.add_argument(
        "--model", type=Path, help=f"mobilenetv2 ONNX file to time (default: {DEFAULT_MODEL})"
    )
    parser.add_argument(
        "--output", default="features", help="mobilenetv2 output to request (default: features)"
    )
    parser.add_argument(
        "--graph-dir",
        type=Path,
        help="where to build (and later reuse) the random-weight ViT graphs (default: a "
        "temporary directory deleted at exit)",
    )
    parser.add_argument(
        "--count", type=positive_int, default=128, help="number of photos (default: 128)"
    )
    parser.add_argument(
        "--batches",
        type=positive_int,
        nargs="+",
        default=list(DEFAULT_BATCHES),
        help="batch sizes to time against batch 1 (default: 8 16 32)",
    )
    parser.add_argument("--repeats", type=positive_int, default=5, help="timed rounds (default: 5)")
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="ONNX Runtime intra_op_threads (default: None: every core for a call made alone, "
        "a share of them in the prism's batch calls)",
    )
    parser.add_argument(
        "--variants", action="store_true", help="also time ONNX Runtime session settings"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also print kernel time per image by operator type (ONNX Runtime's profiler)",
    )
    parser.add_argument(
        "--no-pipeline", action="store_true", help="skip the ImagePrism embed_many tables"
    )
    args = parser.parse_args(argv)
    args.graph = list(dict.fromkeys(args.graph))

    if not PHOTOS.is_dir():
        parser.exit(
            2,
            f"error: {PHOTOS} does not exist; this benchmark needs the shared data folder "
            "beside the repository (../shared, see its README.md)\n",
        )
    if "mobilenetv2" in args.graph and not (args.model or DEFAULT_MODEL).is_file():
        where = "pass --model PATH" if args.model is None else "check --model"
        parser.exit(2, f"error: model file {args.model or DEFAULT_MODEL} not found; {where}\n")
    paths = photo_paths(PHOTOS, args.count)
    if not paths:
        parser.exit(2, f"error: no .jpg photos in {PHOTOS}\n")

    load_before = load_average()
    threads = "None (imageprism's default)" if args.threads is None else str(args.threads)
    print(f"intra_op_threads: {threads}; load average before: {load_before}")
    with tempfile.TemporaryDirectory(prefix="imageprism-vit-graphs-") as temporary:
        files = graph_files(args.graph, args.model, args.graph_dir or Path(temporary))
        for name, (path, note) in files.items():
            print("\n".join(time_graph(name, path, note, paths, args)), flush=True)

    print()
    print(
        f"Machine: {os.cpu_count()} CPUs ({platform.machine()}, "
        f"Python {platform.python_version()}, onnxruntime {onnxruntime.__version__}); "
        f"intra_op_threads {threads}; {len(paths)} photos from ../shared/data/photos "
        f"(481x321 JPEG), 224x224 input; median of {args.repeats} interleaved rounds; load "
        f"average (1, 5, 15 min) before {load_before}, after {load_average()}. The ViT graphs "
        "have random weights (timing only). Reproduce (from the repository root): "
        f"`{reproduce_command(args)}`"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
