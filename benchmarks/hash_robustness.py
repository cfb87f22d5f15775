"""Robustness of hash configurations (imageprism, imagehash) to 15 edits of photos.

What it measures: for each photo and each of the 15 transforms below, how well
a hash method separates *positives* (a photo and an edited copy of it) from
*negatives* (pairs of different photos), as a per-transform ROC AUC and as the
accuracy at one global threshold, the methods side by side in one run.

Transforms (fixed; applied to the RGB photo after the downscale described below):

| name | edit |
|---|---|
| jpeg_q90 | re-encoded as JPEG, quality 90 (Pillow, default 4:2:0 subsampling) |
| jpeg_q50 | re-encoded as JPEG, quality 50 |
| jpeg_q20 | re-encoded as JPEG, quality 20 |
| resize_0.5 | resized to 0.5x width and height (LANCZOS), kept at that size |
| resize_0.25 | resized to 0.25x (LANCZOS), kept at that size |
| resize_2.0 | resized to 2x (LANCZOS), kept at that size |
| crop_10 | centred crop removing 10% of the width and 10% of the height (5% per side) |
| crop_25 | centred crop removing 25% of the width and height (12.5% per side) |
| centre_crop_50 | the central 50% of the width and height (25% off each side) |
| rotate_3deg | 3 degrees counter-clockwise, bicubic, same size (expand=False), black corners |
| blur_r2 | Gaussian blur, radius 2 (Pillow ``GaussianBlur``) |
| noise_s10 | Gaussian noise, sigma 10 on 0..255, per channel, clipped; seeded per photo |
| hflip | mirrored left to right |
| brightness_1.3 | ``ImageEnhance.Brightness`` factor 1.3 |
| contrast_0.7 | ``ImageEnhance.Contrast`` factor 0.7 |

Pairs and metrics:

- Positives: (photo i, transform t of photo i), one per photo and transform.
- ``--negatives transformed`` (default, the held-out protocol of the hash
  goals): for each transform t and photo i, ``--negatives-per-photo`` pairs
  (photo i, transform t of photo j), j != i drawn at random (seeded per
  transform), so every transform has its own negatives.
- ``--negatives pairs`` (the 0.1 protocol): negatives are all pairs
  (photo i, photo j), i < j, of unedited photos, shared by every transform.
- AUC: rank-based (Mann-Whitney), ties between a positive and a negative
  count half; per transform its positives against its negatives (or against
  the shared negatives), and "overall" all positives against all negatives.
- Accuracy: a pair matches when its score is >= the threshold; one global
  threshold per method, chosen to maximise the overall balanced accuracy
  (mean of the true-positive and true-negative rates, which is plain accuracy
  when there are as many negatives as positives; ties go to the lowest
  threshold). Per transform: the balanced accuracy of its positives and
  negatives at that threshold.
- Calibration: per method, the mean and 99th percentile of the negatives'
  scores, and the lowest threshold at which at most 1% of negatives match,
  with the fraction of positives matched there.

Methods: imageprism's ``HashDimension`` with each ``--config NAME=JSON`` (a
``HashConfig``; the default set is ``0.1-like`` (no flip, whole image only),
``flip``, ``flip+windows`` (windows 1.0 and 0.5) and ``default``, i.e.
``HashConfig()`` (flip, windows 1.0, 0.7 and 0.5); any ``--config`` replaces
the whole set), embedding
``prepare(pil_image)`` and scoring with its own ``similarity``; and imagehash's
``phash``, ``dhash`` and ``average_hash`` (8x8, score = 1 - hamming/64) and
their mean. Every image is embedded once per imageprism config and once for all
the imagehash methods.

Data: the first ``--count`` images (sorted by name) of FOLDER (default
``../shared/data/photos`` relative to the repository root), or with
``--heldout`` held-out photos (none from ``../shared/data/photos``): every photo of
``../shared/data/faces`` except ``img11_reflection.jpg`` (a mirror copy of
``img11.jpg``, so a negative pair with it would be a true match), and
scikit-image's bundled natural colour photos found in its ``data`` folder:
astronaut, chelsea, coffee, hubble_deep_field, motorcycle_left, retina, rocket
(``motorcycle_right`` is left out: it is the other half of a stereo pair with
``motorcycle_left``). Images are read with PIL, EXIF orientation applied,
converted to RGB, and downscaled (LANCZOS) to 640 px on the long side when
larger.

Run from the repository root::

    .venv/bin/python benchmarks/hash_robustness.py [FOLDER | --heldout] [--count 200]
        [--negatives {transformed,pairs}] [--negatives-per-photo 1] [--config NAME=JSON ...]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import io
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import imagehash
import numpy as np
from _common import positive_int
from PIL import Image, ImageEnhance, ImageFilter, ImageOps
from pydantic import ValidationError

from imageprism import HashConfig, prepare
from imageprism.builtins.hash import HashDimension

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FOLDER = REPO_ROOT.parent / "shared" / "data" / "photos"
FACES_FOLDER = REPO_ROOT.parent / "shared" / "data" / "faces"
HELDOUT_EXCLUDED = frozenset({"img11_reflection.jpg"})  # mirror copy of img11.jpg
SKIMAGE_PHOTOS = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "hubble_deep_field.jpg",
    "motorcycle_left.png",
    "retina.jpg",
    "rocket.jpg",
)
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
MAX_SIDE = 640
SEED = 20240601
FALSE_MATCH_RATE = 0.01
DEFAULT_CONFIGS = {
    "0.1-like": '{"flip": false, "windows": [1.0]}',
    "flip": '{"flip": true, "windows": [1.0]}',
    "flip+windows": '{"flip": true, "windows": [1.0, 0.5]}',
    "default (flip+windows3)": "{}",
}
# Goals of the new hash (held-out photos, transformed negatives): per-transform AUC floors.
GOAL_OVERALL = 0.99
GOAL_FLOORS = {"hflip": 0.95, "centre_crop_50": 0.90}
GOAL_OTHER = 0.99
ORIGINAL = "original"


# --- transforms ---------------------------------------------------------------------------


def _jpeg(quality: int) -> Callable[[Image.Image, int], Image.Image]:
    def transform(image: Image.Image, seed: int) -> Image.Image:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality)
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            return decoded.convert("RGB")

    return transform


def _resize(factor: float) -> Callable[[Image.Image, int], Image.Image]:
    def transform(image: Image.Image, seed: int) -> Image.Image:
        width, height = image.size
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        return image.resize(size, Image.Resampling.LANCZOS)

    return transform


def _centre_crop(removed: float) -> Callable[[Image.Image, int], Image.Image]:
    """Remove ``removed`` of the width and of the height, half on each side."""

    def transform(image: Image.Image, seed: int) -> Image.Image:
        width, height = image.size
        left, top = round(width * removed / 2), round(height * removed / 2)
        return image.crop((left, top, width - left, height - top))

    return transform


def _rotate(image: Image.Image, seed: int) -> Image.Image:
    return image.rotate(3, resample=Image.Resampling.BICUBIC, expand=False)


def _blur(image: Image.Image, seed: int) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(radius=2))


def _noise(image: Image.Image, seed: int) -> Image.Image:
    rng = np.random.default_rng([SEED, seed])
    pixels = np.asarray(image, dtype=np.float64)
    noisy = pixels + rng.normal(0.0, 10.0, size=pixels.shape)
    return Image.fromarray(np.rint(np.clip(noisy, 0, 255)).astype(np.uint8), "RGB")


def _hflip(image: Image.Image, seed: int) -> Image.Image:
    return ImageOps.mirror(image)


def _brightness(image: Image.Image, seed: int) -> Image.Image:
    return ImageEnhance.Brightness(image).enhance(1.3)


def _contrast(image: Image.Image, seed: int) -> Image.Image:
    return ImageEnhance.Contrast(image).enhance(0.7)


TRANSFORMS: dict[str, Callable[[Image.Image, int], Image.Image]] = {
    "jpeg_q90": _jpeg(90),
    "jpeg_q50": _jpeg(50),
    "jpeg_q20": _jpeg(20),
    "resize_0.5": _resize(0.5),
    "resize_0.25": _resize(0.25),
    "resize_2.0": _resize(2.0),
    "crop_10": _centre_crop(0.10),
    "crop_25": _centre_crop(0.25),
    "centre_crop_50": _centre_crop(0.50),
    "rotate_3deg": _rotate,
    "blur_r2": _blur,
    "noise_s10": _noise,
    "hflip": _hflip,
    "brightness_1.3": _brightness,
    "contrast_0.7": _contrast,
}


# --- methods ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Method:
    """A named way to score a pair: ``score(a, b)`` on embeddings from ``embedder``."""

    name: str
    embedder: str
    score: Callable[[np.ndarray, np.ndarray], float]


def imagehash_bits(image: Image.Image) -> np.ndarray:
    """imagehash's pHash, dHash and aHash (8x8) of one image, as a 3x64 bool array."""
    hashes = (imagehash.phash(image), imagehash.dhash(image), imagehash.average_hash(image))
    return np.stack([h.hash.ravel() for h in hashes])


