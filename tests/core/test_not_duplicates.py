"""Remembered not-duplicates: pairs of content digests, kept in their own SQLite file."""

from __future__ import annotations

import itertools
import json
import sqlite3

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from imageprism import ConfigError, ImageLoadError, ImagePrism, prepare
from imageprism.dedup.not_duplicates import (
    FORMAT,
    SCHEMA_VERSION,
    NotDuplicates,
    default_path,
    is_digest,
    read_marks,
    salvage,
)
from imageprism.errors import StoreFileError
from imageprism.io.store import EmbeddingStore

A, B, C = "a" * 32, "b" * 32, "c" * 32


@pytest.fixture
def marks(tmp_path):
    with NotDuplicates(tmp_path / "marks.sqlite") as opened:
        yield opened


def _image(path, seed):
    pixels = np.random.default_rng(seed).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def test_a_pair_is_unordered_and_added_once(marks):
    assert marks.add(B, A) is True
    assert marks.add(A, B) is False
    assert marks.contains(A, B) and marks.contains(B, A) and (B, A) in marks
    assert not marks.contains(A, C)
    assert marks.pairs() == [(A, B)] and len(marks) == 1


def test_digests_are_compared_without_regard_to_case(marks):
    marks.add(A.upper(), B)
    assert marks.contains(A, B.upper()) and marks.pairs() == [(A, B)]


def test_remove_forgets_a_pair_in_either_order(marks):
    marks.add(A, B)
    marks.add(A, C)
    assert marks.remove(B, A) is True
    assert marks.remove(A, B) is False
    assert marks.pairs() == [(A, C)]


def test_marks_survive_closing_and_reopening(tmp_path):
    with NotDuplicates(tmp_path / "marks.sqlite") as marks:
        marks.add_many([(A, B), (C, B)])
    with NotDuplicates(tmp_path / "marks.sqlite") as marks:
        assert marks.pairs() == [(A, B), (B, C)]


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        (A, A, "always a duplicate of itself"),
        ("a" * 31, B, "not a content digest"),
        (A, "z" * 32, "not a content digest"),
        (A, "photo.jpg", "not a content digest"),
    ],
)
def test_bad_pairs_are_refused_and_nothing_is_added(marks, a, b, message):
    with pytest.raises(ConfigError, match=message):
        marks.add_many([(A, C), (a, b)])
    assert len(marks) == 0
    assert marks.contains(a, b) is False


def test_marks_of_images_follow_their_content_through_a_rename(tmp_path, marks):
    first, second = _image(tmp_path / "first.png", 1), _image(tmp_path / "second.png", 2)
    digests = marks.add_images(first, second)
    moved = tmp_path / "moved" / "elsewhere.png"
    moved.parent.mkdir()
    first.rename(moved)
    result = ImagePrism().dedup([second, moved])
    assert set(result.digests) == set(digests)
    assert marks.pairs_among(result.digests) == {(0, 1)}


def test_editing_an_image_drops_its_marks(tmp_path, marks):
    first, second = _image(tmp_path / "first.png", 1), _image(tmp_path / "second.png", 2)
    marks.add_images(first, second)
    _image(first, 3)
    result = ImagePrism().dedup([first, second])
    assert marks.pairs_among(result.digests) == set()


def test_an_image_cannot_be_marked_against_a_copy_of_itself(tmp_path, marks):
    first = _image(tmp_path / "first.png", 1)
    (tmp_path / "copy.png").write_bytes(first.read_bytes())
    with pytest.raises(ConfigError, match="same content"):
        marks.add_images(first, tmp_path / "copy.png")
    with pytest.raises(ImageLoadError, match="missing.png"):
        marks.add_images(first, tmp_path / "missing.png")
    assert len(marks) == 0


def test_pairs_among_skips_failed_inputs_and_covers_repeated_digests(marks):
    marks.add_many([(A, B), (B, C)])
    assert marks.pairs_among([A, None, B, A, "d" * 32]) == {(0, 2), (2, 3)}
    assert marks.pairs_among([C, B]) == {(0, 1)}
    assert marks.pairs_among([A, None]) == set() and marks.pairs_among([]) == set()


def test_pairs_among_many_digests_finds_every_marked_pair(marks):
    digests = [f"{number:032x}" for number in range(1500)]
    marks.add_many([(digests[i], digests[i + 700]) for i in range(0, 800, 3)])
    found = marks.pairs_among(digests)
    assert found == {(i, i + 700) for i in range(0, 800, 3)}


