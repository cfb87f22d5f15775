"""The Dimension protocol, the DimensionSpec a plugin registers, and the well-known names."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel

if TYPE_CHECKING:
    import numpy as np

    from imageprism.images import PreparedImage

Metric = Literal["hamming", "cosine"]
"""How embeddings of a dimension are compared; indexes pick their kernel from it."""

#: The pack that provides each well-known dimension that core does not ship.
PACKAGES: dict[str, str] = {
    "semantic": "imageprism-models",
    "instance": "imageprism-models",
    "style": "imageprism-models",
    "face": "imageprism-face",
}


class _WellKnownNames(type(Protocol)):  # type: ignore[misc]
    # Constants live on the metaclass so ``Dimension.HASH`` works while they stay
    # out of the protocol's members (an implementation need not define them).
    HASH = "hash"
    SEMANTIC = "semantic"
    INSTANCE = "instance"
    STYLE = "style"
    FACE = "face"


@runtime_checkable
class Dimension(Protocol, metaclass=_WellKnownNames):
    """One kind of similarity between two images.

    The set of dimensions is open (plugins add more), so this is a protocol
    rather than an enum; the well-known names are constants on it:
    ``Dimension.HASH == "hash"``, ``SEMANTIC``, ``INSTANCE``, ``STYLE``, ``FACE``.
    Plain strings work wherever a dimension name is expected.

    Attributes:
        name: The registered name, e.g. ``"hash"``.
        fingerprint: Changes whenever the model, config or preprocessing
            change; part of every cache key and saved index.
        metric: ``"hamming"`` for packed-bit embeddings, ``"cosine"`` for
            float vectors.
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


@dataclass(frozen=True)
class DimensionSpec:
    """What a plugin registers to provide a dimension.

    Attributes:
        name: The dimension's name, unique across plugins.
        factory: Builds the dimension from a validated config (an instance of
            ``config_model``).
        config_model: The dimension's pydantic config model (frozen); its
            defaults must be valid, so ``config_model()`` is the default config.
        summary: One line for ``imageprism plugins``.
        model_files: The model files the dimension needs (for ``models pull``).
        licence: A note on the licence of the code and of any model it downloads.
    """

    name: str
    factory: Callable[[Any], Dimension]
    config_model: type[BaseModel]
    summary: str
    model_files: tuple[Any, ...] = field(default=())
    licence: str = ""
