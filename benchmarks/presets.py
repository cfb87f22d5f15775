"""Every built-in preset on its named benchmark set: the threshold's rule, precision and recall.

The sets (``imageprism.thresholds.presets.BENCHMARKS``), each read from ``../shared`` beside the
repository:

- ``photos-transforms/v1`` (hash with the default ``HashConfig``; style ``exact`` and
  ``near-duplicate``, with the MobileNetV2 of ``../shared/models/mobilenetv2``): the first 100
  photos by name of ``../shared/data/photos``, loaded and edited exactly as
  ``benchmarks/hash_robustness.py`` does (its ``load_photo``, ``TRANSFORMS`` and
  ``embed_all``). Positives: (photo, edited photo) for each of the 15 edits; for ``exact``
  only the re-encodes and resizes (``RESAVES``). Negatives: all 4950 pairs of different
  unedited photos (``original_negatives``, the 0.1 protocol). For style this is the same
  question as for hash (is it the same picture?), asked of a dimension made for the look:
  presets of one name then mean one thing across dimensions, as a profile's derived preset
  (the weighted mean of its dimensions') assumes; the numbers show how little style tells.
- ``faces-transforms/v1`` (face ``exact`` and ``near-duplicate``): the 63 photos of
  ``../shared/data/faces`` but ``img11_reflection.jpg`` (a mirror copy of ``img11.jpg``, left
  out as ``hash_robustness.heldout_images`` does), loaded, edited and paired exactly as
  ``photos-transforms/v1``: positives (photo, edited photo), 15 per photo (``exact``: the 6
  re-saves); negatives all 1953 pairs of different unedited photos, *including different
  photos of the same person* (the 38 pairs ``master.csv`` labels the same person): another
  photo is not a near-duplicate, even of the same face. Scored with the settings of
  ``faces-master/v1``; a side without a face leaves the pair unscored (never a match). Under
  the table, each of these two presets also says how many negatives it matches by
  ``master.csv`` label (same person, different people, pair not in ``master.csv``).
- ``faces-master/v1`` (face ``similar``): the 300 labelled pairs of
  ``../shared/data/faces/master.csv`` read with
  ``imageprism.thresholds.calibrate.read_pairs``, scored by ``calibrate`` with
  ``FaceConfig(embedder="dlib", detector="yunet", detector_path=<../shared YuNet>)``; a side
  without a face leaves the pair unscored (never a match).
- ``style-renderings/v1`` (style ``similar``): the first 20 photos of ``../shared/data/photos``
  in the 5 renderings of ``benchmarks/style_probe.py``, embedded with the MobileNetV2 of
  ``../shared/models/mobilenetv2`` (torchvision weights; the pinned default file is another
  export, which cannot be downloaded here); every pair of different photos, positive when
  both have the same rendering.

Each preset's threshold comes from a rule on its set (the ``fitted`` column, from
``imageprism.thresholds.calibrate.fit_threshold``), rounded to 2 decimals in the direction
that keeps the rule (``recorded``, what the preset registers); precision and recall are
measured at the recorded threshold with ``measure_threshold`` (an unscored pair never
matches; the table counts them):

- ``exact`` (every dimension): the highest threshold (a midpoint between observed scores)
  that still matches 99% of the re-encodes and resizes (an unscored one counts as missed),
  rounded down: as strict as re-saves allow;
- ``near-duplicate`` (every dimension) and every ``similar`` but hash's: the best F1, rounded
  to the nearest;
- hash ``similar``: ``hash_robustness.false_match_threshold``, the lowest threshold letting
  at most 1% of the negatives match, rounded up.

The rules do not order a dimension's presets: where re-saves score no higher than other
pairs (face, style), ``exact`` can come out below ``near-duplicate``.

The ``semantic`` and ``instance`` presets cannot be measured here (their model files cannot
be downloaded); they are listed as not measured. Profile presets are derived from their
dimensions' (``imageprism.thresholds.presets``) and not measured either.

``--check`` exits 1 when a registered preset's threshold, precision or recall differs from
the measurement (beyond 1e-9), or its benchmark from the set measured.

Run from the repository root (the face part embeds about 1000 images with dlib: a minute or
two on 2 cores; the others take seconds to half a minute)::

    .venv/bin/python benchmarks/presets.py [--only hash,face,style] [--check]
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from imageprism import ImagePrism
from imageprism.plugin.dimension import Dimension
from imageprism.thresholds.calibrate import calibrate, fit_threshold, measure_threshold, read_pairs
from imageprism.thresholds.presets import BENCHMARKS, presets

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
PHOTOS = SHARED / "data" / "photos"
FACES = SHARED / "data" / "faces"
YUNET = SHARED / "models" / "yunet" / "face_detection_yunet_2026may.onnx"
STYLE_MODEL = SHARED / "models" / "mobilenetv2" / "mobilenetv2_multi.onnx"
HASH_PHOTOS = 100
STYLE_PHOTOS = 20
RESAVES = ("jpeg_q90", "jpeg_q50", "jpeg_q20", "resize_0.5", "resize_0.25", "resize_2.0")
EXACT_RECALL = 0.99
PARTS = ("hash", "face", "style")


@dataclass(frozen=True)
class Measurement:
    """One preset measured on its set (``unscored``: pairs without a score, which never match;
    ``detail``: more on what it matches, printed under the table)."""

    target: str
    name: str
    benchmark: str
    rule: str
    fitted: float
    threshold: float
    precision: float
    recall: float
    positives: int
    negatives: int
    unscored: int = 0
    detail: str = ""


def _round(value: float, direction: str) -> float:
    """``value`` to 2 decimals: ``down``, ``up`` or ``nearest``."""
    scaled = value * 100
    step = {"down": math.floor(scaled + 1e-9), "up": math.ceil(scaled - 1e-9)}
    return round(step.get(direction, round(scaled)) / 100, 2)


def _measured(
    target: str,
    name: str,
    benchmark: str,
    rule: str,
    fitted: float,
    direction: str,
    scores: np.ndarray,
    same: np.ndarray,
) -> Measurement:
    threshold = _round(fitted, direction)
    fit = measure_threshold(scores, same, threshold)
    return Measurement(
        target=target,
        name=name,
        benchmark=benchmark,
        rule=rule,
        fitted=fitted,
        threshold=threshold,
        precision=fit.precision,
        recall=fit.recall,
        positives=int(same.sum()),
        negatives=int((~same).sum()),
        unscored=fit.unscored,
    )


def _labelled(positives: np.ndarray, negatives: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.concatenate([positives, negatives])
    same = np.concatenate([np.ones(len(positives), bool), np.zeros(len(negatives), bool)])
    return scores, same


def highest_keeping(scores: np.ndarray, same: np.ndarray, recall: float) -> float:
    """The highest threshold (a midpoint between observed scores) keeping ``recall`` of the
    positives; unscored (NaN) positives count as lost."""
    positives = np.sort(np.where(np.isnan(scores[same]), -np.inf, scores[same]))
    lowest_kept = positives[math.floor((1 - recall) * len(positives) + 1e-9)]
    if not np.isfinite(lowest_kept):
        raise RuntimeError(f"more than {1 - recall:.0%} of the positives are unscored")
    below = scores[scores < lowest_kept]  # NaN compares False: left out
    if not below.size:
        return float(lowest_kept)
    middle = (lowest_kept + below.max()) / 2
    # between two adjacent floats the midpoint rounds onto the lower one: use the upper
    return float(middle if middle > below.max() else lowest_kept)


def _transform_scores(
    paths: Sequence[Path], dimension: Dimension
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per edit, the scores of (photo, edited photo); and the scores of every pair of different
    unedited photos. NaN where a side has no embedding (such a pair never matches)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import hash_robustness as hr

    from imageprism import prepare

    embeddings = hr.embed_all(
        paths, {"one": lambda image: dimension.embed_batch([prepare(image)])[0]}
    )["one"]

    def scores(pairs: Sequence[hr.Pair]) -> np.ndarray:
        return np.array(
            [
                np.nan
                if embeddings[a] is None or embeddings[b] is None
                else dimension.similarity(embeddings[a], embeddings[b])
                for a, b in pairs
            ]
        )

    by_transform = {t: scores(pairs) for t, pairs in hr.positive_pairs(len(paths)).items()}
    return by_transform, scores(hr.original_negatives(len(paths)))


def _copies(
    target: str, benchmark: str, by_transform: dict[str, np.ndarray], negatives: np.ndarray
) -> list[Measurement]:
    """``exact`` (re-saves) and ``near-duplicate`` (every edit) against ``negatives``."""
    resaves = np.concatenate([by_transform[t] for t in RESAVES])
    exact_scores, exact_same = _labelled(resaves, negatives)
    exact = highest_keeping(exact_scores, exact_same, EXACT_RECALL)
    all_scores, all_same = _labelled(np.concatenate(list(by_transform.values())), negatives)
    near = fit_threshold(all_scores, all_same, objective="f1")
    return [
        _measured(
            target, "exact", benchmark, f"highest keeping {EXACT_RECALL:.0%} of re-saves, down",
            exact, "down", exact_scores, exact_same,
        ),
        _measured(
            target, "near-duplicate", benchmark, "best F1, nearest",
            near.threshold, "nearest", all_scores, all_same,
        ),
    ]  # fmt: skip


def hash_measurements(folder: Path = PHOTOS, count: int = HASH_PHOTOS) -> list[Measurement]:
    """The hash presets on ``photos-transforms/v1`` (embedding takes a few seconds)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import hash_robustness as hr

    paths = hr.folder_images(folder)[:count]
    by_transform, negatives = _transform_scores(paths, ImagePrism().dimension("hash"))
    name = "photos-transforms/v1"
    everything = np.concatenate(list(by_transform.values()))
    all_scores, all_same = _labelled(everything, negatives)
    similar = hr.false_match_threshold(everything, negatives)
    return [
        *_copies("hash", name, by_transform, negatives),
        _measured(
            "hash", "similar", name, "<= 1% false matches, up",
            similar, "up", all_scores, all_same,
        ),
    ]  # fmt: skip


