"""The base of a cosine dimension computed by one ONNX model with a preprocessing recipe.

``ModelDimension`` is what the model pack's semantic, instance and style dimensions
share (pinned model file, ONNX Runtime session, fingerprint, cosine scores); a third
party adds an ONNX dimension by subclassing it with a ``Recipe`` and a pooling step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import ClassVar

import numpy as np

from imageprism.errors import ModelFileError
from imageprism.plugin import Metric
from imageprism.runtime.hub import ModelConfig, ModelFile, file_sha256, resolve_model_file
from imageprism.runtime.onnx import OnnxModel
from imageprism.runtime.providers import execution_providers
from imageprism.runtime.recipe import Decodable, Recipe
from imageprism.scoring import cosine_scores

__all__ = ["ModelDimension", "unit_rows"]


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


class ModelDimension:
    """Base of a cosine dimension computed by one ONNX model.

    Subclasses set ``name``, ``default_model``, ``recipe`` and ``version`` (and may
    set ``images_per_call``) and implement ``_vectors`` (model outputs -> one vector
    per image).
    """

    name: ClassVar[str]
    default_model: ClassVar[ModelFile]
    recipe: ClassVar[Recipe]
    version: ClassVar[str]  # bump when preprocessing or pooling changes
    #: Most images per model call unless the config says (None: the whole batch).
    images_per_call: ClassVar[int | None] = None
    metric: Metric = "cosine"

    def __init__(self, config: ModelConfig) -> None:
        """Raises ``ExecutionProviderError`` at once if a provider asked for is not installed."""
        self.config = config
        self.model_file = config.model_file(self.default_model)
        execution_providers(config.providers)  # fail here rather than on the first batch
        self.model = OnnxModel(
            self.model_file,
            local_path=config.model_path,
            dimension=self.name,
            intra_op_threads=config.intra_op_threads,
            images_per_call=config.images_per_call or self.images_per_call,
            providers=config.providers,
        )

    @cached_property
    def fingerprint(self) -> str:
        """Changes with the model file's content, the recipe and this code's version.

        Not with ``providers``: the same model gives the same embeddings on every
        execution provider (up to float rounding), so caches and indexes are shared.

        A pinned file is known by its sha256; a local or unpinned file is hashed
        (an unpinned hub file is fetched for that), so moved weights never share
        cache entries or indexes with the old ones. When the model runs a file
        derived from that one (``OnnxModel.transform``), the derived file's sha256
        is part of it too, so embeddings made with another copy are never reused
        (this resolves and derives the model file).
        """
        if self.config.model_path is not None:
            path = Path(self.config.model_path).expanduser()
            try:
                weights = file_sha256(path)
            except OSError as err:
                raise ModelFileError(
                    f"model file {path} (model_path of {self.name}) cannot be read: "
                    f"{err.strerror or err}"
                ) from err
        elif self.model_file.sha256 is not None:
            weights = self.model_file.sha256
        else:
            weights = file_sha256(resolve_model_file(self.model_file, dimension=self.name))
        text = f"{self.name}/{self.version}/{self.recipe}/{weights}"
        derived = self.model.derived_sha256() if self.model.transform is not None else None
        if derived is not None:
            text += f"/derived:{derived}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _vectors(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def embed_batch(self, images: Sequence[Decodable]) -> list[np.ndarray | None]:
        """One unit-length float32 vector per image, from one model call per batch."""
        if not images:
            return []
        return list(unit_rows(self._vectors(self.recipe.batch(images))))

    def similarity_many(self, a: np.ndarray, others: np.ndarray) -> np.ndarray:
        """``similarity(a, row)`` for every row of ``others``, as one matrix product."""
        return cosine_scores(a, others)

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        """Cosine similarity clipped to [0, 1]."""
        return float(cosine_scores(a, np.asarray(b)[None, :])[0])
