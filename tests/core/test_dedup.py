import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from imageprism.dedup.engine import greedy_groups, greedy_groups_many, groups_of
from imageprism.scoring import check_threshold


@st.composite
def problems(draw):
    n = draw(st.integers(0, 12))
    matrix = np.array(
        draw(st.lists(st.floats(0, 1), min_size=n * n, max_size=n * n)), dtype=float
    ).reshape(n, n)
    matrix = (matrix + matrix.T) / 2
    valid = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    threshold = draw(st.floats(0, 1))
    return matrix, valid, threshold


@given(problems())
def test_greedy_groups_follow_the_01_rules(problem):
    matrix, valid, threshold = problem
    unique, labels = greedy_groups(valid, lambda i, j: float(matrix[i, j]), threshold)
    assert unique == sorted(unique)
    for item, label in enumerate(labels):
        if not valid[item]:
            assert label is None
            continue
        earlier = [r for r in unique if r < item]
        matching = [r for r in earlier if matrix[item, r] >= threshold]
        if item in unique:
            assert label == item and not matching
        else:
            # joins the first earlier representative that reaches the threshold (0.1 rule)
            assert label == matching[0]


@given(problems())
def test_groups_partition_the_labelled_items(problem):
    matrix, valid, threshold = problem
    unique, labels = greedy_groups(valid, lambda i, j: float(matrix[i, j]), threshold)
    groups = groups_of(unique, labels)
    for group in groups:
        assert len(group) >= 2 and group[0] in unique
        assert all(labels[m] == group[0] for m in group)
    grouped = {m for g in groups for m in g}
    singles = {i for i, label in enumerate(labels) if label is not None} - grouped
    assert all(labels[i] == i for i in singles)


def test_none_scores_never_match():
    unique, labels = greedy_groups([True, True], lambda i, j: None, 0.0)
    assert unique == [0, 1] and labels == [0, 1]


@pytest.mark.parametrize("value", [0, 0.5, 1])
def test_check_threshold_accepts_zero_to_one(value):
    assert check_threshold(value) == float(value)


@given(problems(), st.data())
def test_vectorised_greedy_is_identical_to_the_01_loop(problem, data):
    matrix, valid, threshold = problem
    n = len(valid)
    unscorable = (
        np.array(
            data.draw(st.lists(st.booleans(), min_size=n * n, max_size=n * n)), dtype=bool
        ).reshape(n, n)
        if n
        else np.zeros((0, 0), bool)
    )
    scores = np.where(unscorable | unscorable.T, np.nan, matrix)

    def one(i, j):
        value = scores[i, j]
        return None if np.isnan(value) else float(value)

    def many(i, reps):
        return scores[i, reps]

    assert greedy_groups_many(valid, many, threshold) == greedy_groups(valid, one, threshold)
