"""Face verification on the labelled pairs of ../shared/data/faces: AUC, accuracy, TAR at FAR 1%.

What it measures, in one process:

- The pairs are the rows of ``master.csv`` in the faces folder (default
  ``../shared/data/faces`` relative to the repository root), ``file_x,file_y,Decision`` with
  ``Yes`` for the same person. Every photo named in them is embedded once per configuration.
- A configuration is a detector and an embedder: each detector of ``ultraface`` and
  ``yunet`` whose model file exists (default ``../shared/models/ultraface/version-RFB-320.onnx``
  and ``../shared/models/yunet/face_detection_yunet_2026may.onnx``; the YuNet file is a
  copy for testing, not the OpenCV zoo release), with the ``dlib`` embedder
  (``pip install "imageprism-face[dlib]"``; its rows are left out, with a note, when it is
  not installed) and, given ``--embed-path X.onnx``, the ``onnx`` embedder with that file.
  The default ArcFace embedder has no verified pin and cannot be used here.
- Embedding is the library's own path, ``ImagePrism(["face"], config={"face":
  FaceConfig(detector=..., detector_path=..., embedder=...)}).embed_many(paths)``: the
  largest face of each photo decoded at a shorter side of at least 640, its embedding
  L2-normalised. A pair is scored by the cosine of its two embeddings. A pair where a side
  has no face (or failed) is a miss: the table counts them, and they score 0.
- ``AUC`` is the rank-based area under the ROC curve (Mann-Whitney, ties counted half).
  ``accuracy`` is the best accuracy of the rule ``cosine >= threshold`` over every
  threshold between two observed scores, with that threshold (the midpoint; the lowest
  one on a tie). ``TAR @ FAR 1%`` is the share of same-person pairs scoring above the 99th
  percentile of the different-person scores (NumPy's linear interpolation), with that
  threshold and the false accept rate it gives.
- ``detect ms/image`` times the detector alone (``dimension.detector.detect``) on each
  photo's decoded pixels (the array the face dimension detects on), after one warm-up
  pass: the median over ``--repeats`` rounds of a round's total time, per image.
  ``embed_many ms/image`` is the wall time of the ``embed_many`` call above (reading,
  decoding, detection, alignment, embedding; ``threads`` as shown), per image.

Run from the repository root::

    .venv/bin/python benchmarks/face_verification.py [FACES] [--ultraface PATH] [--yunet PATH]
        [--embed-path X.onnx] [--repeats 3]
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
from _common import positive_int

from imageprism import ImagePrism
from imageprism.io.images import prepare
from imageprism_face import FaceConfig
from imageprism_face.dimension import DETECTION_SIDE

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
DEFAULT_FACES = SHARED / "data" / "faces"
DEFAULT_DETECTORS = {
    "ultraface": SHARED / "models" / "ultraface" / "version-RFB-320.onnx",
    "yunet": SHARED / "models" / "yunet" / "face_detection_yunet_2026may.onnx",
}
PAIRS_FILE = "master.csv"
FAR = 0.01


@dataclass(frozen=True)
class Pair:
    """Two photos of the faces folder and whether they show the same person."""

    a: str
    b: str
    same: bool


@dataclass(frozen=True)
class Row:
    """One configuration's results."""

    detector: str
    embedder: str
    no_face: int
    missed: int
    auc: float
    accuracy: float
    threshold: float
    tar: float
    tar_threshold: float
    far: float
    detect_ms: float
    embed_ms: float