def _imagehash_score(rows: slice) -> Callable[[np.ndarray, np.ndarray], float]:
    def score(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.mean(1.0 - (a[rows] != b[rows]).sum(axis=1) / a.shape[1]))

    return score


IMAGEHASH_METHODS = (
    Method("imagehash phash", "imagehash", _imagehash_score(slice(0, 1))),
    Method("imagehash dhash", "imagehash", _imagehash_score(slice(1, 2))),
    Method("imagehash average_hash", "imagehash", _imagehash_score(slice(2, 3))),
    Method("imagehash mean", "imagehash", _imagehash_score(slice(0, 3))),
)


def build_methods(
    configs: dict[str, HashConfig],
) -> tuple[dict[str, Callable[[Image.Image], np.ndarray]], list[Method]]:
    """The embedders (by name) and the methods scoring their embeddings."""
    embedders: dict[str, Callable[[Image.Image], np.ndarray]] = {"imagehash": imagehash_bits}
    methods: list[Method] = []
    for name, config in configs.items():
        dimension = HashDimension(config)
        embedders[name] = lambda image, dimension=dimension: dimension.embed(prepare(image))
        methods.append(Method(name, name, dimension.similarity))
    methods.extend(IMAGEHASH_METHODS)
    return embedders, methods


# --- data ---------------------------------------------------------------------------------


