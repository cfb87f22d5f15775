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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel

from imageprism._files import atomic_write
from imageprism.errors import ConfigError, ImagePrismError
from imageprism.images import ImageInput
from imageprism.results import ImageFailure
from imageprism.scoring import EmbeddingTable

if TYPE_CHECKING:
    from imageprism.prism import ImagePrism

FORMAT = "imageprism-index/1"


class IndexFileError(ImagePrismError, ValueError):
    """An index file is unreadable, or was built with other dimensions than this prism's."""


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
    """

    def __init__(self, prism: ImagePrism) -> None:
        self.prism = prism
        self.ids: list[str] = []
        self._table = EmbeddingTable(list(prism.dimensions))

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
        return batch.errors

    def _score(self, query: ImageInput) -> tuple[dict[str, np.ndarray], np.ndarray]:
        dimensions = {name: self.prism.dimension(name) for name in self.prism.dimensions}
        return self._table.scores(
            dimensions, self.prism.embed(query), self.prism.weights, self.prism.missing_scores
        )

    def _hits(
        self, order: np.ndarray, scores: dict[str, np.ndarray], weighted: np.ndarray
    ) -> list[SearchHit]:
        return [
            SearchHit(
                index=int(i),
                id=self.ids[i],
                scores={name: _nan_to_none(values[i]) for name, values in scores.items()},
                weighted_score=_nan_to_none(weighted[i]),
            )
            for i in order
        ]

    def search(self, query: ImageInput, k: int = 10) -> list[SearchHit]:
        """The ``k`` indexed images with the highest weighted score (earliest first on ties)."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"k must be an integer >= 1, got {k!r}")
        scores, weighted = self._score(query)
        ranking = np.where(np.isnan(weighted), -np.inf, weighted)
        order = np.lexsort((np.arange(len(ranking)), -ranking))[:k]
        return self._hits(order, scores, weighted)

    def range_search(self, query: ImageInput, threshold: float) -> list[SearchHit]:
        """Every indexed image whose weighted score is at least ``threshold``, best first."""
        from imageprism.dedup import check_threshold

        threshold = check_threshold(threshold)
        scores, weighted = self._score(query)
        found = np.flatnonzero(np.nan_to_num(weighted, nan=-1.0) >= threshold)
        order = found[np.lexsort((found, -weighted[found]))]
        return self._hits(order, scores, weighted)

    def _manifest(self) -> dict[str, Any]:
        return {"format": FORMAT, "count": len(self), **prism_manifest(self.prism)}

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
    def load(cls, path: str | os.PathLike[str], prism: ImagePrism | None = None) -> ImageIndex:
        """Read an index written by ``save``, for use with ``prism``.

        Without ``prism``, one is made from the dimensions, configs and weights
        the index was built with.

        Raises:
            IndexFileError: the file is not an index, or ``prism``'s dimensions or their
                fingerprints (model, config, preprocessing) differ from the index's.
        """
        try:
            with zipfile.ZipFile(path) as archive:
                manifest = json.loads(archive.read("manifest.json"))
                ids = json.loads(archive.read("ids.json"))
                if manifest.get("format") != FORMAT:
                    raise IndexFileError(f"{path} is not an {FORMAT} file")
                names = list(manifest["dimensions"])
                arrays = {
                    key: np.load(io.BytesIO(archive.read(f"{key}.npy")), allow_pickle=False)
                    for number in range(len(names))
                    for key in (f"dim{number}_matrix", f"dim{number}_present")
                }
        except IndexFileError:
            raise
        except (
            OSError,
            KeyError,
            ValueError,
            TypeError,
            AttributeError,
            zipfile.BadZipFile,
        ) as err:
            raise IndexFileError(f"cannot read index {path}: {type(err).__name__}: {err}") from err
        columns = {
            name: (arrays[f"dim{n}_matrix"], arrays[f"dim{n}_present"])
            for n, name in enumerate(names)
        }
        return cls._checked(manifest, prism, ids, columns, path)

    @classmethod
    def _checked(
        cls,
        manifest: Any,
        prism: ImagePrism | None,
        ids: Any,
        columns: Mapping[str, tuple[np.ndarray, np.ndarray]],
        path: object,
    ) -> ImageIndex:
        """An index from file contents, or IndexFileError for any malformed part."""
        try:
            prism = prism_for(manifest, prism, path)
            for name, (matrix, present) in columns.items():
                if matrix.ndim != 2 or present.ndim != 1 or len(matrix) != len(present):
                    raise IndexFileError(f"{path}: the {name!r} embeddings are malformed")
            return cls._from_columns(prism, ids, columns, path)
        except ImagePrismError:
            raise
        except (KeyError, TypeError, AttributeError, ValueError, IndexError) as err:
            raise IndexFileError(f"{path} is malformed: {type(err).__name__}: {err}") from err

    @classmethod
    def _from_columns(
        cls,
        prism: ImagePrism,
        ids: Sequence[str],
        columns: Mapping[str, tuple[np.ndarray, np.ndarray]],
        path: object,
    ) -> ImageIndex:
        if any(len(present) != len(ids) for _, present in columns.values()):
            raise IndexFileError(f"{path} is inconsistent: ids and embeddings differ in count")
        index = cls(prism)
        index.ids = [str(i) for i in ids]
        for row in range(len(ids)):
            index._table.append(
                {
                    name: matrix[row] if present[row] else None
                    for name, (matrix, present) in columns.items()
                }
            )
        return index

    @classmethod
    def from_embeddings(
        cls, path: str | os.PathLike[str], prism: ImagePrism | None = None
    ) -> ImageIndex:
        """An index of the embeddings in a file written by ``imageprism embed -o`` (.npz or
        .parquet); checked against ``prism`` as ``load`` does."""
        from imageprism.embeddings_file import read_embeddings

        ids, columns, manifest = read_embeddings(path)
        return cls._checked(manifest, prism, ids, columns, path)


