"""The ``colorhist`` dimension: the smallest complete third-party imageprism plugin.

Embedding: the joint RGB histogram of the image (``bins`` per channel, so
``bins**3`` cells), L2-normalised float32. Score: cosine similarity in [0, 1].
"""

from collections.abc import Callable, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from imageprism import DimensionSpec, PreparedImage, hookimpl
from imageprism.plugin import Metric


class ColorHistConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    bins: int = Field(default=8, ge=2, le=32)


class ColorHistDimension:
    name = "colorhist"
    metric: Metric = "cosine"

    def __init__(self, config: ColorHistConfig) -> None:
        self.config = config
        # Part of every cache key: bump "v1" whenever embeddings change for the same config.
        self.fingerprint = f"colorhist/v1/{config.model_dump_json()}"

    def embed_batch(self, images: Sequence[PreparedImage]) -> list[np.ndarray | None]:
        return [self._histogram(image) for image in images]

    def _histogram(self, image: PreparedImage) -> np.ndarray:
        bins = self.config.bins
        cells = image.array(min_side=64).reshape(-1, 3).astype(np.intp) * bins // 256
        hist = np.bincount(cells @ [bins * bins, bins, 1], minlength=bins**3).astype(np.float32)
        return hist / np.linalg.norm(hist)

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        return float(np.clip(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)), 0.0, 1.0))


@hookimpl
def imageprism_register_dimensions(register: Callable[[DimensionSpec], None]) -> None:
    register(
        DimensionSpec(
            name="colorhist",
            factory=ColorHistDimension,
            config_model=ColorHistConfig,
            summary="joint RGB colour histograms: the same palette, whatever the layout",
        )
    )
