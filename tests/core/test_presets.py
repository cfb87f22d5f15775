"""Presets: registered by every pack, derived for profiles, and reproducible from the benchmark."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from fakes import core_entry_points
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from imageprism import ProfileSpec, hookimpl
from imageprism.builtins.presets import HASH_PRESETS
from imageprism.errors import ConfigError
from imageprism.plugin.registry import Registry
from imageprism.plugin.specs import Preset
from imageprism.thresholds.presets import BENCHMARKS, preset, presets

ROOT = Path(__file__).resolve().parents[2]
STYLE_MODEL = ROOT.parent / "shared" / "models" / "mobilenetv2" / "mobilenetv2_multi.onnx"
COPIES = ("exact", "near-duplicate")


def _benchmark():
    """benchmarks/presets.py, imported as a module."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import presets as benchmark

    return benchmark


class _PresetPack:
    """A plugin registering the given presets (and optionally a profile)."""

    def __init__(self, *items: object, profile: ProfileSpec | None = None) -> None:
        self.items = items
        self.profile = profile

    @hookimpl
    def imageprism_register_presets(self, register):
        for item in self.items:
            register(item)

    @hookimpl
    def imageprism_register_profiles(self, register):
        if self.profile is not None:
            register(self.profile)


def _registry(*items: object, profile: ProfileSpec | None = None) -> Registry:
    return Registry(
        entry_points=core_entry_points(), plugins=[("pack", _PresetPack(*items, profile=profile))]
    )


def test_every_installed_pack_registers_its_presets():
    found = {(p.target, p.name) for p in presets()}
    assert {("hash", "exact"), ("hash", "near-duplicate"), ("hash", "similar")} <= found
    assert {("face", "similar"), ("semantic", "similar"), ("instance", "similar")} <= found
    assert {(dim, name) for dim in ("face", "style") for name in (*COPIES, "similar")} <= found


def test_face_and_style_copy_presets_are_measured_on_edited_copies_with_their_settings():
    from imageprism_face import FaceConfig

    for name in COPIES:
        face, style = preset(name, "face"), preset(name, "style")
        assert (face.benchmark, style.benchmark) == ("faces-transforms/v1", "photos-transforms/v1")
        assert face.config == {"embedder": "dlib"}
        face.check(FaceConfig(embedder="dlib"))
        with pytest.raises(ConfigError, match="measured with"):
            face.check(FaceConfig())  # the default embedder, ArcFace, scores on another scale
        assert "hash" in face.note and "hash" in style.note  # both point to hash for copies


def test_hash_presets_go_from_strict_to_loose():
    exact, near, similar = (preset(name, "hash").threshold for name in
                            ("exact", "near-duplicate", "similar"))  # fmt: skip
    assert exact > near > similar
    assert [p.name for p in presets("hash")] == ["exact", "near-duplicate", "similar"]


def test_measured_presets_name_a_known_benchmark_and_unmeasured_ones_say_so():
    for item in presets():
        if item.precision is None:
            assert item.recall is None and item.benchmark is None
            assert "not measured" in item.note, item
        else:
            assert item.benchmark in BENCHMARKS, item
            assert 0.0 <= item.recall <= 1.0


def test_profile_presets_are_the_weighted_mean_of_their_dimensions_presets():
    registry = _registry(profile=ProfileSpec(name="mine", weights={"hash": 1.0}))
    derived = preset("similar", "dedup")  # hash 0.6, instance 0.3, semantic 0.1
    expected = sum(
        weight * preset("similar", dim).threshold
        for dim, weight in {"hash": 0.6, "instance": 0.3, "semantic": 0.1}.items()
    )
    assert derived.threshold == pytest.approx(round(expected, 4))
    assert (derived.precision, derived.recall, derived.benchmark) == (None, None, None)
    assert "weighted mean" in derived.note
    # a profile of one dimension gets that dimension's threshold; missing ones get none
    assert preset("similar", "mine", registry=registry).threshold == 0.71
    exact = [p.target for p in presets(registry=registry) if p.name == "exact"]
    assert exact == ["hash", "mine"]  # dedup weights instance, which has no "exact"


def test_a_registered_profile_preset_wins_over_the_derived_one():
    mine = Preset(name="similar", target="dedup", threshold=0.5, note="measured by me")
    registry = _registry(mine)
    assert preset("similar", "dedup", registry=registry) == mine


def test_an_unknown_preset_lists_what_exists_and_why_a_profile_has_none():
    with pytest.raises(ConfigError) as caught:
        preset("near-duplicate", "dedup")
    message = str(caught.value)
    assert "'dedup' has: similar" in message
    assert "'near-duplicate' exists for: face, hash, style" in message
    assert "instance, semantic have no 'near-duplicate'" in message
    with pytest.raises(ConfigError, match="'nowhere' has: none"):
        preset("exact", "nowhere")


