"""Face alignment: a similarity warp onto the ArcFace template, or a crop with margin.

Coordinates are in pixel indices (the centre of pixel ``(i, j)`` is at ``x = j, y = i``), as
detectors report landmarks and as the ArcFace template is defined (the OpenCV convention).
NumPy and Pillow only.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from imageprism_face.faces import Face

#: The five ArcFace landmarks in a 112x112 crop, in ``faces.LANDMARKS`` order.
ARCFACE_TEMPLATE: np.ndarray = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)
ARCFACE_TEMPLATE.setflags(write=False)

#: The side the template is defined for.
ARCFACE_SIZE = 112


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """2x3 matrix M of the least-squares similarity (rotation, uniform scale, translation) mapping
    source points onto target points (Umeyama's method, no reflection).

    A point ``p`` (a column ``(x, y)``) maps to ``M[:, :2] @ p + M[:, 2]``.

    Args:
        source: Nx2 points, N >= 2.
        target: Nx2 points, the same N.

    Raises:
        ValueError: When the shapes differ or are not Nx2 with N >= 2, when a point is not
            finite, or when the source points all coincide.
    """
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    if src.ndim != 2 or src.shape[1] != 2 or src.shape[0] < 2 or src.shape != dst.shape:
        raise ValueError(
            f"need two Nx2 arrays of the same shape with N >= 2, got {src.shape} and {dst.shape}"
        )
    if not (np.isfinite(src).all() and np.isfinite(dst).all()):
        raise ValueError("points must be finite")

    src_mean = src.mean(axis=0)
    dst_mean = dst.mean(axis=0)
    src_c = src - src_mean
    dst_c = dst - dst_mean
    src_var = (src_c**2).sum() / len(src)
    if src_var <= np.finfo(np.float64).tiny:
        raise ValueError("source points all coincide: no similarity is defined")

    covariance = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(covariance)
    signs = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        signs[-1] = -1.0  # the best orthogonal map would reflect: take the best rotation instead
    rotation = u @ np.diag(signs) @ vt
    scale = float((s * signs).sum() / src_var)
    translation = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, translation[:, None]])


def _invert(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a 2x3 affine matrix."""
    linear = np.linalg.inv(matrix[:, :2])
    return np.hstack([linear, (-linear @ matrix[:, 2])[:, None]])


def _as_rgb(image: np.ndarray) -> np.ndarray:
    """An HxWx3 uint8 view of an RGB, RGBA or grey image."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {array.dtype}")
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"expected an HxWx3 RGB image, got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"empty image: shape {array.shape}")
    return np.ascontiguousarray(array[:, :, :3])


def _check_size(size: int) -> None:
    if int(size) != size or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")


def warp_to_template(image: np.ndarray, landmarks: np.ndarray, size: int = 112) -> np.ndarray:
    """The image warped so that the five landmarks land on the ArcFace template scaled to size.

    Pixels from outside the image are black, as in the usual ArcFace preprocessing.
    """
    _check_size(size)
    rgb = _as_rgb(image)
    target = ARCFACE_TEMPLATE.astype(np.float64) * (size / ARCFACE_SIZE)
    forward = similarity_transform(landmarks, target)  # image -> crop, pixel indices
    # Pillow's AFFINE data maps output to input coordinates, and Pillow puts pixel centres at
    # half-integers: shift by half a pixel on both sides to keep the pixel-index convention.
    backward = _invert(forward)
    half = np.array([0.5, 0.5])
    backward[:, 2] = backward[:, :2] @ -half + backward[:, 2] + half
    warped = Image.fromarray(rgb).transform(
        (size, size),
        Image.Transform.AFFINE,
        data=tuple(float(v) for v in backward.ravel()),
        resample=Image.Resampling.BILINEAR,
    )
    return np.asarray(warped, dtype=np.uint8)


def crop_with_margin(
    image: np.ndarray,
    box: tuple[float, float, float, float],
    size: int = 112,
    margin: float = 0.2,
) -> np.ndarray:
    """A size x size RGB uint8 crop: the square around the box's centre whose side is the box's
    longer side plus ``margin`` of it on each side, resized to size.

    Parts of the square outside the image repeat the image's edge pixels.
    """
    _check_size(size)
    if not np.isfinite(margin) or margin < 0:
        raise ValueError(f"margin must be a finite number >= 0, got {margin!r}")
    x1, y1, x2, y2 = (float(v) for v in box)
    if not np.isfinite([x1, y1, x2, y2]).all():
        raise ValueError(f"box must be finite, got {box!r}")
    rgb = _as_rgb(image)
    height, width = rgb.shape[:2]

    side = max(abs(x2 - x1), abs(y2 - y1)) * (1.0 + 2.0 * margin)
    pixels = max(1, round(side))
    left = round((x1 + x2) / 2.0 - pixels / 2.0)
    top = round((y1 + y2) / 2.0 - pixels / 2.0)
    cols = np.clip(np.arange(left, left + pixels), 0, width - 1)
    rows = np.clip(np.arange(top, top + pixels), 0, height - 1)
    square = rgb[rows[:, None], cols[None, :]]
    if pixels == size:
        return np.ascontiguousarray(square)
    resized = Image.fromarray(square).resize((size, size), resample=Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8)


def align_face(image: np.ndarray, face: Face, size: int = 112) -> np.ndarray:
    """The face as a size x size RGB uint8 crop: warped onto the ArcFace template (scaled to size)
    when the face has landmarks, else a square crop of the box with a margin (default 20% each
    side, clipped/padded with edge pixels at the borders), resized to size.

    Landmarks that are not finite or that all coincide are treated as absent.

    Raises:
        ValueError: When the landmarks are not 5x2, or the image is not HxWx3 uint8.
    """
    landmarks = face.landmarks
    if landmarks is not None:
        points = np.asarray(landmarks, dtype=np.float64)
        if points.shape != ARCFACE_TEMPLATE.shape:
            raise ValueError(f"expected 5x2 landmarks, got shape {points.shape}")
        if np.isfinite(points).all() and np.ptp(points, axis=0).max() > 0:
            return warp_to_template(image, points, size)
    return crop_with_margin(image, face.box, size)
