import io
import json

import numpy as np
import pytest
from fakes import MeanColourConfig, registry_with
from PIL import Image

from imageprism import (
    ConfigError,
    Dimension,
    DimensionError,
    HashConfig,
    ImageLoadError,
    ImagePrism,
    PluginError,
    Profile,
    UnknownDimensionError,
    UnknownProfileError,
)


def _solid(colour, size=(40, 30)) -> np.ndarray:
    return np.full((size[1], size[0], 3), colour, dtype=np.uint8)


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def test_default_prism_is_hash_only():
    prism = ImagePrism()
    assert prism.dimensions == ("hash",)
    assert prism.weights == {"hash": 1.0}


def test_well_known_names_are_plain_strings():
    assert Dimension.HASH == "hash" and Dimension.FACE == "face"
    assert Profile.VISUAL_SEARCH == "visual_search"
    assert ImagePrism(dimensions=[Dimension.HASH]).dimensions == ImagePrism(["hash"]).dimensions


def test_profile_sets_weights_and_dimensions():
    registry, _ = registry_with("semantic", "instance")
    prism = ImagePrism(profile=Profile.COPYRIGHT, registry=registry)
    assert prism.dimensions == ("hash", "instance", "semantic")
    assert prism.weights == pytest.approx({"hash": 0.5, "instance": 0.3, "semantic": 0.2})
    assert ImagePrism(profile="copyright", registry=registry).weights == prism.weights


def test_weights_are_normalised_and_add_their_dimensions():
    registry, _ = registry_with("semantic")
    prism = ImagePrism(weights={"hash": 3, "semantic": 1}, registry=registry)
    assert prism.weights == {"hash": 0.75, "semantic": 0.25}
    assert prism.dimensions == ("hash", "semantic")