def test_a_clashing_preset_fails_only_its_plugin_and_names_both():
    registry = _registry(Preset(name="exact", target="hash", threshold=0.5))
    (failed,) = registry.failures
    assert "preset 'hash/exact' is already registered by plugin 'hash'" in failed.error
    assert registry.presets["hash", "exact"] == HASH_PRESETS[0]


def test_registering_something_else_than_a_preset_fails_that_plugin():
    registry = _registry({"name": "exact", "target": "hash", "threshold": 0.5})
    (failed,) = registry.failures
    assert "register() takes a Preset, got dict" in failed.error
    assert registry.dimension("hash")


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "x", "target": "hash", "threshold": 1.5},
        {"name": "x", "target": "hash", "threshold": 0.5, "precision": -0.1},
        {"name": " ", "target": "hash", "threshold": 0.5},
        {"name": "x", "target": "hash", "threshold": 0.5, "colour": "red"},
    ],
)
def test_invalid_presets_are_refused(fields):
    with pytest.raises(ValidationError):
        Preset(**fields)


def test_hash_preset_numbers_reproduce_from_the_benchmark(shared_photos):
    benchmark = _benchmark()
    measured = benchmark.hash_measurements()
    assert [(m.target, m.name) for m in measured] == [
        ("hash", "exact"),
        ("hash", "near-duplicate"),
        ("hash", "similar"),
    ]
    assert benchmark.differences(measured) == []
    for m, registered in zip(measured, HASH_PRESETS, strict=True):
        assert m.threshold == pytest.approx(registered.threshold, abs=1e-9)
        assert m.precision == pytest.approx(registered.precision, abs=1e-9)
        assert m.recall == pytest.approx(registered.recall, abs=1e-9)
        assert m.benchmark == registered.benchmark
        assert (m.positives, m.negatives) == ((600 if m.name == "exact" else 1500), 4950)


def test_style_preset_numbers_reproduce_from_the_benchmark(shared_photos):
    if not STYLE_MODEL.is_file():
        pytest.skip(f"the MobileNetV2 of ../shared is not available: {STYLE_MODEL} is absent")
    from imageprism_models.style import STYLE_PRESETS

    benchmark = _benchmark()
    measured = benchmark.style_measurements()  # about half a minute on 2 cores
    assert [(m.target, m.name) for m in measured] == [(p.target, p.name) for p in STYLE_PRESETS]
    assert benchmark.differences(measured) == []
    counts = [(m.positives, m.negatives) for m in measured]
    assert counts == [(600, 4950), (1500, 4950), (950, 3800)]


# The face equivalent (benchmark.face_measurements()) embeds about 1000 images with dlib, a minute
# and a half on 2 cores: `benchmarks/presets.py --only face --check` checks it instead.


@given(
    positives=st.lists(st.one_of(st.floats(0, 1), st.just(float("nan"))), min_size=1, max_size=40),
    negatives=st.lists(st.floats(0, 1), min_size=1, max_size=40),
    recall=st.sampled_from([0.5, 0.9, 0.99, 1.0]),
)
def test_exact_rule_is_the_highest_threshold_keeping_the_recall_with_unscored_pairs_lost(
    positives, negatives, recall
):
    benchmark = _benchmark()
    scores = np.array(positives + negatives)
    same = np.array([True] * len(positives) + [False] * len(negatives))
    needed = len(positives) - int(np.floor((1 - recall) * len(positives) + 1e-9))
    if np.isfinite(scores[same]).sum() < needed:  # too many unscored: the rule cannot be met
        with pytest.raises(RuntimeError, match="unscored"):
            benchmark.highest_keeping(scores, same, recall)
        return
    threshold = benchmark.highest_keeping(scores, same, recall)
    kept = scores[same][scores[same] >= threshold]  # NaN never counts as kept
    assert len(kept) >= needed
    assert (scores[same] > kept.min()).sum() < needed  # any higher observed score loses too many
    assert not ((scores >= threshold) & (scores < kept.min())).any()  # no pair sits in between


def test_a_preset_refuses_settings_other_than_those_it_was_measured_with():
    from imageprism.builtins.hash import HashConfig
    from imageprism.thresholds.presets import preset

    near = preset("near-duplicate", "hash")
    near.check(HashConfig())  # the default config: fine
    with pytest.raises(ConfigError, match="measured with"):
        near.check(HashConfig(flip=False, windows=(1.0,)))


def test_dedup_with_a_face_preset_refuses_another_embedder(tmp_path, capsys):
    from imageprism.cli import main

    code = main(["dedup", str(tmp_path), "--dimensions", "face", "--preset", "similar"])
    err = capsys.readouterr().err
    assert code == 2 and "embedder" in err and len(err.strip().splitlines()) == 1