def _face_labels(folder: Path) -> dict[frozenset[str], bool]:
    """master.csv's labels by pair of file names (True: the same person)."""
    return {
        frozenset((Path(p.a).name, Path(p.b).name)): p.same  # type: ignore[arg-type]
        for p in read_pairs(folder / "master.csv")
    }


def _people(scores: np.ndarray, kinds: np.ndarray, threshold: float, unscored_edits: int) -> str:
    """How many pairs of different photos match at ``threshold``, by master.csv label."""
    said = {
        "same": "pairs of different photos of the same person",
        "different": "of different people",
        "unlabelled": "that master.csv does not label",
    }
    parts = [
        f"{int((scores[kinds == kind] >= threshold).sum())} of the {int((kinds == kind).sum())} "
        f"{text}"
        for kind, text in said.items()
    ]
    return f"matches {', '.join(parts)}; (photo, edit) pairs without a face: {unscored_edits}"


def face_measurements(folder: Path = FACES, detector: Path = YUNET) -> list[Measurement]:
    """The face presets: ``exact`` and ``near-duplicate`` on ``faces-transforms/v1``,
    ``similar`` on ``faces-master/v1`` (dlib embedder, YuNet detector; embedding the 1008
    edited photos takes a minute or two)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import hash_robustness as hr

    from imageprism_face import FaceConfig

    config = FaceConfig(embedder="dlib", detector="yunet", detector_path=detector)
    prism = ImagePrism(["face"], config={"face": config})
    result = calibrate(read_pairs(folder / "master.csv"), prism)
    if result.errors:
        raise RuntimeError(f"face pairs could not be used: {result.errors}")
    scores = np.array([np.nan if s is None else s for s in result.scores["face"]])
    same = np.array(result.same)
    fitted = result.dimensions["face"].threshold
    similar = _measured("face", "similar", "faces-master/v1", "best F1, nearest", fitted,
                        "nearest", scores, same)  # fmt: skip

    paths = [p for p in hr.folder_images(folder) if p.name not in hr.HELDOUT_EXCLUDED]
    by_transform, negatives = _transform_scores(paths, prism.dimension("face"))
    labels = _face_labels(folder)
    kinds = np.array(
        [
            {True: "same", False: "different", None: "unlabelled"}[
                labels.get(frozenset((paths[a[0]].name, paths[b[0]].name)))
            ]
            for a, b in hr.original_negatives(len(paths))
        ]
    )
    unscored = int(sum(np.isnan(s).sum() for s in by_transform.values()))
    copies = [
        replace(m, detail=_people(negatives, kinds, m.threshold, unscored))
        for m in _copies("face", "faces-transforms/v1", by_transform, negatives)
    ]
    return [*copies, similar]


def style_measurements(
    folder: Path = PHOTOS, model: Path = STYLE_MODEL, count: int = STYLE_PHOTOS
) -> list[Measurement]:
    """The style presets: ``exact`` and ``near-duplicate`` on ``photos-transforms/v1``,
    ``similar`` on ``style-renderings/v1`` (the MobileNetV2 of ../shared)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import hash_robustness as hr
    import style_probe

    prism = ImagePrism(["style"], config={"style": {"model_path": model}})
    by_transform, negatives = _transform_scores(
        hr.folder_images(folder)[:HASH_PHOTOS], prism.dimension("style")
    )
    copies = _copies("style", "photos-transforms/v1", by_transform, negatives)

    paths = sorted(folder.glob("*.jpg"))[:count]
    images, photo, rendering = style_probe.rendered(paths)
    vectors, similarity = style_probe.style_vectors(images, model)
    matrix = style_probe.score_matrix(vectors, similarity)
    upper = np.triu(np.ones_like(matrix, dtype=bool), k=1) & (photo[:, None] != photo[None, :])
    same_rendering = rendering[:, None] == rendering[None, :]
    scores, same = matrix[upper], same_rendering[upper]
    fitted = fit_threshold(scores, same, objective="f1").threshold
    return [
        *copies,
        _measured("style", "similar", "style-renderings/v1", "best F1, nearest", fitted,
                  "nearest", scores, same),
    ]  # fmt: skip


