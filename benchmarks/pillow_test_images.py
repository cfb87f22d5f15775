"""Every dimension over Pillow's own test images: outcomes, slowest files, peak memory.

Issue 22's goal: ``embed_many`` / ``dedup`` with every dimension over Pillow's test
images keeps peak RSS < 1 GiB and no file takes > 5 s, and loading raises nothing but
``ImageLoadError``. Pillow's test images ship in its sdist (``Tests/images``, about 800
files of every format, mode and damage Pillow's own tests use); ``--images auto``
downloads it with ``pip download --no-deps --no-binary :all: pillow`` into a temporary
folder and extracts only that folder (nothing is kept); ``--images DIR`` uses a folder.
Unless ``--no-crafted``, the crafted corpus of ``hostile_inputs.py`` joins them (thin,
huge, bomb, sparse, multi-frame and special files: a FIFO, a socket, ``/dev/zero``).

Dimensions: ``hash``; ``style`` on ``../shared/models/mobilenetv2/mobilenetv2_multi.onnx``;
``semantic`` and ``instance`` on the real CLIP ViT-B/32 and DINOv2-small architectures
with random weights (``_vit_graphs.py``; same shapes and cost as the real files, which
this machine cannot download); ``face`` with the shared UltraFace detector and dlib's
embedder. A dimension whose files are missing is left out (said in the output).

Three passes, each in a fresh process: ``embed`` of each file alone (per-file wall time
and outcome), ``embed_many`` of all files, and ``dedup`` of all files. ``peak RSS`` is
the process's resident high-water mark (VmHWM) after the prism is built and warmed (the
mark is reset through ``/proc/self/clear_refs``): interpreter, models and all. The
warm-up is the pass's own kind of call, since a single ``embed`` and batch calls run
separate ONNX Runtime sessions (every core, or a share of them each).

    python benchmarks/pillow_test_images.py --images auto
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
STYLE = SHARED / "models/mobilenetv2/mobilenetv2_multi.onnx"
ULTRAFACE = SHARED / "models/ultraface/version-RFB-320.onnx"
GOAL_RSS_MIB, GOAL_SECONDS = 1024, 5.0

CHILD = r"""
import json, sys, time, warnings
from pathlib import Path
warnings.simplefilter("ignore")
args = json.loads(sys.argv[1])
from PIL import Image
from imageprism import ImagePrism, ImageLoadError
prism = ImagePrism(list(args["config"]), config=args["config"], cache_size=0, **args["options"])
warm = Path(args["tmp"]) / "warm.png"
Image.new("RGB", (64, 48), "grey").save(warm)
# warmed by the pass's own kind of call: a single embed and batch calls use
# different ONNX Runtime sessions (every core, or a share of them)
prism.embed(warm) if args["mode"] == "embed" else prism.embed_many([warm])
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
files = args["files"]
result = {"outcomes": {}, "times": [], "other": []}
start = time.perf_counter()
if args["mode"] == "embed":
    for name in files:
        t = time.perf_counter()
        try:
            prism.embed(name)
            outcome = "embedded"
        except ImageLoadError:
            outcome = "ImageLoadError"
        except Exception as err:
            outcome = type(err).__name__
            result["other"].append([name, outcome, str(err)[:200]])
        result["times"].append([time.perf_counter() - t, name])
        result["outcomes"][outcome] = result["outcomes"].get(outcome, 0) + 1
elif args["mode"] == "embed_many":
    out = prism.embed_many(files).embeddings
    good = sum(e is not None for e in out)
    result["outcomes"] = {"embedded": good, "failed": len(files) - good}
else:
    d = prism.dedup(files, threshold=0.9)
    result["outcomes"] = {"unique": len(d.unique), "groups": len(d.groups), "failed": len(d.errors)}
result["seconds"] = time.perf_counter() - start
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        result["peak_mib"] = int(line.split()[1]) / 1024
print("RESULT " + json.dumps(result))
"""


def _pillow_images(folder: Path) -> Path:
    """Download Pillow's sdist and extract its Tests/images into ``folder``."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            "-d",
            str(folder),
            "pillow",
        ],
        check=True,
    )
    (sdist,) = folder.glob("pillow-*.tar.gz")
    with tarfile.open(sdist) as archive:
        members = [m for m in archive.getmembers() if "/Tests/images/" in m.name and m.isfile()]
        archive.extractall(folder, members=members, filter="data")
    (images,) = folder.glob("pillow-*/Tests/images")
    return images


