"""Hash embedding speed of imageprism against imagehash and the 0.1 hash path, on 1024x768 JPEGs.

What it measures, in one process and on the same files (every row includes reading the file,
decoding it and hashing it):

- ``imagehash``: per image, open the file with PIL, then ``imagehash.phash``,
  ``imagehash.dhash`` and ``imagehash.average_hash``.
- ``0.1 hash path``: the hash code of the published 0.1 release (``imageprism==0.1.0`` on
  PyPI, a pure-Python wheel whose package name is ours). The benchmark fetches it itself at
  run time, ``pip download --no-deps --only-binary=:all: imageprism==0.1.0`` into a temporary
  folder, or uses the wheel given with ``--v01-wheel PATH``. Only two files are loaded, read
  straight from the wheel (a zip), and 0.1's ``imageprism/__init__.py`` (which imports
  onnxruntime) is never imported: ``imageprism/types.py`` becomes the module
  ``imageprism01_types`` and ``imageprism/dimensions/hash.py`` is executed as
  ``imageprism01_hash``, unchanged apart from its import line
  ``from imageprism.types import HashConfig``, rewritten to
  ``from imageprism01_types import HashConfig``. Per image, as 0.1's ``ImagePrism.embed``
  did: ``Image.open(path)`` (0.1's ``_load_image``), then ``HashDimension().embed(image)``
  (one ``HashDimension`` per round), which decodes the full image and converts and resizes it
  once per hash. 0.1's ``embed`` also took a SHA-256 of the decoded pixels as its cache key;
  that is left out, so this row is if anything faster than 0.1 was. When the wheel cannot be
  fetched (no network), a note says so and the row is skipped.
- ``imageprism embed``: a fresh ``ImagePrism()`` per round (so its cache cannot help),
  calling ``embed(path)`` for each image (pHash + dHash + aHash).
- ``imageprism embed_many``: a fresh ``ImagePrism()`` per round, one ``embed_many(paths)``
  call on the whole list, with the default number of threads (shown in the row's name: 2 on
  machines with 2 or more cores).
- ``imageprism embed, flip...``: as ``imageprism embed``, with
  ``ImagePrism(config={"hash": HashConfig(flip=True, windows=...)})``: the cost of the flip
  and crop (centred window) options, for windows ``(1.0,)``, ``(1.0, 0.5)`` and
  ``(1.0, 0.7, 0.5)``.

A second table gives the scaling of ``embed_many`` from 1 to 2 threads, each row a fresh
prism per round and the whole list: ``ImagePrism(threads=1).embed_many(paths)``;
``ImagePrism(threads=2).embed_many(paths)`` (the library's option: chunks of ``batch_size``
images, 32, decoded and hashed in parallel threads); and, as a cross-check done without the
option, two Python threads (``concurrent.futures.ThreadPoolExecutor``), each with its own
``ImagePrism(threads=1)`` and one ``embed_many`` call on its half of the list. The option
splits the work by chunks of ``batch_size`` images, so it needs more than 32 images (the
default ``--count`` of 64 makes two equal chunks).

The images are the first ``--count`` images of a folder (default ``../shared/data/photos``
relative to the repository root), each resized to 1024x768 with LANCZOS and saved as JPEG
quality 90 into a temporary directory. After one warm-up pass per table (printed, not
counted), every method of a table is timed over all images ``--repeats`` times, the methods
interleaved within each round (their order rotating from round to round); the tables report
the median. ``vs imagehash`` and ``vs 0.1`` are throughput ratios against those rows.

Run from the repository root::

    .venv/bin/python benchmarks/speed.py [FOLDER] [--count 64] [--repeats 5] [--v01-wheel PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path
from types import ModuleType

import imagehash
from _common import positive_int
from PIL import Image

from imageprism import HashConfig, ImagePrism
from imageprism.results import EmbeddingBatch

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FOLDER = REPO_ROOT.parent / "shared" / "data" / "photos"
SIZE = (1024, 768)
JPEG_QUALITY = 90
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
BASELINE = "imagehash"
V01 = "0.1 hash path"

V01_REQUIREMENT = "imageprism==0.1.0"
V01_TYPES_PATH = "imageprism/types.py"
V01_HASH_PATH = "imageprism/dimensions/hash.py"
V01_IMPORT = "from imageprism.types import HashConfig"
V01_TYPES_MODULE = "imageprism01_types"
V01_HASH_MODULE = "imageprism01_hash"

Method = Callable[[Sequence[Path]], None]


# -- the 0.1 hash code, from the published wheel ---------------------------------------------


def download_v01(dest: Path) -> tuple[Path | None, str]:
    """Fetch the 0.1 wheel from PyPI into ``dest``: its path, or None and why not."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--retries",
        "1",
        "--timeout",
        "15",
        V01_REQUIREMENT,
        "-d",
        str(dest),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return None, f"{type(err).__name__}: {err}"
    wheels = sorted(dest.glob("imageprism-0.1.0-*.whl"))
    if done.returncode != 0 or not wheels:
        lines = (done.stderr or done.stdout).strip().splitlines()
        return None, lines[-1] if lines else f"pip exited with status {done.returncode}"
    return wheels[0], ""