def _missing(part: str) -> str:
    """Why ``part`` cannot be measured here, or empty."""
    if part == "hash":
        need = [PHOTOS]
    elif part == "face":
        if importlib.util.find_spec("dlib") is None:
            return 'dlib is not installed (pip install "imageprism-face[dlib]")'
        need = [FACES / "master.csv", YUNET]
    else:
        need = [PHOTOS, STYLE_MODEL]
    absent = [str(path) for path in need if not path.exists()]
    return f"{', '.join(absent)} not found" if absent else ""


MEASURE: dict[str, Callable[[], list[Measurement]]] = {
    "hash": hash_measurements,
    "face": face_measurements,
    "style": style_measurements,
}


def differences(measured: Sequence[Measurement]) -> list[str]:
    """Where the registered presets differ from the measurements (beyond 1e-9)."""
    registered = {(p.target, p.name): p for p in presets()}
    problems = []
    for m in measured:
        preset = registered.get((m.target, m.name))
        if preset is None:
            problems.append(f"{m.target}/{m.name} is not registered")
            continue
        for field in ("threshold", "precision", "recall"):
            have, want = getattr(preset, field), getattr(m, field)
            if have is None or abs(have - want) > 1e-9:
                problems.append(
                    f"{m.target}/{m.name}: {field} registered {have}, measured {want!r}"
                )
        if preset.benchmark != m.benchmark:
            problems.append(f"{m.target}/{m.name}: benchmark {preset.benchmark} != {m.benchmark}")
    return problems