def prism_manifest(prism: ImagePrism) -> dict[str, Any]:
    """What a saved index or embeddings file records of the prism that made it."""
    dimensions = {}
    for name in prism.dimensions:
        dimension = prism.dimension(name)
        config = getattr(dimension, "config", None)
        dimensions[name] = {
            "fingerprint": dimension.fingerprint,
            "metric": dimension.metric,
            "config": config.model_dump(mode="json") if isinstance(config, BaseModel) else None,
        }
    return {
        "dimensions": dimensions,
        "weights": dict(prism.weights),
        "missing_scores": prism.missing_scores,
    }


def prism_for(manifest: dict[str, Any], prism: ImagePrism | None, path: object) -> ImagePrism:
    """``prism`` checked against a manifest (or, when None, the prism the manifest records).

    Raises:
        IndexFileError: the dimensions or their fingerprints differ.
    """
    if prism is None:
        prism = _prism_of(manifest, path)
    ours = {name: prism.dimension(name).fingerprint for name in prism.dimensions}
    theirs = {name: info["fingerprint"] for name, info in manifest["dimensions"].items()}
    if ours != theirs:
        differing = sorted(
            name for name in set(ours) | set(theirs) if ours.get(name) != theirs.get(name)
        )
        raise IndexFileError(
            f"{path} was made with other dimensions or settings than this prism: "
            f"{', '.join(differing)} differ (file: {theirs}; prism: {ours}); "
            "make it again with this prism"
        )
    return prism


def _prism_of(manifest: dict[str, Any], path: object) -> ImagePrism:
    """The prism an index was built with, from its manifest."""
    from imageprism.prism import ImagePrism

    dimensions = manifest["dimensions"]
    try:
        return ImagePrism(
            list(dimensions),
            weights=manifest.get("weights") or None,
            config={n: d["config"] for n, d in dimensions.items() if d.get("config") is not None},
            missing_scores=manifest.get("missing_scores", "zero"),
        )
    except ImagePrismError as err:
        raise IndexFileError(f"cannot rebuild the prism of index {path}: {err}") from err
