"""An index of image embeddings for search, saved to and loaded from one file.

The exact backend scores a query against every indexed image with each
dimension's vectorised ``similarity_many`` (packed-bit XOR and popcount for
hashes, matrix products for float embeddings), in chunks, so memory stays
bounded; scores are blended with the prism's weights exactly as ``compare`` does.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from imageprism.errors import ConfigError, ImagePrismError
from imageprism.index.columns import check_columns, check_count, check_ids, read_columns
from imageprism.index.manifest import (
    IndexFileError,
    check_manifest,
    check_model_sources,
    prism_for,
    prism_manifest,
)
from imageprism.index.reading import (
    MAX_MANIFEST_BYTES,
    MAX_MEMBER_BYTES,
    open_archive,
    parse_json,
    read_member,
)
from imageprism.io.atomic import atomic_write
from imageprism.io.images import ImageInput
from imageprism.io.names import display_name
from imageprism.results import ImageFailure
from imageprism.runtime.optional import require
from imageprism.scoring import EmbeddingTable

if TYPE_CHECKING:
    from imageprism.prism import ImagePrism

FORMAT = "imageprism-index/1"

IndexBackend = Literal["auto", "exact", "faiss"]
"""How ``ImageIndex.search`` finds its rows: ``"exact"`` scores every row; ``"faiss"`` asks
FAISS indexes (one per weighted dimension) for each dimension's nearest rows and scores
those exactly; ``"auto"`` uses FAISS from ``FAISS_FROM`` images when it is installed."""

FAISS_FROM = 100_000
"""Index size from which ``backend="auto"`` searches with FAISS (when installed)."""


@dataclass(frozen=True)
class SearchHit:
    """One indexed image found by a search.

    Attributes:
        index: Its position in the index.
        id: Its id (by default the source it was added from).
        scores: Per dimension, its score against the query (None where not scorable).
        weighted_score: The scores blended with the prism's weights.
    """

    index: int
    id: str
    scores: dict[str, float | None]
    weighted_score: float | None

    def to_dict(self) -> dict[str, Any]:
        """The hit as JSON-ready data."""
        return {
            "index": self.index,
            "id": self.id,
            "scores": dict(self.scores),
            "weighted_score": self.weighted_score,
        }


def _nan_to_none(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


class ImageIndex:
    """Embeddings of many images, for top-k and range search with one prism's dimensions.

    Build one with ``ImagePrism.index(images)`` or ``ImageIndex(prism).add(images)``.

    Args:
        prism: The prism whose dimensions and weights score queries.
        backend: See ``IndexBackend``. With FAISS, top-k search is exact for a
            single hash dimension and approximate for cosine dimensions (IVF
            above ``imageprism.dedup.faiss_backend.IVF_FROM`` rows) and for blends of
            several dimensions (each contributes its own nearest rows).
            ``range_search`` always scores every row.
    """

    def __init__(self, prism: ImagePrism, *, backend: IndexBackend = "auto") -> None:
        if backend not in ("auto", "exact", "faiss"):
            raise ConfigError(f"backend must be 'auto', 'exact' or 'faiss', got {backend!r}")
        if backend == "faiss":
            require("faiss", "faiss")
        self.prism = prism
        self.backend: IndexBackend = backend
        self.ids: list[str] = []
        self._table = EmbeddingTable(list(prism.dimensions))
        self._faiss: dict[str, Any] | None = None  # built on first FAISS search

    def __len__(self) -> int:
        return len(self.ids)

    def add(
        self,
        images: Iterable[ImageInput],
        ids: Sequence[str] | None = None,
        *,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> list[ImageFailure]:
        """Embed and add images (in batches); returns the inputs that failed.

        Good images are added in input order whatever fails; a failure's ``index``
        is its position in ``images``.

        Raises:
            ConfigError: ``ids`` does not give one id per image.
        """
        batch = self.prism.embed_many(images, progress=progress)
        if ids is not None and len(ids) != len(batch.sources):
            raise ConfigError(
                f"ids must give one id per image: {len(ids)} ids for {len(batch.sources)} images"
            )
        names = list(ids) if ids is not None else batch.sources
        for position, embedding in enumerate(batch.embeddings):
            if embedding is None:
                continue
            self.ids.append(str(names[position]))
            self._table.append(embedding)
        self._faiss = None
        return batch.errors

    def _uses_faiss(self) -> bool:
        if self.backend == "auto":
            return len(self) >= FAISS_FROM and find_spec("faiss") is not None
        return self.backend == "faiss"

    def _nearest_rows(self, query: Mapping[str, np.ndarray | None], k: int) -> np.ndarray:
        """Rows FAISS finds nearest to ``query`` on each weighted dimension."""
        from imageprism.dedup.faiss_backend import FaissSearch

        columns = self._table.columns()
        weighted = [n for n in self.prism.dimensions if self.prism.weights.get(n, 0.0) > 0]
        if self._faiss is None:
            self._faiss = {
                name: FaissSearch(matrix, present, self.prism.dimension(name))
                for name in weighted
                for matrix, present in [columns[name]]
                if matrix is not None
            }
        asked = {n: s for n, s in self._faiss.items() if query.get(n) is not None}
        if not asked or not all(searcher.exact for searcher in asked.values()):
            return np.arange(len(self))  # nothing to ask FAISS, or it cannot rank: scan
        found = np.unique(np.concatenate([s.nearest(query[n], k) for n, s in asked.items()]))
        return found if len(found) else np.arange(len(self))

    def _score(
        self, query: ImageInput, k: int | None = None
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """Scores of ``query`` against every row (or, for a FAISS top-``k``, the rows FAISS
        finds), and which rows they are."""
        dimensions = {name: self.prism.dimension(name) for name in self.prism.dimensions}
        embedding = self.prism.embed(query)
        self._check_widths(embedding)
        rows = np.arange(len(self))
        if k is not None and self._uses_faiss():
            rows = self._nearest_rows(embedding, k)
        scores, weighted = self._table.scores(
            dimensions, embedding, self.prism.weights, self.prism.missing_scores, rows=rows
        )
        return scores, weighted, rows

    def _check_widths(self, embedding: Mapping[str, np.ndarray | None]) -> None:
        """Refuse a query whose embedding is not as long as the index's (a loaded file's
        rows may be of any length its manifest agrees with)."""
        for name, (matrix, _) in self._table.columns().items():
            vector = embedding.get(name)
            if vector is not None and matrix is not None and matrix.shape[1] != len(vector):
                raise IndexFileError(
                    f"the index's {name!r} embeddings are {matrix.shape[1]} values long but "
                    f"the dimension makes {len(vector)}: the index was not made by this "
                    "dimension; make it again"
                )

    def _hits(
        self,
        order: np.ndarray,
        scores: dict[str, np.ndarray],
        weighted: np.ndarray,
        rows: np.ndarray,
    ) -> list[SearchHit]:
        return [
            SearchHit(
                index=int(rows[i]),
                id=self.ids[rows[i]],
                scores={name: _nan_to_none(values[i]) for name, values in scores.items()},
                weighted_score=_nan_to_none(weighted[i]),
            )
            for i in order
        ]

    def search(self, query: ImageInput, k: int = 10) -> list[SearchHit]:
        """The ``k`` indexed images with the highest weighted score (earliest first on ties)."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"k must be an integer >= 1, got {k!r}")
        scores, weighted, rows = self._score(query, k)
        ranking = np.where(np.isnan(weighted), -np.inf, weighted)
        order = np.lexsort((rows, -ranking))[:k]
        return self._hits(order, scores, weighted, rows)

    def range_search(self, query: ImageInput, threshold: float) -> list[SearchHit]:
        """Every indexed image whose weighted score is at least ``threshold``, best first."""
        from imageprism.scoring import check_threshold

        threshold = check_threshold(threshold)
        scores, weighted, rows = self._score(query)
        found = np.flatnonzero(np.nan_to_num(weighted, nan=-1.0) >= threshold)
        order = found[np.lexsort((found, -weighted[found]))]
        return self._hits(order, scores, weighted, rows)

    def _manifest(self) -> dict[str, Any]:
        manifest = {"format": FORMAT, "count": len(self), **prism_manifest(self.prism)}
        for name, (matrix, _) in self._table.columns().items():
            manifest["dimensions"][name]["length"] = 0 if matrix is None else matrix.shape[1]
        return manifest

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the index to one file (a zip of a JSON manifest, ids and arrays).

        The file is written under a temporary name and renamed into place, so a
        crash mid-save leaves any previous file intact.
        """
        target = Path(path)
        arrays: dict[str, np.ndarray] = {}
        for number, (matrix, present) in enumerate(self._table.columns().values()):
            arrays[f"dim{number}_matrix"] = np.zeros((len(self), 0)) if matrix is None else matrix
            arrays[f"dim{number}_present"] = present

        def write(temp: Path) -> None:
            with zipfile.ZipFile(temp, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr("manifest.json", json.dumps(self._manifest(), indent=2))
                archive.writestr("ids.json", json.dumps(self.ids))
                for key, array in arrays.items():
                    buffer = io.BytesIO()
                    np.save(buffer, array, allow_pickle=False)
                    archive.writestr(f"{key}.npy", buffer.getvalue())

        if not target.parent.is_dir():
            raise IndexFileError(f"cannot save index to {target}: folder {target.parent} not found")
        return atomic_write(target, write)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        prism: ImagePrism | None = None,
        *,
        backend: IndexBackend = "auto",
        trust_models: bool = False,
    ) -> ImageIndex:
        """Read an index written by ``save``, for use with ``prism``.

        Without ``prism``, one is made from the dimensions, configs and weights
        the index was built with. The file is untrusted: its size, members, array
        shapes and dtypes are checked before they are read (see
        ``imageprism.index.reading`` for the limits), and a config naming a model that
        the installed packs do not pin, or a local model file, is refused before
        anything is downloaded or run unless ``trust_models`` is True.

        Args:
            path: The index file.
            prism: The prism to search with (its fingerprints must match the file's).
            backend: See ``IndexBackend``.
            trust_models: Rebuild the prism even when the file's configs name unpinned
                models or local model files (only for files you trust).

        Raises:
            IndexFileError: the file is not an index, is damaged or over a limit, or
                ``prism``'s dimensions or their fingerprints (model, config,
                preprocessing) differ from the index's.
            UntrustedModelError: without ``trust_models``, the file names an unpinned
                model or a local model file.
        """
        try:
            with open_archive(path) as archive:
                manifest = check_manifest(
                    parse_json(
                        read_member(archive, "manifest.json", path, MAX_MANIFEST_BYTES),
                        "manifest",
                        path,
                        text=True,
                    ),
                    path,
                    FORMAT,
                )
                if prism is None and not trust_models:
                    check_model_sources(manifest, path)
                count = manifest["count"]
                check_count(count, path)
                ids = parse_json(
                    read_member(archive, "ids.json", path, MAX_MEMBER_BYTES), "ids", path
                )
                check_ids(ids, count, path)
                columns = read_columns(archive, manifest, path)
        except ImagePrismError:
            raise
        except Exception as err:  # zipfile and its codecs raise many kinds on damaged data
            raise IndexFileError(
                f"cannot read index {display_name(str(path))}: {type(err).__name__}: {err}"
            ) from err
        return cls._checked(manifest, prism, ids, columns, path, backend, trust_models)

    @classmethod
    def _checked(
        cls,
        manifest: dict[str, Any],
        prism: ImagePrism | None,
        ids: list[str],
        columns: Mapping[str, tuple[np.ndarray, np.ndarray]],
        path: object,
        backend: IndexBackend = "auto",
        trust_models: bool = False,
    ) -> ImageIndex:
        """An index from checked file contents, or IndexFileError for any malformed part."""
        try:
            prism = prism_for(manifest, prism, path, trust_models=trust_models)
            metrics = {name: prism.dimension(name).metric for name in prism.dimensions}
            check_columns(manifest, metrics, columns, path)
            return cls._from_columns(prism, ids, columns, path, backend)
        except ImagePrismError:
            raise
        except (KeyError, TypeError, AttributeError, ValueError, IndexError) as err:
            raise IndexFileError(
                f"{display_name(str(path))} is malformed: {type(err).__name__}: {err}"
            ) from err

    @classmethod
    def _from_columns(
        cls,
        prism: ImagePrism,
        ids: Sequence[str],
        columns: Mapping[str, tuple[np.ndarray, np.ndarray]],
        path: object,
        backend: IndexBackend = "auto",
    ) -> ImageIndex:
        if any(len(present) != len(ids) for _, present in columns.values()):
            raise IndexFileError(f"{path} is inconsistent: ids and embeddings differ in count")
        index = cls(prism, backend=backend)
        index.ids = [str(i) for i in ids]
        index._table.extend(columns, len(ids))
        return index

    @classmethod
    def from_embeddings(
        cls,
        path: str | os.PathLike[str],
        prism: ImagePrism | None = None,
        *,
        backend: IndexBackend = "auto",
        trust_models: bool = False,
    ) -> ImageIndex:
        """An index of the embeddings in a file written by ``imageprism embed -o`` (.npz or
        .parquet); checked against ``prism`` (and with ``trust_models``) as ``load`` does.

        Raises:
            IndexFileError: the file is unreadable, damaged, over a limit or made with
                other dimensions than ``prism``.
            UntrustedModelError: without ``trust_models``, the file names an unpinned
                model or a local model file.
        """
        from imageprism.index.embeddings_file import read_embeddings

        ids, columns, manifest = read_embeddings(
            path, check_models=prism is None and not trust_models
        )
        return cls._checked(manifest, prism, ids, columns, path, backend, trust_models)
