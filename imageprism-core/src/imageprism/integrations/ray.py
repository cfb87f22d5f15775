"""Ray Data: embed images past one machine, then index or dedup them shard by shard.

Needs ``pip install "imageprism-core[ray]"`` (Ray Data and pyarrow). One module,
though over ~400 lines, because it is one optional integration whose parts
(embed, read back, shard-wise dedup) share its Ray-specific helpers.

Embedding
---------
``EmbedImages`` is a callable class for ``Dataset.map_batches``: Ray builds one per
actor, and each builds one ``ImagePrism`` from a picklable ``EmbedConfig`` and embeds
its batches with ``ImagePrism.embed_many``. ``embed_dataset`` runs it for you::

    import ray
    from imageprism.integrations.ray import EmbedConfig, embed_dataset, to_index

    config = EmbedConfig(dimensions=["hash"])
    images = ray.data.read_binary_files("/data/photos", include_paths=True)
    embedded = embed_dataset(images, config, workers=8)
    embedded.write_parquet("/data/embeddings")  # one Parquet file per shard
    index = to_index("/data/embeddings", config.prism())  # or write_embeddings_file(...)

Input columns: ``config.image_column`` (default ``"bytes"``, as ``read_binary_files``
names it) holds each image's encoded bytes or a path the workers can read;
``config.id_column`` (default ``"path"``) names the row. They may be the same column
(a dataset of paths). Output columns (other input columns are dropped: join on the id):

- the id column, as it came in;
- one column per dimension, in the layout of ``imageprism embed -o FILE.parquet``:
  ``binary`` (the packed bits) for hamming dimensions such as ``hash``,
  ``list<float32>`` for cosine ones; null where the row failed or the dimension found
  nothing to embed (e.g. no face);
- ``error``: null, or why the row could not be embedded. A bad image never fails its
  batch; only a problem that concerns every image (a missing model file) does;
- ``imageprism``: the settings that made the row (the id column and each dimension's
  fingerprint) as JSON, so the readers below refuse rows made with other settings.

Deduplicating 100M images
-------------------------
One greedy pass (``ImagePrism.dedup``) holds every embedding on one machine. At that
scale, dedup in shards and merge their representatives:

1. Embed in Ray and write Parquet shards, as above (``write_parquet``'s
   ``min_rows_per_file`` sets the shard size; 1M rows hold about 150 MB of default hash
   embeddings, plus their ids).
2. Dedup each shard in its own Ray task: ``dedup_shard(path, prism, threshold)`` groups
   the shard's rows greedily in row order, as ``ImagePrism.dedup`` would. Keep the
   result beside the shard and send the driver only its representatives::

       @ray.remote
       def dedup_one(path):
           shard = dedup_shard(path, config.prism(), threshold=0.9)
           Path(path + ".dedup").write_bytes(pickle.dumps(shard))
           return shard.representatives_only()

       files = sorted(glob.glob("/data/embeddings/*.parquet"))
       shards = ray.get([dedup_one.remote(f) for f in files])

3. Merge: ``merge_shard_representatives(shards, prism)`` dedups the union of the
   shards' representatives, in shard order, with the same greedy rule. Merges nest:
   merge groups of shards in parallel tasks, then merge those merges.
4. Compose, again one task per shard: ``final_labels(shard, merged)`` gives each row
   of the (full) shard the id of its final representative; with nested merges,
   ``final_labels(shard, level1, level2)``::

       @ray.remote
       def label_one(path, merged):
           shard = pickle.loads(Path(path + ".dedup").read_bytes())
           table = pa.table({"id": shard.ids, "representative": final_labels(shard, merged)})
           pq.write_table(table, path + ".labels.parquet")

       merged = ray.put(merge_shard_representatives(shards, config.prism()))
       ray.get([label_one.remote(f, merged) for f in files])

What the result guarantees, with ``t`` the threshold and scores the prism's weighted
score: each row scores at least ``t`` with its shard representative; each shard
representative scores at least ``t`` with its representative in the merge; so a row
reaches its final representative through a chain of at most two matches (one more per
level of nested merges), but may itself score below ``t`` with it. No two final
representatives are duplicates: each scores below ``t`` with every final representative
before it. With one shard this is exactly ``ImagePrism.dedup``. With several it is not
the single greedy pass over all rows: a row joins the first matching representative of
its own shard even when a representative of an earlier shard matches it too, and it
reaches its final representative through its shard representative, not directly.

Costs: both steps use ``imageprism.dedup.engine.dedup_embeddings``, which scores only the
pairs that can reach the threshold. Memory: a shard's rows on its worker, and in the
merge every representative it is given, with its embeddings and id (about 200 bytes
each with the default hash and path ids: 20 GB if all 100M images were distinct;
nested merges bound it per task, except for the last).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from imageprism.dedup.engine import Backend, dedup_embeddings
from imageprism.errors import ConfigError, ImagePrismError
from imageprism.index.embeddings_file import arrow_embeddings, numpy_embeddings, write_embeddings
from imageprism.index.index import ImageIndex
from imageprism.index.manifest import IndexFileError, prism_for
from imageprism.io.images import (
    DEFAULT_MAX_ASPECT_RATIO,
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_MAX_PIXELS,
)
from imageprism.prism import ImagePrism
from imageprism.results import ImageFailure
from imageprism.runtime.optional import require
from imageprism.scoring import MissingScores, check_threshold

FORMAT = "imageprism-ray/1"
"""The ``format`` recorded in the ``imageprism`` column: the layout of ``EmbedImages``' output."""
ERROR_COLUMN = "error"
"""Output column: null, or why the row could not be embedded."""
SETTINGS_COLUMN = "imageprism"
"""Output column: the id column and dimension fingerprints that made the row, as JSON."""

