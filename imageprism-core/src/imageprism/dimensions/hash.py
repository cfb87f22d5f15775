"""The built-in hash dimension: pHash, dHash and aHash from one decode.

The score of a pair is the fraction of matching bits of each hash, combined
over the chosen algorithms by mean (default), max or min: 1.0 for the same
picture, about 0.5 for unrelated ones. Embeddings are the hashes' bits packed
into ``uint8`` (each algorithm padded to whole bytes, in the configured order).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Literal

import numpy as np
from PIL import Image
from pydantic import Field, field_validator

from imageprism.dimension import DimensionConfig, DimensionSpec, Metric
from imageprism.hookspecs import hookimpl
from imageprism.images import PreparedImage

HashAlgorithm = Literal["phash", "dhash", "ahash"]

_PREPROCESSING_VERSION = "1"  # bump whenever the pixels fed to the hashes change
_POPCOUNT = np.array([bin(value).count("1") for value in range(256)], dtype=np.uint16)
_COMBINE = {"mean": np.mean, "max": np.max, "min": np.min}


class HashConfig(DimensionConfig):
    """Configuration of the hash dimension.

    Attributes:
        algorithms: Which hashes to compute, any non-empty subset of
            ``("phash", "dhash", "ahash")``, in this order in the embedding.
        hash_size: Side of each hash in bits (>= 4): a hash has ``hash_size**2`` bits.
        combine: How the per-algorithm scores become one: ``"mean"``, ``"max"`` or ``"min"``.
    """

    algorithms: tuple[HashAlgorithm, ...] = ("phash", "dhash", "ahash")
    hash_size: int = Field(default=8, ge=4)
    combine: Literal["mean", "max", "min"] = "mean"

    @field_validator("algorithms")
    @classmethod
    def _distinct(cls, algorithms: tuple[str, ...]) -> tuple[str, ...]:
        if not algorithms:
            raise ValueError("choose at least one of 'phash', 'dhash', 'ahash'")
        if len(set(algorithms)) != len(algorithms):
            raise ValueError(f"algorithms must not repeat, got {algorithms}")
        return algorithms


def _dct_rows(rows: int, size: int) -> np.ndarray:
    """The first ``rows`` rows of the (unnormalised) DCT-II matrix of order ``size``."""
    k = np.arange(rows)[:, None]
    n = np.arange(size)[None, :]
    return np.cos(np.pi * k * (2 * n + 1) / (2 * size))


class HashDimension:
    """Perceptual hashes (pHash, dHash, aHash) compared by fraction of matching bits."""

    metric: Metric = "hamming"

    def __init__(self, config: HashConfig | None = None) -> None:
        self.config = config or HashConfig()
        self.name = "hash"
        size = self.config.hash_size
        self._bits = size * size
        self._bytes_per_hash = -(-self._bits // 8)
        self._phash_side = 4 * size
        self._combine = _COMBINE[self.config.combine]
        self.fingerprint = hashlib.sha256(
            f"hash/{_PREPROCESSING_VERSION}/{self.config.model_dump_json()}".encode()
        ).hexdigest()[:16]

    @cached_property
    def _dct(self) -> np.ndarray:
        return _dct_rows(self.config.hash_size, self._phash_side)

    @property
    def min_side(self) -> int:
        """The smallest image side the hashes need from the decoder."""
        size = self.config.hash_size
        return self._phash_side if "phash" in self.config.algorithms else size + 1

    @property
    def embedding_size(self) -> int:
        """Bytes in one embedding."""
        return self._bytes_per_hash * len(self.config.algorithms)

    def _bits_of(self, grey: Image.Image, algorithm: str) -> np.ndarray:
        size = self.config.hash_size
        lanczos = Image.Resampling.LANCZOS
        if algorithm == "phash":
            side = self._phash_side
            pixels = np.asarray(grey.resize((side, side), lanczos), dtype=np.float64)
            low = self._dct @ pixels @ self._dct.T
            return low > np.median(low[1:, 1:])  # median without row 0 and column 0, as in 0.1
        if algorithm == "dhash":
            pixels = np.asarray(grey.resize((size + 1, size), lanczos), dtype=np.int16)
            return pixels[:, 1:] > pixels[:, :-1]
        pixels = np.asarray(grey.resize((size, size), lanczos), dtype=np.float64)
        return pixels > pixels.mean()

    def embed(self, image: PreparedImage) -> np.ndarray:
        """The packed hash bits of one image (``uint8``, ``embedding_size`` bytes)."""
        grey = image.rgb(min_side=self.min_side).convert("L")
        return np.concatenate(
            [
                np.packbits(self._bits_of(grey, algorithm).ravel())
                for algorithm in self.config.algorithms
            ]
        )

    def embed_batch(self, images: Sequence[PreparedImage]) -> list[np.ndarray | None]:
        """Hash each image (a hash always exists, so never None)."""
        return [self.embed(image) for image in images]

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        """Fraction of matching bits per algorithm, combined by ``config.combine``.

        Raises:
            ValueError: the embeddings do not have this configuration's size.
        """
        a = np.asarray(a, dtype=np.uint8)
        b = np.asarray(b, dtype=np.uint8)
        if a.shape != (self.embedding_size,) or b.shape != (self.embedding_size,):
            raise ValueError(
                f"hash embeddings must have shape ({self.embedding_size},) for this config, "
                f"got {a.shape} and {b.shape}"
            )
        differing = _POPCOUNT[np.bitwise_xor(a, b)].reshape(len(self.config.algorithms), -1)
        per_algorithm = 1.0 - differing.sum(axis=1) / self._bits
        return float(self._combine(per_algorithm))


@hookimpl
def imageprism_register_dimensions(register: Callable[[DimensionSpec], None]) -> None:
    """Register the hash dimension."""
    register(
        DimensionSpec(
            name="hash",
            factory=HashDimension,
            config_model=HashConfig,
            summary="perceptual hashes (pHash, dHash, aHash): the same picture re-saved or resized",
            licence="MIT; no model files",
        )
    )