def test_explicit_dimensions_without_weights_are_weighted_equally():
    registry, _ = registry_with("semantic")
    prism = ImagePrism(dimensions=["hash", "semantic"], registry=registry)
    assert prism.weights == {"hash": 0.5, "semantic": 0.5}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"profile": "copyright", "weights": {"hash": 1}}, "profile= or weights="),
        ({"weights": {"hash": -1}}, r"weights\['hash'\]"),
        ({"weights": {"hash": float("nan")}}, r"weights\['hash'\]"),
        ({"weights": {"hash": 0}}, "weight > 0"),
        ({"weights": {}}, "non-empty"),
        ({"dimensions": []}, "at least one"),
        ({"dimensions": 5}, "list of dimension names"),
        ({"missing_scores": "ignore"}, "zero, renormalize"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_pixels": 0}, "max_pixels"),
        ({"config": {"semantic": {}}}, "not among the dimensions"),
        ({"config": {"hash": {"hash_size": 2}}}, r"config\['hash'\] is invalid"),
        ({"config": {"hash": 42}}, r"config\['hash'\] must be a HashConfig"),
    ],
)
def test_bad_arguments_name_the_argument_and_allowed_values(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ImagePrism(**kwargs)


def test_unknown_names_list_what_is_available():
    with pytest.raises(UnknownDimensionError, match="available: .*hash"):
        ImagePrism(dimensions=["nosuch"])
    with pytest.raises(UnknownProfileError, match="available: .*copyright"):
        ImagePrism(profile="nosuch")


def test_config_accepts_model_or_dict():
    image = _png(np.random.default_rng(0).integers(0, 255, (50, 60, 3), dtype=np.uint8))
    by_model = ImagePrism(
        config={"hash": HashConfig(algorithms=("phash",), hash_size=16, flip=False, windows=(1.0,))}
    )
    by_dict = ImagePrism(
        config={
            Dimension.HASH: {"algorithms": ["phash"], "hash_size": 16, "flip": 0, "windows": [1]}
        }
    )
    assert by_model.embed(image)["hash"].shape == (32,)
    np.testing.assert_array_equal(by_model.embed(image)["hash"], by_dict.embed(image)["hash"])


def test_compare_scores_every_dimension_and_blends():
    registry, _ = registry_with("colour")
    prism = ImagePrism(weights={"hash": 0.25, "colour": 0.75}, registry=registry)
    a = _solid((200, 10, 10))
    result = prism.compare(a, a.copy())
    assert result.scores == {"hash": 1.0, "colour": pytest.approx(1.0)}
    assert result.weighted_score == pytest.approx(1.0)
    json.dumps(result.to_dict())


def test_none_score_counts_zero_or_renormalises():
    registry, _ = registry_with("face")
    config = {"face": MeanColourConfig(none_when_dark=True)}
    dark, light = _solid((5, 5, 5)), _solid((250, 250, 250))
    zero = ImagePrism(weights={"hash": 0.5, "face": 0.5}, config=config, registry=registry)
    renorm = ImagePrism(
        weights={"hash": 0.5, "face": 0.5},
        config=config,
        registry=registry,
        missing_scores="renormalize",
    )
    for prism in (zero, renorm):
        assert prism.compare(dark, light).scores["face"] is None
    assert zero.compare(dark, dark).weighted_score == pytest.approx(0.5)
    assert renorm.compare(dark, dark).weighted_score == pytest.approx(1.0)
    only_face = ImagePrism(["face"], config=config, registry=registry, missing_scores="renormalize")
    assert only_face.compare(dark, light).weighted_score is None


def test_comparing_one_image_against_many_embeds_it_once():
    registry, pack = registry_with("colour")
    prism = ImagePrism(["colour"], registry=registry)
    query = _png(_solid((10, 200, 30)))
    others = [_png(_solid((i * 20, 40, 60))) for i in range(6)]
    for other in others:
        prism.compare(query, other)
    embedded = pack.built["colour"].embedded
    assert len(embedded) == 1 + len(others)
    assert len(set(embedded)) == len(embedded)


def test_comparing_an_image_with_itself_embeds_it_once():
    registry, pack = registry_with("colour")
    prism = ImagePrism(["colour"], registry=registry)
    image = _png(_solid((10, 200, 30)))
    assert prism.compare(image, image).scores["colour"] == pytest.approx(1.0)
    assert len(pack.built["colour"].embedded) == 1


def test_embed_returns_one_embedding_per_dimension():
    registry, _ = registry_with("colour")
    embedding = ImagePrism(["hash", "colour"], registry=registry).embed(_solid((1, 2, 3)))
    assert set(embedding) == {"hash", "colour"}
    assert embedding["hash"].dtype == np.uint8


def test_compare_names_the_source_that_fails(tmp_path):
    missing = tmp_path / "missing.jpg"
    with pytest.raises(ImageLoadError, match="missing.jpg"):
        ImagePrism().compare(_solid((1, 1, 1)), missing)
    broken = tmp_path / "broken.png"
    broken.write_bytes(_png(_solid((9, 9, 9)))[:60])
    with pytest.raises(ImageLoadError, match="broken.png"):
        ImagePrism().embed(broken)


@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_embed_many_keeps_good_images_when_some_fail(tmp_path, where):
    good = [_png(_solid((i * 40, 0, 0))) for i in range(4)]
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image at all")
    position = {"start": 0, "middle": 2, "end": 4}[where]
    images = [*good[:position], bad, *good[position:]]
    batch = ImagePrism().embed_many(images)
    assert [e.index for e in batch.errors] == [position]
    assert batch.errors[0].source.endswith("bad.jpg")
    assert batch.embeddings[position] is None
    expected = [ImagePrism().embed(g)["hash"] for g in good]
    got = [e["hash"] for i, e in enumerate(batch.embeddings) if i != position]
    for a, b in zip(expected, got, strict=True):
        np.testing.assert_array_equal(a, b)
    json.dumps(batch.to_dict())


def test_a_dimension_that_fails_on_one_image_costs_only_that_image():
    registry, _ = registry_with("colour")
    prism = ImagePrism(
        ["colour"], config={"colour": {"fail_on_red": True}}, registry=registry, batch_size=8
    )
    images = [_solid((0, 0, 200)), _solid((250, 0, 0)), _solid((0, 200, 0))]
    batch = prism.embed_many(images)
    assert [e.index for e in batch.errors] == [1]
    assert "dimension 'colour' of plugin 'fake'" in batch.errors[0].reason
    assert "model exploded on a red image" in batch.errors[0].reason
    assert batch.embeddings[0] is not None and batch.embeddings[2] is not None


def test_dedup_groups_reencoded_and_resized_copies(demo_photos):
    names = ["coffee", "astronaut", "coffee_q40", "chelsea", "chelsea_half", "rocket"]
    result = ImagePrism().dedup([demo_photos[n] for n in names], threshold=0.9)
    assert result.labels == [0, 1, 0, 3, 3, 5]
    assert result.unique == [0, 1, 3, 5]
    assert result.groups == [[0, 2], [3, 4]]
    assert result.errors == []
    json.dumps(result.to_dict())


def test_dedup_keeps_good_images_when_one_is_corrupt(demo_photos, tmp_path):
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(demo_photos["coffee"].read_bytes()[:200])
    images = [demo_photos["coffee"], corrupt, demo_photos["coffee_q40"], demo_photos["rocket"]]
    result = ImagePrism().dedup(images, threshold=0.9)
    assert result.labels == [0, None, 0, 3]
    assert [(e.index, e.source) for e in result.errors] == [(1, str(corrupt))]
    assert result.errors[0].reason


def test_dedup_with_a_weighted_profile():
    registry, _ = registry_with("semantic", "instance")
    prism = ImagePrism(profile="dedup", registry=registry)
    red, red2, blue = _solid((200, 0, 0)), _solid((201, 1, 0)), _solid((0, 0, 200))
    result = prism.dedup([red, blue, red2], threshold=0.95)
    assert result.labels == [0, 1, 0]


@pytest.mark.parametrize("threshold", [-0.1, 1.5, "high", True])
def test_dedup_rejects_thresholds_outside_zero_one(threshold):
    with pytest.raises(ConfigError, match="threshold"):
        ImagePrism().dedup([_solid((0, 0, 0))], threshold=threshold)


def test_a_failing_dimension_raises_an_error_naming_plugin_and_image():
    registry, _ = registry_with("colour")
    prism = ImagePrism(["colour"], config={"colour": {"fail_on_red": True}}, registry=registry)
    with pytest.raises(DimensionError, match=r"'colour' of plugin 'fake'.*<array 30x40x3") as info:
        prism.compare(_solid((250, 0, 0)), _solid((0, 0, 250)))
    assert info.value.dimension == "colour" and info.value.source == "<array 30x40x3 uint8>"


def test_wrong_embedding_types_from_a_plugin_are_reported_not_crashed(monkeypatch):
    registry, pack = registry_with("colour")
    prism = ImagePrism(["colour"], registry=registry)
    monkeypatch.setattr(pack.built["colour"], "embed_batch", lambda images: [[1.0]] * len(images))
    batch = prism.embed_many([_solid((1, 2, 3)), _solid((3, 2, 1))])
    assert len(batch.errors) == 2
    assert "1-D numpy arrays" in batch.errors[0].reason


def test_a_factory_that_raises_is_a_plugin_error():
    registry, _ = registry_with("colour")

    def broken(config):
        raise FileNotFoundError("weights.bin")

    registry.dimensions["colour"] = registry.dimensions["colour"].model_copy(
        update={"factory": broken}
    )
    with pytest.raises(PluginError, match="could not be built by plugin 'fake'.*weights.bin"):
        ImagePrism(["colour"], registry=registry)


def test_embeddings_are_read_only_whether_fresh_or_cached():
    prism = ImagePrism()
    image = _solid((9, 99, 199))
    fresh, cached = prism.embed(image)["hash"], prism.embed(image)["hash"]
    for embedding in (fresh, cached):
        with pytest.raises(ValueError):
            embedding[0] = 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"cache_size": -1}, "cache_size"),
        ({"config": ["hash"]}, "config must be a dict"),
        ({"weights": 5}, "weights must be a dict"),
    ],
)
def test_argument_type_errors_name_the_argument(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ImagePrism(**kwargs)


def test_embed_many_prepares_images_one_batch_at_a_time():
    registry, pack = registry_with("colour")
    prism = ImagePrism(["colour"], registry=registry, batch_size=4, threads=1)
    yielded = []

    def images():
        for i in range(10):
            yielded.append(i)
            yield _solid((i * 20, 0, 0))

    seen_when_embedding = []
    dimension = pack.built["colour"]
    original = dimension.embed_batch

    def spy(batch):
        seen_when_embedding.append((len(batch), len(yielded)))
        return original(batch)

    dimension.embed_batch = spy
    result = prism.embed_many(images())
    assert [size for size, _ in seen_when_embedding] == [4, 4, 2]
    assert [count for _, count in seen_when_embedding] == [4, 8, 10]
    assert all(e is not None for e in result.embeddings)


def test_threads_embed_chunks_concurrently_with_the_same_results(demo_photos):
    import threading

    paths = [demo_photos[name] for name in sorted(demo_photos)] * 3
    one = ImagePrism(batch_size=2, threads=1, cache_size=0).embed_many(paths)
    seen_threads = set()
    prism = ImagePrism(batch_size=2, threads=2, cache_size=0)
    dimension = prism.dimension("hash")
    original = dimension.embed_batch

    def spy(images):
        seen_threads.add(threading.get_ident())
        return original(images)

    dimension.embed_batch = spy
    two = prism.embed_many(paths)
    assert len(seen_threads) == 2
    for a, b in zip(one.embeddings, two.embeddings, strict=True):
        np.testing.assert_array_equal(a["hash"], b["hash"])


@pytest.mark.parametrize("threads", [0, -1, 1.5, True])
def test_threads_must_be_a_positive_integer(threads):
    with pytest.raises(ConfigError, match="threads"):
        ImagePrism(threads=threads)


@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_dedup_reports_bad_files_anywhere_and_keeps_the_order(demo_photos, tmp_path, where):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 30)
    good = [demo_photos[n] for n in ("coffee", "coffee_q40", "rocket", "rocket_png", "chelsea")]
    position = {"start": 0, "middle": 2, "end": 5}[where]
    images = [*good[:position], bad, *good[position:]]
    result = ImagePrism(batch_size=2).dedup(images, threshold=0.9)
    assert [(e.index, e.source) for e in result.errors] == [(position, str(bad))]
    labels = [label for i, label in enumerate(result.labels) if i != position]
    reference = ImagePrism().dedup(good, threshold=0.9).labels
    shift = [i if i < position else i + 1 for i in range(len(good))]
    assert labels == [shift[r] for r in reference]
    assert result.labels[position] is None