def load_photo(path: Path) -> Image.Image:
    """The photo as RGB, EXIF orientation applied, at most ``MAX_SIDE`` px on its long side."""
    with Image.open(path) as image:
        photo = ImageOps.exif_transpose(image).convert("RGB")
    if max(photo.size) > MAX_SIDE:
        scale = MAX_SIDE / max(photo.size)
        size = (max(1, round(photo.width * scale)), max(1, round(photo.height * scale)))
        photo = photo.resize(size, Image.Resampling.LANCZOS)
    return photo


def folder_images(folder: Path) -> list[Path]:
    """The image files of ``folder``, by name."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def heldout_images() -> list[Path]:
    """The held-out photos: the faces folder (minus exclusions) and scikit-image's photos."""
    faces = [p for p in folder_images(FACES_FOLDER) if p.name not in HELDOUT_EXCLUDED]
    spec = importlib.util.find_spec("skimage")
    skimage_photos: list[Path] = []
    if spec is not None and spec.submodule_search_locations:
        data = Path(next(iter(spec.submodule_search_locations))) / "data"
        skimage_photos = [data / name for name in SKIMAGE_PHOTOS if (data / name).is_file()]
    return faces + skimage_photos


def embed_all(
    paths: Sequence[Path], embedders: dict[str, Callable[[Image.Image], np.ndarray]]
) -> dict[str, dict[tuple[int, str], np.ndarray]]:
    """Embeddings of every photo and every transform of it, per embedder, keyed (photo, variant).

    One photo at a time, so only one photo's variants are ever in memory.
    """
    cache: dict[str, dict[tuple[int, str], np.ndarray]] = {name: {} for name in embedders}
    for index, path in enumerate(paths):
        photo = load_photo(path)
        variants = {ORIGINAL: photo}
        variants.update({name: t(photo, index) for name, t in TRANSFORMS.items()})
        for variant, image in variants.items():
            for name, embed in embedders.items():
                cache[name][index, variant] = embed(image)
        if (index + 1) % 25 == 0 or index + 1 == len(paths):
            print(f"  embedded {index + 1}/{len(paths)} photos", file=sys.stderr, flush=True)
    return cache