# -- metrics ---------------------------------------------------------------------------------


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values``, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    ranks = np.empty(len(values), dtype=np.float64)
    start = 0
    while start < len(ordered):
        end = start
        while end + 1 < len(ordered) and ordered[end + 1] == ordered[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def auc(scores: np.ndarray, same: np.ndarray) -> float:
    """Rank-based ROC AUC: the chance a same-person pair outscores a different one (ties 1/2)."""
    positives, negatives = int(same.sum()), int((~same).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    rank_sum = average_ranks(scores)[same].sum()
    return float((rank_sum - positives * (positives + 1) / 2) / (positives * negatives))


def best_accuracy(scores: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """The best accuracy of ``score >= t`` over thresholds between observed scores, and ``t``."""
    distinct = np.unique(scores)
    candidates = np.concatenate(
        [[distinct[0] - 1e-6], (distinct[:-1] + distinct[1:]) / 2, [distinct[-1] + 1e-6]]
    )
    accuracies = [float(((scores >= t) == same).mean()) for t in candidates]
    best = int(np.argmax(accuracies))
    return accuracies[best], float(candidates[best])


def tar_at_far(
    scores: np.ndarray, same: np.ndarray, far: float = FAR
) -> tuple[float, float, float]:
    """TAR above the different-person scores' ``1 - far`` quantile: (TAR, threshold, real FAR)."""
    negatives, positives = scores[~same], scores[same]
    threshold = float(np.percentile(negatives, 100 * (1 - far)))
    return (
        float((positives > threshold).mean()),
        threshold,
        float((negatives > threshold).mean()),
    )


# -- running a configuration -----------------------------------------------------------------


def read_pairs(csv_path: Path) -> list[Pair]:
    """The labelled pairs of ``master.csv``."""
    with csv_path.open(newline="") as handle:
        return [
            Pair(row["file_x"].strip(), row["file_y"].strip(), row["Decision"].strip() == "Yes")
            for row in csv.DictReader(handle)
        ]


def detection_ms(prism: ImagePrism, pixels: Sequence[np.ndarray], repeats: int) -> float:
    """Milliseconds per image of the prism's face detector alone (median round, one warm-up)."""
    detector = prism.dimension("face").detector  # type: ignore[attr-defined]
    for image in pixels:
        detector.detect(image)
    rounds = []
    for _ in range(repeats):
        start = time.perf_counter()
        for image in pixels:
            detector.detect(image)
        rounds.append(time.perf_counter() - start)
    return 1000 * statistics.median(rounds) / len(pixels)


def run_config(
    detector: str,
    embedder: str,
    config: FaceConfig,
    folder: Path,
    pairs: Sequence[Pair],
    pixels: Sequence[np.ndarray],
    repeats: int,
) -> Row:
    """Embed every photo once with ``config``, score the pairs, time the detector."""
    names = sorted({pair.a for pair in pairs} | {pair.b for pair in pairs})
    prism = ImagePrism(["face"], config={"face": config})
    start = time.perf_counter()
    batch = prism.embed_many([folder / name for name in names])
    embed_seconds = time.perf_counter() - start
    for failure in batch.errors:
        print(f"note: {detector} + {embedder}: {failure.source} failed: {failure.reason}")
    vectors = {
        name: None if found is None else found.get("face")
        for name, found in zip(names, batch.embeddings, strict=True)
    }
    scores, same, missed = [], [], 0
    for pair in pairs:
        a, b = vectors[pair.a], vectors[pair.b]
        if a is None or b is None:
            missed += 1
            scores.append(0.0)
        else:
            scores.append(float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))))
        same.append(pair.same)
    score_array, same_array = np.array(scores), np.array(same, dtype=bool)
    accuracy, threshold = best_accuracy(score_array, same_array)
    tar, tar_threshold, far = tar_at_far(score_array, same_array)
    return Row(
        detector=detector,
        embedder=embedder,
        no_face=sum(vector is None for vector in vectors.values()),
        missed=missed,
        auc=auc(score_array, same_array),
        accuracy=accuracy,
        threshold=threshold,
        tar=tar,
        tar_threshold=tar_threshold,
        far=far,
        detect_ms=detection_ms(prism, pixels, repeats),
        embed_ms=1000 * embed_seconds / len(names),
    )


def dlib_available() -> str:
    """Empty when the dlib embedder can be built, else why not."""
    from imageprism.errors import ImagePrismError

    try:
        from imageprism_face.embedders.dlib import DlibFaceEmbedder

        DlibFaceEmbedder(FaceConfig(embedder="dlib"))
    except ImagePrismError as err:
        return str(err)
    return ""


def table(rows: Sequence[Row], pair_count: int, image_count: int) -> str:
    """The results as a markdown table."""
    lines = [
        f"| detector | embedder | photos without a face (of {image_count}) "
        f"| pairs missed (of {pair_count}) | AUC | accuracy (threshold) "
        "| TAR @ FAR 1% (threshold, real FAR) | detect ms/image | embed_many ms/image |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.detector} | {row.embedder} | {row.no_face} | {row.missed} | {row.auc:.4f} "
            f"| {row.accuracy:.4f} ({row.threshold:.3f}) "
            f"| {row.tar:.4f} ({row.tar_threshold:.3f}, {row.far:.4f}) "
            f"| {row.detect_ms:.2f} | {row.embed_ms:.2f} |"
        )
    return "\n".join(lines)


