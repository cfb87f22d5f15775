"""Hash embedding throughput of imageprism against imagehash, on 1024x768 JPEGs.

What it measures, in one process and on the same files:

- ``imagehash``: per image, open the file with PIL, then ``imagehash.phash``,
  ``imagehash.dhash`` and ``imagehash.average_hash`` (file open and decode included).
- ``imageprism embed``: a fresh ``ImagePrism()`` per round (so its cache cannot
  help), calling ``embed(path)`` for each image (pHash + dHash + aHash).
- ``imageprism embed_many``: a fresh ``ImagePrism()`` per round, one
  ``embed_many(paths)`` call on the whole list.

The images are the first ``--count`` images of a folder (default
``../shared/data/photos`` relative to the repository root), each resized to
1024x768 with LANCZOS and saved as JPEG quality 90 into a temporary directory.
After one warm-up pass (printed, not counted), every method is timed over all
images ``--repeats`` times, the methods interleaved within each round (their
order rotating from round to round); the table reports the median.

Run from the repository root::

    .venv/bin/python benchmarks/hash_speed.py [FOLDER] [--count 64] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import imagehash
from PIL import Image

from imageprism import ImagePrism

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FOLDER = REPO_ROOT.parent / "shared" / "data" / "photos"
SIZE = (1024, 768)
JPEG_QUALITY = 90
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
BASELINE = "imagehash"

Method = Callable[[Sequence[Path]], None]


def hash_with_imagehash(paths: Sequence[Path]) -> None:
    """Open each file with PIL and compute imagehash's pHash, dHash and aHash."""
    for path in paths:
        with Image.open(path) as image:
            imagehash.phash(image)
            imagehash.dhash(image)
            imagehash.average_hash(image)


def hash_with_prism_embed(paths: Sequence[Path]) -> None:
    """A fresh ImagePrism (empty cache), ``embed`` called once per path."""
    prism = ImagePrism()
    for path in paths:
        prism.embed(path)


def hash_with_prism_embed_many(paths: Sequence[Path]) -> None:
    """A fresh ImagePrism (empty cache), one ``embed_many`` call on all paths."""
    batch = ImagePrism().embed_many(paths)
    if batch.errors:
        raise RuntimeError(f"embed_many failed on {batch.errors}")


METHODS: dict[str, Method] = {
    BASELINE: hash_with_imagehash,
    "imageprism embed": hash_with_prism_embed,
    "imageprism embed_many": hash_with_prism_embed_many,
}


def source_images(folder: Path, count: int) -> list[Path]:
    """The first ``count`` image files of ``folder``, by name."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return files[:count]


def make_inputs(sources: Sequence[Path], out_dir: Path) -> list[Path]:
    """Resize each source to ``SIZE`` (LANCZOS) and save it as a JPEG in ``out_dir``."""
    paths = []
    for index, source in enumerate(sources):
        with Image.open(source) as image:
            resized = image.convert("RGB").resize(SIZE, Image.Resampling.LANCZOS)
        path = out_dir / f"{index:04d}_{source.stem}.jpg"
        resized.save(path, "JPEG", quality=JPEG_QUALITY)
        paths.append(path)
    return paths


def time_once(method: Method, paths: Sequence[Path]) -> float:
    """Seconds one call of ``method`` takes on all ``paths``."""
    start = time.perf_counter()
    method(paths)
    return time.perf_counter() - start


def run_rounds(paths: Sequence[Path], repeats: int) -> dict[str, list[float]]:
    """Time every method ``repeats`` times, interleaved, the order rotating each round."""
    names = list(METHODS)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            seconds[name].append(time_once(METHODS[name], paths))
    return seconds


def markdown_table(seconds: dict[str, list[float]], count: int) -> str:
    """The results as a markdown table, throughput from the median time of each method."""
    rate = {name: count / statistics.median(times) for name, times in seconds.items()}
    lines = [
        "| method | images/s (median) | ms/image | vs imagehash |",
        "|---|---:|---:|---:|",
    ]
    for name, images_per_second in rate.items():
        lines.append(
            f"| {name} | {images_per_second:.1f} | {1000 / images_per_second:.2f} "
            f"| {images_per_second / rate[BASELINE]:.2f}x |"
        )
    return "\n".join(lines)


def reproduce_command(folder: Path | None, count: int, repeats: int) -> str:
    """The command line (from the repository root) that reruns this benchmark."""
    python = Path(sys.executable)
    if python.is_relative_to(REPO_ROOT):
        python = python.relative_to(REPO_ROOT)
    args = [str(python), "benchmarks/hash_speed.py"]
    if folder is not None:
        args.append(str(folder))
    args += ["--count", str(count), "--repeats", str(repeats)]
    return shlex.join(args)


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, build the inputs, run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "folder",
        nargs="?",
        type=Path,
        help=f"folder of source images (default: {DEFAULT_FOLDER})",
    )
    parser.add_argument(
        "--count", type=positive_int, default=64, help="number of images (default: 64)"
    )
    parser.add_argument("--repeats", type=positive_int, default=5, help="timed rounds (default: 5)")
    args = parser.parse_args(argv)

    folder: Path = (args.folder or DEFAULT_FOLDER).resolve()
    if not folder.is_dir():
        if args.folder is None:
            parser.exit(
                2,
                f"error: the default image folder {folder} does not exist; "
                "pass a folder of images: python benchmarks/hash_speed.py FOLDER\n",
            )
        parser.exit(2, f"error: {folder} is not a folder\n")
    sources = source_images(folder, args.count)
    if not sources:
        parser.exit(2, f"error: no image files in {folder}\n")

    with tempfile.TemporaryDirectory(prefix="hash_speed_") as tmp:
        paths = make_inputs(sources, Path(tmp))
        count = len(paths)

        warmup = {name: time_once(method, paths) for name, method in METHODS.items()}
        print(
            "warm-up (not counted): "
            + ", ".join(f"{name} {count / s:.1f} images/s" for name, s in warmup.items())
        )
        seconds = run_rounds(paths, args.repeats)

    print()
    print(markdown_table(seconds, count))
    print()
    print(
        f"Machine: {os.cpu_count()} CPUs ({platform.machine()}, Python "
        f"{platform.python_version()}); {count} images, {SIZE[0]}x{SIZE[1]} JPEG "
        f"quality {JPEG_QUALITY}; median of {args.repeats} rounds. Reproduce (from the "
        f"repository root): `{reproduce_command(args.folder and folder, args.count, args.repeats)}`"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
