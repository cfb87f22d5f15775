"""Peak memory and time of ``embed_many`` / ``dedup`` on hostile inputs, before and after.

Run as ``python benchmarks/hostile_inputs.py`` from the repository root (with the three
packages importable). It writes a corpus of crafted files into a temporary folder (each
file small on disk, except the sparse one, which has no blocks): long thin strips
(1x20000, 1x5000, and 1x1000, the largest allowed), a 284-byte BLP declaring
1x83,886,338 RGBA, one-colour 9000x9000 RGB and RGBA PNGs, a 20000x20000 PNG bomb, a
GIF of 1,000 frames, a TIFF of 200 pages, a 4000x3000 CMYK JPEG and 16-bit grey PNG, a
sparse 3 GiB ``.jpg``, a FIFO, a socket and a link to ``/dev/zero`` named ``.jpg``, and
``/dev/zero`` itself; all of these in one ``embed_many`` call (issue 22 saw 21 GB and
an OOM kill there); and 24 one-colour 9000x9000 PNGs (6 MB in all) given to ``dedup``
at once.

Each row runs in a fresh Python process with an ``ImagePrism`` of every dimension at hand:
``hash`` and ``style`` (MobileNetV2 from ``--model``, by default the shared
``mobilenetv2_multi.onnx``; hash alone when the file is missing). The prism is built and
warmed on a small image first; then the process's peak resident set is reset (Linux
``/proc/self/clear_refs``) and the call runs. ``peak RSS`` is the process's resident
high-water mark during the call (VmHWM, absolute: the interpreter, NumPy, ONNX Runtime and
the model included); ``time`` is the call's wall time (for the 24-file row, also per
input). ``outcome`` says how many inputs were embedded and the first refusal's reason.

With ``--before REV`` (e.g. ``main``), every row also runs against the packages of that
git revision (exported with ``git archive`` into a temporary folder), side by side. A
process is killed when its resident set passes ``--memory-cap`` (default 3 GiB: the
old code took 4.2 GB on a 161-byte PNG and 7.6 GB on the 24 PNGs) or when it runs
longer than ``--cell-timeout`` seconds (default 30: the old code blocked forever on the
FIFO), plus 5 s per input of a batch; the table then says "killed".

Goal (issue 22): with the current code, every row below 1 GiB and no input over 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SRC = [ROOT / "imageprism-core/src", ROOT / "imageprism-models/src", ROOT / "imageprism-face/src"]
DEFAULT_MODEL = ROOT.parent / "shared/models/mobilenetv2/mobilenetv2_multi.onnx"

CHILD = r"""
import json, re, sys, time, io, warnings
from pathlib import Path
warnings.simplefilter("ignore")
args = json.loads(sys.argv[1])
from PIL import Image
from imageprism import ImagePrism

def kib(field):
    return int(re.search(field + r":\s+(\d+) kB", Path("/proc/self/status").read_text())[1])

config = {"style": {"model_path": args["model"]}} if args["model"] else None
prism = ImagePrism(["hash", "style"] if args["model"] else ["hash"], config=config, cache_size=0)
warm = io.BytesIO()
Image.new("RGB", (64, 48), (10, 20, 30)).save(warm, "PNG")
prism.embed_many([warm.getvalue()])
Path("/proc/self/clear_refs").write_text("5")
start = time.perf_counter()
if args["action"] == "dedup":
    result = prism.dedup(args["paths"])
else:
    result = prism.embed_many(args["paths"])
embedded = len(args["paths"]) - len(result.errors)
elapsed = time.perf_counter() - start
reason = result.errors[0].reason if result.errors else ""
print(json.dumps({"peak": kib("VmHWM") * 1024, "time": elapsed, "embedded": embedded,
                  "count": len(args["paths"]), "reason": reason}))
