"""The prism manifest: what a saved index or embeddings file records of the prism that made it.

``prism_manifest`` writes it (dimensions with their fingerprint, metric and
config, weights, the missing-scores rule); ``prism_for`` checks a given prism
against one read back, or rebuilds the prism it describes. A manifest comes
from a file and is untrusted: a mismatch is an ``IndexFileError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from imageprism.errors import ImagePrismError
from imageprism.plugin.dimension import Configured

if TYPE_CHECKING:
    from imageprism.prism import ImagePrism

__all__ = ["IndexFileError", "prism_for", "prism_manifest", "use_prism_builder"]


class IndexFileError(ImagePrismError, ValueError):
    """An index file is unreadable, or was built with other dimensions than this prism's."""


def prism_manifest(prism: ImagePrism) -> dict[str, Any]:
    """What a saved index or embeddings file records of the prism that made it."""
    dimensions = {}
    for name in prism.dimensions:
        dimension = prism.dimension(name)
        config = dimension.config if isinstance(dimension, Configured) else None
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


_build_prism: Callable[[dict[str, Any]], ImagePrism] | None = None


def use_prism_builder(build: Callable[[dict[str, Any]], ImagePrism]) -> None:
    """Set how ``load`` without a prism rebuilds one from a manifest's settings.

    ``imageprism.prism`` sets it when it is imported (always, through ``import
    imageprism``): the index sits below the prism in the layers and cannot import it.
    """
    global _build_prism
    _build_prism = build


def _prism_of(manifest: dict[str, Any], path: object) -> ImagePrism:
    """The prism an index was built with, from its manifest."""
    if _build_prism is None:
        raise IndexFileError(f"cannot rebuild the prism of index {path}: import imageprism first")
    try:
        return _build_prism(manifest)
    except ImagePrismError as err:
        raise IndexFileError(f"cannot rebuild the prism of index {path}: {err}") from err
