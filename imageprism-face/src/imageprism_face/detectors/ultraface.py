"""UltraFace (Ultra-Light-Fast-Generic-Face-Detector-1MB, RFB-320): boxes, no landmarks.

The network sees the whole image squashed to 320x240 (RGB, ``(x - 127) / 128``)
and scores 4420 fixed priors; its ``boxes`` output is already decoded to
corner form, normalised to 0..1, so mapping back is a multiplication.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from imageprism.runtime.hub import file_sha256
from imageprism.runtime.onnx import load_session
from imageprism_face.detectors import checked_rgb
from imageprism_face.detectors.nms import nms
from imageprism_face.faces import Face

#: Bump when preprocessing or decoding changes what ``detect`` returns.
_VERSION = 1
_WIDTH, _HEIGHT = 320, 240


class UltraFaceDetector:
    """Face boxes from the UltraFace RFB-320 ONNX model.

    Args:
        path: The ``version-RFB-320.onnx`` file (input ``input`` 1x3x240x320,
            outputs ``scores`` 1xNx2 and ``boxes`` 1xNx4).
        score_threshold: Keep priors whose face probability is at least this.
        iou_threshold: Non-maximum suppression drops boxes overlapping a better
            one by more than this intersection over union.
        intra_op_threads: ONNX Runtime intra-op threads (default: its own choice).
        providers: ONNX Runtime execution providers (default: ``IMAGEPRISM_PROVIDERS``,
            else the CPU; see ``imageprism.runtime.providers``); not part
            of the fingerprint.
        given_as: The config field that named ``path`` when it is the user's own file
            (e.g. ``"detector_path"``), for messages.
    """

    name = "ultraface"

    def __init__(
        self,
        path: Path,
        *,
        score_threshold: float = 0.7,
        iou_threshold: float = 0.3,
        intra_op_threads: int | None = None,
        providers: Sequence[str] | None = None,
        given_as: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.score_threshold = float(score_threshold)
        self.iou_threshold = float(iou_threshold)
        self.intra_op_threads = intra_op_threads
        self.providers = None if providers is None else tuple(providers)
        self.given_as = given_as
        # what the sessions may load: a file rewritten after this is refused
        self._sha256 = weights = file_sha256(self.path)
        text = (
            f"{self.name}/{_VERSION}/{weights}/score={self.score_threshold!r}"
            f"/iou={self.iou_threshold!r}"
        )
        self.fingerprint = hashlib.sha256(text.encode()).hexdigest()[:16]

    def _load(self) -> Any:
        return load_session(
            self.path,
            intra_op_threads=self.intra_op_threads,
            sha256=self._sha256,
            providers=self.providers,
            given_as=self.given_as,
        )

    @property
    def session(self) -> Any:
        """The shared ONNX Runtime session (loaded on first use; see ``load_session``)."""
        return self._load()

    def detect(self, image: np.ndarray) -> list[Face]:
        """Every face in an HxWx3 ``uint8`` RGB image, best score first (landmarks None)."""
        rgb = checked_rgb(image)
        height, width = rgb.shape[:2]
        small = np.asarray(
            Image.fromarray(rgb).resize((_WIDTH, _HEIGHT), Image.Resampling.BILINEAR),
            dtype=np.float32,
        )
        blob = ((small - 127.0) / 128.0).transpose(2, 0, 1)[np.newaxis]
        scores, boxes = self.session.run(["scores", "boxes"], {"input": blob})
        face_scores = scores[0, :, 1]
        kept = face_scores >= self.score_threshold
        if not kept.any():
            return []
        face_scores = face_scores[kept].astype(np.float64)
        corners = boxes[0][kept].astype(np.float64) * [width, height, width, height]
        corners[:, 0::2] = corners[:, 0::2].clip(0, width)
        corners[:, 1::2] = corners[:, 1::2].clip(0, height)
        faces = []
        for i in nms(corners, face_scores, self.iou_threshold):
            x1, y1, x2, y2 = (float(v) for v in corners[i])
            faces.append(Face(box=(x1, y1, x2, y2), score=float(face_scores[i])))
        return faces

    def __repr__(self) -> str:
        return (
            f"UltraFaceDetector({str(self.path)!r}, score_threshold={self.score_threshold}, "
            f"iou_threshold={self.iou_threshold})"
        )