"""


def _png(width: int, height: int, depth: int, colour_type: int, row: bytes) -> bytes:
    """A PNG of ``height`` equal rows, compressed as a stream (a huge one is a small file)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    compressor = zlib.compressobj(9)
    line = b"\x00" + row
    block = line * max(1, (1 << 20) // len(line))
    per_block = len(block) // len(line)
    parts, left = [], height
    while left >= per_block:
        parts.append(compressor.compress(block))
        left -= per_block
    parts += [compressor.compress(line * left), compressor.flush()]
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", b"".join(parts))
        + chunk(b"IEND", b"")
    )


def _save(image: Image.Image, path: Path, **params: object) -> Path:
    image.save(path, **params)
    return path


def build(folder: Path) -> list[tuple[str, str, list[str]]]:
    """Write the corpus; returns rows of (name, action, paths)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str, list[str]]] = []

    def one(name: str, path: Path) -> None:
        rows.append((name, "embed_many", [str(path)]))

    for width, height in ((1, 20000), (1, 5000), (1, 1000)):
        path = folder / f"thin_{width}x{height}.png"
        path.write_bytes(_png(width, height, 8, 2, bytes(3)))
        one(f"thin PNG {width}x{height} ({path.stat().st_size} B)", path)
    blp = folder / "thin.blp"
    header = b"BLP2" + struct.pack("<iBBBB", 1, 1, 8, 0, 0) + struct.pack("<II", 1, 83_886_338)
    blp.write_bytes(header + bytes(284 - len(header)))
    one("BLP declaring 1x83,886,338 RGBA (284 B)", blp)
    rgb = folder / "huge_rgb.png"
    rgb.write_bytes(_png(9000, 9000, 8, 2, bytes(3 * 9000)))
    one(f"PNG 9000x9000 RGB, one colour ({rgb.stat().st_size // 1024} kB)", rgb)
    rgba = folder / "huge_rgba.png"
    rgba.write_bytes(_png(9000, 9000, 8, 6, b"\x10\x20\x30\x80" * 9000))
    one(f"PNG 9000x9000 RGBA, one colour ({rgba.stat().st_size // 1024} kB)", rgba)
    bomb = folder / "bomb.png"
    bomb.write_bytes(_png(20000, 20000, 1, 0, bytes(2500)))
    one("PNG bomb 20000x20000", bomb)
    frames = [Image.new("RGB", (64, 64), (i % 256, i // 256 * 60, 0)) for i in range(1000)]
    one(
        "GIF, 1,000 frames",
        _save(frames[0], folder / "frames.gif", save_all=True, append_images=frames[1:]),
    )
    pages = [Image.new("L", (256, 256), 10)] * 200
    one(
        "TIFF, 200 pages",
        _save(pages[0], folder / "pages.tiff", save_all=True, append_images=pages[1:]),
    )
    one(
        "JPEG 4000x3000 CMYK",
        _save(Image.new("CMYK", (4000, 3000), (10, 20, 30, 40)), folder / "cmyk.jpg"),
    )
    wide = Image.new("I;16", (4000, 3000), 30000)
    one("PNG 4000x3000 16-bit grey", _save(wide, folder / "grey16.png"))
    sparse = folder / "sparse.jpg"
    with sparse.open("wb") as file:
        Image.new("RGB", (8, 8)).save(file, "JPEG")
        file.truncate(3 * 2**30)
    one("sparse 3 GiB .jpg", sparse)
    fifo = folder / "fifo.jpg"
    os.mkfifo(fifo)
    one("FIFO named .jpg", fifo)
    sock = Path(tempfile.mkdtemp(prefix="ip-")) / "s.jpg"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(sock))
    one("socket named .jpg", sock)
    zero = folder / "zero.jpg"
    zero.symlink_to("/dev/zero")
    one("link to /dev/zero named .jpg", zero)
    one("/dev/zero", Path("/dev/zero"))
    everything = [path for _, _, paths in rows for path in paths]
    rows.append(
        (f"embed_many of the {len(everything)} inputs above at once", "embed_many", everything)
    )
    many = []
    for index in range(24):
        path = folder / f"many_{index:02}.png"
        path.write_bytes(_png(9000, 9000, 8, 2, bytes([index * 10, 0, 0]) * 9000))
        many.append(str(path))
    total = sum(Path(p).stat().st_size for p in many) // 2**20
    rows.append((f"dedup of 24 PNGs 9000x9000 ({total} MB)", "dedup", many))
    return rows


def run(
    pythonpath: list[Path],
    action: str,
    paths: list[str],
    model: str | None,
    cap: int,
    timeout: float,
) -> dict[str, object]:
    """One row in a fresh process, killed past ``cap`` bytes resident or ``timeout`` seconds."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, pythonpath))}
    argument = json.dumps({"action": action, "paths": paths, "model": model})
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD, argument],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    status = Path(f"/proc/{process.pid}/status")
    start = time.monotonic()
    killed = None
    while process.poll() is None:
        try:
            resident = int(re.search(r"VmRSS:\s+(\d+) kB", status.read_text())[1]) * 1024
        except (OSError, TypeError):
            resident = 0
        if resident > cap:
            killed = f"killed: over {cap / 2**30:.1f} GiB"
        elif time.monotonic() - start > timeout:
            killed = f"killed: over {timeout:.0f} s"
        if killed:
            process.kill()
            process.wait()
            break
        time.sleep(0.02)
    out, err = process.communicate()
    if killed:
        return {"killed": killed}
    if process.returncode != 0:
        return {"killed": f"exit {process.returncode}: {err.strip().splitlines()[-1][:80]}"}
    return json.loads(out.strip().splitlines()[-1])


