"""The host's checks of what plugins return, made once, where each output enters.

Every embedding a plugin returns (a dimension's ``embed_batch``, the face pack's
embedders) passes ``EmbeddingCheck`` before anything stores, caches or scores it:
a 1-D numpy array (or None), of the metric's dtype (``EMBEDDING_DTYPES``), as long
as every other embedding of that component, finite, and (for cosine) not all
zeros. Each refused embedding becomes a problem of its image alone, so a batch
goes on. ``Culprit`` names who answers for a fault (the component, its plugin and
the plugin's distribution) and turns a problem into the ``PluginError`` (or, for
one image, the ``DimensionError``) that says so.

The checks are vectorised over a batch (one ``np.isfinite`` over the stacked
embeddings), so they cost little next to the embedding itself.
"""

from __future__ import annotations

import math
import numbers
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from imageprism.errors import DimensionError, PluginError

if TYPE_CHECKING:
    from imageprism.plugin.dimension import Metric
    from imageprism.plugin.registry import PluginInfo

__all__ = [
    "EMBEDDING_DTYPES",
    "SCORE_TOLERANCE",
    "Culprit",
    "EmbeddingCheck",
    "check_score",
    "describe_value",
]

EMBEDDING_DTYPES: dict[str, tuple[np.dtype[Any], ...]] = {
    "hamming": (np.dtype(np.uint8),),
    "cosine": (np.dtype(np.float32), np.dtype(np.float64)),
}
"""The dtypes an embedding may have, by metric: packed bits (``uint8``) for hamming,
``float32`` or ``float64`` for cosine."""

SCORE_TOLERANCE = 1e-6
"""How far outside [0, 1] a score may stray from float rounding; it is then clipped."""


@dataclass(frozen=True)
class Culprit:
    """Who answers for a plugin output: the component, its plugin and that plugin's distribution.

    Attributes:
        component: What made the output, e.g. ``"dimension 'colour'"`` or
            ``"face embedder 'acme'"``.
        plugin: The entry-point name of the plugin that registered it (None: unknown).
        distribution: The distribution that declares that plugin (None: unknown).
    """

    component: str
    plugin: str | None = None
    distribution: str | None = None

    @classmethod
    def of(cls, component: str, plugin: PluginInfo | None) -> Culprit:
        """The culprit for ``component`` registered by ``plugin`` (a ``PluginInfo``, or None)."""
        if plugin is None:
            return cls(component)
        return cls(component, plugin.name, plugin.distribution)

    def __str__(self) -> str:
        if self.plugin is None:
            return f"{self.component} of an unregistered plugin"
        distribution = self.distribution or "unknown distribution"
        return f"{self.component} of plugin {self.plugin!r} ({distribution})"

    def error(self, problem: str) -> PluginError:
        """A ``PluginError``: this component ``problem`` (e.g. ``"could not be built: ..."``)."""
        return PluginError(
            f"{self} {problem}",
            plugin=self.plugin or self.component,
            distribution=self.distribution,
            component=self.component,
        )

    def image_error(self, problem: str, *, dimension: str, source: str) -> DimensionError:
        """A ``DimensionError`` for one image: this component ``problem`` for ``source``.

        ``problem`` reads after the component, e.g. ``"failed on x.jpg: ..."`` or
        ``"returned NaN or infinite values for x.jpg"``.
        """
        return DimensionError(
            f"{self} {problem}",
            dimension=dimension,
            source=source,
            plugin=self.plugin,
            distribution=self.distribution,
            component=self.component,
        )


def _a(words: str) -> str:
    return f"{'an' if words[:1].lower() in 'aeio' else 'a'} {words}"


def describe_value(value: object) -> str:
    """An unexpected output as messages describe it: ``"a list"``, ``"a 2-D float64 array of
    shape (1, 3)"``, ``"an object"``."""
    if isinstance(value, np.ndarray):
        return _a(f"{value.ndim}-D {value.dtype} array of shape {value.shape}")
    return _a(type(value).__name__)


