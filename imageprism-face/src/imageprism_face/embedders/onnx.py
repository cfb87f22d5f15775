"""Face embedders run by ONNX Runtime: the default ArcFace file, or any ONNX file of yours.

The input layout (NCHW or NHWC) and size come from the model's input shape;
faces are aligned onto the ArcFace template when the detector gives landmarks
(a crop with margin otherwise) and normalised as ArcFace expects, (x - 127.5) / 127.5.
"""

from __future__ import annotations

import hashlib
import sys
import threading
from collections.abc import Sequence
from functools import cached_property

import numpy as np

from imageprism.errors import ModelFileError
from imageprism.runtime.hub import ModelFile, resolve_model_file, sha256_of
from imageprism.runtime.onnx import OnnxModel
from imageprism_face.align import align_face
from imageprism_face.config import FaceConfig
from imageprism_face.faces import Face

ARCFACE = ModelFile(
    repo_id="onnx-community/arcface-onnx",
    filename="arcface.onnx",
    revision="main",
    licence="no clear commercial licence (trained on research-only data)",
)
"""The 0.1 default. Its commit and sha256 could not be verified for this release, so it is
not pinned: using it needs ``embed_revision`` and ``embed_sha256`` (or ``embed_path``)."""

LICENCE_WARNING = (
    "imageprism: the ArcFace face weights ({file}) have no clear commercial licence. For "
    "commercial use pass FaceConfig(embed_repo=..., embed_file=...) with a model you hold "
    "rights to, or FaceConfig(embedder='dlib')."
)
_warned = False
_warned_lock = threading.Lock()


def warn_licence_once(model: ModelFile) -> None:
    """Print the default weights' licence caveat, once per process."""
    global _warned
    with _warned_lock:
        if _warned:
            return
        _warned = True
    print(LICENCE_WARNING.format(file=model.describe()), file=sys.stderr)


class OnnxFaceEmbedder:
    """Embeds aligned faces with an ONNX model (ArcFace-style input and output)."""

    def __init__(self, config: FaceConfig, *, name: str, default: ModelFile | None) -> None:
        self.name = name
        self.config = config
        self._default = default
        if config.embed_path is None and not (config.embed_repo or default):
            raise ModelFileError(
                "the onnx face embedder needs a file: FaceConfig(embed_repo=..., embed_file=...) "
                "or FaceConfig(embed_path=...)"
            )
        # With only a local file, the ModelFile just names it (it is never downloaded).
        base = default or ModelFile(
            repo_id=config.embed_repo or "local/face-embedder",
            filename=config.embed_file
            or (config.embed_path.name if config.embed_path else "model.onnx"),
            revision="main",
        )
        same = config.embed_repo in (None, base.repo_id) and config.embed_file in (
            None,
            base.filename,
        )
        self.model_file = ModelFile(
            repo_id=config.embed_repo or base.repo_id,
            filename=config.embed_file or base.filename,
            revision=config.embed_revision or base.revision,
            sha256=config.embed_sha256 or (base.sha256 if same else None),
            licence=base.licence if same else "",
        )
        self.model = OnnxModel(
            self.model_file,
            local_path=config.embed_path,
            dimension="face",
            intra_op_threads=config.intra_op_threads,
        )

    def _check_pinned(self) -> None:
        unpinned_default = (
            self._default is not None
            and self.config.embed_path is None
            and self.model_file.repo_id == self._default.repo_id
            and not (self.config.embed_revision and self.config.embed_sha256)
            and not self._default.pinned
        )
        if unpinned_default:
            raise ModelFileError(
                f"no verified pin (commit and sha256) of {self.model_file.describe()} is known "
                "to this release; pass FaceConfig(embed_revision=<commit>, embed_sha256=<sha256>) "
                "for the file you trust, FaceConfig(embed_path=...) for a local file, or "
                "FaceConfig(embedder='dlib')"
            )

    @cached_property
    def fingerprint(self) -> str:
        """Changes with the embedder file's content."""
        self._check_pinned()
        if self.config.embed_path is not None:
            weights = sha256_of(self.config.embed_path.expanduser())
        elif self.model_file.sha256:
            weights = self.model_file.sha256
        else:
            weights = sha256_of(resolve_model_file(self.model_file, dimension="face"))
        return hashlib.sha256(f"{self.name}/1/{weights}".encode()).hexdigest()[:16]

    @cached_property
    def _layout(self) -> tuple[bool, int]:
        shape = self.model.input_shape
        channels_first = len(shape) == 4 and shape[1] == 3
        side = shape[2] if channels_first else shape[1]
        return channels_first, side if isinstance(side, int) and side > 0 else 112

    def embed_faces(self, image: np.ndarray, faces: Sequence[Face]) -> list[np.ndarray]:
        """One L2-normalised vector per face."""
        if not faces:
            return []
        self._check_pinned()
        if self._default is not None and self.model_file.repo_id == self._default.repo_id:
            warn_licence_once(self.model_file)
        channels_first, side = self._layout
        crops = np.stack([align_face(image, face, size=side) for face in faces])
        batch = (crops.astype(np.float32) - 127.5) / 127.5
        if channels_first:
            batch = batch.transpose(0, 3, 1, 2)
        (out,) = self.model.run(np.ascontiguousarray(batch), [self.model.output_names[0]])
        vectors = out.reshape(len(faces), -1).astype(np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return list(vectors / np.where(norms > 0, norms, 1.0))
