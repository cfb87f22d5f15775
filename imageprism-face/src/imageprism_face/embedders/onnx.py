"""Face embedders run by ONNX Runtime: the default ArcFace file, or any ONNX file of yours.

How a face reaches the model (``FaceConfig`` sets what is not read from the model):

- layout and size: from the model's input shape, NCHW (``[n, 3, s, s]``) or NHWC
  (``[n, s, s, 3]``); a dynamic size takes ``embed_size`` (default 112);
- alignment: warped onto the ArcFace five-point template scaled to that size when the
  detector gives landmarks, a square crop with margin resized to it otherwise;
- channels: ``embed_channel_order``, RGB (default, ArcFace) or BGR;
- values: ``(x - embed_mean) / embed_std`` on 0..255 pixel values, one number or three
  in the channel order given; default ArcFace's ``(x - 127.5) / 127.5``.

The model's first output, flattened per face, is the embedding, scaled to unit length.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from functools import cached_property

import numpy as np

from imageprism.errors import ModelFileError
from imageprism.runtime.hub import ModelFile, resolve_model_file, sha256_of
from imageprism.runtime.onnx import OnnxModel
from imageprism_face.align import align_face
from imageprism_face.config import DEFAULT_EMBED_SIZE, FaceConfig
from imageprism_face.embedders import FaceModelLicenceWarning
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
    "the default face embedder's weights, ArcFace ({file}), have no clear commercial "
    "licence (trained on research-only data). For commercial use choose one you hold "
    "rights to: FaceConfig(embed_path=...) for a local ONNX face embedder file, "
    "FaceConfig(embed_repo=..., embed_file=...) for one on the Hugging Face hub, "
    "FaceConfig(embedder=NAME) for a face-embedder plugin (`imageprism plugins` lists "
    "them), or FaceConfig(embedder='dlib') (pip install \"imageprism-face[dlib]\"; weights "
    "CC0). To silence this: warnings.filterwarnings('ignore', "
    "category=imageprism_face.FaceModelLicenceWarning)"
)
"""The text of the ``FaceModelLicenceWarning`` (``{file}``: the weights' hub file)."""


def warn_licence(model: ModelFile) -> None:
    """Warn (``FaceModelLicenceWarning``) that the default weights have no clear licence.

    Python's warning filters decide how often it shows: by default once per process.
    """
    warnings.warn(
        LICENCE_WARNING.format(file=model.describe()), FaceModelLicenceWarning, stacklevel=2
    )


def _fixed(value: object) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


class OnnxFaceEmbedder:
    """Embeds aligned faces with an ONNX model (ArcFace-style input and output).

    Args:
        config: The face config: the model file (``embed_*``), its preprocessing
            (``embed_channel_order``, ``embed_mean``, ``embed_std``, ``embed_size``),
            ``intra_op_threads`` and ``providers``.
        name: The embedder's registered name (part of the fingerprint).
        default: The file used when the config names none (ArcFace), or None.
    """

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
            providers=config.providers,
            path_option="embed_path",
        )
        order = (2, 1, 0) if config.embed_channel_order == "BGR" else (0, 1, 2)
        self._order = list(order)
        self._mean = np.broadcast_to(np.asarray(config.embed_mean, np.float32), (3,)).copy()
        self._std = np.broadcast_to(np.asarray(config.embed_std, np.float32), (3,)).copy()

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
        """Changes with the embedder file's content and, when not ArcFace's, the preprocessing.

        Not with ``providers`` (the same model gives the same embeddings on every
        execution provider, up to float rounding).
        """
        self._check_pinned()
        if self.config.embed_path is not None:
            weights = sha256_of(self.config.embed_path.expanduser())
        elif self.model_file.sha256:
            weights = self.model_file.sha256
        else:
            weights = sha256_of(resolve_model_file(self.model_file, dimension="face"))
        text = f"{self.name}/1/{weights}"
        if not self.config.default_embed_preprocessing:  # the default keeps 0.2's fingerprints
            text += (
                f"/{self.config.embed_channel_order}/mean={self._mean.tolist()!r}"
                f"/std={self._std.tolist()!r}/size={self.config.embed_size!r}"
            )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @cached_property
    def input_layout(self) -> tuple[bool, int]:
        """``(channels_first, side)`` of the model's input: NCHW or NHWC, and the square side.

        Raises:
            ModelFileError: the input is not a batch of 3-channel square images, or has a
                fixed size other than ``embed_size``.
        """
        shape = self.model.input_shape
        where = f"face embedder {self.model_file.describe()}"
        if len(shape) != 4:
            raise ModelFileError(
                f"{where} takes input of shape {shape}, not a batch of images (NCHW or NHWC)"
            )
        if _fixed(shape[1]) == 3 or (_fixed(shape[1]) is None and _fixed(shape[3]) != 3):
            channels_first, height, width = True, shape[2], shape[3]
        elif _fixed(shape[3]) == 3:
            channels_first, height, width = False, shape[1], shape[2]
        else:
            raise ModelFileError(f"{where} takes input of shape {shape}, not 3-channel images")
        if _fixed(height) and _fixed(width) and height != width:
            raise ModelFileError(
                f"{where} takes {width}x{height} images; face embedders here take square ones"
            )
        side = _fixed(height) or _fixed(width)
        if side is None:
            return channels_first, self.config.embed_size or DEFAULT_EMBED_SIZE
        if self.config.embed_size not in (None, side):
            raise ModelFileError(
                f"{where} takes a fixed {side}x{side} input, "
                f"not embed_size={self.config.embed_size}"
            )
        return channels_first, side

    def preprocess(self, crops: np.ndarray) -> np.ndarray:
        """The model's input for aligned faces (N x side x side x 3 ``uint8`` RGB), as float32:
        channels reordered, normalised and laid out as the model takes them."""
        channels_first, _ = self.input_layout
        batch = (crops.astype(np.float32)[..., self._order] - self._mean) / self._std
        if channels_first:
            batch = batch.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(batch, dtype=np.float32)

    def embed_faces(self, image: np.ndarray, faces: Sequence[Face]) -> list[np.ndarray]:
        """One L2-normalised vector per face."""
        if not faces:
            return []
        self._check_pinned()
        if self._default is not None and self.model_file.repo_id == self._default.repo_id:
            warn_licence(self.model_file)
        _, side = self.input_layout
        crops = np.stack([align_face(image, face, size=side) for face in faces])
        (out,) = self.model.run(self.preprocess(crops), [self.model.output_names[0]])
        vectors = out.reshape(len(faces), -1).astype(np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return list(vectors / np.where(norms > 0, norms, 1.0))