# --- pairs and metrics --------------------------------------------------------------------

Pair = tuple[tuple[int, str], tuple[int, str]]


def positive_pairs(count: int) -> dict[str, list[Pair]]:
    """Per transform: (photo i, transform of photo i) for every photo."""
    return {t: [((i, ORIGINAL), (i, t)) for i in range(count)] for t in TRANSFORMS}


def transformed_negatives(count: int, per_photo: int) -> dict[str, list[Pair]]:
    """Per transform t: (photo i, t of photo j) for ``per_photo`` random j != i per photo."""
    negatives: dict[str, list[Pair]] = {}
    for t_index, t in enumerate(TRANSFORMS):
        rng = np.random.default_rng([SEED, t_index])
        pairs: list[Pair] = []
        for i in range(count):
            others = rng.choice(count - 1, size=per_photo, replace=False)
            pairs.extend(((i, ORIGINAL), (int(j + (j >= i)), t)) for j in others)
        negatives[t] = pairs
    return negatives


def original_negatives(count: int) -> list[Pair]:
    """All pairs (photo i, photo j), i < j, of unedited photos."""
    return [((i, ORIGINAL), (j, ORIGINAL)) for i in range(count) for j in range(i + 1, count)]


def auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """ROC AUC: P(positive > negative) + P(tie) / 2, from ranks (no sklearn)."""
    ordered = np.sort(negatives)
    below = np.searchsorted(ordered, positives, side="left")
    not_above = np.searchsorted(ordered, positives, side="right")
    wins = below.sum() + 0.5 * (not_above - below).sum()
    return float(wins / (len(positives) * len(negatives)))


