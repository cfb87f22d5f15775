import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from imageprism import ConfigError, Profile, ProfileSpec
from imageprism.builtins.profiles import BUILTIN_PROFILES
from imageprism.scoring import blend, blend_many, normalize_weights

WEIGHTS_01 = {
    "ecommerce": {"instance": 0.7, "semantic": 0.2, "style": 0.1},
    "copyright": {"hash": 0.5, "instance": 0.3, "semantic": 0.2},
    "dedup": {"hash": 0.6, "instance": 0.3, "semantic": 0.1},
    "forgery": {"hash": 0.5, "instance": 0.3, "semantic": 0.1, "face": 0.1},
    "identity": {"face": 0.8, "instance": 0.1, "semantic": 0.1},
    "visual_search": {"semantic": 0.4, "instance": 0.3, "style": 0.2, "hash": 0.1},
}

names = st.sampled_from(["hash", "semantic", "instance", "style", "face", "colour"])
weights = st.dictionaries(names, st.floats(0.01, 100), min_size=1)
scores_of = st.dictionaries(names, st.one_of(st.none(), st.floats(0, 1)))


def test_builtin_profiles_keep_the_01_weights():
    assert {p.name: p.weights for p in BUILTIN_PROFILES} == {
        name: pytest.approx(w) for name, w in WEIGHTS_01.items()
    }
    assert {getattr(Profile, n.upper()) for n in WEIGHTS_01} == set(WEIGHTS_01)


def test_profile_spec_is_frozen_and_validated():
    profile = ProfileSpec(name="mine", weights={"hash": 2, "colour": 2})
    assert profile.weights == {"hash": 0.5, "colour": 0.5}
    with pytest.raises(ValidationError):
        profile.name = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="weight"):
        ProfileSpec(name="bad", weights={"hash": -1})


@pytest.mark.parametrize(
    "bad", [{}, {"hash": -1}, {"hash": math.inf}, {"hash": True}, {"hash": "1"}, {"hash": 0}]
)
def test_normalize_weights_rejects_bad_weights(bad):
    with pytest.raises(ConfigError):
        normalize_weights(bad)


@given(weights)
def test_normalised_weights_sum_to_one_and_keep_proportions(raw):
    normalised = normalize_weights(raw)
    assert math.isclose(sum(normalised.values()), 1.0)
    first = next(iter(raw))
    for name, value in raw.items():
        assert math.isclose(normalised[name] / normalised[first], value / raw[first], rel_tol=1e-9)


@given(weights, st.floats(0.1, 10))
def test_normalised_weights_do_not_depend_on_scale(raw, factor):
    scaled = normalize_weights({k: v * factor for k, v in raw.items()})
    assert scaled == pytest.approx(normalize_weights(raw))


@given(weights, scores_of)
def test_blend_is_within_the_range_of_the_scores(raw, scores):
    w = normalize_weights(raw)
    zero = blend(scores, w, "zero")
    renorm = blend(scores, w, "renormalize")
    used = [scores.get(n) for n in w]
    present = [s for s in used if s is not None]
    assert 0.0 <= zero <= 1.0 + 1e-9
    if present:
        assert min(present) - 1e-9 <= renorm <= max(present) + 1e-9
        assert zero <= renorm + 1e-9
    else:
        assert renorm is None and zero == 0.0


@given(weights, st.floats(0, 1))
def test_blend_of_equal_scores_is_that_score(raw, value):
    w = normalize_weights(raw)
    scores = dict.fromkeys(w, value)
    assert blend(scores, w) == pytest.approx(value)
    assert blend(scores, w, "renormalize") == pytest.approx(value)


@given(
    weights, st.lists(scores_of, min_size=1, max_size=6), st.sampled_from(["zero", "renormalize"])
)
def test_blend_many_is_blend_element_wise(raw, rows, missing):
    w = normalize_weights(raw)
    arrays = {
        name: np.array([np.nan if r.get(name) is None else r[name] for r in rows]) for name in w
    }
    many = blend_many(arrays, w, missing)
    for row, value in zip(rows, many, strict=True):
        expected = blend(row, w, missing)
        if expected is None:
            assert np.isnan(value)
        else:
            assert value == pytest.approx(expected, abs=1e-12)
