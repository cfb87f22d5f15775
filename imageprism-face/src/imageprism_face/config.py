"""``FaceConfig``: which detector and embedder the face dimension uses, their files, and how
the ONNX embedder's input is prepared."""

from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from imageprism.plugin import DimensionConfig
from imageprism.runtime.hub import MAX_INTRA_OP_THREADS
from imageprism.runtime.providers import provider_names

#: The ONNX embedder's default normalisation, ArcFace's: ``(x - 127.5) / 127.5`` on 0..255.
DEFAULT_EMBED_MEAN = 127.5
DEFAULT_EMBED_STD = 127.5
#: Side of the aligned face fed to an ONNX embedder whose input size is not fixed.
DEFAULT_EMBED_SIZE = 112
#: Largest ``embed_size`` a config may ask for (a file can carry any value).
MAX_EMBED_SIZE = 1024

_PER_CHANNEL = "one number for every channel, or three, one per channel in embed_channel_order"


def _channel_values(name: str, value: Any) -> float | tuple[float, float, float]:
    """``value`` as one float or three (``embed_mean``, ``embed_std``), finite.

    Raises:
        ValueError: not one number or three, or not finite.
    """
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if len(items) not in (1, 3):
        raise ValueError(f"{name} takes {_PER_CHANNEL}; got {len(items)} values")
    checked: list[float] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, numbers.Real):
            raise ValueError(f"{name} takes {_PER_CHANNEL}; got {item!r}")
        if not math.isfinite(float(item)):
            raise ValueError(f"{name} must be finite, got {item!r}")
        checked.append(float(item))
    return checked[0] if len(checked) == 1 else (checked[0], checked[1], checked[2])


