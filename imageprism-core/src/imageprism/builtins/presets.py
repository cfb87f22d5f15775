"""The hash dimension's presets, measured by ``benchmarks/presets.py``.

Data only: ``imageprism.builtins.hash`` registers them through the
``imageprism_register_presets`` hook, as any plugin registers its own; what the
benchmark names mean is ``imageprism.thresholds.presets.BENCHMARKS``.
"""

from __future__ import annotations

from imageprism.plugin.specs import Preset

_DEFAULT_HASH = {
    "algorithms": ["phash", "dhash", "ahash"],
    "hash_size": 8,
    "combine": "mean",
    "flip": True,
    "windows": [1.0, 0.7, 0.5],
}  # HashConfig(), which the hash presets were measured with

HASH_PRESETS: tuple[Preset, ...] = (
    Preset(
        name="exact",
        target="hash",
        config=_DEFAULT_HASH,
        threshold=0.96,
        precision=1.0,
        recall=0.9933333333333333,
        benchmark="photos-transforms/v1",
        summary="the same picture re-encoded or resized",
        note=(
            "the same picture re-encoded or resized (default HashConfig); hashes cannot tell "
            "these from blurred, noisy, recoloured, mirrored or 50%-centre-cropped copies, which "
            "mostly score above it too, while 10-25% crops and small rotations mostly fall below"
        ),
    ),
    Preset(
        name="near-duplicate",
        target="hash",
        config=_DEFAULT_HASH,
        threshold=0.79,
        precision=1.0,
        recall=1.0,
        benchmark="photos-transforms/v1",
        summary="the same picture edited (re-encoded, resized, cropped, rotated, mirrored...)",
        note=(
            "the same picture edited: re-encoded, resized, cropped, rotated, mirrored, blurred, "
            "recoloured (default HashConfig)"
        ),
    ),
    Preset(
        name="similar",
        target="hash",
        config=_DEFAULT_HASH,
        threshold=0.71,
        precision=0.9784735812133072,
        recall=1.0,
        benchmark="photos-transforms/v1",
        summary="also heavier edits, at the price of some unrelated pairs",
        note=(
            "also heavier edits, at the price of some unrelated pairs: 33 of the 4950 here "
            "(0.7%; the rule allows at most 1%; default HashConfig)"
        ),
    ),
)
"""The hash dimension's presets; the numbers come from ``benchmarks/presets.py``."""
