"""The built-in hash dimension: pHash, dHash and aHash from one decode.

The score of a pair is the fraction of matching bits of each hash, combined
over the chosen algorithms by mean (default), max or min, for the best-matching
pair of hash sets (orientations and centred windows): 1.0 for the same picture,
about 0.6 for unrelated ones with the defaults (0.5 with ``flip=False,
windows=(1.0,)``). Embeddings are the hashes' bits packed into ``uint8``, set
after set, each algorithm padded to whole bytes, in the configured order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Literal

import numpy as np
from PIL import Image
from pydantic import Field, field_validator

from imageprism.builtins.presets import HASH_PRESETS
from imageprism.io.images import PreparedImage
from imageprism.plugin.dimension import Metric
from imageprism.plugin.hookspecs import hookimpl
from imageprism.plugin.specs import DimensionConfig, DimensionSpec, Preset

HashAlgorithm = Literal["phash", "dhash", "ahash"]

_PREPROCESSING_VERSION = "3"  # bump whenever the pixels fed to the hashes change
_POPCOUNT = np.array([bin(value).count("1") for value in range(256)], dtype=np.uint16)
_CHUNK_BYTES = 8 << 20  # XOR work per chunk in similarity_many
# Decimals kept of DCT coefficients and grid averages (grey levels, 0..255) before bits
# are taken: below this, differences are floating-point noise of the matrix products, and
# on a flat image that noise (which depends on the BLAS kernel) would decide every bit.
_DECIMALS = 6


def _popcount_bytes(values: np.ndarray) -> np.ndarray:
    return _POPCOUNT[values]


def _popcount_words(values: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):  # NumPy >= 2.0
        return np.bitwise_count(values)
    return _POPCOUNT[values.view(np.uint8)].reshape(*values.shape, 8).sum(axis=-1)


MAX_HASH_SIZE = 64
"""Largest ``HashConfig.hash_size``: 4096-bit hashes from a 256-pixel square."""


class HashConfig(DimensionConfig):
    """Configuration of the hash dimension.

    Attributes:
        algorithms: Which hashes to compute, any non-empty subset of
            ``("phash", "dhash", "ahash")``, in this order in the embedding.
        hash_size: Side of each hash in bits, 4 to 64: a hash has ``hash_size**2``
            bits. The bound keeps the work per image small (pHash resizes to a
            ``4 * hash_size`` square and takes its DCT; 64 gives 4096-bit hashes).
        combine: How the per-algorithm scores become one: ``"mean"``, ``"max"`` or ``"min"``.
        flip: Also hash the mirrored image, so a horizontal flip still matches
            (the score takes the better orientation). Costs little: the mirror is
            hashed from the same small image. Default on.
        windows: Centred windows hashed, as fractions of the image's sides,
            starting with 1.0 (the whole image); windows of the two images are
            compared all against all and the best match counts, so a centred crop
            still matches. Default ``(1.0, 0.7, 0.5)``; ``flip=False,
            windows=(1.0,)`` hashes like 0.1 (one set of hashes). Extra sets raise
            the scores of unrelated pairs (mean about 0.60 instead of 0.51).
    """

    algorithms: tuple[HashAlgorithm, ...] = ("phash", "dhash", "ahash")
    hash_size: int = Field(default=8, ge=4, le=MAX_HASH_SIZE)
    combine: Literal["mean", "max", "min"] = "mean"
    flip: bool = True
    windows: tuple[float, ...] = (1.0, 0.7, 0.5)

    @field_validator("windows")
    @classmethod
    def _windows(cls, windows: tuple[float, ...]) -> tuple[float, ...]:
        if not windows or windows[0] != 1.0:
            raise ValueError("windows must start with 1.0 (the whole image)")
        if any(not 0.2 <= w <= 1.0 for w in windows) or len(set(windows)) != len(windows):
            raise ValueError(f"windows must be distinct fractions in [0.2, 1.0], got {windows}")
        return windows

    @field_validator("algorithms")
    @classmethod
    def _distinct(cls, algorithms: tuple[str, ...]) -> tuple[str, ...]:
        if not algorithms:
            raise ValueError("choose at least one of 'phash', 'dhash', 'ahash'")
        if len(set(algorithms)) != len(algorithms):
            raise ValueError(f"algorithms must not repeat, got {algorithms}")
        return algorithms


def _area_matrix(out: int, size: int) -> np.ndarray:
    """``out x size`` matrix averaging ``size`` samples into ``out`` equal-width cells."""
    edges = np.linspace(0.0, size, out + 1)
    left = np.clip(edges[:-1, None] - np.arange(size)[None, :], 0.0, 1.0)
    right = np.clip(edges[1:, None] - np.arange(size)[None, :], 0.0, 1.0)
    weights = right - left
    return weights / weights.sum(axis=1, keepdims=True)


def _dct_rows(rows: int, size: int) -> np.ndarray:
    """The first ``rows`` rows of the (unnormalised) DCT-II matrix of order ``size``."""
    k = np.arange(rows)[:, None]
    n = np.arange(size)[None, :]
    return np.cos(np.pi * k * (2 * n + 1) / (2 * size))


class HashDimension:
    """Perceptual hashes (pHash, dHash, aHash) compared by fraction of matching bits.

    An embedding holds one set of hashes per (window, orientation): for each
    window in ``config.windows``, the image and, with ``config.flip``, its
    mirror; each set holds the chosen algorithms' bits, each padded to whole
    bytes. The score of two images is the best, over every pair of their sets,
    of the per-algorithm fractions of matching bits combined by ``config.combine``.
    """

    metric: Metric = "hamming"

    def __init__(self, config: HashConfig | None = None) -> None:
        self.config = config or HashConfig()
        self.name = "hash"
        size = self.config.hash_size
        self._bits = size * size
        self._bytes_per_hash = -(-self._bits // 8)
        self._phash_side = 4 * size
        self._orientations = 2 if self.config.flip else 1
        self._sets = len(self.config.windows) * self._orientations
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
        side = self._phash_side if "phash" in self.config.algorithms else size + 1
        return -(-side * 100 // round(min(self.config.windows) * 100))

    @property
    def embedding_size(self) -> int:
        """Bytes in one embedding."""
        return self._bytes_per_hash * len(self.config.algorithms) * self._sets

    @cached_property
    def _box(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Area-averaging matrices from the pHash-side square to the dHash and aHash grids."""
        side, size = self._phash_side, self.config.hash_size
        return _area_matrix(size, side), _area_matrix(size + 1, side), _area_matrix(size, side)

    def _window(self, grey: Image.Image, fraction: float) -> Image.Image:
        if fraction == 1.0:
            return grey
        width, height = grey.size
        w, h = width * fraction, height * fraction
        left, top = (width - w) / 2, (height - h) / 2
        return grey.crop((round(left), round(top), round(left + w), round(top + h)))

    def _hashes(self, squares: np.ndarray) -> dict[str, np.ndarray]:
        """Bits of every algorithm for a stack of ``side x side`` grey squares (one per set)."""
        rows, columns9, columns = self._box
        bits: dict[str, np.ndarray] = {}
        if "phash" in self.config.algorithms:
            low = np.round(self._dct @ squares @ self._dct.T, _DECIMALS)
            medians = np.median(low[:, 1:, 1:].reshape(len(squares), -1), axis=1)
            bits["phash"] = low > medians[:, None, None]  # median without row/column 0, as 0.1
        if "dhash" in self.config.algorithms:
            grid = np.round(rows @ squares @ columns9.T, _DECIMALS)  # size x (size + 1)
            bits["dhash"] = grid[:, :, 1:] > grid[:, :, :-1]
        if "ahash" in self.config.algorithms:
            grid = np.round(rows @ squares @ columns.T, _DECIMALS)
            mean = np.round(grid.mean(axis=(1, 2), keepdims=True), _DECIMALS)
            bits["ahash"] = grid > mean
        return bits

    def embed(self, image: PreparedImage) -> np.ndarray:
        """The packed hash bits of one image (``uint8``, ``embedding_size`` bytes).

        Each window is resized once (LANCZOS) to a ``4 * hash_size`` square; pHash
        is its DCT, and the dHash and aHash grids are area averages of it.
        """
        grey = image.rgb(min_side=self.min_side).convert("L")
        side = self._phash_side
        squares = np.stack(
            [
                np.asarray(
                    self._window(grey, f).resize((side, side), Image.Resampling.LANCZOS),
                    dtype=np.float64,
                )
                for f in self.config.windows
            ]
        )
        if self.config.flip:  # sets ordered (window, orientation)
            squares = np.stack([squares, squares[:, :, ::-1]], axis=1).reshape(-1, side, side)
        bits = self._hashes(squares)
        per_set = [
            np.packbits(bits[algorithm].reshape(len(squares), -1), axis=1)
            for algorithm in self.config.algorithms
        ]
        return np.concatenate(per_set, axis=1).ravel()

    def embed_batch(self, images: Sequence[PreparedImage]) -> list[np.ndarray | None]:
        """Hash each image (a hash always exists, so never None)."""
        return [self.embed(image) for image in images]

    def _check(self, *embeddings: np.ndarray) -> None:
        for embedding in embeddings:
            if embedding.shape[-1:] != (self.embedding_size,):
                raise ValueError(
                    f"hash embeddings must have {self.embedding_size} bytes for this config, "
                    f"got shape {embedding.shape}"
                )

    def similarity_many(self, a: np.ndarray, others: np.ndarray) -> np.ndarray:
        """``similarity(a, row)`` for every row of ``others`` (N x embedding_size), vectorised.

        Works in chunks, so memory stays bounded whatever N is. Bits are counted
        as whole numbers and combined exactly, so the result equals ``similarity``.
        """
        a = np.ascontiguousarray(a, dtype=np.uint8)
        others = np.ascontiguousarray(others, dtype=np.uint8)
        if others.ndim != 2:
            raise ValueError(f"others must be a 2-D array of embeddings, got shape {others.shape}")
        self._check(a, others)
        sets, algorithms = self._sets, len(self.config.algorithms)
        if self._bytes_per_hash % 8 == 0:  # whole 64-bit words: XOR and count per word
            a, others, count = a.view(np.uint64), others.view(np.uint64), _popcount_words
        else:
            count = _popcount_bytes
        width = a.size // (sets * algorithms)
        query = a.reshape(1, sets, 1, algorithms, width)
        out = np.empty(len(others), dtype=np.float64)
        step = max(1, _CHUNK_BYTES // (sets * sets * self.embedding_size))
        for start in range(0, len(others), step):
            block = others[start : start + step].reshape(-1, 1, sets, algorithms, width)
            # (block, query set, other set, algorithm): differing bits
            differing = count(np.bitwise_xor(query, block)).sum(axis=4, dtype=np.int32)
            if self.config.combine == "mean":
                fewest = differing.sum(axis=3).min(axis=(1, 2)) / algorithms
            elif self.config.combine == "max":  # the best algorithm: fewest differing bits
                fewest = differing.min(axis=3).min(axis=(1, 2))
            else:
                fewest = differing.max(axis=3).min(axis=(1, 2))
            # padding bits of a hash whose bits do not fill its last byte are zero in
            # every hash made here; one read from elsewhere may differ there too
            out[start : start + step] = 1.0 - np.minimum(fewest, self._bits) / self._bits
        return out

    def _score_of(self, differing: int) -> float:
        """The score of a set pair whose combined differing-bit count is ``differing``
        (the same float expression as ``similarity_many``)."""
        if self.config.combine == "mean":
            return 1.0 - differing / len(self.config.algorithms) / self._bits
        return 1.0 - differing / self._bits

    def _radius(self, threshold: float) -> int:
        """Most differing bits (as ``_score_of`` counts them) that still score ``threshold``."""
        top = self._bits * (len(self.config.algorithms) if self.config.combine == "mean" else 1)
        # the slack covers thresholds copied from rounded scores (compare rounds to 12 places);
        # a radius one too wide only adds candidates, which are scored exactly
        return sum(1 for d in range(top + 1) if self._score_of(d) >= threshold - 1e-9) - 1

    @property
    def ranks_by_code_distance(self) -> bool:
        """Whether fewer differing bits between the closest codes (over the channels of
        ``hamming_codes``) always means a higher score, so a nearest-code search finds the
        top-scoring rows: true for ``combine`` mean and max, not for min."""
        return self.config.combine != "min"

    def hamming_codes(
        self, embeddings: np.ndarray, threshold: float
    ) -> list[tuple[np.ndarray, int]]:
        """Codes and radii such that a pair scoring at least ``threshold`` has, in some
        channel, a pair of codes at most that radius bits apart.

        Used to find dedup candidates without comparing every pair. ``embeddings``
        is ``N x embedding_size``; each channel's codes are ``N x sets x bytes``.
        With ``combine="mean"`` one channel holds each set's hashes together; with
        ``"max"`` each algorithm is its own channel; with ``"min"`` one channel
        with the radius of every algorithm added up (a superset, verified later).
        """
        embeddings = np.ascontiguousarray(embeddings, dtype=np.uint8)
        self._check(embeddings)
        algorithms = len(self.config.algorithms)
        per_set = embeddings.reshape(len(embeddings), self._sets, algorithms, -1)
        radius = self._radius(threshold)
        if self.config.combine == "max":
            return [(per_set[:, :, a, :], radius) for a in range(algorithms)]
        whole = per_set.reshape(len(embeddings), self._sets, -1)
        return [(whole, radius if self.config.combine == "mean" else radius * algorithms)]

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        """Best fraction of matching bits over the hash sets, combined over algorithms.

        Raises:
            ValueError: the embeddings do not have this configuration's size.
        """
        b = np.asarray(b, dtype=np.uint8)
        self._check(b)
        return float(self.similarity_many(a, b[None, :])[0])


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


@hookimpl
def imageprism_register_presets(register: Callable[[Preset], None]) -> None:
    """Register the hash presets (exact, near-duplicate, similar)."""
    for preset in HASH_PRESETS:
        register(preset)
