"""Per-image against batched inference of one ONNX graph, and of the style dimension end to end.

What it measures, in one process and on the same images:

- ``graph``: the ONNX file (default ``../shared/models/mobilenetv2/mobilenetv2_multi.onnx``,
  relative to the repository root) loaded with imageprism's ``OnnxModel`` (``local_path``,
  ``intra_op_threads=--threads``), asked for one output (``--output``, default ``features``).
  Its inputs are the first ``--count`` photos of ``../shared/data/photos``, preprocessed once,
  before any timing, with the ``MOBILENETV2`` recipe (shortest side 224 bicubic, centre crop,
  ImageNet mean/std) into 224x224 float32 tensors. ``per-image`` is ``count`` calls of
  ``OnnxModel.run`` with a batch of 1; ``batch B`` is ``ceil(count / B)`` calls with batches
  of ``B`` (the last one shorter when ``B`` does not divide ``count``), for each ``B`` of
  ``--batches``. Only the model calls are timed.
- ``embed_many``: the full path, ``ImagePrism(["style"], config={"style": {"model_path":
  MODEL, "intra_op_threads": THREADS}}, batch_size=B).embed_many(paths)`` for ``B`` of 1 and
  16 (file read, JPEG decode, resize, normalisation, the three block outputs, statistics),
  a fresh prism per call so its embedding cache cannot help (the ONNX Runtime session is
  process-wide and is reused, as in any long-running program).
- ``--variants`` adds two rows to the ``embed_many`` table: two Python threads, each running
  a fresh prism with ``intra_op_threads=1`` on every other path, so that decoding and
  preprocessing (Python and Pillow) overlap with inference. It also adds a table of ONNX
  Runtime session settings that imageprism does not expose (sessions built directly with
  ``onnxruntime``, same file and output, batch 1 against batch 16): intra-op threads 1 and 2,
  spinning off, lower graph optimisation levels, and two single-threaded sessions sharing
  each batch (data parallel, two Python threads).

After one warm-up pass (printed, not counted), every method of a table is timed
``--repeats`` times, the methods interleaved within each round (their order rotating from
round to round); the tables report the median. ``vs per-image`` is the throughput ratio
against batch 1 of the same table.

Run from the repository root::

    .venv/bin/python benchmarks/model_batching.py [--model PATH] [--output NAME] [--count 128]
        [--batches 8 16 32] [--repeats 5] [--threads N] [--variants]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
from _common import positive_int

from imageprism import ImagePrism, prepare
from imageprism.hub import ModelFile
from imageprism.onnx import OnnxModel
from imageprism_models.preprocess import MOBILENETV2

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
DEFAULT_MODEL = SHARED / "models" / "mobilenetv2" / "mobilenetv2_multi.onnx"
PHOTOS = SHARED / "data" / "photos"
DEFAULT_BATCHES = (8, 16, 32)
PIPELINE_BATCHES = (1, 16)
VARIANT_BATCHES = (1, 16)
PER_IMAGE = "per-image (batch 1)"

Method = Callable[[], None]


def photo_paths(folder: Path, count: int) -> list[Path]:
    """The first ``count`` JPEG photos of ``folder``, by name."""
    return sorted(folder.glob("*.jpg"))[:count]


def preprocessed(paths: Sequence[Path]) -> np.ndarray:
    """The photos as one Nx3x224x224 float32 array (``MOBILENETV2`` recipe)."""
    return MOBILENETV2.batch([prepare(path) for path in paths])


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
    model: OnnxModel, output: str, tensors: np.ndarray, batches: Sequence[int]
) -> dict[str, Method]:
    """Per-image and batched calls of ``OnnxModel.run``, by table row."""

    def run(batch: np.ndarray) -> None:
        model.run(batch, [output])

    methods: dict[str, Method] = {PER_IMAGE: in_batches(run, tensors, 1)}
    for size in batches:
        methods[f"batch {size} ({math.ceil(len(tensors) / size)} calls)"] = in_batches(
            run, tensors, size
        )
    return methods


def pipeline_methods(
    model_path: Path, threads: int | None, paths: Sequence[Path]
) -> dict[str, Method]:
    """``ImagePrism(["style"]).embed_many(paths)`` with a fresh prism per call, by batch size."""
    config = {"style": {"model_path": model_path, "intra_op_threads": threads}}

    def embed_many(size: int) -> Method:
        def method() -> None:
            result = ImagePrism(["style"], config=config, batch_size=size).embed_many(paths)
            if result.errors:
                raise RuntimeError(f"embed_many failed: {result.errors}")

        return method

    return {
        (PER_IMAGE if size == 1 else f"batch_size={size}"): embed_many(size)
        for size in PIPELINE_BATCHES
    }


def parallel_pipeline_methods(model_path: Path, paths: Sequence[Path]) -> dict[str, Method]:
    """Two Python threads, each a fresh prism (intra_op_threads=1) on every other path."""
    config = {"style": {"model_path": model_path, "intra_op_threads": 1}}
    pool = ThreadPoolExecutor(max_workers=2)
    halves = [paths[0::2], paths[1::2]]

    def embed_half(size: int, half: Sequence[Path]) -> None:
        result = ImagePrism(["style"], config=config, batch_size=size).embed_many(half)
        if result.errors:
            raise RuntimeError(f"embed_many failed: {result.errors}")

    def embed_many(size: int) -> Method:
        def method() -> None:
            for future in [pool.submit(embed_half, size, half) for half in halves]:
                future.result()

        return method

    return {
        f"2 threads x embed_many(half), intra_op_threads=1, batch_size={size}": embed_many(size)
        for size in PIPELINE_BATCHES
    }


def session(path: Path, threads: int | None, **settings: Any) -> Any:
    """An ONNX Runtime CPU session with the given intra-op threads and settings.

    ``settings``: ``level``, a ``GraphOptimizationLevel``; ``entries``, session config
    entries by key (e.g. ``{"session.intra_op.allow_spinning": "0"}``).
    """
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    if "level" in settings:
        options.graph_optimization_level = settings["level"]
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
    """Rows of images/s (median), ms/image and the ratio against the per-image row."""
    rate = {name: count / statistics.median(times) for name, times in seconds.items()}
    base = rate[PER_IMAGE]
    lines = ["| method | images/s (median) | ms/image | vs per-image |", "|---|---:|---:|---:|"]
    for name, images_per_second in rate.items():
        lines.append(
            f"| {name} | {images_per_second:.1f} | {1000 / images_per_second:.2f} "
            f"| {images_per_second / base:.2f}x |"
        )
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


def reproduce_command(args: argparse.Namespace) -> str:
    """The command line (from the repository root) that reruns this benchmark."""
    python = Path(sys.executable)
    if python.is_relative_to(REPO_ROOT):
        python = python.relative_to(REPO_ROOT)
    command = [str(python), "benchmarks/model_batching.py"]
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
    return shlex.join(command)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, prepare the inputs, run the timings and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help=f"ONNX file to time (default: {DEFAULT_MODEL})")
    parser.add_argument(
        "--output", default="features", help="output to request (default: features)"
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
        help="ONNX Runtime intra_op_threads (default: None, ONNX Runtime's choice)",
    )
    parser.add_argument(
        "--variants", action="store_true", help="also time ONNX Runtime session settings"
    )
    parser.add_argument(
        "--no-pipeline", action="store_true", help="skip the ImagePrism style embed_many table"
    )
    args = parser.parse_args(argv)

    if not PHOTOS.is_dir():
        parser.exit(
            2,
            f"error: {PHOTOS} does not exist; this benchmark needs the shared data folder "
            "beside the repository (../shared, see its README.md)\n",
        )
    model_path: Path = (args.model or DEFAULT_MODEL).resolve()
    if not model_path.is_file():
        where = "pass --model PATH" if args.model is None else "check --model"
        parser.exit(2, f"error: model file {model_path} not found; {where}\n")
    paths = photo_paths(PHOTOS, args.count)
    if not paths:
        parser.exit(2, f"error: no .jpg photos in {PHOTOS}\n")
    count = len(paths)
    tensors = preprocessed(paths)
    model = local_model(model_path, args.threads)
    if args.output not in model.output_names:
        parser.exit(
            2, f"error: {model_path.name} has no output {args.output!r}: {model.output_names}\n"
        )

    threads = "None (ONNX Runtime's choice)" if args.threads is None else str(args.threads)
    print(f"intra_op_threads: {threads}")
    graph = graph_methods(model, args.output, tensors, args.batches)
    warm_up(graph, count, "graph")
    pipeline = {} if args.no_pipeline else pipeline_methods(model_path, args.threads, paths)
    if pipeline and args.variants:
        pipeline.update(parallel_pipeline_methods(model_path, paths))
    if pipeline:
        warm_up(pipeline, count, "embed_many")
    graph_seconds = run_rounds(graph, args.repeats)
    pipeline_seconds = run_rounds(pipeline, args.repeats) if pipeline else {}
    variant_seconds: dict[str, list[float]] = {}
    if args.variants:
        flat = {
            f"{label} @ {size}": method
            for label, by_size in variant_methods(model_path, args.output, tensors).items()
            for size, method in by_size.items()
        }
        warm_up(flat, count, "variants")
        variant_seconds = run_rounds(flat, args.repeats)

    print()
    print(f"Graph `{model_path.name}`, output `{args.output}`, preprocessed tensors:")
    print()
    print(markdown_table(graph_seconds, count))
    if pipeline_seconds:
        print()
        print('`ImagePrism(["style"]).embed_many(paths)` (decode + preprocess + model + stats):')
        print()
        print(markdown_table(pipeline_seconds, count))
    if variant_seconds:
        print()
        print("ONNX Runtime session settings (onnxruntime directly, not via imageprism):")
        print()
        print(variants_table(variant_seconds, count))
    print()
    print(
        f"Machine: {os.cpu_count()} CPUs ({platform.machine()}, "
        f"Python {platform.python_version()}, onnxruntime {onnxruntime.__version__}); "
        f"intra_op_threads {threads}; {count} photos from ../shared/data/photos (481x321 JPEG), "
        f"224x224 input; median of {args.repeats} interleaved rounds. Reproduce (from the "
        f"repository root): `{reproduce_command(args)}`"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