_digests = st.sampled_from([f"{number:032x}" for number in range(8)])


@settings(max_examples=80, deadline=None)
@given(
    marked=st.lists(st.tuples(_digests, _digests).filter(lambda p: p[0] != p[1]), max_size=12),
    inputs=st.lists(st.one_of(st.none(), _digests), max_size=10),
)
def test_pairs_among_is_exactly_the_marked_index_pairs(tmp_path_factory, marked, inputs):
    with NotDuplicates(tmp_path_factory.mktemp("marks") / "marks.sqlite") as marks:
        marks.add_many(marked)
        found = marks.pairs_among(inputs)
    wanted = {frozenset(pair) for pair in marked}
    expected = {
        (i, j)
        for i, j in itertools.combinations(range(len(inputs)), 2)
        if inputs[i] is not None
        and inputs[j] is not None
        and frozenset((inputs[i], inputs[j])) in wanted
    }
    assert found == expected


def test_export_then_import_round_trips(tmp_path, marks):
    marks.add_many([(C, A), (A, B)])
    exported = marks.export_json(tmp_path / "marks.json")
    data = json.loads(exported.read_text())
    assert data == {"format": FORMAT, "pairs": [[A, B], [A, C]]}
    with NotDuplicates(tmp_path / "other.sqlite") as other:
        assert other.import_json(exported) == 2
        assert other.import_json(exported) == 0
        assert other.pairs() == marks.pairs()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not JSON"),
        ('{"format": "something-else/1", "pairs": []}', "has format 'something-else/1'"),
        ("[]", "has format 'list'"),
        (f'{{"format": "{FORMAT}"}}', "'pairs' must be a list"),
        (f'{{"format": "{FORMAT}", "pairs": [["{A}", "{B}"], ["{A}"]]}}', r"pairs\[1\] must be"),
        (f'{{"format": "{FORMAT}", "pairs": [["{A}", "{B}"], ["{C}", "{C}"]]}}', r"pairs\[1\]: "),
        (f'{{"format": "{FORMAT}", "pairs": [["{A}", 7]]}}', r"pairs\[0\] must be two digests"),
    ],
)
def test_a_bad_marks_file_is_refused_naming_it_and_adds_nothing(tmp_path, marks, content, message):
    path = tmp_path / "bad-marks.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as caught:
        marks.import_json(path)
    assert "bad-marks.json" in str(caught.value)
    assert len(marks) == 0


def test_a_missing_marks_file_is_refused_naming_it(tmp_path):
    with pytest.raises(ConfigError, match="cannot read marks file .*nowhere.json"):
        read_marks(tmp_path / "nowhere.json")


def test_an_embedding_store_is_refused_as_a_marks_file(tmp_path):
    EmbeddingStore(tmp_path / "store.sqlite").close()
    with pytest.raises(StoreFileError, match="is an imageprism embedding store"):
        NotDuplicates(tmp_path / "store.sqlite")


def test_a_corrupt_marks_file_is_refused_naming_it(tmp_path):
    path = tmp_path / "marks.sqlite"
    path.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(StoreFileError, match="marks.sqlite is not an imageprism not-duplicates"):
        NotDuplicates(path)


def test_a_newer_schema_version_is_refused(tmp_path):
    path = tmp_path / "marks.sqlite"
    NotDuplicates(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreFileError, match=f"schema version {SCHEMA_VERSION + 1}"):
        NotDuplicates(path)


def test_default_path_is_user_data_not_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("IMAGEPRISM_CACHE_DIR", str(tmp_path / "cache"))
    assert default_path() == tmp_path / "imageprism" / "not-duplicates.sqlite"


def test_is_digest_accepts_only_32_hex_digits():
    assert is_digest(A) and is_digest(A.upper())
    assert not is_digest(A + "0") and not is_digest("g" * 32) and not is_digest(None)


# --- damaged marks files: refused, never taken for "no marks" ----------------------------


def _with_a_damaged_page(path):
    """A marks file of many pairs whose eleventh page is overwritten."""
    with NotDuplicates(path) as many:
        many.add_many([(f"{2 * n:032x}", f"{2 * n + 1:032x}") for n in range(3000)])
    data = bytearray(path.read_bytes())
    data[4096 * 10 + 8 : 4096 * 10 + 600] = b"\x5a" * 592
    path.write_bytes(bytes(data))


