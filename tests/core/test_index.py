"""ImageIndex: exact search, range search, failures kept out, save/load with fingerprints."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from fakes import registry_with
from hypothesis import given
from hypothesis import strategies as st

from imageprism import (
    ConfigError,
    HashConfig,
    ImageIndex,
    ImagePrism,
    IndexFileError,
)
from imageprism.scoring import EmbeddingTable


def _photos(demo_photos):
    names = sorted(demo_photos)
    return names, [demo_photos[n] for n in names]


def test_search_ranks_copies_of_the_query_first_with_compare_scores(demo_photos):
    names, paths = _photos(demo_photos)
    prism = ImagePrism()
    index = prism.index(paths, ids=names)
    hits = index.search(demo_photos["coffee"], k=3)
    assert [h.id for h in hits[:2]] == ["coffee", "coffee_q40"]
    for hit in hits:
        expected = prism.compare(demo_photos["coffee"], paths[hit.index])
        assert hit.scores == expected.scores
        assert hit.weighted_score == pytest.approx(expected.weighted_score)
    scores = [h.weighted_score for h in index.search(demo_photos["rocket"], k=len(paths))]
    assert scores == sorted(scores, reverse=True) and len(scores) == len(paths)


def test_range_search_returns_everything_at_or_above_the_threshold(demo_photos):
    names, paths = _photos(demo_photos)
    prism = ImagePrism()
    index = prism.index(paths, ids=names)
    hits = index.range_search(demo_photos["chelsea"], threshold=0.9)
    expected = [
        n
        for n, p in zip(names, paths, strict=True)
        if prism.compare(demo_photos["chelsea"], p).weighted_score >= 0.9
    ]
    assert sorted(h.id for h in hits) == sorted(expected) and "chelsea_half" in expected


@pytest.mark.parametrize("where", [0, 2, 4])
def test_index_building_keeps_good_images_in_order_when_some_fail(demo_photos, tmp_path, where):
    _, paths = _photos(demo_photos)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    inputs = [*paths[:where], bad, *paths[where:]]
    index = ImageIndex(ImagePrism())
    failures = index.add(inputs)
    assert [(f.index, f.source) for f in failures] == [(where, str(bad))]
    assert index.ids == [str(p) for p in paths]


def test_save_and_load_give_the_same_results_and_adding_works(demo_photos, tmp_path):
    names, paths = _photos(demo_photos)
    prism = ImagePrism()
    index = prism.index(paths[:-1], ids=names[:-1])
    path = index.save(tmp_path / "photos.prism")
    loaded = ImageIndex.load(path, ImagePrism())
    query = demo_photos["coffee"]
    assert [h.to_dict() for h in loaded.search(query, k=5)] == [
        h.to_dict() for h in index.search(query, k=5)
    ]
    loaded.add([paths[-1]], ids=[names[-1]])
    assert len(loaded) == len(paths) and loaded.ids[-1] == names[-1]
    json.dumps([h.to_dict() for h in loaded.search(query)])


def test_loading_with_other_fingerprints_is_refused(demo_photos, tmp_path):
    path = ImagePrism().index([demo_photos["coffee"]]).save(tmp_path / "a.prism")
    other = ImagePrism(config={"hash": HashConfig(flip=False)})
    with pytest.raises(IndexFileError, match="hash differ.*make it again"):
        ImageIndex.load(path, other)
    registry, _ = registry_with("colour")
    with pytest.raises(IndexFileError, match="colour"):
        ImageIndex.load(path, ImagePrism(["hash", "colour"], registry=registry))


def test_a_crash_mid_save_leaves_the_previous_file_intact(demo_photos, tmp_path, monkeypatch):
    index = ImagePrism().index([demo_photos["coffee"]])
    path = index.save(tmp_path / "a.prism")
    before = path.read_bytes()
    index.add([demo_photos["rocket"]])

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        index.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.prism"]


def test_unreadable_index_files_are_clear_errors(tmp_path):
    junk = tmp_path / "junk.prism"
    junk.write_bytes(b"not a zip")
    with pytest.raises(IndexFileError, match="cannot read .*junk.prism: not a zip archive"):
        ImageIndex.load(junk, ImagePrism())
    other = tmp_path / "other.prism"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("manifest.json", json.dumps({"format": "x", "dimensions": {}}))
        archive.writestr("ids.json", "[]")
    with pytest.raises(IndexFileError, match="not an imageprism-index"):
        ImageIndex.load(other, ImagePrism())


def test_bad_search_arguments_name_the_argument(demo_photos):
    index = ImagePrism().index([demo_photos["coffee"]])
    with pytest.raises(ConfigError, match="k must be"):
        index.search(demo_photos["coffee"], k=0)
    with pytest.raises(ConfigError, match="threshold"):
        index.range_search(demo_photos["coffee"], threshold=2)
    with pytest.raises(ConfigError, match="one id per image"):
        index.add([demo_photos["coffee"]], ids=["a", "b"])


def test_dimensions_without_an_embedding_score_none_in_hits():
    registry, _ = registry_with("face")
    prism = ImagePrism(
        weights={"hash": 0.5, "face": 0.5},
        config={"face": {"none_when_dark": True}},
        registry=registry,
    )
    rng = np.random.default_rng(0)
    bright = rng.integers(100, 256, (30, 40, 3), dtype=np.uint8)
    dark = bright // 10
    index = prism.index([bright, dark], ids=["bright", "dark"])
    hits = {h.id: h for h in index.search(bright, k=2)}
    assert hits["dark"].scores["face"] is None and hits["bright"].scores["face"] is not None


def test_saving_into_a_missing_folder_is_a_clear_error_and_files_get_normal_modes(
    demo_photos, tmp_path
):
    import os
    import stat

    index = ImagePrism().index([demo_photos["coffee"]])
    with pytest.raises(IndexFileError, match="not found"):
        index.save(tmp_path / "missing" / "a.prism")
    path = index.save(tmp_path / "a.prism")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


def test_load_without_a_prism_rebuilds_the_one_the_index_was_built_with(demo_photos, tmp_path):
    names, paths = _photos(demo_photos)
    config = HashConfig(flip=False, windows=(1.0, 0.5), hash_size=16)
    prism = ImagePrism(config={"hash": config}, missing_scores="renormalize")
    index = prism.index(paths, ids=names)
    path = index.save(tmp_path / "a.prism")
    loaded = ImageIndex.load(path)
    assert loaded.prism.dimension("hash").config == config
    assert loaded.prism.missing_scores == "renormalize"
    query = demo_photos["rocket"]
    assert [h.to_dict() for h in loaded.search(query, k=3)] == [
        h.to_dict() for h in index.search(query, k=3)
    ]


@pytest.mark.parametrize(
    "manifest",
    [
        ["not", "a", "dict"],
        {"format": "imageprism-index/1", "dimensions": {"hash": {}}},
        {"format": "imageprism-index/1", "dimensions": ["hash"]},
    ],
)
def test_malformed_manifests_are_index_file_errors(tmp_path, manifest):
    path = tmp_path / "bad.prism"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        archive.writestr("ids.json", "[]")
    with pytest.raises(IndexFileError):
        ImageIndex.load(path, ImagePrism())


@given(
    st.lists(st.booleans(), max_size=40),
    st.integers(0, 5),
    st.integers(0, 2**32 - 1),
)
def test_embedding_table_extend_equals_appending_row_by_row(mask, before, seed):
    rng = np.random.default_rng(seed)
    matrix = rng.integers(0, 256, (len(mask), 6), dtype=np.uint8)
    present = np.array(mask, dtype=bool)
    one, many = EmbeddingTable(["hash"]), EmbeddingTable(["hash"])
    for table in (one, many):
        for _ in range(before):
            table.append({"hash": None})
    for row, ok in zip(matrix, present, strict=True):
        one.append({"hash": row if ok else None})
    many.extend({"hash": (matrix, present)}, len(mask))
    assert len(one) == len(many)
    (m1, p1), (m2, p2) = one.columns()["hash"], many.columns()["hash"]
    assert np.array_equal(p1, p2)
    if m1 is None:
        assert m2 is None
    else:
        assert np.array_equal(m1[p1], m2[p2])
