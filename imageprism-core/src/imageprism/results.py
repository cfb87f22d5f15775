"""The frozen, JSON-ready results of ImagePrism calls (the CLI prints the same shapes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class CompareResult:
    """Scores of one pair of images.

    Attributes:
        scores: Per dimension, a score in [0, 1] (1 = the same), or None when
            the dimension cannot score this pair (e.g. no face in one image).
        weighted_score: The scores blended with ``weights`` (see ``ImagePrism``
            for how None scores count).
        weights: The normalised weights used for ``weighted_score``.
    """

    scores: dict[str, float | None]
    weighted_score: float | None
    weights: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """The comparison as JSON-ready data."""
        return {
            "scores": dict(self.scores),
            "weighted_score": self.weighted_score,
            "weights": dict(self.weights),
        }


@dataclass(frozen=True)
class ImageFailure:
    """One input of a batch that could not be used.

    Attributes:
        index: Its position in the input sequence.
        source: How it is named (path, or a description of the object).
        reason: Why it failed.
    """

    index: int
    source: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """The failure as JSON-ready data."""
        return {"index": self.index, "source": self.source, "reason": self.reason}


def _embedding_to_json(value: np.ndarray | None) -> Any:
    if value is None:
        return None
    if value.dtype == np.uint8:
        return value.tobytes().hex()
    return [float(x) for x in value.ravel()]


@dataclass(frozen=True)
class EmbeddingBatch:
    """Embeddings of many images, in input order, with the inputs that failed.

    Attributes:
        embeddings: Per input, a dict of dimension name to embedding (None where
            the dimension found nothing to embed), or None when the input failed.
        errors: The failed inputs with their reasons.
        sources: How each input is named.
    """

    embeddings: list[dict[str, np.ndarray | None] | None]
    errors: list[ImageFailure]
    sources: list[str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: packed-bit embeddings as hex strings, float ones as lists."""
        return {
            "embeddings": [
                None if item is None else {k: _embedding_to_json(v) for k, v in item.items()}
                for item in self.embeddings
            ],
            "errors": [e.to_dict() for e in self.errors],
            "sources": list(self.sources),
        }


@dataclass(frozen=True)
class DedupResult:
    """Near-duplicate groups of a sequence of images.

    Attributes:
        unique: Indexes of the representatives (the first-seen image of each
            group), ascending.
        labels: Per input, the index of its representative (its own index when it
            is one), or None when the input failed.
        groups: The groups with two or more images, representative first.
        errors: The inputs that failed, with their reasons.
        sources: How each input is named.
        threshold: The score at or above which two images are duplicates.
        digests: Per input, its content digest (the key of remembered
            not-duplicate marks and of the embedding store), or None when it failed
            to load.
    """

    unique: list[int]
    labels: list[int | None]
    groups: list[list[int]]
    errors: list[ImageFailure]
    sources: list[str]
    threshold: float
    digests: list[str | None] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data."""
        return {
            "threshold": self.threshold,
            "unique": list(self.unique),
            "labels": list(self.labels),
            "groups": [list(g) for g in self.groups],
            "errors": [e.to_dict() for e in self.errors],
            "sources": list(self.sources),
            "digests": list(self.digests),
        }
