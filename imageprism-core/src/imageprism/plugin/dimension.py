"""The Dimension protocol a plugin implements, and the optional capabilities it may add."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from imageprism._compat import WellKnownNames

if TYPE_CHECKING:
    import numpy as np
    from pydantic import BaseModel

    from imageprism.io.images import PreparedImage

Metric = Literal["hamming", "cosine"]
"""How embeddings of a dimension are compared; indexes pick their kernel from it."""

#: The pack that provides each well-known dimension that core does not ship.
PACKAGES: dict[str, str] = {
    "semantic": "imageprism-models",
    "instance": "imageprism-models",
    "style": "imageprism-models",
    "face": "imageprism-face",
}


@runtime_checkable
class Dimension(Protocol, metaclass=WellKnownNames):
    """One kind of similarity between two images.

    The set of dimensions is open (plugins add more), so this is a protocol
    rather than an enum; the well-known names are constants on it:
    ``Dimension.HASH == "hash"``, ``SEMANTIC``, ``INSTANCE``, ``STYLE``, ``FACE``
    (``list(Dimension)`` gives them, ``Dimension("hash")`` makes one). Plain
    strings work wherever a dimension name is expected.

    A dimension may also offer optional capabilities, each a protocol below:
    ``ScoresMany`` (``similarity_many``: dedup and indexes then score many pairs
    at once, and fall back to ``similarity`` otherwise), ``HammingCodes`` (a
    ``"hamming"`` dimension's codes and radii, so dedup finds its candidate pairs
    without comparing every pair; see ``HashDimension``), ``RanksByCodeDistance``
    and ``Configured`` (its pydantic ``config``, recorded in saved indexes). They
    are checked once, when a prism builds the dimension (``dimension_problem``). A ``"cosine"``
    dimension promises that its score never exceeds the cosine of the two
    embeddings (as ``imageprism.scoring.cosine_scores``), which gives dedup the
    same shortcut. Dimensions with neither are deduplicated by comparing each
    image with every representative (exact, quadratic).

    Attributes:
        name: The registered name, e.g. ``"hash"``.
        fingerprint: Changes whenever the model, config or preprocessing
            change; part of every cache key and saved index.
        metric: ``"hamming"`` for packed-bit embeddings, ``"cosine"`` for
            float vectors scored by (at most) their cosine similarity.
    """

    name: str
    fingerprint: str
    metric: Metric

    def embed_batch(self, images: Sequence[PreparedImage]) -> list[np.ndarray | None]:
        """Embed each image; None where the image has nothing to embed (e.g. no face)."""
        ...

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float | None:
        """Score two embeddings in [0, 1] (1 = identical); None when they cannot be scored."""
        ...


@runtime_checkable
class ScoresMany(Protocol):
    """Optional capability: score one embedding against many at once."""

    def similarity_many(self, a: np.ndarray, others: np.ndarray) -> np.ndarray:
        """``similarity(a, row)`` for each row of the 2-D ``others``; NaN where not scorable."""
        ...


@runtime_checkable
class HammingCodes(Protocol):
    """Optional capability of a ``"hamming"`` dimension: codes for finding candidate pairs."""

    def hamming_codes(
        self, embeddings: np.ndarray, threshold: float
    ) -> list[tuple[np.ndarray, int]]:
        """Channels of ``(codes, radius)``: a pair scoring at least ``threshold`` has, in some
        channel, a pair of codes (``N x sets x bytes``) at most ``radius`` bits apart."""
        ...


@runtime_checkable
class RanksByCodeDistance(Protocol):
    """Optional capability of a ``HammingCodes`` dimension: whether nearest codes score highest.

    True when fewer differing bits between the closest codes always means a
    higher score, so a nearest-code search (FAISS) finds the top-scoring rows.
    """

    ranks_by_code_distance: bool


@runtime_checkable
class Configured(Protocol):
    """Optional capability: the dimension's validated config, recorded in saved indexes."""

    config: BaseModel


_MEMBERS = ("name", "fingerprint", "metric", "embed_batch", "similarity")
METRICS: tuple[str, ...] = ("hamming", "cosine")


def implements_dimension(obj: object) -> bool:
    """Like ``isinstance(obj, Dimension)``, without evaluating properties (a fingerprint
    may hash a model file, which should wait until first use)."""
    missing = object()
    return all(inspect.getattr_static(obj, member, missing) is not missing for member in _MEMBERS)


def dimension_problem(dimension: object, name: str) -> str | None:
    """What is wrong with a built dimension named ``name``, or None when it keeps the contract.

    Checks the ``Dimension`` protocol, its name and metric, and that each optional
    capability it offers has the right shape (``hamming_codes`` only with the
    ``"hamming"`` metric, methods callable, ``config`` a pydantic model).
    """
    from pydantic import BaseModel

    if not implements_dimension(dimension) or getattr(dimension, "name", None) != name:
        return (
            f"built an object that does not implement the Dimension protocol with name "
            f"{name!r} (got {type(dimension).__name__} named "
            f"{getattr(dimension, 'name', None)!r})"
        )
    metric = getattr(dimension, "metric", None)
    if metric not in METRICS:
        return f"metric must be one of {', '.join(map(repr, METRICS))}, got {metric!r}"
    for method in ("embed_batch", "similarity", "similarity_many", "hamming_codes"):
        value = inspect.getattr_static(dimension, method, None)
        if value is not None and not callable(getattr(dimension, method)):
            return f"{method} must be a method, got {type(value).__name__}"
    if isinstance(dimension, HammingCodes) and metric != "hamming":
        return f"hamming_codes is offered but the metric is {metric!r}, not 'hamming'"
    if isinstance(dimension, Configured) and not isinstance(dimension.config, BaseModel):
        return f"config must be a pydantic model, got {type(dimension.config).__name__}"
    return None
