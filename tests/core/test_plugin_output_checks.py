"""The host checks every plugin output once, where it enters (issue 20, item 4).

A fake plugin ``acme`` from a distribution ``acme-dims`` provides the cosine
dimension ``colour``; each test makes its built dimension misbehave one way and
checks that the fault is a ``PluginError`` naming the dimension, the plugin and
its distribution, reported for the image it concerns while the batch goes on.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from fakes import FakePack, core_entry_points, entry_points_from

from imageprism import DimensionError, ImagePrism, PluginError
from imageprism.errors import PluginWarning
from imageprism.plugin.outputs import EmbeddingCheck
from imageprism.plugin.registry import Registry

NAMED = "dimension 'colour' of plugin 'acme' (acme-dims)"


def _solid(colour: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> np.ndarray:
    return np.full((size[1], size[0], 3), colour, dtype=np.uint8)


RED, GREEN, BLUE = _solid((220, 10, 10)), _solid((10, 220, 10)), _solid((10, 10, 220))


@pytest.fixture
def acme(tmp_path) -> tuple[Registry, FakePack]:
    """Core, plus the ``acme`` plugin of the ``acme-dims`` distribution providing ``colour``."""
    pack = FakePack("colour")
    points = entry_points_from(tmp_path, "acme-dims", {"acme": pack})
    return Registry(entry_points=core_entry_points() + points), pack


def _prism(acme, **kwargs) -> ImagePrism:
    registry, _ = acme
    return ImagePrism(["colour"], registry=registry, threads=1, **kwargs)


def _faulty(acme, monkeypatch, fault) -> None:
    """Make the built ``colour`` return ``fault(image, embedding)`` for each image."""
    dimension = acme[1].built["colour"]
    real = dimension.embed_batch
    monkeypatch.setattr(
        dimension,
        "embed_batch",
        lambda images: [fault(i, e) for i, e in zip(images, real(images), strict=True)],
    )


def _is_red(image) -> bool:
    mean = image.array(min_side=8).reshape(-1, 3).mean(axis=0)
    return bool(mean[0] > 150)


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (np.array([np.nan, 1.0, 1.0]), "NaN or infinite values"),
        (np.array([np.inf, 1.0, 1.0]), "NaN or infinite values"),
        (np.zeros(3), "an all-zero vector"),
        (np.array([1, 2, 3]), "int64 array, but cosine embeddings must be float32 or float64"),
        (np.ones((1, 3)), "2-D float64 array of shape (1, 3), but embed_batch must return 1-D"),
        ([1.0, 2.0, 3.0], "a list, but embed_batch must return 1-D numpy arrays or None"),
        (np.ones(0), "an empty array"),
    ],
)
def test_a_refused_embedding_fails_its_image_alone_naming_plugin_and_distribution(
    acme, monkeypatch, bad, says
):
    prism = _prism(acme)
    _faulty(acme, monkeypatch, lambda image, e: bad if _is_red(image) else e)
    batch = prism.embed_many([GREEN, RED, BLUE])
    assert [error.index for error in batch.errors] == [1]
    reason = batch.errors[0].reason
    assert reason.startswith(f"{NAMED} returned ") and says in reason, reason
    assert batch.embeddings[1] is None
    assert batch.embeddings[0]["colour"].shape == batch.embeddings[2]["colour"].shape == (3,)


def test_compare_raises_the_per_image_fault_as_a_plugin_error(acme, monkeypatch):
    prism = _prism(acme)
    _faulty(acme, monkeypatch, lambda image, e: np.zeros(3) if _is_red(image) else e)
    with pytest.raises(DimensionError, match="all-zero vector") as info:
        prism.compare(GREEN, RED)
    error = info.value
    assert isinstance(error, PluginError)
    assert (error.plugin, error.distribution, error.component) == (
        "acme",
        "acme-dims",
        "dimension 'colour'",
    )
    assert (error.dimension, error.source) == ("colour", "<array 30x40x3 uint8>")


def test_embeddings_whose_length_varies_are_refused_and_dedup_still_groups_the_rest(
    acme, monkeypatch
):
    prism = _prism(acme, batch_size=2)
    _faulty(acme, monkeypatch, lambda image, e: np.append(e, 1.0) if _is_red(image) else e)
    result = prism.dedup([GREEN, RED, GREEN.copy(), BLUE], threshold=0.99)
    assert [error.index for error in result.errors] == [1]
    assert "4 values, but its embeddings are 3 values long" in result.errors[0].reason
    assert NAMED in result.errors[0].reason
    assert result.labels == [0, None, 0, 3]


def test_the_length_is_that_of_the_first_embedding_the_dimension_returned(acme, monkeypatch):
    prism = _prism(acme)
    _faulty(acme, monkeypatch, lambda image, e: np.append(e, 1.0) if _is_red(image) else e)
    assert prism.embed(RED)["colour"].shape == (4,)  # the first: every later one must match
    batch = prism.embed_many([GREEN, RED])
    assert [error.index for error in batch.errors] == [0]
    assert "3 values, but its embeddings are 4 values long" in batch.errors[0].reason


def test_hamming_embeddings_must_be_packed_bytes(acme, monkeypatch):
    registry, _ = acme
    prism = ImagePrism(["hash"], registry=registry, threads=1)
    dimension = prism.dimension("hash")
    real = dimension.embed_batch
    monkeypatch.setattr(
        dimension, "embed_batch", lambda images: [e.astype(np.float32) for e in real(images)]
    )
    batch = prism.embed_many([GREEN])
    assert "dimension 'hash' of plugin 'hash' (imageprism-core)" in batch.errors[0].reason
    assert "float32 array, but hamming embeddings must be uint8" in batch.errors[0].reason


def test_an_embed_call_that_raises_fails_only_the_image_it_raised_on(acme, monkeypatch):
    prism = _prism(acme)
    dimension = acme[1].built["colour"]
    real = dimension.embed_batch

    def exploding(images):
        if any(_is_red(image) for image in images):
            raise RuntimeError("model exploded")
        return real(images)

    monkeypatch.setattr(dimension, "embed_batch", exploding)
    batch = prism.embed_many([GREEN, RED, BLUE])
    assert [error.index for error in batch.errors] == [1]
    assert batch.errors[0].reason == (
        f"{NAMED} failed on <array 30x40x3 uint8>: RuntimeError: model exploded"
    )


def test_a_short_batch_is_embedded_one_by_one_with_one_plugin_warning(acme, monkeypatch):
    prism = _prism(acme, batch_size=3)
    dimension = acme[1].built["colour"]
    real = dimension.embed_batch
    calls: list[int] = []

    def dropping_the_last(images):
        calls.append(len(images))
        out = real(images)
        return out[:-1] if len(images) > 1 else out

    monkeypatch.setattr(dimension, "embed_batch", dropping_the_last)
    images = [_solid((i * 40, 100, 0)) for i in range(6)]
    with pytest.warns(PluginWarning) as caught:
        batch = prism.embed_many(images)
    assert batch.errors == [] and all(e is not None for e in batch.embeddings)
    assert calls == [3, 1, 1, 1, 3, 1, 1, 1]
    assert [str(w.message) for w in caught] == [
        f"{NAMED} returned 2 embeddings for 3 images from one embed_batch call (it must "
        "return one embedding or None per image); its images are embedded one at a time instead"
    ]
    expected = ImagePrism(["colour"], registry=acme[0]).embed_many(images).embeddings
    for got, want in zip(batch.embeddings, expected, strict=True):
        np.testing.assert_allclose(got["colour"], want["colour"])


def test_no_embedding_for_a_single_image_fails_that_image(acme, monkeypatch):
    prism = _prism(acme)
    monkeypatch.setattr(acme[1].built["colour"], "embed_batch", lambda images: [])
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginWarning)  # a single image is an error, not a warning
        batch = prism.embed_many([GREEN])
    assert batch.errors[0].reason == (
        f"{NAMED} returned 0 embeddings for 1 image (<array 30x40x3 uint8>); "
        "embed_batch must return one embedding or None per image"
    )


def test_a_factory_that_raises_names_plugin_distribution_and_dimension(acme):
    registry, _ = acme

    def broken(config):
        raise OSError("licence server unreachable")

    registry.dimensions["colour"] = registry.dimensions["colour"].model_copy(
        update={"factory": broken}
    )
    with pytest.raises(PluginError) as info:
        ImagePrism(["colour"], registry=registry)
    assert str(info.value) == (
        "dimension 'colour' could not be built by plugin 'acme' (acme-dims): "
        "OSError: licence server unreachable"
    )
    assert (info.value.plugin, info.value.distribution, info.value.component) == (
        "acme",
        "acme-dims",
        "dimension 'colour'",
    )


@pytest.mark.parametrize(
    ("fingerprint", "says"),
    [(None, "has the fingerprint None; it must be a non-empty string"), ("", "fingerprint ''")],
)
def test_a_fingerprint_that_is_not_a_string_is_a_plugin_error(acme, fingerprint, says):
    prism = _prism(acme)
    acme[1].built["colour"].fingerprint = fingerprint
    with pytest.raises(PluginError, match=f"^{re.escape(NAMED)} .*{re.escape(says)}"):
        prism.embed(GREEN)


def test_a_fingerprint_that_raises_is_a_plugin_error(acme, monkeypatch):
    prism = _prism(acme)
    dimension = acme[1].built["colour"]

    def broken(self):
        raise RuntimeError("cannot hash the weights")

    monkeypatch.setattr(type(dimension), "fingerprint", property(broken), raising=False)
    with pytest.raises(PluginError, match="failed to give its fingerprint: RuntimeError"):
        prism.embed(GREEN)


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (float("nan"), None),
        (float("inf"), None),
        (None, None),
        (1.0 + 1e-9, 1.0),  # float rounding past 1 is clipped
        (-1e-9, 0.0),
        (np.float32(0.25), 0.25),
    ],
)
def test_scores_are_a_number_in_zero_one_or_none(acme, monkeypatch, score, expected):
    prism = _prism(acme)
    monkeypatch.setattr(acme[1].built["colour"], "similarity", lambda a, b: score)
    assert prism.compare(GREEN, BLUE).scores["colour"] == expected


@pytest.mark.parametrize(
    ("score", "says"),
    [
        (1.5, "scored a pair 1.5, outside [0, 1]"),
        (-0.2, "scored a pair -0.2, outside [0, 1]"),
        ("0.5", "scored a pair with a str"),
        (np.array([0.5]), "scored a pair with a 1-D float64 array"),
    ],
)
def test_a_score_outside_zero_one_is_a_plugin_error(acme, monkeypatch, score, says):
    prism = _prism(acme)
    monkeypatch.setattr(acme[1].built["colour"], "similarity", lambda a, b: score)
    with pytest.raises(PluginError, match=f"^{re.escape(NAMED)} ") as info:
        prism.compare(GREEN, BLUE)
    assert says in str(info.value)


def test_a_similarity_that_raises_is_a_plugin_error(acme, monkeypatch):
    prism = _prism(acme)

    def broken(a, b):
        raise ValueError("matmul: shapes differ")

    monkeypatch.setattr(acme[1].built["colour"], "similarity", broken)
    with pytest.raises(PluginError) as info:
        prism.compare(GREEN, BLUE)
    assert str(info.value) == f"{NAMED} failed to score a pair: ValueError: matmul: shapes differ"


def test_the_check_finds_every_fault_of_a_batch_at_once():
    check = EmbeddingCheck("cosine")
    values = [
        np.ones(4, np.float32),
        None,
        np.array([1.0, np.nan, 0.0, 0.0]),
        np.zeros(4),
        np.ones(5),
        np.ones(4, np.float64),
    ]
    problems = check.problems(values)
    assert problems[0] is None and problems[1] is None and problems[5] is None
    assert problems[2] == "NaN or infinite values"
    assert problems[3].startswith("an all-zero vector")
    assert problems[4].startswith("5 values, but its embeddings are 4 values long")
    assert check.length == 4
    assert EmbeddingCheck("hamming").problems([np.zeros(8, np.uint8)]) == [None]  # zero bits: fine


@pytest.mark.parametrize(
    ("similarity", "says"),
    [
        (lambda a, b: 1.7, "scored a pair 1.7; scores must lie in [0, 1]"),
        (lambda a, b: 1 / 0, "failed to score pairs: ZeroDivisionError: division by zero"),
    ],
)
def test_dedup_scoring_faults_are_plugin_errors_naming_the_plugin(
    acme, monkeypatch, similarity, says
):
    # dedup scores an image against many through scoring.similarity_many, not compare;
    # only pairs that may reach the threshold are scored: two reds
    prism = _prism(acme)
    monkeypatch.setattr(acme[1].built["colour"], "similarity", similarity)
    with pytest.raises(PluginError, match=f"^{re.escape(NAMED)} ") as info:
        prism.dedup([RED, _solid((215, 12, 12)), BLUE])
    assert says in str(info.value)


def test_dedup_clips_scores_just_outside_zero_one_from_float_rounding(acme, monkeypatch):
    prism = _prism(acme)
    monkeypatch.setattr(acme[1].built["colour"], "similarity", lambda a, b: 1.0 + 1e-9)
    assert prism.dedup([RED, _solid((215, 12, 12)), BLUE]).labels == [0, 0, 2]
