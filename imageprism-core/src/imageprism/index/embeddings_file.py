"""Embeddings written to and read from files: NumPy ``.npz`` or Parquet (``pyarrow``).

A file holds the ids, one column per dimension (None where an image has no
embedding for it) and a manifest of the prism that made it (dimension
fingerprints, configs, weights), so ``ImageIndex.from_embeddings`` can check it
and rebuild an index without embedding again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from imageprism.errors import ConfigError, ImagePrismError
from imageprism.index.columns import check_count, check_ids, read_columns
from imageprism.index.manifest import (
    IndexFileError,
    check_manifest,
    check_model_sources,
    prism_manifest,
)
from imageprism.index.reading import (
    MAX_MANIFEST_BYTES,
    MAX_MEMBER_BYTES,
    ArrayCheck,
    open_archive,
    parse_json,
    read_npy,
)
from imageprism.io.atomic import atomic_write
from imageprism.io.names import display_name
from imageprism.runtime.optional import require
from imageprism.scoring import stack_embeddings

if TYPE_CHECKING:
    from imageprism.prism import ImagePrism

FORMAT = "imageprism-embeddings/1"
SUFFIXES = (".npz", ".parquet")
_METADATA_KEY = b"imageprism"

Columns = dict[str, tuple[np.ndarray, np.ndarray]]


_PARQUET_HINT = 'Parquet files need pyarrow: pip install "imageprism-core[parquet]" (or write .npz)'


def _pyarrow() -> Any:
    pyarrow = require("pyarrow", _PARQUET_HINT)
    require("pyarrow.parquet", _PARQUET_HINT)
    return pyarrow


def arrow_embeddings(values: Sequence[np.ndarray | None], metric: str) -> Any:
    """Embeddings as one Arrow array, null for None: ``binary`` (the packed bits) for a
    hamming dimension, ``list<float32>`` for a cosine one. The Parquet layout of a dimension."""
    pa = _pyarrow()
    if metric == "hamming":
        return pa.array([None if v is None else v.tobytes() for v in values], pa.binary())
    return pa.array(
        [None if v is None else np.asarray(v, np.float32) for v in values],
        pa.list_(pa.float32()),
    )


def numpy_embeddings(column: Any, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """An Arrow array written by ``arrow_embeddings`` back as a matrix (``uint8`` rows for
    hamming, ``float32`` for cosine; zero rows where null) and the mask of present rows."""
    dtype = np.uint8 if metric == "hamming" else np.float32
    vectors = [
        None
        if v is None
        else np.frombuffer(v, np.uint8)
        if dtype is np.uint8
        else np.asarray(v, np.float32)
        for v in column.to_pylist()
    ]
    return stack_embeddings(vectors, dtype)


def write_embeddings(
    path: str | os.PathLike[str],
    ids: Sequence[str],
    rows: Sequence[Mapping[str, np.ndarray | None]],
    prism: ImagePrism,
) -> Path:
    """Write embeddings (one mapping of dimension name to embedding per id) atomically.

    The format follows the suffix: ``.npz`` or ``.parquet``.

    Raises:
        ConfigError: the suffix is neither.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in SUFFIXES:
        raise ConfigError(f"embeddings file must end in .npz or .parquet, got {target.name!r}")
    if not target.parent.is_dir():
        raise ConfigError(f"cannot write {target}: folder {target.parent} not found")
    manifest = {"format": FORMAT, "count": len(ids), **prism_manifest(prism)}
    names = list(prism.dimensions)
    for name in names:
        widths = {len(v) for row in rows if (v := row.get(name)) is not None}
        manifest["dimensions"][name]["length"] = (
            widths.pop() if len(widths) == 1 else (None if widths else 0)
        )
    if suffix == ".npz":
        arrays: dict[str, Any] = {
            "ids": np.array([str(i) for i in ids], dtype=np.str_),
            "manifest": np.array(json.dumps(manifest)),
        }
        for number, name in enumerate(names):
            matrix, present = stack_embeddings([row.get(name) for row in rows])
            arrays[f"dim{number}_matrix"] = matrix
            arrays[f"dim{number}_present"] = present

        def write_npz(temp: Path) -> None:
            with open(temp, "wb") as handle:
                np.savez_compressed(handle, **arrays)

        return atomic_write(target, write_npz)
    pa = _pyarrow()
    columns: dict[str, Any] = {"id": pa.array([str(i) for i in ids], pa.string())}
    for name in names:
        values = [row.get(name) for row in rows]
        columns[name] = arrow_embeddings(values, prism.dimension(name).metric)
    table = pa.table(columns).replace_schema_metadata({_METADATA_KEY: json.dumps(manifest)})
    return atomic_write(target, lambda temp: pa.parquet.write_table(table, str(temp)))


