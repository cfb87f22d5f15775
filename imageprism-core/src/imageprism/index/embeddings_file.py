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
from imageprism.index.manifest import IndexFileError, prism_manifest
from imageprism.io.atomic import atomic_write
from imageprism.runtime.optional import require
from imageprism.scoring import stack_embeddings

if TYPE_CHECKING:
    from imageprism.prism import ImagePrism

FORMAT = "imageprism-embeddings/1"
SUFFIXES = (".npz", ".parquet")
_METADATA_KEY = b"imageprism"


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


def read_embeddings(
    path: str | os.PathLike[str],
) -> tuple[list[str], dict[str, tuple[np.ndarray, np.ndarray]], dict[str, Any]]:
    """The ids, per dimension the matrix and presence mask, and the manifest of a file.

    Raises:
        IndexFileError: the file is unreadable or not an imageprism embeddings file.
    """
    source = Path(path)
    try:
        if source.suffix.lower() == ".npz":
            with np.load(source, allow_pickle=False) as data:
                manifest = json.loads(str(data["manifest"]))
                ids = [str(i) for i in data["ids"]]
                names = list(manifest["dimensions"])
                columns = {
                    name: (data[f"dim{n}_matrix"], data[f"dim{n}_present"])
                    for n, name in enumerate(names)
                }
        elif source.suffix.lower() == ".parquet":
            pa = _pyarrow()
            table = pa.parquet.read_table(str(source))
            metadata = table.schema.metadata or {}
            manifest = json.loads(metadata[_METADATA_KEY])
            ids = [str(i) for i in table.column("id").to_pylist()]
            columns = {}
            for name, info in manifest["dimensions"].items():
                columns[name] = numpy_embeddings(table.column(name), info["metric"])
        else:
            raise IndexFileError(f"{source} is neither .npz nor .parquet")
    except (IndexFileError, ImagePrismError):
        raise
    except Exception as err:
        raise IndexFileError(
            f"cannot read embeddings {source}: {type(err).__name__}: {err}"
        ) from err
    if manifest.get("format") != FORMAT:
        raise IndexFileError(f"{source} is not an {FORMAT} file")
    return ids, columns, manifest
