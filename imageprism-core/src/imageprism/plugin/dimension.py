"""The Dimension protocol, the DimensionSpec a plugin registers, and the well-known names."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from imageprism._compat import Name

if TYPE_CHECKING:
    import numpy as np

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


class _WellKnownNames(type(Protocol)):  # type: ignore[misc]
    # Constants live on the metaclass so ``Dimension.HASH`` works while they stay
    # out of the protocol's members (an implementation need not define them).
    HASH = Name("hash")
    SEMANTIC = Name("semantic")
    INSTANCE = Name("instance")
    STYLE = Name("style")
    FACE = Name("face")

    def __iter__(cls) -> Iterator[Name]:
        return iter((cls.HASH, cls.SEMANTIC, cls.INSTANCE, cls.STYLE, cls.FACE))

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is Dimension:  # Dimension("hash") names a dimension, as the 0.1 enum did
            (value,) = args
            return Name(value)
        return super().__call__(*args, **kwargs)


@runtime_checkable
class Dimension(Protocol, metaclass=_WellKnownNames):
    """One kind of similarity between two images.

    The set of dimensions is open (plugins add more), so this is a protocol
    rather than an enum; the well-known names are constants on it:
    ``Dimension.HASH == "hash"``, ``SEMANTIC``, ``INSTANCE``, ``STYLE``, ``FACE``
    (``list(Dimension)`` gives them, ``Dimension("hash")`` makes one). Plain
    strings work wherever a dimension name is expected.

    A dimension may also define ``similarity_many(a, others) -> np.ndarray``
    (``a`` against each row of a 2-D array, NaN where not scorable); dedup and
    indexes then score many pairs at once, and fall back to ``similarity``
    otherwise. A ``"hamming"`` dimension may define ``hamming_codes(embeddings,
    threshold) -> [(codes, radius), ...]`` (see ``HashDimension``) so dedup
    finds its candidate pairs without comparing every pair; a ``"cosine"``
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


class DimensionConfig(BaseModel):
    """Base for dimension configs: frozen, no unknown fields, fields also by position.

    Subclass it for a plugin's config; positional arguments follow the field
    order, so ``HashConfig(("phash",), 16)`` works as it did in 0.1.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, *args: Any, **data: Any) -> None:
        if args:
            fields = list(type(self).model_fields)
            if len(args) > len(fields):
                raise TypeError(
                    f"{type(self).__name__} takes at most {len(fields)} positional arguments "
                    f"({', '.join(fields)}), got {len(args)}"
                )
            for field_name, value in zip(fields, args, strict=False):
                if field_name in data:
                    raise TypeError(f"{type(self).__name__} got {field_name!r} twice")
                data[field_name] = value
        super().__init__(**data)


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