def package_version(name: str) -> str:
    """The installed version of ``name``, or "not installed"."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def reproduce_command(args: argparse.Namespace) -> str:
    """The command line (from the repository root) that reruns this benchmark."""
    python = Path(sys.executable)
    if python.is_relative_to(REPO_ROOT):
        python = python.relative_to(REPO_ROOT)
    command = [str(python), "benchmarks/face_verification.py"]
    if args.faces is not None:
        command.append(str(args.faces))
    for option in ("ultraface", "yunet", "embed_path"):
        value = getattr(args, option)
        if value is not None:
            command += [f"--{option.replace('_', '-')}", str(value)]
    command += ["--repeats", str(args.repeats)]
    return shlex.join(command)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, embed the photos per configuration and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "faces",
        nargs="?",
        type=Path,
        help=f"folder of face photos with {PAIRS_FILE} (default: {DEFAULT_FACES})",
    )
    for name, default in DEFAULT_DETECTORS.items():
        parser.add_argument(
            f"--{name}",
            type=Path,
            metavar="PATH",
            help=f"the {name} ONNX file (default: {default})",
        )
    parser.add_argument(
        "--embed-path",
        type=Path,
        metavar="X.onnx",
        help="also score an ONNX face embedder (FaceConfig(embedder='onnx', embed_path=...))",
    )
    parser.add_argument(
        "--repeats", type=positive_int, default=3, help="timed detection rounds (default: 3)"
    )
    args = parser.parse_args(argv)

    folder: Path = (args.faces or DEFAULT_FACES).resolve()
    if not (folder / PAIRS_FILE).is_file():
        if args.faces is None:
            parser.exit(
                2,
                f"error: {folder / PAIRS_FILE} does not exist; this benchmark needs the shared "
                "data folder beside the repository (../shared, see its README.md), or pass a "
                f"folder of face photos with a {PAIRS_FILE}: "
                "python benchmarks/face_verification.py FACES\n",
            )
        parser.exit(2, f"error: {folder} has no {PAIRS_FILE}\n")
    pairs = read_pairs(folder / PAIRS_FILE)
    if not pairs or all(p.same for p in pairs) or not any(p.same for p in pairs):
        parser.exit(2, f"error: {folder / PAIRS_FILE} needs both same and different pairs\n")
    names = sorted({p.a for p in pairs} | {p.b for p in pairs})
    absent = [name for name in names if not (folder / name).is_file()]
    if absent:
        parser.exit(2, f"error: {PAIRS_FILE} names photos missing from {folder}: {absent[:5]}\n")
    if args.embed_path is not None and not args.embed_path.is_file():
        parser.exit(2, f"error: the embedder file {args.embed_path} does not exist\n")

    detectors: dict[str, Path] = {}
    for name, default in DEFAULT_DETECTORS.items():
        given = getattr(args, name)
        path = (given or default).resolve()
        if path.is_file():
            detectors[name] = path
        elif given is not None:
            parser.exit(2, f"error: the {name} file {path} does not exist\n")
        else:
            print(f"note: {path} not found; the {name} rows are skipped")
    if not detectors:
        parser.exit(2, f"error: no detector model file found under {SHARED / 'models'}\n")

    embedders: dict[str, dict[str, object]] = {}
    why_not = dlib_available()
    if why_not:
        print(f"note: {why_not}; the dlib rows are skipped")
    else:
        embedders["dlib"] = {"embedder": "dlib"}
    if args.embed_path is not None:
        embedders[f"onnx ({args.embed_path.name})"] = {
            "embedder": "onnx",
            "embed_path": args.embed_path.resolve(),
        }
    if not embedders:
        parser.exit(
            2, "error: no embedder to run: install imageprism-face[dlib] or pass --embed-path\n"
        )

    pixels = [prepare(folder / name).array(min_side=DETECTION_SIDE) for name in names]
    rows = []
    for detector, detector_path in detectors.items():
        for label, fields in embedders.items():
            config = FaceConfig(detector=detector, detector_path=detector_path, **fields)
            rows.append(run_config(detector, label, config, folder, pairs, pixels, args.repeats))

    same = sum(p.same for p in pairs)
    sizes = sorted({f"{image.shape[1]}x{image.shape[0]}" for image in pixels})
    print()
    print(table(rows, len(pairs), len(names)))
    print()
    print(
        f"Machine: {os.cpu_count()} CPUs ({platform.machine()}, Python "
        f"{platform.python_version()}, NumPy {version('numpy')}, onnxruntime "
        f"{package_version('onnxruntime')}, dlib-bin {package_version('dlib-bin')}, "
        f"face-recognition-models {package_version('face-recognition-models')}); "
        f"{len(pairs)} pairs ({same} same person, {len(pairs) - same} different) over "
        f"{len(names)} photos of {folder}; detection on the decoded pixels "
        f"({', '.join(sizes[:4])}{', ...' if len(sizes) > 4 else ''}), median of "
        f"{args.repeats} rounds; embed_many with threads={ImagePrism().threads}. Reproduce "
        f"(from the repository root): `{reproduce_command(args)}`"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