def table(measured: Sequence[Measurement]) -> str:
    """Every preset, measured or not, as a markdown table."""
    lines = [
        "| target | preset | threshold | precision | recall | benchmark | rule (fitted) "
        "| positives / negatives |",
        "|---|---|---:|---:|---:|---|---|---:|",
    ]
    done = {(m.target, m.name): m for m in measured}
    registered = presets()
    known = {(p.target, p.name) for p in registered}
    for preset in [*registered, *(m for m in measured if (m.target, m.name) not in known)]:
        m = done.get((preset.target, preset.name))
        if m is not None:
            lines.append(
                f"| {m.target} | {m.name} | {m.threshold:.2f} | {m.precision:.4f} "
                f"| {m.recall:.4f} | {m.benchmark} | {m.rule} ({m.fitted:.4f}) "
                f"| {m.positives} / {m.negatives}"
                + (f" ({m.unscored} unscored)" if m.unscored else "")
                + " |"
            )
        else:
            why = "derived from its dimensions" if preset.benchmark is None else "not run"
            if preset.target in ("semantic", "instance"):
                why = "model file not available here"
            lines.append(
                f"| {preset.target} | {preset.name} | {preset.threshold:.4g} | - | - "
                f"| {preset.benchmark or '-'} | not measured: {why} | - |"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Measure the presets, print the table, and with --check compare with the registered ones."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        default=",".join(PARTS),
        help=f"comma-separated parts to measure (default: {','.join(PARTS)})",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when the registered presets differ from the measurements",
    )
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"--only takes {', '.join(PARTS)}; got {', '.join(unknown)}")

    start = time.perf_counter()
    measured: list[Measurement] = []
    for part in parts:
        why = _missing(part)
        if why:
            print(f"note: {part} presets not measured: {why}")
            continue
        print(f"measuring the {part} presets...", file=sys.stderr, flush=True)
        measured += MEASURE[part]()
    elapsed = time.perf_counter() - start

    print()
    print(table(measured))
    print()
    for m in measured:
        if m.detail:
            print(f"- {m.target} {m.name} ({m.threshold:.2f}): {m.detail}")
    if any(m.detail for m in measured):
        print()
    for name, text in BENCHMARKS.items():
        print(f"- `{name}`: {text}")
    print()
    python = Path(sys.executable)
    if python.is_relative_to(REPO_ROOT):
        python = python.relative_to(REPO_ROOT)
    command = shlex.join([str(python), "benchmarks/presets.py", "--only", ",".join(parts)])
    print(
        f"Machine: {os.cpu_count()} CPUs ({platform.machine()}, Python "
        f"{platform.python_version()}); {elapsed:.0f} s. Reproduce (from the repository "
        f"root): `{command}`"
    )
    problems = differences(measured)
    for problem in problems:
        print(f"differs: {problem}")
    return 1 if args.check and problems else 0


if __name__ == "__main__":
    sys.exit(main())
