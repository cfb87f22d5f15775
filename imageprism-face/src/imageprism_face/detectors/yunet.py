"""YuNet-format face detector: boxes and five landmarks from an anchor-free network.

The image (BGR, 0..255) is scaled keeping its aspect ratio and padded with
black on the right and bottom to multiples of 32. For each stride s in 8, 16,
32 the network predicts, per grid cell (row r, column c) in row-major order:
``cls`` and ``obj`` (their clipped product's square root is the score), ``bbox``
``(dx, dy, dw, dh)`` with centre ``((c + dx) s, (r + dy) s)`` and size
``(exp(dw) s, exp(dh) s)``, and ``kps``: five points ``((c + kx) s, (r + ky) s)``.
This is the decoding of OpenCV's ``FaceDetectorYN``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cached_property
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
_STRIDES = (8, 16, 32)
_DIVISOR = 32
#: Longer side of the network input when neither the caller nor the model fixes a size.
_LONGER_SIDE = 640
#: YuNet's points are right eye, left eye, nose, right and left mouth corner in the
#: subject's sense; the subject's right eye is on the image's left (smaller x), so
#: YuNet's order already is ``LANDMARKS`` order (checked on real photos).
_TO_LANDMARKS = (0, 1, 2, 3, 4)


def _round_up(value: int, divisor: int = _DIVISOR) -> int:
    return -(-value // divisor) * divisor


class YuNetDetector:
    """Face boxes and five landmarks from a YuNet-format ONNX model.

    Args:
        path: The ONNX file (input ``input`` 1x3xHxW BGR 0..255; outputs
            ``cls_*``, ``obj_*``, ``bbox_*`` and ``kps_*`` for strides 8, 16, 32).
        score_threshold: Keep cells whose score ``sqrt(cls * obj)`` is at least this.
        iou_threshold: Non-maximum suppression drops boxes overlapping a better
            one by more than this intersection over union.
        input_size: ``(width, height)`` of the network input, multiples of 32: the
            image is scaled to fit inside it keeping its aspect ratio, then padded.
            None: the model's own size if its input shape is fixed, otherwise the
            image is scaled so its longer side is 640 and padded to multiples of 32.
        intra_op_threads: ONNX Runtime intra-op threads (default: its own choice).
        providers: ONNX Runtime execution providers (default: ``IMAGEPRISM_PROVIDERS``,
            else the CPU; see ``imageprism.runtime.providers``); not part
            of the fingerprint.
        given_as: The config field that named ``path`` when it is the user's own file
            (e.g. ``"detector_path"``), for messages.
    """

    name = "yunet"

    def __init__(
        self,
        path: Path,
        *,
        score_threshold: float = 0.6,
        iou_threshold: float = 0.3,
        input_size: tuple[int, int] | None = None,
        intra_op_threads: int | None = None,
        providers: Sequence[str] | None = None,
        given_as: str | None = None,
    ) -> None:
        if input_size is not None:
            width, height = (int(v) for v in input_size)
            if width <= 0 or height <= 0 or width % _DIVISOR or height % _DIVISOR:
                raise ValueError(
                    f"input_size must be (width, height), positive multiples of {_DIVISOR}; "
                    f"got {input_size!r}"
                )
            input_size = (width, height)
        self.path = Path(path)
        self.score_threshold = float(score_threshold)
        self.iou_threshold = float(iou_threshold)
        self.input_size = input_size
        self.intra_op_threads = intra_op_threads
        self.providers = None if providers is None else tuple(providers)
        self.given_as = given_as
        # what the sessions may load: a file rewritten after this is refused
        self._sha256 = weights = file_sha256(self.path)
        text = (
            f"{self.name}/{_VERSION}/{weights}/score={self.score_threshold!r}"
            f"/iou={self.iou_threshold!r}/size={self.input_size!r}"
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
        self.fixed_size  # noqa: B018 (checks input_size against the file on first use)
        return self._load()

    @cached_property
    def fixed_size(self) -> tuple[int, int] | None:
        """``(width, height)`` when the model's input shape is static, else None.

        Raises:
            ValueError: the input is static and ``input_size`` asks for another size.
        """
        session = self._load()
        shape = list(session.get_inputs()[0].shape)
        height, width = shape[2:4] if len(shape) == 4 else (None, None)
        if not (isinstance(height, int) and isinstance(width, int) and height > 0 and width > 0):
            return None
        if self.input_size is not None and self.input_size != (width, height):
            raise ValueError(
                f"{self.path} takes a fixed {width}x{height} input, "
                f"not input_size={self.input_size!r}"
            )
        return (width, height)

    def _network_size(self, width: int, height: int) -> tuple[float, int, int]:
        """Scale from the image to the network input, and the padded input's width and height."""
        box = self.input_size or self.fixed_size
        if box is not None:
            scale = min(box[0] / width, box[1] / height)
            return scale, box[0], box[1]
        scale = _LONGER_SIDE / max(width, height)
        return scale, _round_up(round(width * scale)), _round_up(round(height * scale))

    def detect(self, image: np.ndarray) -> list[Face]:
        """Every face in an HxWx3 ``uint8`` RGB image, best score first, with landmarks."""
        rgb = checked_rgb(image)
        height, width = rgb.shape[:2]
        scale, pad_width, pad_height = self._network_size(width, height)
        new_width = max(1, min(pad_width, round(width * scale)))
        new_height = max(1, min(pad_height, round(height * scale)))
        resized = Image.fromarray(rgb).resize((new_width, new_height), Image.Resampling.BILINEAR)
        blob = np.zeros((1, 3, pad_height, pad_width), dtype=np.float32)
        blob[0, :, :new_height, :new_width] = np.asarray(resized)[:, :, ::-1].transpose(2, 0, 1)
        outputs = dict(
            zip(self._output_names(), self.session.run(None, {"input": blob}), strict=True)
        )
        scores, boxes, points = self._decode(outputs, pad_width, pad_height)
        if not len(scores):
            return []
        # Back to the image: the network saw it scaled by (sx, sy) from its top-left corner.
        sx, sy = new_width / width, new_height / height
        boxes = boxes / [sx, sy, sx, sy]
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
        points = points / [sx, sy]
        faces = []
        for i in nms(boxes, scores, self.iou_threshold):
            x1, y1, x2, y2 = (float(v) for v in boxes[i])
            landmarks = points[i][list(_TO_LANDMARKS)].astype(np.float32)
            faces.append(Face(box=(x1, y1, x2, y2), score=float(scores[i]), landmarks=landmarks))
        return faces

    def _output_names(self) -> list[str]:
        return [str(o.name) for o in self.session.get_outputs()]

    def _decode(
        self, outputs: dict[str, np.ndarray], pad_width: int, pad_height: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Scores (N), corner boxes (Nx4) and landmarks (Nx5x2) above the threshold, in
        network-input pixels."""
        all_scores, all_boxes, all_points = [], [], []
        for stride in _STRIDES:
            rows, cols = pad_height // stride, pad_width // stride
            cls = outputs[f"cls_{stride}"].reshape(-1)
            obj = outputs[f"obj_{stride}"].reshape(-1)
            bbox = outputs[f"bbox_{stride}"].reshape(-1, 4)
            kps = outputs[f"kps_{stride}"].reshape(-1, 10)
            if len(cls) != rows * cols:
                raise ValueError(
                    f"{self.path}: stride {stride} gave {len(cls)} cells for a "
                    f"{pad_width}x{pad_height} input, expected {rows}x{cols}"
                )
            score = np.sqrt(cls.clip(0, 1).astype(np.float64) * obj.clip(0, 1))
            keep = np.flatnonzero(score >= self.score_threshold)
            if not keep.size:
                continue
            row, col = np.divmod(keep, cols)
            grid = np.stack([col, row], axis=1).astype(np.float64)
            delta = bbox[keep].astype(np.float64)
            centre = (grid + delta[:, :2]) * stride
            size = np.exp(delta[:, 2:]) * stride
            all_boxes.append(np.concatenate([centre - size / 2, centre + size / 2], axis=1))
            offsets = kps[keep].astype(np.float64).reshape(-1, 5, 2)
            all_points.append((offsets + grid[:, np.newaxis, :]) * stride)
            all_scores.append(score[keep])
        if not all_scores:
            return np.zeros(0), np.zeros((0, 4)), np.zeros((0, 5, 2))
        return (
            np.concatenate(all_scores),
            np.concatenate(all_boxes),
            np.concatenate(all_points),
        )

    def __repr__(self) -> str:
        return (
            f"YuNetDetector({str(self.path)!r}, score_threshold={self.score_threshold}, "
            f"iou_threshold={self.iou_threshold}, input_size={self.input_size!r})"
        )