_HINT = 'the Ray integration needs Ray Data: pip install "imageprism-core[ray]"'
_NULL_IMAGE = "no image: the image column is null"

_Columns = dict[str, tuple[np.ndarray, np.ndarray]]


def _pyarrow() -> Any:
    pyarrow = require("pyarrow", _HINT)
    require("pyarrow.parquet", _HINT)
    return pyarrow


def _ray_data() -> Any:
    return require("ray.data", _HINT)


class EmbedConfig(BaseModel):
    """The prism each Ray worker builds, and the columns it reads: plain, picklable data.

    The prism fields mean what they mean for ``ImagePrism``; ``prism()`` builds the same
    prism on the driver, for the readers of this module.

    Attributes:
        dimensions: Dimension names (default: those of ``profile`` or ``weights``, or hash).
        profile: A profile name.
        weights: Weights per dimension, instead of ``profile``.
        config: Per dimension, the fields of its config (a config model is turned into them).
        missing_scores: ``"zero"`` or ``"renormalize"``.
        max_pixels: Refuse images with more pixels than this.
        max_aspect_ratio: Refuse images whose long side is more than this many times
            their short side.
        max_file_bytes: Refuse images (files or bytes) larger than this.
        batch_size: Images per ``embed_batch`` call.
        batch_memory: Memory budget of a batch in bytes (default: the worker's
            ``IMAGEPRISM_BATCH_MEMORY``, else 512 MiB).
        threads: Threads per worker (default 1: Ray already runs one actor per CPU).
        cache_size: Embeddings each worker's cache keeps (default, ``ImagePrism``'s).
        image_column: The input column with each image's bytes or path.
        id_column: The input column naming each row, copied to the output.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    dimensions: tuple[str, ...] | None = None
    profile: str | None = None
    weights: dict[str, float] | None = None
    config: dict[str, dict[str, Any]] = Field(default_factory=dict)
    missing_scores: MissingScores = "zero"
    max_pixels: int = Field(default=DEFAULT_MAX_PIXELS, ge=1)
    max_aspect_ratio: float = Field(default=DEFAULT_MAX_ASPECT_RATIO, ge=1)
    max_file_bytes: int = Field(default=DEFAULT_MAX_FILE_BYTES, ge=1)
    batch_size: int = Field(default=32, ge=1)
    batch_memory: int | None = Field(default=None, ge=1)
    threads: int = Field(default=1, ge=1)
    cache_size: int | None = Field(default=None, ge=0)
    image_column: str = "bytes"
    id_column: str = "path"

    @field_validator("dimensions", mode="before")
    @classmethod
    def _one_name(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("config", mode="before")
    @classmethod
    def _plain_configs(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        return {str(k): v.model_dump() if isinstance(v, BaseModel) else v for k, v in value.items()}

    def prism(self) -> ImagePrism:
        """The ``ImagePrism`` these settings describe (each worker builds its own).

        Raises:
            ConfigError: the settings are invalid for ``ImagePrism``; an unknown dimension
                raises ``UnknownDimensionError``.
        """
        prism = ImagePrism(
            list(self.dimensions) if self.dimensions else None,
            profile=self.profile,
            weights=self.weights,
            config=self.config or None,
            missing_scores=self.missing_scores,
            cache_size=self.cache_size,
            max_pixels=self.max_pixels,
            max_aspect_ratio=self.max_aspect_ratio,
            max_file_bytes=self.max_file_bytes,
            batch_size=self.batch_size,
            batch_memory=self.batch_memory,
            threads=self.threads,
        )
        clashing = {self.id_column, ERROR_COLUMN, SETTINGS_COLUMN} & set(prism.dimensions)
        if self.id_column in (ERROR_COLUMN, SETTINGS_COLUMN) or clashing:
            raise ConfigError(
                f"output columns must differ: id column {self.id_column!r}, dimensions "
                f"{', '.join(prism.dimensions)}, {ERROR_COLUMN!r} and {SETTINGS_COLUMN!r}; "
                "rename the id column"
            )
        return prism


def _column_names(batch: Any) -> list[str]:
    if hasattr(batch, "column_names"):  # pyarrow.Table
        return list(batch.column_names)
    return [str(name) for name in batch]  # dict of arrays, pandas.DataFrame (its columns)


def _column(batch: Any, name: str) -> Any:
    if name not in _column_names(batch):
        raise ConfigError(
            f"the batch has no column {name!r} (it has {', '.join(_column_names(batch))}); "
            "set EmbedConfig(image_column=..., id_column=...)"
        )
    return batch.column(name) if hasattr(batch, "column_names") else batch[name]


class EmbedImages:
    """A ``Dataset.map_batches`` callable: one prism per Ray actor, embedding each batch.

    Give Ray the class, not an instance, so each actor builds its own prism::

        dataset.map_batches(
            EmbedImages,
            fn_constructor_kwargs={"config": EmbedConfig(dimensions=["hash"])},
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=4),
        )

    The output columns are described in this module's docstring.

    Args:
        config: The prism's settings and the input columns (default ``EmbedConfig()``).
    """

    def __init__(self, config: EmbedConfig | None = None) -> None:
        self.config = config if config is not None else EmbedConfig()
        self.prism = self.config.prism()

    def _settings(self) -> str:
        fingerprints = {n: self.prism.dimension(n).fingerprint for n in self.prism.dimensions}
        return json.dumps(
            {"format": FORMAT, "id_column": self.config.id_column, "fingerprints": fingerprints}
        )

    def __call__(self, batch: Any) -> Any:
        """Embed one batch: a ``pyarrow.Table``, a pandas DataFrame or a dict of arrays.

        Returns:
            A ``pyarrow.Table`` with the id, one column per dimension, ``error`` and
            ``imageprism``, one row per input row, in order.

        Raises:
            ConfigError: the batch lacks the image or id column.
        """
        pa = _pyarrow()
        images = _column(batch, self.config.image_column)
        ids = _column(batch, self.config.id_column)
        images = images.to_pylist() if hasattr(images, "to_pylist") else list(images)
        if not isinstance(ids, pa.Array | pa.ChunkedArray):
            ids = pa.array(ids)
        given = [row for row, image in enumerate(images) if image is not None]
        batch_result = self.prism.embed_many([images[row] for row in given])
        embeddings: list[Mapping[str, np.ndarray | None]] = [{} for _ in images]
        errors: list[str | None] = [_NULL_IMAGE] * len(images)
        for position, row in enumerate(given):
            embeddings[row] = batch_result.embeddings[position] or {}
            errors[row] = None
        for failure in batch_result.errors:
            errors[given[failure.index]] = failure.reason
        columns: dict[str, Any] = {self.config.id_column: ids}
        for name in self.prism.dimensions:
            values = [embedding.get(name) for embedding in embeddings]
            columns[name] = arrow_embeddings(values, self.prism.dimension(name).metric)
        columns[ERROR_COLUMN] = pa.array(errors, pa.string())
        columns[SETTINGS_COLUMN] = pa.array([self._settings()] * len(images), pa.string())
        return pa.table(columns)


def embed_dataset(
    dataset: Any,
    config: EmbedConfig | None = None,
    *,
    workers: int = 1,
    rows_per_batch: int | None = None,
) -> Any:
    """``dataset`` with its images embedded by ``workers`` Ray actors running ``EmbedImages``.

    Lazy, like every Ray Data transformation: nothing runs until the result is read or
    written. The settings are checked here, on the driver, before any actor starts.

    Args:
        dataset: A ``ray.data.Dataset`` with ``config.image_column`` and ``config.id_column``.
        config: The prism's settings and the input columns (default ``EmbedConfig()``).
        workers: Most actors, each with ``config.threads`` CPUs and its own prism. The pool
            starts with one and grows while CPUs are free: a fixed pool holding every CPU
            would leave none to read the images, and hang.
        rows_per_batch: Rows per call (default ``config.batch_size * config.threads``).

    Returns:
        The embedded ``ray.data.Dataset`` (columns: see this module's docstring).

    Raises:
        ImagePrismError: Ray Data is not installed (the message says what to install).
        ConfigError: ``workers``, ``rows_per_batch`` or the settings are invalid.
    """
    ray_data = _ray_data()
    config = config if config is not None else EmbedConfig()
    for name, value in (("workers", workers), ("rows_per_batch", rows_per_batch)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
    config.prism()  # fail here, not in every actor
    return dataset.map_batches(
        EmbedImages,
        fn_constructor_kwargs={"config": config},
        batch_size=rows_per_batch or config.batch_size * config.threads,
        batch_format="pyarrow",
        compute=ray_data.ActorPoolStrategy(min_size=1, max_size=workers),
        num_cpus=config.threads,
    )


# -- reading the results back ----------------------------------------------------------

Source = Any
"""What the readers take: a ``ray.data.Dataset`` made by ``EmbedImages``, a
``pyarrow.Table``, or local Parquet files written from one (a file, a folder, whose
``*.parquet`` files are read in name order, or a list of them). Rows are read in that
order; a Dataset's is its iteration order (deterministic only with Ray Data's
``DataContext.get_current().execution_options.preserve_order = True``)."""


def _tables(source: Source) -> Iterator[tuple[str, Any]]:
    """``(name for messages, table)`` of each part of ``source``, in order."""
    pa = _pyarrow()
    if isinstance(source, pa.Table):
        yield "the table", source
        return
    if hasattr(source, "iter_batches"):  # a ray.data.Dataset
        for batch in source.iter_batches(batch_format="pyarrow", batch_size=None):
            yield "the dataset", batch
        return
    paths = [source] if isinstance(source, str | os.PathLike) else list(source)
    for path in map(Path, paths):
        files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
        if not files:
            raise IndexFileError(f"{path} holds no .parquet files")
        for file in files:
            try:
                table = pa.parquet.read_table(str(file))
            except Exception as err:
                raise IndexFileError(f"cannot read {file}: {type(err).__name__}: {err}") from err
            yield str(file), table


def _fingerprint_manifest(fingerprints: Mapping[str, str]) -> dict[str, Any]:
    """Fingerprints in the shape ``prism_for`` checks."""
    return {"dimensions": {name: {"fingerprint": fp} for name, fp in fingerprints.items()}}


@dataclass(frozen=True)
class _Rows:
    ids: list[str]
    columns: _Columns
    errors: list[ImageFailure]

    def embeddings(self) -> list[dict[str, np.ndarray | None]]:
        return _row_mappings(self.columns, len(self.ids))


def _row_mappings(columns: _Columns, count: int) -> list[dict[str, np.ndarray | None]]:
    return [
        {name: matrix[row] if present[row] else None for name, (matrix, present) in columns.items()}
        for row in range(count)
    ]


def _concat(parts: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Stack one dimension's (matrix, mask) parts; a part without embeddings may have width 0."""
    width = max((matrix.shape[1] for matrix, _ in parts), default=0)
    dtype = parts[0][0].dtype if parts else np.uint8
    matrices = [
        np.zeros((len(present), width), dtype) if not present.any() else matrix
        for matrix, present in parts
    ]
    if not matrices:
        return np.zeros((0, 0), dtype), np.zeros(0, dtype=bool)
    return np.concatenate(matrices), np.concatenate([present for _, present in parts])