class EmbeddingCheck:
    """Checks one component's embeddings as they enter; remembers the length of the first.

    Every embedding of a component must be as long as the first one it returned
    (per ``EmbeddingCheck``: one per built dimension or face embedder), since
    embeddings of different lengths cannot be scored against each other. Safe
    to use from several threads.

    Args:
        metric: ``"cosine"`` (float vectors) or ``"hamming"`` (packed ``uint8`` bits).
        returns: What the checked call must return, for messages (e.g.
            ``"embed_batch must return"``).
    """

    def __init__(self, metric: Metric, *, returns: str = "embed_batch must return") -> None:
        self.metric = metric
        self.returns = returns
        self._dtypes = EMBEDDING_DTYPES[metric]
        self._length: int | None = None
        self._lock = threading.Lock()

    @property
    def length(self) -> int | None:
        """The length every embedding must have (that of the first accepted); None before one."""
        return self._length

    def problems(self, values: Sequence[object]) -> list[str | None]:
        """What is wrong with each of ``values``: None where it may be used, else a phrase.

        None values (nothing to embed, e.g. no face) are fine. The phrase reads after
        "returned", e.g. ``"NaN or infinite values"``.
        """
        found: list[str | None] = [None] * len(values)
        arrays: list[tuple[int, np.ndarray]] = []
        for position, value in enumerate(values):
            if value is None:
                continue
            if not isinstance(value, np.ndarray) or value.ndim != 1:
                what = describe_value(value)
                found[position] = f"{what}, but {self.returns} 1-D numpy arrays or None"
            elif value.dtype not in self._dtypes:
                allowed = " or ".join(str(dtype) for dtype in self._dtypes)
                found[position] = (
                    f"{_a(str(value.dtype))} array, but {self.metric} embeddings must be {allowed}"
                )
            elif value.shape[0] == 0:
                found[position] = "an empty array (no values)"
            else:
                arrays.append((position, value))
        if not arrays:
            return found
        with self._lock:
            if self._length is None:
                self._length = int(arrays[0][1].shape[0])
            length = self._length
        good: list[tuple[int, np.ndarray]] = []
        for position, array in arrays:
            if array.shape[0] == length:
                good.append((position, array))
            else:
                found[position] = (
                    f"{array.shape[0]} values, but its embeddings are {length} values long "
                    "(the length of the first it returned)"
                )
        if good and self.metric == "cosine":
            stacked = np.stack([array for _, array in good])
            finite = np.isfinite(stacked).all(axis=1)
            nonzero = (stacked != 0).any(axis=1)
            for row in np.flatnonzero(~finite):
                found[good[row][0]] = "NaN or infinite values"
            for row in np.flatnonzero(finite & ~nonzero):
                found[good[row][0]] = (
                    "an all-zero vector (it would score 0.0 with every image, itself included)"
                )
        return found


def check_score(score: object, culprit: Culprit) -> float | None:
    """A plugin's similarity score as the host uses it: a float in [0, 1], or None.

    None, NaN and infinities mean "cannot be scored" (None). A number outside [0, 1]
    by at most ``SCORE_TOLERANCE`` (float rounding) is clipped.

    Raises:
        PluginError: the score is not a real number, or is outside [0, 1].
    """
    if score is None:
        return None
    if isinstance(score, bool) or not isinstance(score, numbers.Real):
        raise culprit.error(
            f"scored a pair with {describe_value(score)}; similarity must return a number "
            "in [0, 1] or None"
        )
    value = float(score)
    if not math.isfinite(value):
        return None
    if not -SCORE_TOLERANCE <= value <= 1.0 + SCORE_TOLERANCE:
        raise culprit.error(
            f"scored a pair {value!r}, outside [0, 1]; similarity must return a number in "
            "[0, 1] or None"
        )
    return min(1.0, max(0.0, value))
