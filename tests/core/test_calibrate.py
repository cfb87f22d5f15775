"""calibrate: reading labelled pairs, fitting thresholds (and weights), saving and loading."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from fakes import registry_with
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from imageprism import ImagePrism
from imageprism.errors import ConfigError
from imageprism.thresholds.calibrate import (
    Calibration,
    LabelledPair,
    calibrate,
    calibration_path,
    fit_threshold,
    load_calibration,
    measure_threshold,
    read_pairs,
)

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
FACES = SHARED / "data" / "faces"
YUNET = SHARED / "models" / "yunet" / "face_detection_yunet_2026may.onnx"


@pytest.fixture(autouse=True)
def config_dir(tmp_path, monkeypatch) -> Path:
    """Calibrations are saved under a temporary IMAGEPRISM_CONFIG_DIR, never the real one."""
    folder = tmp_path / "config"
    monkeypatch.setenv("IMAGEPRISM_CONFIG_DIR", str(folder))
    return folder


def _hash_robustness():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import hash_robustness

    return hash_robustness


@pytest.fixture(scope="module")
def transform_pairs(request) -> list[LabelledPair]:
    """Generated pairs of ../shared photos: (photo, each of the 15 edits) and different photos."""
    photos = request.getfixturevalue("shared_photos")[:8]
    hr = _hash_robustness()
    loaded = [hr.load_photo(path) for path in photos]
    pairs = [
        LabelledPair(photo, edit(photo, i), True)
        for i, photo in enumerate(loaded)
        for edit in hr.TRANSFORMS.values()
    ]
    pairs += [
        LabelledPair(loaded[i], loaded[j], False)
        for i in range(len(loaded))
        for j in range(i + 1, len(loaded))
    ]
    return pairs


# -- reading pairs ---------------------------------------------------------------------------


def test_read_pairs_takes_the_documented_columns_and_resolves_paths_beside_the_csv(tmp_path):
    folder = tmp_path / "set"
    folder.mkdir()
    csv_file = folder / "pairs.csv"
    csv_file.write_text(
        "\ufeffSame,path_b,path_a\nyes,b.jpg,a.jpg\n0,sub/c.jpg,a.jpg\nTRUE,/abs/d.jpg,a.jpg\n"
        "\nfalse,e.jpg,a.jpg\n"
    )
    pairs = read_pairs(csv_file)
    assert [p.same for p in pairs] == [True, False, True, False]
    assert pairs[0] == LabelledPair(str(folder / "a.jpg"), str(folder / "b.jpg"), True)
    assert pairs[1].b == str(folder / "sub" / "c.jpg")
    assert pairs[2].b == "/abs/d.jpg"


def test_read_pairs_reads_deepface_master_csv_format(tmp_path):
    csv_file = tmp_path / "master.csv"
    csv_file.write_bytes(b"file_x,file_y,Decision\r\nimg1.jpg,img2.jpg,Yes\r\nimg1.jpg,img3.jpg,No")
    pairs = read_pairs(csv_file)
    assert [(Path(p.a).name, Path(p.b).name, p.same) for p in pairs] == [
        ("img1.jpg", "img2.jpg", True),
        ("img1.jpg", "img3.jpg", False),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a,b,same\nx.jpg,y.jpg,yes\n", r"line 1: no column 'path_a' or 'file_x'"),
        ("path_a,path_b,same\nx.jpg,y.jpg,maybe\n", r"line 2, column 'same': 'maybe' is not"),
        ("path_a,path_b,same\nx.jpg,y.jpg,yes\nx.jpg,,no\n", r"line 3, column 'path_b': empty"),
        ("path_a,path_b,same\nx.jpg,y.jpg\n", r"line 2, column 'same': empty"),
        ("path_a,path_b,same\n", "no pairs after the header"),
        ("", "the file is empty"),
    ],
)
def test_bad_csv_rows_name_the_file_line_and_column(tmp_path, text, expected):
    csv_file = tmp_path / "pairs.csv"
    csv_file.write_text(text)
    with pytest.raises(ConfigError, match=expected) as caught:
        read_pairs(csv_file)
    assert str(csv_file) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_csv_is_a_config_error_naming_it(tmp_path):
    with pytest.raises(ConfigError, match="cannot read pairs file .*nope.csv"):
        read_pairs(tmp_path / "nope.csv")


# -- fitting thresholds: the maths -----------------------------------------------------------

score = st.floats(0.0, 1.0, allow_nan=False)
labelled = st.lists(st.tuples(score, st.booleans()), min_size=2, max_size=60).filter(
    lambda items: 0 < sum(s for _, s in items) < len(items)
)


def _at(scores: np.ndarray, same: np.ndarray, threshold: float) -> tuple[float, float, float]:
    matched = scores >= threshold
    tp = int((matched & same).sum())
    fp = int((matched & ~same).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / int(same.sum())
    return precision, recall, 2 * tp / (tp + fp + int(same.sum()))


@settings(max_examples=200, deadline=None)
@given(st.lists(score, min_size=1, max_size=30), st.lists(score, min_size=1, max_size=30))
def test_perfectly_separable_scores_give_precision_and_recall_one(low, high):
    negatives = np.array(low) * 0.5  # all in [0, 0.5]
    positives = 0.5 + 1e-6 + np.array(high) * 0.4  # all in (0.5, 0.9]
    scores = np.concatenate([positives, negatives])
    same = np.array([True] * len(positives) + [False] * len(negatives))
    fit = fit_threshold(scores, same)
    assert (fit.precision, fit.recall, fit.f1) == (1.0, 1.0, 1.0)
    assert negatives.max() < fit.threshold <= positives.min()
    target = fit_threshold(scores, same, target_precision=0.99)
    assert (target.precision, target.recall, target.achieved) == (1.0, 1.0, True)


@settings(max_examples=300, deadline=None)
@given(labelled, st.sampled_from([0.5, 0.8, 0.9, 0.99, 1.0]))
def test_target_precision_is_reached_with_the_most_recall_when_any_threshold_reaches_it(
    items, target
):
    scores = np.array([s for s, _ in items])
    same = np.array([label for _, label in items])
    fit = fit_threshold(scores, same, target_precision=target)
    every = [_at(scores, same, t) for t in np.unique(scores)]
    reachable = [recall for precision, recall, _ in every if precision >= target]
    assert fit.achieved == bool(reachable)
    if reachable:
        assert fit.precision >= target
        assert fit.recall == max(reachable)
    else:
        assert fit.precision == max(precision for precision, _, _ in every)
    assert (fit.precision, fit.recall) == pytest.approx(_at(scores, same, fit.threshold)[:2])


@settings(max_examples=300, deadline=None)
@given(labelled)
def test_f1_threshold_is_at_least_as_good_as_every_observed_score(items):
    scores = np.array([s for s, _ in items])
    same = np.array([label for _, label in items])
    fit = fit_threshold(scores, same)
    best = max(f1 for _, _, f1 in (_at(scores, same, t) for t in np.unique(scores)))
    assert fit.f1 == pytest.approx(best)
    assert scores.min() <= fit.threshold <= scores.max()


@settings(max_examples=300, deadline=None)
@given(labelled, st.sampled_from([0.5, 0.9, 1.0]))
def test_target_recall_is_reached_and_the_confidence_intervals_hold_the_estimates(items, target):
    scores = np.array([s for s, _ in items])
    same = np.array([label for _, label in items])
    fit = fit_threshold(scores, same, target_recall=target)
    assert fit.achieved and fit.recall >= target
    for value, (low, high) in ((fit.precision, fit.precision_ci), (fit.recall, fit.recall_ci)):
        assert 0.0 <= low <= value <= high <= 1.0
    counts = fit.true_positives + fit.false_positives + fit.false_negatives + fit.true_negatives
    assert counts == len(items)


def test_wilson_interval_matches_the_textbook_value():
    # 8 of 10: the 95% Wilson score interval is (0.4902, 0.9433)
    fit = measure_threshold([0.9] * 8 + [0.1] * 2 + [0.0], [True] * 10 + [False], 0.5)
    assert fit.recall == 0.8
    assert fit.recall_ci == pytest.approx((0.4902, 0.9433), abs=1e-4)


def test_unscored_pairs_never_match_and_are_counted():
    fit = measure_threshold([0.9, None, float("nan"), 0.1], [True, True, False, False], 0.5)
    assert (fit.true_positives, fit.false_negatives, fit.true_negatives) == (1, 1, 2)
    assert fit.unscored == 2
    assert fit.recall == 0.5


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"target_precision": 1.5}, "target_precision must be a number in"),
        ({"target_recall": 0}, "target_recall must be a number in"),
        ({"target_precision": 0.9, "target_recall": 0.9}, "either target_precision or"),
        ({"objective": "accuracy"}, "objective must be one of f1, balanced_accuracy"),
    ],
)
def test_bad_fit_arguments_are_config_errors(kwargs, expected):
    with pytest.raises(ConfigError, match=expected):
        fit_threshold([0.1, 0.9], [False, True], **kwargs)


def test_pairs_of_one_kind_cannot_be_calibrated():
    with pytest.raises(ConfigError, match="need pairs of both kinds"):
        fit_threshold([0.1, 0.9], [True, True])


# -- calibrating a prism ---------------------------------------------------------------------


def test_hash_calibration_on_generated_transform_pairs_separates_them(transform_pairs):
    result = calibrate(transform_pairs, ImagePrism())
    fit = result.dimensions["hash"]
    assert (fit.precision, fit.recall) == (1.0, 1.0)
    assert (result.positives, result.negatives) == (8 * 15, 28)
    assert (fit.unscored, result.errors, result.weighted) == (0, [], None)
    assert fit.precision_ci[0] > 0.9 and fit.recall_ci[0] > 0.95
    scores = np.array(result.scores["hash"])
    same = np.array(result.same)
    assert scores[~same].max() < result.threshold <= scores[same].min()
    # exact re-saves score higher than unrelated photos do, by a wide margin
    assert scores[same].min() - scores[~same].max() > 0.03


def test_calibrate_reports_pairs_whose_images_fail_and_uses_the_rest(tmp_path, transform_pairs):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    pairs = [LabelledPair(tmp_path / "missing.jpg", transform_pairs[0].a, True)]
    pairs += [*transform_pairs[:30], LabelledPair(transform_pairs[0].a, broken, False)]
    pairs += transform_pairs[-5:]
    result = calibrate(pairs, ImagePrism())
    assert [(e.index, Path(e.source).name) for e in result.errors] == [
        (0, "missing.jpg"),
        (31, "broken.jpg"),
    ]
    assert len(result.same) == 35
    assert result.dimensions["hash"].recall == 1.0


def test_a_pair_a_dimension_cannot_score_counts_as_different_for_it():
    registry, _ = registry_with("colour")
    prism = ImagePrism(["hash", "colour"], config={"colour": {"none_when_dark": True}},
                       registry=registry)  # fmt: skip
    grey, dark = np.full((32, 32, 3), 128, np.uint8), np.full((32, 32, 3), 10, np.uint8)
    noise = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    pairs = [(grey, grey.copy(), True), (dark, dark.copy(), True), (grey, noise, False)]
    result = calibrate(pairs, prism)
    colour = result.dimensions["colour"]
    assert colour.unscored == 1
    assert (colour.true_positives, colour.false_negatives) == (1, 1)
    assert result.scores["colour"][1] is None
    assert result.weighted is not None and result.dimensions["hash"].unscored == 0


def test_fitted_weights_are_on_the_grid_deterministic_and_no_worse_than_equal_weights():
    registry, _ = registry_with("colour")
    prism = ImagePrism(["hash", "colour"], registry=registry)
    rng = np.random.default_rng(7)
    images = [rng.integers(0, 256, (24, 24, 3), dtype=np.uint8) for _ in range(8)]
    pairs = [(img, np.clip(img.astype(int) + 40, 0, 255).astype(np.uint8), True) for img in images]
    pairs += [(images[i], images[i + 1], False) for i in range(7)]
    equal = calibrate(pairs, prism)
    fitted = calibrate(pairs, prism, fit_weights=True)
    assert fitted.fitted_weights and not equal.fitted_weights
    assert sum(fitted.weights.values()) == pytest.approx(1.0)
    for weight in fitted.weights.values():
        assert weight * 10 == pytest.approx(round(weight * 10))
    assert fitted.weighted.f1 >= equal.weighted.f1
    assert calibrate(pairs, prism, fit_weights=True).weights == fitted.weights
    assert fitted.settings["weights"] == fitted.weights


def test_bad_weight_step_is_a_config_error():
    with pytest.raises(ConfigError, match="weight_step must divide 1"):
        calibrate([(b"x", b"y", True)], ImagePrism(), fit_weights=True, weight_step=0.3)


def test_pairs_must_be_labelled_pairs_or_triples():
    with pytest.raises(ConfigError, match="pair 0 must be a LabelledPair"):
        calibrate([("a.jpg", "b.jpg")], ImagePrism())


# -- saving and loading ----------------------------------------------------------------------


def _small_calibration(demo_photos) -> Calibration:
    pairs = [
        (demo_photos["coffee"], demo_photos["coffee_q40"], True),
        (demo_photos["chelsea"], demo_photos["chelsea_half"], True),
        (demo_photos["coffee"], demo_photos["astronaut"], False),
        (demo_photos["rocket"], demo_photos["chelsea"], False),
    ]
    return calibrate(pairs, ImagePrism(), target_precision=0.9)


def test_save_and_load_by_name_round_trip_and_rebuild_the_prism(demo_photos, config_dir):
    result = _small_calibration(demo_photos)
    path = result.save("holiday-v1")
    assert path == config_dir / "calibrations" / "holiday-v1.json"
    loaded = load_calibration("holiday-v1")
    assert loaded == result
    assert load_calibration(path) == result
    prism = loaded.prism()
    assert prism.dimensions == ("hash",)
    labels = prism.dedup(
        [demo_photos["coffee"], demo_photos["coffee_q40"], demo_photos["astronaut"]],
        threshold=loaded.threshold,
    ).labels
    assert labels == [0, 0, 2]
    assert json.loads(path.read_text())["threshold"] == result.threshold


def test_saving_again_replaces_the_file_atomically(demo_photos, config_dir):
    result = _small_calibration(demo_photos)
    result.save("same")
    result.save("same")
    assert sorted(p.name for p in (config_dir / "calibrations").iterdir()) == ["same.json"]


def test_an_unknown_name_lists_the_saved_ones(demo_photos):
    _small_calibration(demo_photos).save("alpha")
    with pytest.raises(ConfigError, match=r"no calibration named 'beta' .*saved: alpha"):
        load_calibration("beta")


@pytest.mark.parametrize("name", ["", "../up", "a b", ".hidden", "x" * 101])
def test_bad_calibration_names_are_refused(name):
    with pytest.raises(ConfigError, match="a calibration name is"):
        calibration_path(name)


def test_a_file_that_is_not_a_calibration_is_a_config_error(tmp_path):
    other = tmp_path / "other.json"
    other.write_text('{"format": "something else"}')
    with pytest.raises(ConfigError, match="is not an imageprism calibration file"):
        load_calibration(other)
    other.write_text("{broken")
    with pytest.raises(ConfigError, match="cannot read calibration"):
        load_calibration(other)


def test_a_calibration_whose_dimension_changed_refuses_to_build_a_prism(demo_photos):
    path = _small_calibration(demo_photos).save("old")
    data = json.loads(path.read_text())
    data["settings"]["dimensions"]["hash"]["fingerprint"] = "hash:an older version"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="hash dimension.* now compute differently"):
        load_calibration("old").prism()


def test_a_dimension_fitted_to_weight_zero_is_left_out_of_the_prism(demo_photos):
    # were it built, this unknown dimension would fail: weight 0 means it is not computed
    path = _small_calibration(demo_photos).save("weighted")
    data = json.loads(path.read_text())
    data["settings"]["dimensions"]["nosuch"] = {"fingerprint": "nosuch:1", "config": None}
    data["weights"] = {"hash": 1.0, "nosuch": 0.0}
    path.write_text(json.dumps(data))
    prism = load_calibration("weighted").prism()
    assert prism.dimensions == ("hash",)
    data["weights"] = {"hash": 0.0, "nosuch": 0.0}
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="every dimension weight 0"):
        load_calibration("weighted").prism()


def test_without_the_variable_calibrations_go_to_the_user_config_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("IMAGEPRISM_CONFIG_DIR")
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert calibration_path("a") == tmp_path / "xdg" / "imageprism" / "calibrations" / "a.json"


# -- the face set ----------------------------------------------------------------------------


def _no_face_setup() -> str:
    if importlib.util.find_spec("dlib") is None:
        return 'dlib is not installed (pip install "imageprism-face[dlib]")'
    if not ((FACES / "master.csv").is_file() and YUNET.is_file()):
        return f"the shared face photos and YuNet model are not available under {SHARED}"
    return ""


@pytest.mark.skipif(bool(_no_face_setup()), reason=_no_face_setup() or "available")
def test_face_calibration_on_master_csv_matches_the_face_preset():
    from imageprism.thresholds.presets import preset
    from imageprism_face import FaceConfig

    config = FaceConfig(embedder="dlib", detector="yunet", detector_path=YUNET)
    result = calibrate(FACES / "master.csv", ImagePrism(["face"], config={"face": config}))
    fit = result.dimensions["face"]
    assert (result.positives, result.negatives, result.errors) == (38, 262, [])
    assert (fit.precision, fit.recall) == (1.0, 1.0)
    assert result.source == str((FACES / "master.csv").resolve())
    registered = preset("similar", "face")
    assert round(fit.threshold, 2) == registered.threshold
    at_preset = measure_threshold(result.scores["face"], result.same, registered.threshold)
    assert (at_preset.precision, at_preset.recall) == (registered.precision, registered.recall)


def test_labelled_pairs_accept_pil_images_and_bytes(demo_photos):
    coffee = Image.open(demo_photos["coffee"])
    pairs = [
        (coffee, demo_photos["coffee_q40"].read_bytes(), True),
        (coffee, demo_photos["astronaut"], False),
    ]
    result = calibrate(pairs, ImagePrism())
    assert result.errors == [] and result.dimensions["hash"].recall == 1.0


def test_a_calibration_file_naming_a_local_model_is_refused_unless_trusted(
    demo_photos, config_dir, tmp_path
):
    saved = _small_calibration(demo_photos).save("ours")
    data = json.loads(saved.read_text())
    semantic = {"fingerprint": "0" * 16, "metric": "cosine", "config": {"model_path": "/x.onnx"}}
    data["settings"]["dimensions"]["semantic"] = semantic
    shared = tmp_path / "from-a-colleague.json"
    shared.write_text(json.dumps(data))
    with pytest.raises(
        ConfigError, match=r"dimension 'semantic': field 'model_path' names a local file"
    ):
        load_calibration(shared)
    assert "semantic" in load_calibration(shared, trust_models=True).settings["dimensions"]
    saved.write_text(json.dumps(data))  # your own config folder: trusted
    assert "semantic" in load_calibration("ours").settings["dimensions"]


def test_a_huge_calibration_file_is_refused_before_it_is_read(tmp_path):
    huge = tmp_path / "huge.json"
    with huge.open("wb") as sparse:
        sparse.truncate(65 * 2**20)
    with pytest.raises(ConfigError, match="too large for a calibration file"):
        load_calibration(huge)