def _decode(
    name: str, table: Any, prism: ImagePrism, first_row: int
) -> tuple[list[str], _Columns, list[ImageFailure]]:
    """The good rows of one table (ids and embeddings) and its failed rows."""
    pa = _pyarrow()
    if len(table) == 0:
        empty = {n: _concat([]) for n in prism.dimensions}
        return [], empty, []
    if SETTINGS_COLUMN not in table.column_names:
        raise IndexFileError(
            f"{name} has no {SETTINGS_COLUMN!r} column: it was not made by EmbedImages"
        )
    stamps = table.column(SETTINGS_COLUMN).unique().to_pylist()
    if len(stamps) != 1:
        raise IndexFileError(f"{name} mixes rows made with different settings: {stamps}")
    try:
        stamp = json.loads(stamps[0])
        if stamp.get("format") != FORMAT:
            raise IndexFileError(f"{name} is not in the {FORMAT} layout")
        prism_for(_fingerprint_manifest(stamp["fingerprints"]), prism, name)
        reasons = table.column(ERROR_COLUMN).to_pylist()
        ids = [str(i) for i in table.column(stamp["id_column"]).to_pylist()]
        good = table.filter(pa.array([reason is None for reason in reasons]))
        columns = {
            n: numpy_embeddings(good.column(n), prism.dimension(n).metric) for n in prism.dimensions
        }
    except ImagePrismError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, pa.ArrowException) as err:
        raise IndexFileError(f"{name} is malformed: {type(err).__name__}: {err}") from err
    errors = [
        ImageFailure(first_row + row, ids[row], reason)
        for row, reason in enumerate(reasons)
        if reason is not None
    ]
    return [i for i, r in zip(ids, reasons, strict=True) if r is None], columns, errors


