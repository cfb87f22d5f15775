"""ONNX Runtime's CPU memory arena on and off: speed and peak memory, side by side.

imageprism creates its sessions with the arena off (``runtime.onnx.load_session``): an
arena keeps each session's largest run resident for good, so with five models the
process holds the sum of their peaks. This script is the measurement behind that
choice, in two tables:

1. ``graphs``: each model graph alone (the real MobileNetV2 of ``style`` from
   ``../shared/models``; the CLIP ViT-B/32 and DINOv2-small architectures with random
   weights from ``_vit_graphs.py``, same cost as the real files), batches of 1, 8 and 32
   random 224x224 inputs; median of ``--runs`` timed runs per cell, the two sessions
   alternating run by run in one process.
2. ``end to end``: ``ImagePrism.embed_many`` over the first ``--photos`` photos of
   ``../shared/data/photos`` with every dimension (face: the shared UltraFace detector
   and dlib's embedder), each run in a fresh process (arena on and off alternating,
   ``--repeats`` times each): median wall time and median peak RSS (VmHWM after the
   models are loaded and warmed, the mark reset through ``/proc/self/clear_refs``).

    python benchmarks/onnx_arena.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import positive_int

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
STYLE = SHARED / "models/mobilenetv2/mobilenetv2_multi.onnx"
ULTRAFACE = SHARED / "models/ultraface/version-RFB-320.onnx"
PHOTOS = SHARED / "data/photos"

CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
args = json.loads(sys.argv[1])
import onnxruntime as ort
if args["arena"]:
    plain = ort.SessionOptions
    class _ArenaOn(plain):
        def __init__(self):
            super().__init__()
            self.enable_cpu_mem_arena = True
    ort.SessionOptions = _ArenaOn  # what load_session builds, with the arena back on
from imageprism import ImagePrism
prism = ImagePrism(list(args["config"]), config=args["config"], cache_size=0)
prism.embed_many(args["files"][:2])
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
start = time.perf_counter()
batch = prism.embed_many(args["files"])
seconds = time.perf_counter() - start
assert not batch.errors, batch.errors
peak = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
print("RESULT " + json.dumps({"seconds": seconds, "peak_mib": peak / 1024}))
"""


def _graphs(folder: Path) -> dict[str, Path]:
    from _vit_graphs import saved_graph

    graphs = {"mobilenetv2": STYLE} if STYLE.is_file() else {}
    for name in ("clip-vit-b32", "dinov2-small"):
        graphs[name], _ = saved_graph(name, folder)
    return graphs


def _session(path: Path, arena: bool) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.enable_cpu_mem_arena = arena
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def graph_table(graphs: dict[str, Path], runs: int) -> None:
    import numpy as np

    print("| graph | batch | arena on | arena off | off / on |\n|---|---:|---:|---:|---:|")
    rng = np.random.default_rng(0)
    for name, path in graphs.items():
        sessions = {arena: _session(path, arena) for arena in (True, False)}
        feed_name = sessions[True].get_inputs()[0].name
        for batch in (1, 8, 32):
            feed = {feed_name: rng.standard_normal((batch, 3, 224, 224)).astype(np.float32)}
            times: dict[bool, list[float]] = {True: [], False: []}
            for session in sessions.values():
                session.run(None, feed)
            for _ in range(runs):
                for arena, session in sessions.items():
                    start = time.perf_counter()
                    session.run(None, feed)
                    times[arena].append(time.perf_counter() - start)
            on, off = (statistics.median(times[arena]) for arena in (True, False))
            print(
                f"| {name} | {batch} | {on * 1000:.0f} ms | {off * 1000:.0f} ms | {off / on:.2f} |"
            )


def end_to_end_table(graphs: dict[str, Path], photos: int, repeats: int) -> None:
    files = sorted(str(p) for p in PHOTOS.glob("*.jpg"))[:photos]
    config: dict[str, dict[str, object]] = {"hash": {}}
    if "mobilenetv2" in graphs:
        config["style"] = {"model_path": str(graphs["mobilenetv2"])}
    config["semantic"] = {"model_path": str(graphs["clip-vit-b32"])}
    config["instance"] = {"model_path": str(graphs["dinov2-small"])}
    if ULTRAFACE.is_file():
        config["face"] = {"detector_path": str(ULTRAFACE), "embedder": "dlib"}
    results: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    for _ in range(repeats):
        for arena in (True, False):
            payload = json.dumps({"arena": arena, "config": config, "files": files})
            done = subprocess.run(
                [sys.executable, "-c", CHILD, payload], capture_output=True, text=True, check=False
            )
            lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
            if not lines:
                sys.exit(f"end-to-end run failed: {done.stderr.strip()[-500:]}")
            results[arena].append(json.loads(lines[0][7:]))
    print(f"\nembed_many of {len(files)} photos, dimensions: {', '.join(config)}")
    print("| arena | time (median) | peak RSS (median) |\n|---|---:|---:|")
    for arena in (True, False):
        seconds = statistics.median(r["seconds"] for r in results[arena])
        peak = statistics.median(r["peak_mib"] for r in results[arena])
        print(f"| {'on' if arena else 'off'} | {seconds:.1f} s | {peak:.0f} MiB |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=positive_int, default=7, help="timed runs per graph cell")
    parser.add_argument("--photos", type=positive_int, default=200, help="photos end to end")
    parser.add_argument("--repeats", type=positive_int, default=3, help="fresh processes per side")
    args = parser.parse_args()
    if not PHOTOS.is_dir():
        sys.exit(f"{PHOTOS} is absent: this benchmark needs ../shared beside the repository")
    with tempfile.TemporaryDirectory() as name:
        graphs = _graphs(Path(name))
        graph_table(graphs, args.runs)
        end_to_end_table(graphs, args.photos, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