def _module(name: str, source: str, filename: str) -> ModuleType:
    """Execute ``source`` as a new module ``name``, registered in ``sys.modules``."""
    module = ModuleType(name)
    module.__file__ = filename
    sys.modules[name] = module
    exec(compile(source, filename, "exec"), module.__dict__)
    return module


def load_v01_hash_dimension(wheel: Path) -> type:
    """0.1's ``HashDimension``, from its two source files in ``wheel``, under other names.

    ``types.py`` becomes ``imageprism01_types``; ``dimensions/hash.py`` runs unchanged apart
    from its import of ``HashConfig``, which is pointed at that module.
    """
    with zipfile.ZipFile(wheel) as archive:
        types_source = archive.read(V01_TYPES_PATH).decode()
        hash_source = archive.read(V01_HASH_PATH).decode()
    if hash_source.count(V01_IMPORT) != 1:
        raise RuntimeError(f"{wheel.name}: {V01_HASH_PATH} does not contain {V01_IMPORT!r} once")
    _module(V01_TYPES_MODULE, types_source, f"{wheel.name}/{V01_TYPES_PATH}")
    hash_module = _module(
        V01_HASH_MODULE,
        hash_source.replace(V01_IMPORT, f"from {V01_TYPES_MODULE} import HashConfig"),
        f"{wheel.name}/{V01_HASH_PATH}",
    )
    return hash_module.HashDimension


# -- the methods -------------------------------------------------------------------------------


def hash_with_imagehash(paths: Sequence[Path]) -> None:
    """Open each file with PIL and compute imagehash's pHash, dHash and aHash."""
    for path in paths:
        with Image.open(path) as image:
            imagehash.phash(image)
            imagehash.dhash(image)
            imagehash.average_hash(image)


def v01_method(hash_dimension: type) -> Method:
    """The 0.1 path: ``Image.open`` (0.1's ``_load_image``) then 0.1's ``HashDimension.embed``."""

    def hash_with_v01(paths: Sequence[Path]) -> None:
        dimension = hash_dimension()
        for path in paths:
            with Image.open(path) as image:
                dimension.embed(image)

    return hash_with_v01


def prism_embed_method(config: HashConfig | None = None) -> Method:
    """A fresh ImagePrism (empty cache) with ``config`` for hash, ``embed`` once per path."""

    def hash_with_prism_embed(paths: Sequence[Path]) -> None:
        prism = ImagePrism() if config is None else ImagePrism(config={"hash": config})
        for path in paths:
            prism.embed(path)

    return hash_with_prism_embed


def check_batch(batch: EmbeddingBatch) -> None:
    """Fail loudly if ``embed_many`` reported a failed image."""
    if batch.errors:
        raise RuntimeError(f"embed_many failed on {batch.errors}")