def _read(source: Source, prism: ImagePrism) -> _Rows:
    ids: list[str] = []
    parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {n: [] for n in prism.dimensions}
    errors: list[ImageFailure] = []
    rows = 0
    for name, table in _tables(source):
        part_ids, columns, part_errors = _decode(name, table, prism, rows)
        rows += len(table)
        ids += part_ids
        errors += part_errors
        for dimension, column in columns.items():
            parts[dimension].append(column)
    try:
        columns = {name: _concat(column) for name, column in parts.items()}
    except ValueError as err:
        raise IndexFileError(f"embeddings of different widths: {err}") from err
    return _Rows(ids, columns, errors)


def to_index(source: Source, prism: ImagePrism) -> ImageIndex:
    """An ``ImageIndex`` of the embedded rows of ``source``; failed rows are left out.

    Args:
        source: What ``EmbedImages`` made: a Dataset, a table or Parquet files (see ``Source``).
        prism: The prism to search with; its dimensions and fingerprints must be the ones
            that made ``source`` (``config.prism()`` of the same ``EmbedConfig``).

    Raises:
        IndexFileError: ``source`` was not made by ``EmbedImages``, is malformed, or was
            made with other dimensions or settings than ``prism``.
    """
    rows = _read(source, prism)
    return ImageIndex._from_columns(prism, rows.ids, rows.columns, "the Ray embeddings")


