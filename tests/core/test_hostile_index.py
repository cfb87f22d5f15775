"""Crafted index (.prism) and embeddings (.npz) files: each is refused with an IndexFileError
naming the file and the problem, before it costs memory (issue 22 item 3)."""

from __future__ import annotations

import contextlib
import io
import json
import struct
import zipfile

import numpy as np
import pyarrow.parquet as pq
import pytest
from fakes import registry_with
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import imageprism.index.index
import imageprism.index.reading
from imageprism import ImagePrism, ImagePrismError
from imageprism.index import ImageIndex, IndexFileError
from imageprism.index.embeddings_file import read_embeddings, write_embeddings
from imageprism.index.reading import MAX_JSON_DEPTH, MAX_MEMBERS


@pytest.fixture(scope="module")
def photos(demo_photos):
    return [demo_photos[name] for name in sorted(demo_photos)[:3]]


@pytest.fixture(scope="module")
def valid_index(photos, tmp_path_factory):
    """The bytes of a real index of three photos on the hash dimension."""
    path = ImagePrism().index(photos).save(tmp_path_factory.mktemp("valid") / "a.prism")
    return path.read_bytes()


@pytest.fixture(scope="module")
def valid_parquet(photos, tmp_path_factory):
    """The bytes of a real ``embed -o`` Parquet file of three photos on the hash dimension."""
    prism = ImagePrism()
    rows = prism.embed_many(photos).embeddings
    target = tmp_path_factory.mktemp("valid") / "a.parquet"
    return write_embeddings(target, [str(p) for p in photos], rows, prism).read_bytes()


@pytest.fixture(scope="module")
def valid_npz(photos, tmp_path_factory):
    """The bytes of a real ``embed -o`` file of three photos on the hash dimension."""
    prism = ImagePrism()
    rows = prism.embed_many(photos).embeddings
    target = tmp_path_factory.mktemp("valid") / "a.npz"
    path = write_embeddings(target, [str(p) for p in photos], rows, prism)
    return path.read_bytes()


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _write(path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)


def _npy(array: np.ndarray, *, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def _crafted(tmp_path, valid: bytes, name: str = "evil.prism", **changes: bytes | None):
    """A copy of ``valid`` with members replaced (``dim0_matrix_npy=...`` for
    ``dim0_matrix.npy``), or removed when None."""
    members = _members(valid)
    for key, payload in changes.items():
        member = key.replace("_json", ".json").replace("_npy", ".npy")
        if payload is None:
            members.pop(member)
        else:
            members[member] = payload
    path = tmp_path / name
    _write(path, members)
    return path


def _manifest(valid: bytes) -> dict:
    return json.loads(_members(valid)["manifest.json"])


def test_a_truncated_index_file_is_refused_naming_it(tmp_path, valid_index):
    for cut in (10, len(valid_index) // 2, len(valid_index) - 10):
        path = tmp_path / f"cut{cut}.prism"
        path.write_bytes(valid_index[:cut])
        with pytest.raises(IndexFileError, match=f"cut{cut}.prism"):
            ImageIndex.load(path)


def test_a_member_declaring_more_than_the_limit_is_refused_before_it_is_read(
    tmp_path, valid_index, monkeypatch
):
    # a zip bomb: 2 MiB of one byte compresses to a few KiB; the limit is lowered so the
    # test needs no gigabytes
    monkeypatch.setattr(imageprism.index.reading, "MAX_MEMBER_BYTES", 1024**2)
    monkeypatch.setattr(imageprism.index.index, "MAX_MEMBER_BYTES", 1024**2)
    bomb = b"[" + b" " * (2 * 1024**2) + b"]"
    path = _crafted(tmp_path, valid_index, ids_json=bomb)
    assert path.stat().st_size < 64 * 1024
    with pytest.raises(IndexFileError, match=r"evil.prism.*'ids.json' declares \d+ bytes"):
        ImageIndex.load(path)


def test_a_member_holding_more_than_it_declares_is_refused(tmp_path, valid_index):
    members = _members(valid_index)
    path = tmp_path / "liar.prism"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    data = bytearray(path.read_bytes())
    # shrink the uncompressed size the central directory declares for the ids
    entry = data.index(b"PK\x01\x02")  # the first central directory entry
    while True:
        name_length = struct.unpack_from("<H", data, entry + 28)[0]
        if data[entry + 46 : entry + 46 + name_length] == b"ids.json":
            break
        extra, comment = struct.unpack_from("<HH", data, entry + 30)
        entry += 46 + name_length + extra + comment
    declared = struct.unpack_from("<I", data, entry + 24)[0]
    struct.pack_into("<I", data, entry + 24, declared - 5)
    path.write_bytes(bytes(data))
    with pytest.raises(IndexFileError, match="liar.prism.*(CRC|more data than its header)"):
        ImageIndex.load(path)


def test_an_archive_of_too_many_members_is_refused(tmp_path, valid_index):
    members = _members(valid_index)
    members.update({f"junk{n}": b"" for n in range(MAX_MEMBERS)})
    path = tmp_path / "many.prism"
    _write(path, members)
    with pytest.raises(IndexFileError, match=rf"many.prism: {MAX_MEMBERS + 4} zip members"):
        ImageIndex.load(path)


def test_an_npy_header_declaring_an_absurd_shape_is_refused_before_allocation(
    tmp_path, valid_index
):
    # a header saying (3, 2**40) float32 followed by no data: reading it must not
    # allocate 12 TiB first
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": (3, 2**40)}
    )
    path = _crafted(tmp_path, valid_index, dim0_matrix_npy=header.getvalue())
    with pytest.raises(IndexFileError, match=r"evil.prism: member 'dim0_matrix.npy'.*limit"):
        ImageIndex.load(path)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": (10**9, 8)}
    )
    path = _crafted(tmp_path, valid_index, dim0_matrix_npy=header.getvalue())
    with pytest.raises(IndexFileError, match=r"shape \(1000000000, 8\) is not \(3, length\)"):
        ImageIndex.load(path)