def hash_with_prism_embed_many(paths: Sequence[Path]) -> None:
    """A fresh ImagePrism (empty cache), one ``embed_many`` call on all paths."""
    check_batch(ImagePrism().embed_many(paths))


def speed_methods(v01_hash_dimension: type | None) -> dict[str, Method]:
    """The rows of the main table, in order (without the 0.1 row when it is unavailable)."""
    methods: dict[str, Method] = {BASELINE: hash_with_imagehash}
    if v01_hash_dimension is not None:
        methods[V01] = v01_method(v01_hash_dimension)
    methods["imageprism embed (default: flip, windows (1.0, 0.7, 0.5))"] = prism_embed_method()
    methods[f"imageprism embed_many (default, threads={ImagePrism().threads})"] = (
        hash_with_prism_embed_many
    )
    methods["imageprism embed, 0.1-like: no flip, windows (1.0,)"] = prism_embed_method(
        HashConfig(flip=False, windows=(1.0,))
    )
    for flip, windows in ((True, (1.0,)), (True, (1.0, 0.5))):
        methods[f"imageprism embed, flip, windows {windows}"] = prism_embed_method(
            HashConfig(flip=flip, windows=windows)
        )
    return methods


# -- timing --------------------------------------------------------------------------------


def time_once(method: Method, paths: Sequence[Path]) -> float:
    """Seconds one call of ``method`` takes on all ``paths``."""
    start = time.perf_counter()
    method(paths)
    return time.perf_counter() - start


def warm_up(methods: dict[str, Method], paths: Sequence[Path]) -> str:
    """Run every method once; a line with their throughput (not counted)."""
    seconds = {name: time_once(method, paths) for name, method in methods.items()}
    return "warm-up (not counted): " + ", ".join(
        f"{name} {len(paths) / s:.1f} images/s" for name, s in seconds.items()
    )


def run_rounds(
    methods: dict[str, Method], paths: Sequence[Path], repeats: int
) -> dict[str, list[float]]:
    """Time every method ``repeats`` times, interleaved, the order rotating each round."""
    names = list(methods)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            seconds[name].append(time_once(methods[name], paths))
    return seconds


def medians_per_second(seconds: dict[str, list[float]], count: int) -> dict[str, float]:
    """Images per second of each method, from its median time."""
    return {name: count / statistics.median(times) for name, times in seconds.items()}


