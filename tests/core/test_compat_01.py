"""The published 0.1 surface keeps working (names, call shapes, result fields)."""

import dataclasses

import numpy as np
import pytest
from fakes import registry_with

from imageprism import (
    CompareResult,
    DedupResult,
    Dimension,
    HashConfig,
    ImagePrism,
    Profile,
)


def _image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8)


def test_well_known_names_behave_like_the_01_string_enums():
    assert Dimension.HASH.value == "hash" and Dimension("hash") == Dimension.HASH
    assert list(Dimension) == ["hash", "semantic", "instance", "style", "face"]
    assert Profile.COPYRIGHT.value == "copyright" and Profile("copyright") == Profile.COPYRIGHT
    assert set(Profile) == {
        "ecommerce",
        "copyright",
        "dedup",
        "forgery",
        "identity",
        "visual_search",
    }
    assert {Dimension.HASH: 1}["hash"] == 1


def test_hash_config_takes_positional_fields_like_the_01_dataclass():
    assert HashConfig(("phash",), 16) == HashConfig(algorithms=("phash",), hash_size=16)
    assert HashConfig(("phash",), 16, "max").combine == "max"
    with pytest.raises(ValueError):
        HashConfig(algorithms=("bogus",))
    with pytest.raises(TypeError):
        HashConfig(("phash",), 8, "mean", False, (1.0,), "extra")


def test_01_keyword_arguments_still_work():
    prism = ImagePrism(
        dimensions=[Dimension.HASH],
        config={Dimension.HASH: HashConfig(algorithms=("phash",), hash_size=16)},
        cache_size=0,
    )
    result = prism.compare(image_a=_image(1), image_b=_image(1))
    assert isinstance(result, CompareResult)
    assert result.scores[Dimension.HASH] == result.scores["hash"] == 1.0
    assert len(prism.cache) == 0


def test_wrong_config_type_is_a_type_error_as_in_01():
    with pytest.raises(TypeError, match="HashConfig"):
        ImagePrism(dimensions=[Dimension.HASH], config={Dimension.HASH: object()})


def test_01_result_fields_are_kept():
    assert {f.name for f in dataclasses.fields(CompareResult)} >= {"scores", "weighted_score"}
    assert {f.name for f in dataclasses.fields(DedupResult)} >= {"unique", "labels"}
    result = ImagePrism(dimensions=[Dimension.HASH]).dedup([_image(1), _image(2), _image(1)])
    assert result.unique == [0, 1] and result.labels == [0, 1, 0]


def test_profiles_accept_the_01_enum_style_names():
    registry, _ = registry_with("semantic", "instance")
    prism = ImagePrism(profile=Profile.COPYRIGHT, registry=registry)
    result = prism.compare(_image(3), _image(3))
    assert result.weighted_score == pytest.approx(1.0)
    assert set(result.scores) == {"hash", "instance", "semantic"}


def test_face_config_is_importable_from_imageprism_as_in_01():
    from imageprism import FaceConfig
    from imageprism_face import FaceConfig as PackConfig

    assert FaceConfig is PackConfig


def test_face_config_without_the_pack_names_the_package(monkeypatch):
    import sys

    import imageprism

    monkeypatch.setitem(sys.modules, "imageprism_face", None)
    with pytest.raises(ImportError, match="pip install imageprism-face"):
        imageprism.FaceConfig  # noqa: B018