@pytest.mark.parametrize("missing", ["zero", "renormalize"])
def test_dedup_equals_the_pairwise_greedy_loop_over_compare(missing):
    registry, _ = registry_with("face")
    rng = np.random.default_rng(11)
    base = [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(6)]
    images = []
    for i in range(24):
        image = base[i % 6].copy()
        image[: i % 5, :] = 3  # small edits, and some dark images (face = None)
        if i % 4 == 0:
            image //= 12
        images.append(image)
    prism = ImagePrism(
        weights={"hash": 0.7, "face": 0.3},
        config={"face": {"none_when_dark": True}},
        missing_scores=missing,
        registry=registry,
    )
    from imageprism.dedup.engine import greedy_groups

    def score(i, j):
        return prism.compare(images[i], images[j]).weighted_score

    for threshold in (0.5, 0.7, 0.85):
        expected = greedy_groups([True] * len(images), score, threshold)
        result = prism.dedup(images, threshold=threshold)
        assert (result.unique, result.labels) == expected


def test_identical_images_reach_threshold_one_whatever_the_weights():
    registry, _ = registry_with("d1", "d2", "d3")
    prism = ImagePrism(
        weights={"hash": 3, "d1": 3, "d2": 3, "d3": np.float32(1)}, registry=registry
    )
    image = _solid((40, 90, 140))
    assert prism.compare(image, image.copy()).weighted_score == 1.0
    assert prism.dedup([image, image.copy(), image.copy()], threshold=np.float32(1.0)).labels == [
        0,
        0,
        0,
    ]


def test_a_nan_score_from_a_plugin_counts_as_not_scored(monkeypatch):
    registry, pack = registry_with("colour")
    prism = ImagePrism(weights={"hash": 0.5, "colour": 0.5}, registry=registry)
    monkeypatch.setattr(pack.built["colour"], "similarity", lambda a, b: float("nan"))
    result = prism.compare(_solid((1, 2, 3)), _solid((1, 2, 3)))
    assert result.scores["colour"] is None and result.weighted_score == pytest.approx(0.5)
    json.dumps(result.to_dict(), allow_nan=False)


def test_embed_many_reports_progress_after_each_batch():
    calls = []
    images = [_solid((i, 0, 0)) for i in range(10)]
    ImagePrism(batch_size=3, threads=1).embed_many(
        images, progress=lambda d, t: calls.append((d, t))
    )
    assert calls == [(3, 10), (6, 10), (9, 10), (10, 10)]
    calls.clear()
    ImagePrism(batch_size=4, threads=1).dedup(
        iter(images), progress=lambda d, t: calls.append((d, t))
    )
    assert calls == [(4, None), (8, None), (10, None)]