def _with_a_row(path, a, b):
    """A good marks file holding one more row ``(a, b)``, CHECK constraints ignored."""
    if not path.exists():
        with NotDuplicates(path) as made:
            made.add(A, B)
    db = sqlite3.connect(path)
    db.execute("PRAGMA ignore_check_constraints = ON")
    db.execute("INSERT INTO pairs VALUES (?, ?, 0)", (a, b))
    db.commit()
    db.close()


def _truncated(path):
    _with_a_damaged_page(path)
    with open(path, "r+b") as file:
        file.truncate(4096 * 20)


def _other_tables(path):
    NotDuplicates(path).close()
    db = sqlite3.connect(path)
    db.execute("DROP TABLE pairs")
    db.execute("CREATE TABLE pairs (a TEXT, b TEXT, added_ns INTEGER)")
    db.commit()
    db.close()


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (_with_a_damaged_page, "is damaged (SQLite finds:"),
        (_truncated, "is damaged"),
        (lambda path: _with_a_row(path, B, A), "CHECK constraint failed"),
        (_other_tables, "does not hold its tables"),
    ],
    ids=["damaged page", "truncated", "pair out of order", "other tables"],
)
def test_a_damaged_marks_file_is_refused_at_open_naming_it_and_how_to_proceed(
    tmp_path, damage, problem
):
    path = tmp_path / "marks.sqlite"
    damage(path)
    with pytest.raises(StoreFileError) as caught:
        NotDuplicates(path)
    message = str(caught.value)
    assert str(path) in message and problem in message
    assert "move it aside" in message and "imageprism not-duplicates import" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("a", "b"),
    [("zz", "zzz"), (1, "x" * 32), ("0" * 31, "1" * 32), ("A" * 32, "b" * 32)],
    ids=["not digests", "a number", "a short digest", "upper case"],
)
def test_a_damaged_pair_is_refused_at_open_or_when_read_back_naming_the_file(tmp_path, a, b):
    path = tmp_path / "marks.sqlite"
    _with_a_row(path, a, b)
    with pytest.raises(StoreFileError, match=r"marks\.sqlite is damaged: it holds the pair"):
        NotDuplicates(path)
    path.unlink()
    with NotDuplicates(path) as marks:
        marks.add(A, B)
        _with_a_row(path, a, b)  # written by another process while open
        with pytest.raises(StoreFileError, match=r"marks\.sqlite is damaged: it holds the pair"):
            marks.pairs()
        with pytest.raises(StoreFileError, match="move it aside"):
            marks.to_json()


def test_pairs_among_refuses_a_damaged_pair_it_reads(tmp_path):
    path = tmp_path / "marks.sqlite"
    with NotDuplicates(path) as marks:
        marks.add(A, B)
        _with_a_row(path, A, "zz")  # written by another process while open
        with pytest.raises(StoreFileError, match=r"marks\.sqlite is damaged.*move it aside"):
            marks.pairs_among([A, C])


def test_dedup_given_a_damaged_marks_file_raises_before_grouping(tmp_path):
    paths = [_image(tmp_path / f"p{n}.png", n) for n in range(3)]
    path = tmp_path / "marks.sqlite"
    _with_a_row(path, prepare(paths[0]).digest, "not a digest at all")
    with pytest.raises(StoreFileError, match=r"marks\.sqlite is damaged"):
        ImagePrism(["hash"]).dedup(paths, not_duplicates=path)


def test_salvage_saves_the_pairs_on_both_sides_of_a_damaged_page(tmp_path):
    path = tmp_path / "marks.sqlite"
    _with_a_damaged_page(path)
    every = {(f"{2 * n:032x}", f"{2 * n + 1:032x}") for n in range(3000)}
    pairs, _ = salvage(path)
    assert set(pairs) <= every and len(pairs) > 2500  # all but the damaged page's
    assert min(every) in pairs and max(every) in pairs


def test_salvage_leaves_out_damaged_rows_and_counts_them(tmp_path):
    path = tmp_path / "marks.sqlite"
    _with_a_row(path, "zz", "zzz")
    _with_a_row(path, B, A)
    assert salvage(path) == ([(A, B)], 2)


def test_salvage_refuses_a_file_that_is_not_sqlite_naming_it(tmp_path):
    path = tmp_path / "marks.sqlite"
    path.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(StoreFileError, match=r"cannot read not-duplicates file .*marks\.sqlite"):
        salvage(path)