def test_a_pickled_object_array_is_refused_and_never_unpickled(tmp_path, valid_index):
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled')",))

    evil = _npy(np.array([Boom(), 1], dtype=object), allow_pickle=True)
    path = _crafted(tmp_path, valid_index, dim0_present_npy=evil)
    with pytest.raises(IndexFileError, match="dtype object is not allowed"):
        ImageIndex.load(path)


@pytest.mark.parametrize(
    ("member", "array", "problem"),
    [
        ("dim0_matrix_npy", np.zeros((3, 8), np.float64), "dtype float64 is not uint8"),
        ("dim0_matrix_npy", np.zeros((2, 8), np.uint8), r"shape \(2, 8\) is not \(3, length\)"),
        ("dim0_matrix_npy", np.zeros(24, np.uint8), r"shape \(24,\) is not"),
        ("dim0_matrix_npy", np.zeros((3, 5), np.uint8), "5 values long, the manifest says"),
        ("dim0_present_npy", np.ones(3, np.uint8), "dtype uint8 is not bool"),
        ("dim0_present_npy", np.ones(4, bool), r"shape \(4,\) is not \(3,\)"),
        ("dim0_matrix_npy", np.zeros((3, 8), ">u2"), "dtype >u2 is not written by imageprism"),
        ("dim0_matrix_npy", np.asfortranarray(np.zeros((3, 144), np.uint8)), "Fortran"),
    ],
)
def test_embeddings_of_the_wrong_shape_or_dtype_are_refused(
    tmp_path, valid_index, member, array, problem
):
    path = _crafted(tmp_path, valid_index, **{member: _npy(array)})
    with pytest.raises(IndexFileError, match=problem):
        ImageIndex.load(path)


@pytest.mark.parametrize(
    ("ids", "problem"),
    [
        ([1, 2, 3], "ids must be a list of strings"),
        ({"a": "b"}, "ids must be a list of strings"),
        (["a", "b"], "2 ids for 3 items"),
    ],
)
def test_ids_that_are_not_one_string_per_item_are_refused(tmp_path, valid_index, ids, problem):
    path = _crafted(tmp_path, valid_index, ids_json=json.dumps(ids).encode())
    with pytest.raises(IndexFileError, match=problem):
        ImageIndex.load(path)