def write_embeddings_file(source: Source, path: str | os.PathLike[str], prism: ImagePrism) -> Path:
    """Write the embedded rows of ``source`` to an imageprism embeddings file (.npz or .parquet).

    The file is the one ``imageprism embed -o`` writes: ``imageprism search FILE`` and
    ``ImageIndex.from_embeddings`` read it. Failed rows are left out.

    Raises:
        IndexFileError: as ``to_index``.
        ConfigError: ``path`` does not end in .npz or .parquet, or its folder is missing.
    """
    rows = _read(source, prism)
    return write_embeddings(path, rows.ids, rows.embeddings(), prism)


# -- dedup in shards -------------------------------------------------------------------


@dataclass(frozen=True)
class ShardDedup:
    """Greedy groups of one shard of rows (``dedup_shard``), or of merged shards' representatives
    (``merge_shard_representatives``).

    Attributes:
        ids: The grouped rows' ids, in order (failed rows are not among them).
        labels: Per row, the position in ``ids`` of its representative (its own when it is one).
        representatives: Positions of the representatives, ascending.
        embeddings: The representatives' embeddings, per dimension a matrix and a mask of
            present rows, in ``representatives`` order (what a merge needs).
        errors: The rows that could not be embedded: ``index`` is the row in its shard's
            source, ``source`` its id; a merge keeps every shard's.
        threshold: The score at or above which two rows are duplicates.
        fingerprints: Per dimension, the fingerprint of the prism that made the embeddings.
    """

    ids: list[str]
    labels: list[int]
    representatives: list[int]
    embeddings: _Columns
    errors: list[ImageFailure]
    threshold: float
    fingerprints: dict[str, str]

    def representatives_only(self) -> ShardDedup:
        """Just the representatives: all a merge needs of this shard, and far smaller.

        Merging it gives the same result as merging the whole shard, and
        ``final_labels`` of the whole shard works with that merge.
        """
        keep = list(range(len(self.representatives)))
        return ShardDedup(
            ids=[self.ids[rep] for rep in self.representatives],
            labels=keep,
            representatives=keep,
            embeddings=self.embeddings,
            errors=self.errors,
            threshold=self.threshold,
            fingerprints=self.fingerprints,
        )

    def to_dict(self) -> dict[str, Any]:
        """The groups as JSON-ready data (without the embeddings)."""
        return {
            "threshold": self.threshold,
            "ids": list(self.ids),
            "labels": list(self.labels),
            "representatives": list(self.representatives),
            "errors": [e.to_dict() for e in self.errors],
        }


