"""Conformance tests for plugin authors (needs pytest).

Subclass ``DimensionContractTests`` in your test suite, set ``dimension_name``
(and ``config`` if the default config needs a model you do not have), and
inherit every test::

    from imageprism.plugin.testing import DimensionContractTests

    class TestColorHist(DimensionContractTests):
        dimension_name = "colorhist"

imageprism's own dimensions pass the same suite.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest
from pydantic import BaseModel

from imageprism.io.images import PreparedImage, prepare
from imageprism.plugin.dimension import Dimension
from imageprism.plugin.registry import get_registry
from imageprism.plugin.specs import DimensionSpec


def sample_images() -> list[PreparedImage]:
    """Six small, clearly different synthetic RGB images (gradients, checks, noise, flat)."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, 96, dtype=np.float64)
    horizontal = np.broadcast_to(ramp[None, :, None], (72, 96, 3))
    vertical = np.broadcast_to(np.linspace(0, 255, 72)[:, None, None], (72, 96, 3))
    checks = ((np.indices((72, 96)).sum(axis=0) // 12) % 2 * 255)[:, :, None].repeat(3, axis=2)
    noise = rng.integers(0, 256, size=(72, 96, 3))
    red = np.zeros((72, 96, 3))
    red[..., 0] = 220
    stripes = np.zeros((72, 96, 3))
    stripes[::8] = (30, 200, 60)
    arrays = [horizontal, vertical, checks, noise, red, stripes]
    return [prepare(np.ascontiguousarray(a).astype(np.uint8)) for a in arrays]


class DimensionContractTests:
    """The behaviour every dimension must have; subclass and set ``dimension_name``."""

    dimension_name: ClassVar[str] = ""
    config: ClassVar[BaseModel | dict[str, Any] | None] = None

    @pytest.fixture
    def spec(self) -> DimensionSpec:
        assert self.dimension_name, "set dimension_name on your DimensionContractTests subclass"
        return get_registry().dimension(self.dimension_name)

    @pytest.fixture
    def dimension(self, spec: DimensionSpec) -> Dimension:
        config = self.config
        if config is None:
            config = spec.config_model()
        elif isinstance(config, dict):
            config = spec.config_model.model_validate(config)
        return spec.factory(config)

    @pytest.fixture
    def images(self) -> list[PreparedImage]:
        return sample_images()

    def test_spec_is_complete(self, spec: DimensionSpec) -> None:
        assert spec.name == self.dimension_name
        assert spec.summary and "\n" not in spec.summary
        assert callable(spec.factory)
        assert issubclass(spec.config_model, BaseModel)

    def test_default_config_is_valid_and_frozen(self, spec: DimensionSpec) -> None:
        config = spec.config_model()
        assert spec.config_model.model_config.get("frozen") is True
        assert spec.config_model.model_validate(config.model_dump()) == config

    def test_dimension_implements_the_protocol(self, dimension: Dimension) -> None:
        assert isinstance(dimension, Dimension)
        assert dimension.name == self.dimension_name
        assert dimension.metric in ("hamming", "cosine")

    def test_fingerprint_is_stable_text(self, spec: DimensionSpec, dimension: Dimension) -> None:
        assert isinstance(dimension.fingerprint, str) and dimension.fingerprint
        again = spec.factory(spec.config_model.model_validate(self._config_dict(spec)))
        assert again.fingerprint == dimension.fingerprint

    def _config_dict(self, spec: DimensionSpec) -> dict[str, Any]:
        if isinstance(self.config, BaseModel):
            return self.config.model_dump()
        return dict(self.config or {})

    def test_embed_batch_returns_one_embedding_per_image_in_order(
        self, dimension: Dimension, images: list[PreparedImage]
    ) -> None:
        batch = dimension.embed_batch(images)
        assert len(batch) == len(images)
        one_by_one = [dimension.embed_batch([image])[0] for image in images]
        for together, alone in zip(batch, one_by_one, strict=True):
            assert (together is None) == (alone is None)
            if together is not None and alone is not None:
                np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-5)

    def test_empty_batch_gives_empty_list(self, dimension: Dimension) -> None:
        assert list(dimension.embed_batch([])) == []

    def test_embeddings_match_the_metric(
        self, dimension: Dimension, images: list[PreparedImage]
    ) -> None:
        for embedding in dimension.embed_batch(images):
            if embedding is None:
                continue
            assert isinstance(embedding, np.ndarray) and embedding.ndim == 1
            if dimension.metric == "hamming":
                assert embedding.dtype == np.uint8
            else:
                assert np.issubdtype(embedding.dtype, np.floating)

    def test_an_image_scores_one_with_itself(
        self, dimension: Dimension, images: list[PreparedImage]
    ) -> None:
        for embedding in dimension.embed_batch(images):
            if embedding is not None:
                assert dimension.similarity(embedding, embedding) == pytest.approx(1.0, abs=1e-5)

    def test_scores_are_symmetric_and_within_zero_and_one(
        self, dimension: Dimension, images: list[PreparedImage]
    ) -> None:
        embeddings = [e for e in dimension.embed_batch(images) if e is not None]
        for i, a in enumerate(embeddings):
            for b in embeddings[i + 1 :]:
                ab, ba = dimension.similarity(a, b), dimension.similarity(b, a)
                assert ab is not None and ba is not None
                assert 0.0 <= ab <= 1.0
                assert ab == pytest.approx(ba, abs=1e-6)

    def test_different_images_score_below_one(
        self, dimension: Dimension, images: list[PreparedImage]
    ) -> None:
        embeddings = [e for e in dimension.embed_batch(images) if e is not None]
        scores = [
            dimension.similarity(a, b)
            for i, a in enumerate(embeddings)
            for b in embeddings[i + 1 :]
        ]
        assert any(s is not None and s < 0.99 for s in scores), "every pair scored as identical"
