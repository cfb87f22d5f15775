"""How well the style dimension tells renderings apart, against MobileNetV2 content features.

The probe: the first ``--count`` photos (by name) of ``../shared/data/photos``, relative to
the repository root, each in 5 renderings made with Pillow:

- ``original``: the photo as RGB;
- ``greyscale``: ``im.convert("L")``;
- ``posterised``: ``ImageOps.posterize(im, 2)`` (2 bits per channel);
- ``blurred``: ``im.filter(ImageFilter.GaussianBlur(4))``;
- ``sketch``: ``ImageOps.invert(im.filter(ImageFilter.FIND_EDGES).convert("L"))``.

Every rendering is embedded, as a PIL image, with two methods:

- ``style``: ``ImagePrism(["style"], config={"style": {"model_path": MODEL}}).embed_many``,
  scored with the dimension's own ``similarity`` (cosine clipped to [0, 1]);
- ``content (features)``: the same model's pooled ``features`` output (1280 values, the
  ``MOBILENETV2`` recipe, run with imageprism's ``OnnxModel``), same clipped cosine.

For each method, over all pairs of distinct images: the mean score of pairs of the same
rendering of different photos, of different renderings of different photos, and of different
renderings of the same photo; the AUC of "same rendering" against "different rendering"
among pairs of different photos (the probability that a random same-rendering pair scores
above a random different-rendering pair, ties counting half); and the nearest-neighbour
accuracy: for each image, whether its highest-scoring image among those of the *other* photos
is the same rendering (chance: 1 in 5). A second table splits that accuracy by rendering.
Everything is deterministic: no sampling, no randomness.

Run from the repository root::

    .venv/bin/python benchmarks/style_probe.py [--count 20] [--model PATH]
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import onnxruntime
from PIL import Image, ImageFilter, ImageOps

from imageprism import ImagePrism, prepare
from imageprism.runtime.hub import ModelFile
from imageprism.runtime.onnx import OnnxModel
from imageprism.scoring import cosine_scores
from imageprism_models.preprocess import MOBILENETV2

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
DEFAULT_MODEL = SHARED / "models" / "mobilenetv2" / "mobilenetv2_multi.onnx"
PHOTOS = SHARED / "data" / "photos"

RENDERINGS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "original": lambda im: im,
    "greyscale": lambda im: im.convert("L"),
    "posterised": lambda im: ImageOps.posterize(im, 2),
    "blurred": lambda im: im.filter(ImageFilter.GaussianBlur(4)),
    "sketch": lambda im: ImageOps.invert(im.filter(ImageFilter.FIND_EDGES).convert("L")),
}


def rendered(paths: Sequence[Path]) -> tuple[list[Image.Image], np.ndarray, np.ndarray]:
    """Every rendering of every photo, with each image's photo index and rendering index."""
    images: list[Image.Image] = []
    photo: list[int] = []
    rendering: list[int] = []
    for photo_index, path in enumerate(paths):
        with Image.open(path) as opened:
            rgb = opened.convert("RGB")
        for rendering_index, render in enumerate(RENDERINGS.values()):
            images.append(render(rgb))
            photo.append(photo_index)
            rendering.append(rendering_index)
    return images, np.asarray(photo), np.asarray(rendering)


def style_vectors(images: Sequence[Image.Image], model_path: Path) -> tuple[np.ndarray, Callable]:
    """The style dimension's embeddings, and its similarity function."""
    prism = ImagePrism(["style"], config={"style": {"model_path": model_path}})
    batch = prism.embed_many(images)
    if batch.errors:
        raise RuntimeError(f"style embed_many failed: {batch.errors}")
    vectors = np.stack([embedding["style"] for embedding in batch.embeddings])  # type: ignore[index]
    return vectors, prism.dimension("style").similarity


