"""The embeddings of a saved index or embeddings file, checked against its manifest.

Each dimension is a matrix (one row per item: ``uint8`` packed bits for a hamming
dimension, ``float32`` for a cosine one; zero columns when no item has an
embedding) and a ``bool`` presence mask. Headers are checked before the data is
read (``read_columns``); the values after (``check_columns``): the dtype follows
the dimension's metric, the width the manifest's ``length``, and cosine rows must
be finite.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from imageprism.index.manifest import IndexFileError
from imageprism.index.reading import MAX_EMBEDDING_LENGTH, MAX_ITEMS, read_npy
from imageprism.io.names import display_name
from imageprism.plugin.outputs import EMBEDDING_DTYPES

__all__ = ["DTYPES", "check_columns", "check_count", "check_ids", "read_columns"]

DTYPES = EMBEDDING_DTYPES
"""The dtypes a dimension's embeddings may have, by metric: the host's rule for what
plugins return (``imageprism.plugin.outputs``), so a file holds nothing else."""

_EMPTY_DTYPES = (np.dtype(np.uint8), np.dtype(np.float32), np.dtype(np.float64))


def _name(path: object) -> str:
    return display_name(str(path))


def _names(dtypes: tuple[np.dtype[Any], ...]) -> str:
    return " or ".join(str(d) for d in dtypes)


def check_count(count: int, path: object) -> None:
    """Refuse an item count over ``MAX_ITEMS``."""
    if count > MAX_ITEMS:
        raise IndexFileError(
            f"cannot read {_name(path)}: it declares {count} items, more than the limit "
            f"of {MAX_ITEMS}"
        )


def check_ids(ids: Any, count: int, path: object) -> None:
    """Refuse ids that are not ``count`` strings."""
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise IndexFileError(f"{_name(path)} is malformed: the ids must be a list of strings")
    if len(ids) != count:
        raise IndexFileError(
            f"{_name(path)} is inconsistent: {len(ids)} ids for {count} items in the manifest"
        )


def _matrix_check(metric: str, count: int) -> Any:
    def check(dtype: np.dtype[Any], shape: tuple[int, ...]) -> str | None:
        if len(shape) != 2 or shape[0] != count:
            return f"shape {shape} is not ({count}, length) for {count} items"
        if shape[1] > MAX_EMBEDDING_LENGTH:
            return f"{shape[1]} values an embedding, more than the limit of {MAX_EMBEDDING_LENGTH}"
        allowed = _EMPTY_DTYPES if shape[1] == 0 else DTYPES[metric]
        if dtype not in allowed:
            return f"dtype {dtype} is not {_names(allowed)} (a {metric} dimension's embeddings)"
        return None

    return check


def _present_check(count: int) -> Any:
    def check(dtype: np.dtype[Any], shape: tuple[int, ...]) -> str | None:
        if shape != (count,):
            return f"shape {shape} is not ({count},) for {count} items"
        if dtype != np.dtype(bool):
            return f"dtype {dtype} is not bool"
        return None

    return check


def read_columns(
    archive: zipfile.ZipFile, manifest: Mapping[str, Any], path: object
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per dimension (in manifest order), its matrix and presence mask from ``.npy`` members
    ``dim{n}_matrix.npy`` and ``dim{n}_present.npy``, headers checked before reading.

    Raises:
        IndexFileError: a member is missing, damaged, or of the wrong dtype or shape.
    """
    count = manifest["count"]
    columns = {}
    for number, (name, info) in enumerate(manifest["dimensions"].items()):
        matrix = read_npy(
            archive, f"dim{number}_matrix.npy", path, _matrix_check(info["metric"], count)
        )
        present = read_npy(archive, f"dim{number}_present.npy", path, _present_check(count))
        columns[name] = (matrix, present)
    return columns


def check_columns(
    manifest: Mapping[str, Any],
    metrics: Mapping[str, str],
    columns: Mapping[str, tuple[np.ndarray, np.ndarray]],
    path: object,
) -> None:
    """Check read columns against the manifest and the prism's metrics (by dimension).

    Raises:
        IndexFileError: a dimension's metric, dtype, width or values do not fit.
    """
    count = manifest["count"]
    for name, (matrix, present) in columns.items():
        info = manifest["dimensions"][name]
        metric = metrics.get(name, info["metric"])
        where = f"{_name(path)}: the {name!r} embeddings"
        if info["metric"] != metric:
            raise IndexFileError(f"{where} are {info['metric']}, the dimension is {metric}")
        if matrix.ndim != 2 or present.shape != (count,) or len(matrix) != count:
            raise IndexFileError(f"{where} are malformed: not one row per item")
        if present.dtype != np.dtype(bool):
            raise IndexFileError(f"{where} are malformed: the presence mask is not bool")
        width = matrix.shape[1]
        length = info.get("length")
        if length is not None and width != length:
            raise IndexFileError(f"{where} are {width} values long, the manifest says {length}")
        if width == 0:
            if present.any():
                raise IndexFileError(f"{where} are malformed: present rows of no values")
            continue
        if matrix.dtype not in DTYPES[metric]:
            raise IndexFileError(f"{where} are {matrix.dtype}, not {_names(DTYPES[metric])}")
        if metric == "cosine" and not np.isfinite(matrix[present]).all():
            raise IndexFileError(f"{where} hold NaN or infinite values")