def _groups(
    ids: list[str],
    embeddings: list[dict[str, np.ndarray | None]],
    columns: _Columns,
    errors: list[ImageFailure],
    prism: ImagePrism,
    threshold: float,
    backend: Backend,
) -> ShardDedup:
    dimensions = {name: prism.dimension(name) for name in prism.dimensions}
    unique, labels = dedup_embeddings(
        embeddings, dimensions, prism.weights, prism.missing_scores, threshold, backend=backend
    )
    keep = np.asarray(unique, dtype=np.int64)
    return ShardDedup(
        ids=ids,
        labels=[int(label) for label in labels if label is not None],
        representatives=list(unique),
        embeddings={n: (matrix[keep], present[keep]) for n, (matrix, present) in columns.items()},
        errors=errors,
        threshold=threshold,
        fingerprints={name: dimension.fingerprint for name, dimension in dimensions.items()},
    )


def dedup_shard(
    source: Source, prism: ImagePrism, threshold: float = 0.9, *, backend: Backend = "exact"
) -> ShardDedup:
    """Group one shard's rows greedily in row order, exactly as ``ImagePrism.dedup`` groups
    the same images, from their stored embeddings.

    Args:
        source: One shard made by ``EmbedImages`` (usually one Parquet file; see ``Source``).
        prism: The prism that made it (checked by fingerprint); its weights score pairs.
        threshold: Weighted score in [0, 1] at or above which two rows are duplicates.
        backend: How candidate pairs are found (see ``imageprism.dedup.engine.Backend``).

    Raises:
        IndexFileError: as ``to_index``.
        ConfigError: ``threshold`` or ``backend`` is invalid.
    """
    threshold = check_threshold(threshold)
    rows = _read(source, prism)
    return _groups(
        rows.ids, rows.embeddings(), rows.columns, rows.errors, prism, threshold, backend
    )