def feature_vectors(images: Sequence[Image.Image], model_path: Path) -> np.ndarray:
    """MobileNetV2's pooled ``features`` of each image (``MOBILENETV2`` recipe)."""
    pin = ModelFile(repo_id="local/probe", filename=model_path.name, revision="local")
    model = OnnxModel(pin, local_path=model_path)
    prepared = [prepare(image) for image in images]
    parts = [
        model.run(MOBILENETV2.batch(prepared[start : start + 32]), ["features"])[0]
        for start in range(0, len(prepared), 32)
    ]
    return np.concatenate(parts, axis=0)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine clipped to [0, 1], as the model dimensions score."""
    return float(cosine_scores(a, b[None, :])[0])


def score_matrix(vectors: np.ndarray, similarity: Callable[[np.ndarray, np.ndarray], float]):
    """Scores of every pair (the diagonal is left at NaN)."""
    count = len(vectors)
    scores = np.full((count, count), np.nan)
    for i in range(count):
        for j in range(i + 1, count):
            scores[i, j] = scores[j, i] = similarity(vectors[i], vectors[j])
    return scores


def auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """P(positive > negative) + P(tie) / 2, over all positive-negative pairs."""
    negatives = np.sort(negatives)
    below = np.searchsorted(negatives, positives, side="left")
    not_above = np.searchsorted(negatives, positives, side="right")
    return float((below + (not_above - below) / 2).sum() / (len(positives) * len(negatives)))


def probe(scores: np.ndarray, photo: np.ndarray, rendering: np.ndarray) -> dict[str, object]:
    """Mean scores by pair kind, AUC, and nearest-neighbour accuracy (overall, per rendering)."""
    upper = np.triu(np.ones_like(scores, dtype=bool), k=1)
    same_photo = photo[:, None] == photo[None, :]
    same_rendering = rendering[:, None] == rendering[None, :]
    positives = scores[upper & ~same_photo & same_rendering]
    negatives = scores[upper & ~same_photo & ~same_rendering]
    same_photo_scores = scores[upper & same_photo & ~same_rendering]
    others = np.where(same_photo, -np.inf, scores)
    nearest = np.argmax(others, axis=1)
    correct = rendering[nearest] == rendering
    return {
        "same_rendering": float(positives.mean()),
        "different_rendering": float(negatives.mean()),
        "same_photo": float(same_photo_scores.mean()),
        "auc": auc(positives, negatives),
        "nn": float(correct.mean()),
        "nn_by_rendering": [float(correct[rendering == r].mean()) for r in range(len(RENDERINGS))],
    }


def markdown_tables(results: dict[str, dict[str, object]]) -> str:
    """The summary table and the per-rendering nearest-neighbour table."""
    lines = [
        "| method | same rendering, different photo | different rendering, different photo "
        "| same photo, different rendering | AUC same vs different rendering "
        "| NN same-rendering accuracy |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['same_rendering']:.3f} | {r['different_rendering']:.3f} "
            f"| {r['same_photo']:.3f} | {r['auc']:.3f} | {r['nn']:.3f} |"
        )
    lines += [
        "",
        "Nearest neighbour (other photos only) has the same rendering, by rendering:",
        "",
        "| method | " + " | ".join(RENDERINGS) + " |",
        "|---|" + "---:|" * len(RENDERINGS),
    ]
    for name, r in results.items():
        by_rendering = r["nn_by_rendering"]
        assert isinstance(by_rendering, list)
        lines.append(f"| {name} | " + " | ".join(f"{v:.2f}" for v in by_rendering) + " |")
    return "\n".join(lines)


def reproduce_command(args: argparse.Namespace) -> str:
    """The command line (from the repository root) that reruns this probe."""
    python = Path(sys.executable)
    if python.is_relative_to(REPO_ROOT):
        python = python.relative_to(REPO_ROOT)
    command = [str(python), "benchmarks/style_probe.py", "--count", str(args.count)]
    if args.model is not None:
        command += ["--model", str(args.model)]
    return shlex.join(command)


def at_least_two(text: str) -> int:
    """An argparse type: an integer >= 2 (pairs of different photos need two)."""
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be >= 2, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, render and embed the photos, and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--count", type=at_least_two, default=20, help="number of photos (default: 20)"
    )
    parser.add_argument(
        "--model",
        type=Path,
        help=f"MobileNetV2 ONNX file with block outputs and `features` (default: {DEFAULT_MODEL})",
    )
    args = parser.parse_args(argv)

    if not PHOTOS.is_dir():
        parser.exit(
            2,
            f"error: {PHOTOS} does not exist; this probe needs the shared data folder beside "
            "the repository (../shared, see its README.md)\n",
        )
    model_path: Path = (args.model or DEFAULT_MODEL).resolve()
    if not model_path.is_file():
        parser.exit(2, f"error: model file {model_path} not found; pass --model PATH\n")
    paths = sorted(PHOTOS.glob("*.jpg"))[: args.count]
    if len(paths) < 2:
        parser.exit(2, f"error: fewer than 2 .jpg photos in {PHOTOS}\n")

    images, photo, rendering = rendered(paths)
    style, style_similarity = style_vectors(images, model_path)
    features = feature_vectors(images, model_path)
    results = {
        "style (block statistics)": probe(score_matrix(style, style_similarity), photo, rendering),
        "content (pooled features)": probe(score_matrix(features, _cosine), photo, rendering),
    }

    print(markdown_tables(results))
    print()
    print(
        f"{len(paths)} photos x {len(RENDERINGS)} renderings ({', '.join(RENDERINGS)}) = "
        f"{len(images)} images from ../shared/data/photos; model {model_path.name}; scores are "
        "cosine clipped to [0, 1]; NN chance level 0.20. Machine: "
        f"{os.cpu_count()} CPUs ({platform.machine()}, Python {platform.python_version()}, "
        f"onnxruntime {onnxruntime.__version__}). Reproduce (from the repository root): "
        f"`{reproduce_command(args)}`"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