def cell(result: dict[str, object]) -> tuple[str, str, str]:
    if "killed" in result:
        return (str(result["killed"]), "", "")
    peak = f"{int(result['peak']) / 2**20:,.0f} MiB"  # type: ignore[call-overload]
    seconds = float(result["time"])  # type: ignore[arg-type]
    count = int(result["count"])  # type: ignore[call-overload]
    timing = f"{seconds:.2f} s" + (f" ({seconds / count:.2f} s each)" if count > 1 else "")
    reason = str(result["reason"])
    outcome = f"{result['embedded']}/{count} embedded" + (f"; {reason[:70]}" if reason else "")
    return peak, timing, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", metavar="REV", help="also run the packages of this git rev")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--memory-cap", type=float, default=3.0, help="GiB (default 3)")
    parser.add_argument("--cell-timeout", type=float, default=30.0, help="seconds (default 30)")
    parser.add_argument("--only", help="run only the rows whose name contains this")
    args = parser.parse_args()
    model = str(args.model) if args.model.is_file() else None
    if model is None:
        print(f"{args.model} is missing: hash alone", file=sys.stderr)
    cap = int(args.memory_cap * 2**30)
    with tempfile.TemporaryDirectory(prefix="imageprism-hostile-bench-") as tmp:
        folder = Path(tmp)
        rows = build(folder / "corpus")
        if args.only:
            rows = [row for row in rows if args.only in row[0]]
        trees = [("after", SRC)]
        if args.before:
            old = folder / "before"
            old.mkdir()
            archive = subprocess.run(
                [
                    "git",
                    "-C",
                    str(ROOT),
                    "archive",
                    args.before,
                    *(str(p.relative_to(ROOT)) for p in SRC),
                ],
                check=True,
                capture_output=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
            trees.insert(0, (f"before ({args.before})", [old / p.relative_to(ROOT) for p in SRC]))
        dims = "hash + style" if model else "hash"
        print(
            f"| input ({dims}) | "
            + " | ".join(
                f"{label}: peak RSS | {label}: time | {label}: outcome" for label, _ in trees
            )
            + " |"
        )
        print("|---" * (1 + 3 * len(trees)) + "|")
        for name, action, paths in rows:
            cells = []
            for _, tree in trees:
                limit = args.cell_timeout + 5 * len(paths)  # 5 s an input more for a batch
                cells += cell(run(tree, action, paths, model, cap, limit))
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