def merge_shard_representatives(
    shards: Sequence[ShardDedup], prism: ImagePrism, *, backend: Backend = "exact"
) -> ShardDedup:
    """Group the union of the shards' representatives greedily, in shard order.

    The result's rows are the shards' representatives; ``final_labels`` composes it
    with each shard. It can itself be merged with other merges. What the composed
    grouping guarantees, and how it differs from one greedy pass over every row, is in
    this module's docstring: each row is linked to its final representative by a chain
    of matches (row to shard representative to merge representative), not always by a
    direct match, and no two final representatives are duplicates.

    Args:
        shards: Results of ``dedup_shard`` (or of this function), all at one threshold.
        prism: The prism that made them (checked by fingerprint).
        backend: How candidate pairs are found (see ``imageprism.dedup.engine.Backend``).

    Raises:
        ConfigError: no shards, shards at different thresholds, or an id in two shards.
        IndexFileError: a shard was made with other dimensions or settings than ``prism``.
    """
    if not shards:
        raise ConfigError("merge_shard_representatives needs at least one shard")
    thresholds = sorted({shard.threshold for shard in shards})
    if len(thresholds) > 1:
        raise ConfigError(f"shards were deduplicated at different thresholds: {thresholds}")
    for number, shard in enumerate(shards):
        prism_for(_fingerprint_manifest(shard.fingerprints), prism, f"shard {number}")
    ids = [shard.ids[rep] for shard in shards for rep in shard.representatives]
    twice = [i for i, count in Counter(ids).items() if count > 1]
    if twice:
        raise ConfigError(
            f"ids must be unique across shards: {twice[0]!r} is a representative in two"
        )
    columns = {
        name: _concat([shard.embeddings[name] for shard in shards]) for name in prism.dimensions
    }
    errors = [failure for shard in shards for failure in shard.errors]
    embeddings = _row_mappings(columns, len(ids))
    return _groups(ids, embeddings, columns, errors, prism, thresholds[0], backend)


def final_labels(shard: ShardDedup, *merges: ShardDedup) -> list[str]:
    """Per row of ``shard``, the id of its final representative after ``merges``.

    Args:
        shard: A ``dedup_shard`` result.
        merges: The merges it went through, innermost first (one for a flat merge).

    Raises:
        ConfigError: a representative is missing from a merge (it was not given that shard).
    """
    labels = [shard.ids[label] for label in shard.labels]
    for level, merged in enumerate(merges):
        final = {merged.ids[row]: merged.ids[label] for row, label in enumerate(merged.labels)}
        try:
            labels = [final[label] for label in labels]
        except KeyError as err:
            raise ConfigError(
                f"representative {err.args[0]!r} is not in merge {level}: merge "
                "the shard (or the merge holding it) there first"
            ) from None
    return labels