class FaceConfig(DimensionConfig):
    """Configuration of the face dimension.

    The first two fields keep 0.1's ``FaceConfig(embed_repo, embed_file)``: naming
    your own ONNX embedder on the hub selects the generic ``"onnx"`` embedder.

    Attributes:
        embed_repo: Hub repository of an ONNX face embedder.
        embed_file: File in that repository.
        embed_revision: Commit (or, if you accept moving weights, a branch) of that file.
        embed_sha256: Its sha256; without it the file is used unverified.
        embed_path: A local ONNX embedder file instead of the hub.
        embedder: ``"arcface"`` (default), ``"onnx"`` (any file given above),
            ``"dlib"`` (with ``imageprism-face[dlib]``) or a plugin's embedder.
        detector: ``"ultraface"`` (default) or ``"yunet"``, or a plugin's detector.
        detector_path: A local detector model file instead of the default.
        min_face_score: Detection score below which a face is ignored (default: the
            detector's own).
        intra_op_threads: ONNX Runtime intra-op threads (default: every core for a call
            made alone, a share of them in the prism's batch calls); at most
            ``MAX_INTRA_OP_THREADS`` (64), so a config read from a file cannot ask for more.
        embed_channel_order: ``"RGB"`` (default, ArcFace) or ``"BGR"``: the channel order
            the ONNX embedder (``arcface``, ``onnx``) expects.
        embed_mean: Subtracted from each 0..255 pixel value before the ONNX embedder
            sees it: one number, or three in ``embed_channel_order`` (default 127.5).
        embed_std: The difference is divided by it: one number or three, each > 0
            (default 127.5, so the input is ``(x - 127.5) / 127.5``, in [-1, 1]).
        embed_size: Side of the aligned square face fed to an ONNX embedder whose input
            size is dynamic (default 112); a model with a fixed input size gets that size,
            and asking for another is an error. The five-point alignment template is
            ArcFace's, scaled to the side.
        providers: ONNX Runtime execution providers for the detector and the ONNX
            embedder, in order (``"cuda"``, ``"coreml"``, ``"directml"``, ``"openvino"``,
            ... or full names); default: ``IMAGEPRISM_PROVIDERS``, else the CPU. The CPU
            is always the fallback; a provider not installed is an error. Not part of
            the fingerprint.

    The ``embed_*`` preprocessing fields are part of the embedder's fingerprint (when not
    the defaults), so embeddings made with other preprocessing are never reused.
    """

    embed_repo: str | None = None
    embed_file: str | None = None
    embed_revision: str | None = None
    embed_sha256: str | None = None
    embed_path: Path | None = None
    embedder: str = "arcface"
    detector: str = "ultraface"
    detector_path: Path | None = None
    min_face_score: float | None = Field(default=None, ge=0.0, le=1.0)
    intra_op_threads: int | None = Field(default=None, ge=1, le=MAX_INTRA_OP_THREADS)
    embed_channel_order: Literal["RGB", "BGR"] = Field(
        default="RGB",
        description="Channel order the ONNX face embedder expects: 'RGB' (ArcFace) or 'BGR'.",
    )
    embed_mean: float | tuple[float, float, float] = Field(
        default=DEFAULT_EMBED_MEAN,
        description=(
            "Subtracted from each 0..255 pixel value before the ONNX face embedder sees "
            "it: one number, or three in embed_channel_order (default 127.5)."
        ),
    )
    embed_std: float | tuple[float, float, float] = Field(
        default=DEFAULT_EMBED_STD,
        description=(
            "The pixel value minus embed_mean is divided by it: one number, or three in "
            "embed_channel_order, each > 0 (default 127.5: (x - 127.5) / 127.5)."
        ),
    )
    embed_size: int | None = Field(
        default=None,
        ge=16,
        le=MAX_EMBED_SIZE,
        description=(
            "Side of the aligned face fed to an ONNX face embedder whose input size is "
            "dynamic (default 112); a fixed input size is read from the model, and asking "
            "for another is an error. The alignment template is scaled to it."
        ),
    )
    providers: tuple[str, ...] | None = Field(
        default=None,
        description=(
            "ONNX Runtime execution providers for the face models, in order ('cuda', "
            "'coreml', 'directml', 'openvino', ... or full names); default: "
            "IMAGEPRISM_PROVIDERS, else the CPU. The CPU is always the fallback."
        ),
    )

    @field_validator("embedder", "detector")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name a registered detector or embedder")
        return value.strip()

    @field_validator("embed_channel_order", mode="before")
    @classmethod
    def _channel_order(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().upper() in ("RGB", "BGR"):
            return value.strip().upper()
        if isinstance(value, str):
            raise ValueError(f"must be 'RGB' or 'BGR', got {value[:20]!r}")
        return value

    @field_validator("embed_mean", mode="before")
    @classmethod
    def _mean(cls, value: Any) -> float | tuple[float, float, float]:
        return _channel_values("embed_mean", value)

    @field_validator("embed_std", mode="before")
    @classmethod
    def _std(cls, value: Any) -> float | tuple[float, float, float]:
        checked = _channel_values("embed_std", value)
        if min(_as_three(checked)) <= 0:
            raise ValueError(f"embed_std must be > 0 (it divides), got {value!r}")
        return checked

    @field_validator("providers", mode="before")
    @classmethod
    def _providers(cls, value: Any) -> Any:
        return value if value is None else provider_names(value)

    @property
    def effective_embedder(self) -> str:
        """The embedder used: ``"onnx"`` when the default is asked for with a custom file."""
        custom = self.embed_repo or self.embed_file or self.embed_path
        return "onnx" if self.embedder == "arcface" and custom else self.embedder

    @property
    def default_embed_preprocessing(self) -> bool:
        """Whether the ONNX embedder's input is prepared as ArcFace's (RGB, (x-127.5)/127.5,
        the model's size or 112)."""
        return (
            self.embed_channel_order == "RGB"
            and _as_three(self.embed_mean) == (DEFAULT_EMBED_MEAN,) * 3
            and _as_three(self.embed_std) == (DEFAULT_EMBED_STD,) * 3
            and self.embed_size is None
        )


def _as_three(value: float | tuple[float, ...]) -> tuple[float, float, float]:
    """A per-channel value as three numbers."""
    a, b, c = value if isinstance(value, tuple) else (value, value, value)
    return (float(a), float(b), float(c))