def test_nan_embeddings_are_refused(photos, tmp_path):
    registry, _ = registry_with("colour")
    prism = ImagePrism(["colour"], registry=registry)
    valid = prism.index(photos).save(tmp_path / "colour.prism").read_bytes()
    matrix = np.load(io.BytesIO(_members(valid)["dim0_matrix.npy"]))
    assert matrix.dtype.kind == "f"
    ImageIndex.load(tmp_path / "colour.prism", prism)  # the untouched file loads
    matrix = matrix.copy()
    matrix[1, 0] = np.nan
    path = _crafted(tmp_path, valid, dim0_matrix_npy=_npy(matrix))
    with pytest.raises(IndexFileError, match="evil.prism: the 'colour' embeddings hold NaN"):
        ImageIndex.load(path, prism)


def test_a_manifest_naming_an_unknown_dimension_is_refused_naming_it(tmp_path, valid_index):
    manifest = _manifest(valid_index)
    manifest["dimensions"]["nosuch"] = {"fingerprint": "x", "metric": "cosine", "config": None}
    path = _crafted(tmp_path, valid_index, manifest_json=json.dumps(manifest).encode())
    with pytest.raises(IndexFileError, match=r"evil.prism.*unknown dimension 'nosuch'"):
        ImageIndex.load(path)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"count": -1}, "count must be a whole number"),
        ({"count": "3"}, "count must be a whole number"),
        ({"count": 10**12}, "more than the limit"),
        ({"dimensions": {}}, "dimensions must map"),
        ({"dimensions": {"hash": {"fingerprint": 1, "metric": "hamming"}}}, "fingerprint"),
        ({"dimensions": {"hash": {"fingerprint": "x", "metric": "euclid"}}}, "metric must be"),
        ({"weights": {"hash": "heavy"}}, "weights must map"),
    ],
)
def test_malformed_manifest_fields_are_refused(tmp_path, valid_index, change, problem):
    manifest = {**_manifest(valid_index), **change}
    path = _crafted(tmp_path, valid_index, manifest_json=json.dumps(manifest).encode())
    with pytest.raises(IndexFileError, match=problem):
        ImageIndex.load(path)


def test_a_huge_manifest_is_refused_before_it_is_parsed(tmp_path, valid_index):
    manifest = {**_manifest(valid_index), "padding": "x" * (2 * 1024**2)}
    path = _crafted(tmp_path, valid_index, manifest_json=json.dumps(manifest).encode())
    with pytest.raises(IndexFileError, match=r"'manifest.json' declares \d+ bytes"):
        ImageIndex.load(path)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 100_000])
def test_deeply_nested_json_is_refused(tmp_path, valid_index, depth):
    nested = ("[" * depth + "]" * depth).encode()
    path = _crafted(tmp_path, valid_index, ids_json=nested)
    with pytest.raises(IndexFileError, match="ids nests deeper than"):
        ImageIndex.load(path)
    manifest = json.dumps(_manifest(valid_index))[:-1] + ', "deep": ' + nested.decode() + "}"
    path = _crafted(tmp_path, valid_index, manifest_json=manifest.encode())
    with pytest.raises(IndexFileError, match="manifest nests deeper than"):
        ImageIndex.load(path)