def match_counts(scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """How many of ``scores`` are >= each threshold."""
    return len(scores) - np.searchsorted(np.sort(scores), thresholds, side="left")


def best_threshold(positives: np.ndarray, negatives: np.ndarray) -> float:
    """The lowest threshold maximising balanced accuracy (match when score >= threshold)."""
    candidates = np.unique(np.concatenate([positives, negatives, [np.inf]]))
    true_positives = match_counts(positives, candidates)
    true_negatives = len(negatives) - match_counts(negatives, candidates)
    # balanced accuracy times 2PN, in integers so that equal accuracies tie exactly
    scaled = true_positives * len(negatives) + true_negatives * len(positives)
    return float(candidates[int(np.argmax(scaled))])


def balanced_accuracy(positives: np.ndarray, negatives: np.ndarray, threshold: float) -> float:
    """Mean of the true-positive and true-negative rates at ``threshold``."""
    return float(((positives >= threshold).mean() + (negatives < threshold).mean()) / 2)


def false_match_threshold(positives: np.ndarray, negatives: np.ndarray) -> float:
    """The lowest threshold at which at most ``FALSE_MATCH_RATE`` of negatives match."""
    candidates = np.unique(np.concatenate([positives, negatives, [np.inf]]))
    allowed = match_counts(negatives, candidates) <= FALSE_MATCH_RATE * len(negatives) + 1e-9
    return float(candidates[int(np.argmax(allowed))])


@dataclass
class Result:
    """Scores and metrics of one method."""

    positives: dict[str, np.ndarray]
    negatives: dict[str, np.ndarray]  # per transform (the same array for all in pairs mode)
    auc: dict[str, float]
    accuracy: dict[str, float]
    threshold: float
    pooled_negatives: np.ndarray
    pooled_positives: np.ndarray


def evaluate(
    method: Method,
    embeddings: dict[tuple[int, str], np.ndarray],
    positives: dict[str, list[Pair]],
    negatives: dict[str, list[Pair]] | list[Pair],
) -> Result:
    """Score every pair with ``method`` and compute its AUCs and accuracies."""

    def scores(pairs: Sequence[Pair]) -> np.ndarray:
        return np.array([method.score(embeddings[a], embeddings[b]) for a, b in pairs])

    pos = {t: scores(pairs) for t, pairs in positives.items()}
    if isinstance(negatives, dict):
        neg = {t: scores(pairs) for t, pairs in negatives.items()}
        pooled_neg = np.concatenate(list(neg.values()))
    else:
        pooled_neg = scores(negatives)
        neg = dict.fromkeys(TRANSFORMS, pooled_neg)
    pooled_pos = np.concatenate(list(pos.values()))
    threshold = best_threshold(pooled_pos, pooled_neg)
    aucs = {t: auc(pos[t], neg[t]) for t in TRANSFORMS}
    accuracies = {t: balanced_accuracy(pos[t], neg[t], threshold) for t in TRANSFORMS}
    aucs["overall"] = auc(pooled_pos, pooled_neg)
    accuracies["overall"] = balanced_accuracy(pooled_pos, pooled_neg, threshold)
    return Result(pos, neg, aucs, accuracies, threshold, pooled_neg, pooled_pos)


def goal_failures(result: Result) -> list[str]:
    """The goals (held-out protocol) that ``result`` misses, as readable strings."""
    failures = []
    if result.auc["overall"] < GOAL_OVERALL:
        failures.append(f"overall {result.auc['overall']:.4f} < {GOAL_OVERALL}")
    for t in TRANSFORMS:
        floor = GOAL_FLOORS.get(t, GOAL_OTHER)
        if result.auc[t] < floor:
            failures.append(f"{t} {result.auc[t]:.4f} < {floor}")
    return failures


# --- output -------------------------------------------------------------------------------


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def metric_table(results: dict[str, Result], metric: str) -> str:
    """Rows = transforms and "overall", one column per method, values of ``metric``."""
    names = list(results)
    lines = [_row(["transform", *names]), "|---|" + "---:|" * len(names)]
    for row in [*TRANSFORMS, "overall"]:
        values = [getattr(results[name], metric)[row] for name in names]
        label = f"**{row}**" if row == "overall" else row
        lines.append(_row([label, *(f"{v:.3f}" for v in values)]))
    if metric == "accuracy":
        thresholds = [f"{results[name].threshold:.4f}" for name in names]
        lines.append(_row(["threshold (score >=)", *thresholds]))
    return "\n".join(lines)


def calibration_table(results: dict[str, Result]) -> str:
    """Per method: negatives' mean and 99th percentile, and the 1% false-match threshold."""
    lines = [
        "| method | unrelated mean | unrelated p99 | threshold for <= 1% false matches "
        "| false matches there | positives matched there |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, result in results.items():
        negatives, positives = result.pooled_negatives, result.pooled_positives
        threshold = false_match_threshold(positives, negatives)
        lines.append(
            _row(
                [
                    name,
                    f"{negatives.mean():.4f}",
                    f"{np.percentile(negatives, 99):.4f}",
                    f"{threshold:.4f}",
                    f"{(negatives >= threshold).mean():.2%}",
                    f"{(positives >= threshold).mean():.2%}",
                ]
            )
        )
    return "\n".join(lines)


def goals_table(results: dict[str, Result]) -> str:
    """Per method: whether it meets every AUC goal, and what it misses."""
    lines = ["| method | meets all goals | misses |", "|---|---|---|"]
    for name, result in results.items():
        failures = goal_failures(result)
        lines.append(_row([name, "no" if failures else "yes", "; ".join(failures) or "-"]))
    return "\n".join(lines)


def reproduce_command(args: argparse.Namespace, folder: Path | None) -> str:
    """The command line (from the repository root) that reruns this benchmark."""
    python = Path(sys.executable)
    if python.is_relative_to(REPO_ROOT):
        python = python.relative_to(REPO_ROOT)
    command = [str(python), "benchmarks/hash_robustness.py"]
    if args.heldout:
        command.append("--heldout")
    elif folder is not None:
        command.append(str(folder))
    command += ["--count", str(args.count), "--negatives", args.negatives]
    if args.negatives == "transformed":
        command += ["--negatives-per-photo", str(args.negatives_per_photo)]
    for text in args.config or []:
        command += ["--config", text]
    return shlex.join(command)


# --- command line -------------------------------------------------------------------------


def parse_configs(
    parser: argparse.ArgumentParser, texts: Sequence[str] | None
) -> dict[str, HashConfig]:
    """``NAME=JSON`` arguments (or the default set) as named HashConfigs."""
    items = texts or [f"{name}={text}" for name, text in DEFAULT_CONFIGS.items()]
    configs: dict[str, HashConfig] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            parser.error(f"--config expects NAME=JSON, got {item!r}")
        if name in configs or name.startswith("imagehash"):
            parser.error(f"--config name {name!r} is used twice or reserved")
        try:
            configs[name] = HashConfig.model_validate(json.loads(text))
        except (json.JSONDecodeError, ValidationError) as err:
            parser.error(f"--config {name}: not a valid HashConfig JSON object: {err}")
    return configs


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, embed the photos and their edits, print the markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "folder",
        nargs="?",
        type=Path,
        help=f"folder of source photos (default: {DEFAULT_FOLDER})",
    )
    parser.add_argument(
        "--heldout",
        action="store_true",
        help=f"use the held-out photos ({FACES_FOLDER} and scikit-image's) instead of a folder",
    )
    parser.add_argument(
        "--count", type=positive_int, default=200, help="first N photos by name (default: 200)"
    )
    parser.add_argument(
        "--negatives",
        choices=("transformed", "pairs"),
        default="transformed",
        help="negatives: (photo i, transform of photo j) per transform (default), "
        "or all pairs of unedited photos (the 0.1 protocol)",
    )
    parser.add_argument(
        "--negatives-per-photo",
        type=positive_int,
        default=1,
        help="random j per photo i and transform with --negatives transformed (default: 1)",
    )
    parser.add_argument(
        "--config",
        action="append",
        metavar="NAME=JSON",
        help="an imageprism HashConfig to compare, e.g. 'flip={\"flip\": true}' "
        "(repeatable; replaces the default set: "
        + ", ".join(f"{n}={t}" for n, t in DEFAULT_CONFIGS.items())
        + ")",
    )
    args = parser.parse_args(argv)
    configs = parse_configs(parser, args.config)

    folder: Path | None = None
    if args.heldout:
        if args.folder is not None:
            parser.error("give either FOLDER or --heldout, not both")
        if not FACES_FOLDER.is_dir():
            parser.exit(
                2,
                f"error: the held-out faces folder {FACES_FOLDER} does not exist; "
                "--heldout needs ../shared/data/faces beside the repository\n",
            )
        paths = heldout_images()[: args.count]
        skimage_names = [p.stem for p in paths if p.parent != FACES_FOLDER]
        source = (
            f"held-out photos ({FACES_FOLDER.name} folder minus {sorted(HELDOUT_EXCLUDED)}; "
            f"scikit-image: {', '.join(skimage_names) or 'none found'})"
        )
    else:
        folder = (args.folder or DEFAULT_FOLDER).resolve()
        if not folder.is_dir():
            if args.folder is None:
                parser.exit(
                    2,
                    f"error: the default image folder {folder} does not exist; "
                    "pass a folder of photos: python benchmarks/hash_robustness.py FOLDER "
                    "(or use --heldout)\n",
                )
            parser.exit(2, f"error: {folder} is not a folder\n")
        paths = folder_images(folder)[: args.count]
        source = f"first {len(paths)} photos of {folder}"
    count = len(paths)
    if count < 2:
        parser.exit(2, f"error: need at least 2 photos, found {count}\n")
    if args.negatives == "transformed" and args.negatives_per_photo > count - 1:
        parser.error(f"--negatives-per-photo must be at most {count - 1} for {count} photos")

    start = time.perf_counter()
    embedders, methods = build_methods(configs)
    print(
        f"embedding {count} photos x {1 + len(TRANSFORMS)} variants with "
        f"{len(embedders)} embedders...",
        file=sys.stderr,
        flush=True,
    )
    cache = embed_all(paths, embedders)
    positives = positive_pairs(count)
    if args.negatives == "transformed":
        negatives: dict[str, list[Pair]] | list[Pair] = transformed_negatives(
            count, args.negatives_per_photo
        )
        negatives_text = (
            f"{args.negatives_per_photo} negative(s) per photo and transform: "
            "(photo i, same transform of a random photo j != i)"
        )
        negative_count = count * args.negatives_per_photo * len(TRANSFORMS)
    else:
        negatives = original_negatives(count)
        negatives_text = "negatives = all pairs of distinct unedited photos, shared by transforms"
        negative_count = len(negatives)
    results = {m.name: evaluate(m, cache[m.embedder], positives, negatives) for m in methods}
    elapsed = time.perf_counter() - start

    print(
        f"Hash robustness on {source}: {count} photos x {len(TRANSFORMS)} transforms = "
        f"{count * len(TRANSFORMS)} positives, {negative_count} negatives "
        f"({negatives_text})."
    )
    print()
    print(
        "imageprism configs: "
        + "; ".join(f"{name} = `{c.model_dump_json()}`" for name, c in configs.items())
    )
    print()
    print("AUC (positives vs negatives; ties count half):")
    print()
    print(metric_table(results, "auc"))
    print()
    print(
        "Accuracy at each method's global threshold (balanced: mean of true-positive and "
        "true-negative rates; threshold maximises the overall value):"
    )
    print()
    print(metric_table(results, "accuracy"))
    print()
    print("Calibration (unrelated = the negatives above, all transforms pooled):")
    print()
    print(calibration_table(results))
    print()
    print(
        f"Goals (defined for --heldout with transformed negatives): overall AUC >= "
        f"{GOAL_OVERALL}, hflip >= {GOAL_FLOORS['hflip']}, centre_crop_50 >= "
        f"{GOAL_FLOORS['centre_crop_50']}, every other transform >= {GOAL_OTHER}:"
    )
    print()
    print(goals_table(results))
    print()
    versions = ", ".join(
        f"{package} {importlib.metadata.version(package)}"
        for package in ("imageprism-core", "imagehash", "pillow", "numpy")
    )
    print(
        f"Machine: {os.cpu_count()} CPUs ({platform.machine()}, Python "
        f"{platform.python_version()}; {versions}); photos downscaled to at most {MAX_SIDE} px "
        f"on the long side; seed {SEED}; {elapsed:.0f} s. Reproduce (from the repository "
        f"root): `{reproduce_command(args, args.folder and folder)}`"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