def speed_table(seconds: dict[str, list[float]], count: int) -> str:
    """The main table in markdown: throughput, time per image and ratios to the references."""
    rate = medians_per_second(seconds, count)
    lines = [
        "| method | images/s (median) | ms/image | vs imagehash | vs 0.1 |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, images_per_second in rate.items():
        vs_v01 = f"{images_per_second / rate[V01]:.2f}x" if V01 in rate else "n/a"
        lines.append(
            f"| {name} | {images_per_second:.1f} | {1000 / images_per_second:.2f} "
            f"| {images_per_second / rate[BASELINE]:.2f}x | {vs_v01} |"
        )
    return "\n".join(lines)


def thread_scaling(paths: Sequence[Path], repeats: int) -> tuple[str, str]:
    """``embed_many`` with 1 and 2 threads: the warm-up line and the markdown table.

    ``threads=N`` is the library's option; the last row gets two threads without it, the
    list split in two halves, each embedded by its own ``ImagePrism(threads=1)`` in its own
    Python thread.
    """

    def with_option(threads: int) -> Method:
        def run(paths: Sequence[Path]) -> None:
            check_batch(ImagePrism(threads=threads).embed_many(paths))

        return run

    def two_halves(paths: Sequence[Path]) -> None:
        middle = -(-len(paths) // 2)
        with ThreadPoolExecutor(max_workers=2) as pool:
            halves = (paths[:middle], paths[middle:])
            for batch in pool.map(lambda half: ImagePrism(threads=1).embed_many(half), halves):
                check_batch(batch)

    single = "threads=1"
    methods = {
        single: with_option(1),
        "threads=2": with_option(2),
        "2 Python threads, a half each (threads=1 prisms)": two_halves,
    }
    warmup = warm_up(methods, paths)
    rate = medians_per_second(run_rounds(methods, paths, repeats), len(paths))
    lines = [
        "| embed_many | images/s (median) | ms/image | vs threads=1 |",
        "|---|---:|---:|---:|",
    ]
    for name, images_per_second in rate.items():
        lines.append(
            f"| {name} | {images_per_second:.1f} | {1000 / images_per_second:.2f} "
            f"| {images_per_second / rate[single]:.2f}x |"
        )
    return warmup, "\n".join(lines)


# -- inputs and command line ---------------------------------------------------------------


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


def reproduce_command(folder: Path | None, count: int, repeats: int, v01_wheel: Path | None) -> str:
    """The command line (from the repository root) that reruns this benchmark."""
    python = Path(sys.executable)
    if python.is_relative_to(REPO_ROOT):
        python = python.relative_to(REPO_ROOT)
    args = [str(python), "benchmarks/speed.py"]
    if folder is not None:
        args.append(str(folder))
    args += ["--count", str(count), "--repeats", str(repeats)]
    if v01_wheel is not None:
        args += ["--v01-wheel", str(v01_wheel)]
    return shlex.join(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, build the inputs, run the benchmark and print the tables."""
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
    parser.add_argument(
        "--v01-wheel",
        type=Path,
        metavar="PATH",
        help=f"the {V01_REQUIREMENT} wheel to use instead of downloading it from PyPI",
    )
    args = parser.parse_args(argv)

    folder: Path = (args.folder or DEFAULT_FOLDER).resolve()
    if not folder.is_dir():
        if args.folder is None:
            parser.exit(
                2,
                f"error: the default image folder {folder} does not exist; "
                "pass a folder of images: python benchmarks/speed.py FOLDER\n",
            )
        parser.exit(2, f"error: {folder} is not a folder\n")
    if args.v01_wheel is not None and not args.v01_wheel.is_file():
        parser.exit(2, f"error: the 0.1 wheel {args.v01_wheel} does not exist\n")
    sources = source_images(folder, args.count)
    if not sources:
        parser.exit(2, f"error: no image files in {folder}\n")

    with tempfile.TemporaryDirectory(prefix="speed_") as tmp:
        wheel, why_not = args.v01_wheel, ""
        if wheel is None:
            wheel, why_not = download_v01(Path(tmp))
        v01_note = ""
        v01_hash_dimension = None
        if wheel is None:
            print(
                f"note: could not download {V01_REQUIREMENT} from PyPI ({why_not}); the "
                f"'{V01}' row is skipped (pass --v01-wheel PATH to use a local copy)"
            )
        else:
            v01_hash_dimension = load_v01_hash_dimension(wheel)
            sha = hashlib.sha256(wheel.read_bytes()).hexdigest()[:16]
            v01_note = f"; 0.1 hash code from {wheel.name} (sha256 {sha}...)"

        paths = make_inputs(sources, Path(tmp))
        count = len(paths)
        methods = speed_methods(v01_hash_dimension)
        print(warm_up(methods, paths))
        seconds = run_rounds(methods, paths, args.repeats)
        threads_warmup, threads_table = thread_scaling(paths, args.repeats)
        print(threads_warmup)

    print()
    print(speed_table(seconds, count))
    print()
    print(threads_table)
    print()
    command = reproduce_command(args.folder and folder, args.count, args.repeats, args.v01_wheel)
    print(
        f"Machine: {os.cpu_count()} CPUs ({platform.machine()}, Python "
        f"{platform.python_version()}, Pillow {version('pillow')}, NumPy {version('numpy')}, "
        f"imagehash {version('imagehash')}); {count} images, {SIZE[0]}x{SIZE[1]} JPEG "
        f"quality {JPEG_QUALITY}; median of {args.repeats} rounds{v01_note}. Reproduce (from "
        f"the repository root): `{command}`"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