def test_a_crafted_npz_embeddings_file_is_refused_like_an_index(tmp_path, valid_npz):
    (tmp_path / "ok.npz").write_bytes(valid_npz)
    assert len(ImageIndex.from_embeddings(tmp_path / "ok.npz")) == 3
    evil = _npy(np.array([object(), 1], dtype=object), allow_pickle=True)
    path = _crafted(tmp_path, valid_npz, "pickle.npz", ids_npy=evil)
    with pytest.raises(IndexFileError, match="pickle.npz: member 'ids.npy'.*dtype object"):
        ImageIndex.from_embeddings(path)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<U100", "fortran_order": False, "shape": (10**8,)}
    )
    path = _crafted(tmp_path, valid_npz, "shape.npz", ids_npy=header.getvalue())
    with pytest.raises(IndexFileError, match=r"shape.npz: member 'ids.npy'.*not 3 strings"):
        read_embeddings(path)
    path = tmp_path / "cut.npz"
    path.write_bytes(valid_npz[: len(valid_npz) // 2])
    with pytest.raises(IndexFileError, match="cut.npz"):
        ImageIndex.from_embeddings(path)


def _mutations():
    return st.lists(st.tuples(st.integers(0, 1 << 30), st.integers(0, 255)), min_size=1, max_size=8)


def _mutate(data: bytes, changes: list[tuple[int, int]], cut: int) -> bytes:
    mutated = bytearray(data)
    for position, value in changes:
        mutated[position % len(mutated)] = value
    return bytes(mutated[: max(0, len(mutated) - cut)])


def _mutated_file(data: bytes, member: int | None, changes, cut: int) -> bytes:
    """``data`` with bytes changed: of the file itself (member None: the zip layer, caught
    by its CRCs) or of one member's content, zipped again (the JSON and .npy parsing)."""
    if member is None:
        return _mutate(data, changes, cut) or b"x"
    members = _members(data)
    name = sorted(members)[member % len(members)]
    members[name] = _mutate(members[name], changes, cut)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, payload in members.items():
            archive.writestr(key, payload)
    return buffer.getvalue()


def _load_or_refuse(load, path) -> None:
    # refused with the library's error: fine; anything else fails the test
    with contextlib.suppress(ImagePrismError):
        load(path)


_FUZZ = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_FUZZ
@given(
    member=st.none() | st.integers(0, 10),
    changes=_mutations(),
    cut=st.just(0) | st.integers(0, 64),
)
def test_mutated_index_files_load_or_raise_the_library_error(
    tmp_path, valid_index, member, changes, cut
):
    path = tmp_path / "fuzz.prism"
    path.write_bytes(_mutated_file(valid_index, member, changes, cut))
    _load_or_refuse(ImageIndex.load, path)


@_FUZZ
@given(
    member=st.none() | st.integers(0, 10),
    changes=_mutations(),
    cut=st.just(0) | st.integers(0, 64),
)
def test_mutated_embeddings_files_load_or_raise_the_library_error(
    tmp_path, valid_npz, member, changes, cut
):
    path = tmp_path / "fuzz.npz"
    path.write_bytes(_mutated_file(valid_npz, member, changes, cut))
    _load_or_refuse(ImageIndex.from_embeddings, path)


def test_embeddings_of_another_length_than_the_dimensions_are_refused_at_search(
    tmp_path, valid_index, photos
):
    manifest = _manifest(valid_index)
    manifest["dimensions"]["hash"]["length"] = 5
    path = _crafted(
        tmp_path,
        valid_index,
        manifest_json=json.dumps(manifest).encode(),
        dim0_matrix_npy=_npy(np.zeros((3, 5), np.uint8)),
    )
    index = ImageIndex.load(path, ImagePrism())  # the file agrees with itself
    with pytest.raises(IndexFileError, match="'hash' embeddings are 5 values long"):
        index.search(photos[0])


def test_a_crafted_parquet_embeddings_file_is_refused(photos, tmp_path, valid_parquet):
    table = pq.read_table(io.BytesIO(valid_parquet))
    path = tmp_path / "short.parquet"
    pq.write_table(table.slice(0, 2), path)  # the manifest still says 3 items
    with pytest.raises(IndexFileError, match="short.parquet: 2 rows .* for 3 items"):
        ImageIndex.from_embeddings(path)
    path = tmp_path / "bare.parquet"
    pq.write_table(table.replace_schema_metadata({}), path)
    with pytest.raises(IndexFileError, match="bare.parquet is not an imageprism-embeddings"):
        ImageIndex.from_embeddings(path)
    registry, _ = registry_with("colour")
    prism = ImagePrism(["colour"], registry=registry)
    rows = [dict(row) for row in prism.embed_many(photos).embeddings]
    rows[1]["colour"] = np.full_like(rows[1]["colour"], np.nan)
    path = write_embeddings(tmp_path / "nan.parquet", ["a", "b", "c"], rows, prism)
    with pytest.raises(IndexFileError, match="nan.parquet: the 'colour' embeddings hold NaN"):
        ImageIndex.from_embeddings(path, prism)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(changes=_mutations(), cut=st.just(0) | st.integers(0, 64))
def test_mutated_parquet_files_load_or_raise_the_library_error(
    tmp_path, valid_parquet, changes, cut
):
    path = tmp_path / "fuzz.parquet"
    path.write_bytes(_mutate(valid_parquet, changes, cut) or b"x")
    _load_or_refuse(ImageIndex.from_embeddings, path)