def _ids_check(count: int) -> ArrayCheck:
    def check(dtype: np.dtype[Any], shape: tuple[int, ...]) -> str | None:
        if shape != (count,) or dtype.kind != "U" or (count and dtype.itemsize == 0):
            return f"ids of dtype {dtype} and shape {shape}, not {count} strings"
        return None

    return check


def _manifest_check(dtype: np.dtype[Any], shape: tuple[int, ...]) -> str | None:
    if shape != () or dtype.kind != "U" or not 0 < dtype.itemsize <= MAX_MANIFEST_BYTES:
        return f"the manifest is of dtype {dtype} and shape {shape}, not one string"
    return None


def _read_npz(source: Path, check_models: bool) -> tuple[list[str], Columns, dict[str, Any]]:
    with open_archive(source) as archive:
        stored = read_npy(archive, "manifest.npy", source, _manifest_check)
        manifest = check_manifest(
            parse_json(str(stored[()]), "manifest", source, text=True), source, FORMAT
        )
        if check_models:
            check_model_sources(manifest, source)
        count = manifest["count"]
        check_count(count, source)
        ids = [str(i) for i in read_npy(archive, "ids.npy", source, _ids_check(count))]
        columns = read_columns(archive, manifest, source)
    return ids, columns, manifest


def _read_parquet(source: Path, check_models: bool) -> tuple[list[str], Columns, dict[str, Any]]:
    pa = _pyarrow()
    parquet = pa.parquet.ParquetFile(str(source))
    metadata = parquet.schema_arrow.metadata or {}
    raw = metadata.get(_METADATA_KEY)
    if raw is None:
        raise IndexFileError(f"{display_name(str(source))} is not an {FORMAT} file")
    if len(raw) > MAX_MANIFEST_BYTES:
        raise IndexFileError(
            f"cannot read {display_name(str(source))}: its manifest is over "
            f"{MAX_MANIFEST_BYTES} bytes"
        )
    manifest = check_manifest(parse_json(raw, "manifest", source, text=True), source, FORMAT)
    if check_models:
        check_model_sources(manifest, source)
    count = manifest["count"]
    check_count(count, source)
    info = parquet.metadata
    # the row groups' totals: column chunk metadata can abort the process on a damaged
    # file (pyarrow 26 throws an uncaught C++ exception reading its size statistics)
    size = sum(info.row_group(g).total_byte_size for g in range(info.num_row_groups))
    if info.num_rows != count or size > MAX_MEMBER_BYTES:
        raise IndexFileError(
            f"cannot read {display_name(str(source))}: {info.num_rows} rows of {size} bytes "
            f"uncompressed for {count} items (limit {MAX_MEMBER_BYTES} bytes)"
        )
    table = parquet.read()
    ids = table.column("id").to_pylist()
    check_ids(ids, count, source)
    columns = {}
    for name, dimension in manifest["dimensions"].items():
        columns[name] = numpy_embeddings(table.column(name), dimension["metric"])
    return ids, columns, manifest


def read_embeddings(
    path: str | os.PathLike[str], *, check_models: bool = False
) -> tuple[list[str], dict[str, tuple[np.ndarray, np.ndarray]], dict[str, Any]]:
    """The ids, per dimension the matrix and presence mask, and the manifest of a file.

    The file is untrusted: an ``.npz`` file is read as ``ImageIndex.load`` reads an
    index (bounded members, ``.npy`` headers checked before reading, no pickles); a
    Parquet file's row count and uncompressed size are checked before it is read.

    Args:
        path: The ``.npz`` or ``.parquet`` file.
        check_models: Refuse a manifest whose configs name unpinned models or local
            model files (``check_model_sources``) before reading the embeddings.

    Raises:
        IndexFileError: the file is unreadable, over a limit or not an imageprism
            embeddings file.
        UntrustedModelError: with ``check_models``, a config names an unpinned model or
            a local model file.
    """
    source = Path(path)
    suffix = source.suffix.lower()
    if suffix not in SUFFIXES:
        raise IndexFileError(f"{display_name(str(source))} is neither .npz nor .parquet")
    try:
        if suffix == ".npz":
            return _read_npz(source, check_models)
        return _read_parquet(source, check_models)
    except ImagePrismError:
        raise
    except Exception as err:  # pyarrow and zipfile raise many kinds for damaged files
        raise IndexFileError(
            f"cannot read embeddings {display_name(str(source))}: {type(err).__name__}: {err}"
        ) from err