def _config(tmp: Path) -> tuple[dict[str, dict[str, object]], list[str]]:
    config: dict[str, dict[str, object]] = {"hash": {}}
    missing = []
    if STYLE.is_file():
        config["style"] = {"model_path": str(STYLE)}
    else:
        missing.append(f"style ({STYLE} absent)")
    sys.path.insert(0, str(Path(__file__).parent))
    from _vit_graphs import saved_graph

    for dimension, graph in (("semantic", "clip-vit-b32"), ("instance", "dinov2-small")):
        path, _ = saved_graph(graph, tmp / "graphs")
        config[dimension] = {"model_path": str(path)}
    if ULTRAFACE.is_file():
        config["face"] = {"detector_path": str(ULTRAFACE), "embedder": "dlib"}
    else:
        missing.append(f"face ({ULTRAFACE} absent)")
    return config, missing


def _run(
    mode: str, files: list[str], config: dict, tmp: Path, timeout: float, options: dict
) -> dict:
    payload = json.dumps(
        {"mode": mode, "files": files, "config": config, "tmp": str(tmp), "options": options}
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, payload],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"killed after {timeout:.0f} s"}
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line[7:]))
    return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default="auto", help="a Tests/images folder, or 'auto'")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per pass")
    parser.add_argument("--dimensions", help="comma-separated subset (default: every one)")
    parser.add_argument(
        "--passes", default="embed,embed_many,dedup", help="comma-separated subset of passes"
    )
    parser.add_argument("--batch-memory", type=int, help="ImagePrism(batch_memory=BYTES)")
    parser.add_argument(
        "--crafted",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="add hostile_inputs.py's crafted files (default: yes)",
    )
    args = parser.parse_args()
    options = {"batch_memory": args.batch_memory} if args.batch_memory else {}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        images = _pillow_images(tmp) if args.images == "auto" else Path(args.images)
        files = sorted(str(p) for p in images.rglob("*") if p.is_file())
        if args.crafted:
            from hostile_inputs import build

            crafted = {path for _, _, paths in build(tmp / "crafted") for path in paths}
            files += sorted(crafted)
        config, missing = _config(tmp)
        if args.dimensions:
            config = {k: v for k, v in config.items() if k in args.dimensions.split(",")}
        print(f"{len(files)} files from {images}; dimensions: {', '.join(config)}")
        if args.crafted:
            print(f"of them {len(crafted)} crafted by hostile_inputs.py")
        for item in missing:
            print(f"left out: {item}")
        rows, ok = [], True
        for mode in args.passes.split(","):
            result = _run(mode, files, config, tmp, args.timeout, options)
            if "error" in result:
                rows.append((mode, "-", "-", result["error"]))
                ok = False
                continue
            fine = result["peak_mib"] < GOAL_RSS_MIB and not result.get("other")
            ok = ok and fine
            rows.append(
                (
                    mode,
                    f"{result['peak_mib']:.0f} MiB",
                    f"{result['seconds']:.1f} s",
                    ", ".join(f"{k} {v}" for k, v in result["outcomes"].items()),
                )
            )
            if mode == "embed":
                slowest = sorted(result["times"], reverse=True)[:10]
                print("\nSlowest files (embed, every dimension):")
                for seconds, path in slowest:
                    print(f"  {seconds:6.2f} s  {Path(path).name}")
                ok = ok and (not slowest or slowest[0][0] <= GOAL_SECONDS)
                print("\nExceptions other than ImageLoadError:", len(result["other"]))
                for path, kind, message in result["other"]:
                    print(f"  {Path(path).name}: {kind}: {message}")
        print("\n| pass | peak RSS | time | outcome |\n|---|---:|---:|---|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        print(
            f"\nGoal (< {GOAL_RSS_MIB} MiB peak, no file > {GOAL_SECONDS:.0f} s, only "
            f"ImageLoadError): {'met' if ok else 'NOT met'}"
        )
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
