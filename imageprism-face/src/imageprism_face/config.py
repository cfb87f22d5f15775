"""``FaceConfig``: which detector and embedder the face dimension uses, and their files."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from imageprism.plugin import DimensionConfig
from imageprism.runtime.hub import MAX_INTRA_OP_THREADS


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

    @field_validator("embedder", "detector")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name a registered detector or embedder")
        return value.strip()

    @property
    def effective_embedder(self) -> str:
        """The embedder used: ``"onnx"`` when the default is asked for with a custom file."""
        custom = self.embed_repo or self.embed_file or self.embed_path
        return "onnx" if self.embedder == "arcface" and custom else self.embedder
