"""Face alignment: the similarity onto the ArcFace template, the warp, and the crop with margin."""

from __future__ import annotations

import importlib
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from imageprism_face.align import (
    ARCFACE_TEMPLATE,
    align_face,
    crop_with_margin,
    similarity_transform,
)
from imageprism_face.faces import Face

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
FACES = SHARED / "data" / "faces"
YUNET_MODEL = SHARED / "models" / "yunet" / "face_detection_yunet_2026may.onnx"


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.asarray(points, dtype=np.float64) @ matrix[:, :2].T + matrix[:, 2]


def _similarity(angle_degrees: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    angle = math.radians(angle_degrees)
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[scale * c, -scale * s, shift[0]], [scale * s, scale * c, shift[1]]])


# --- similarity_transform ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("angle", "scale", "shift"),
    [(30.0, 1.7, (12.5, -40.25)), (-75.0, 0.4, (300.0, 7.0)), (180.0, 3.0, (0.0, 0.0))],
)
def test_similarity_recovers_a_known_rotation_scale_and_translation(angle, scale, shift):
    known = _similarity(angle, scale, shift)
    source = ARCFACE_TEMPLATE.astype(np.float64)
    target = _apply(known, source)
    found = similarity_transform(source, target)
    assert found.shape == (2, 3)
    np.testing.assert_allclose(found, known, atol=1e-6)
    # and the inverse direction: the transformed points come back onto the template
    back = similarity_transform(target, source)
    np.testing.assert_allclose(_apply(back, target), source, atol=1e-6)


def test_similarity_is_the_least_squares_fit_of_noisy_points():
    rng = np.random.default_rng(0)
    known = _similarity(30.0, 1.7, (5.0, 9.0))
    source = ARCFACE_TEMPLATE.astype(np.float64)
    target = _apply(known, source) + rng.normal(0.0, 0.5, source.shape)
    found = similarity_transform(source, target)
    residual = np.sum((_apply(found, source) - target) ** 2)
    # no small change of angle, scale or shift does better
    for delta in np.eye(4) * 1e-3:
        a, b = found[0, 0] + delta[0], found[1, 0] + delta[1]
        nudged = np.array([[a, -b, found[0, 2] + delta[2]], [b, a, found[1, 2] + delta[3]]])
        for sign in (1, -1):
            other = found + sign * (nudged - found)
            assert np.sum((_apply(other, source) - target) ** 2) >= residual


def test_similarity_never_reflects():
    source = ARCFACE_TEMPLATE.astype(np.float64)
    mirrored = source * np.array([-1.0, 1.0]) + np.array([112.0, 0.0])
    found = similarity_transform(source, mirrored)
    assert np.linalg.det(found[:, :2]) > 0
    # a similarity: the linear part is a scaled rotation
    (a, b), (c, d) = found[:, :2]
    assert a == pytest.approx(d) and b == pytest.approx(-c)


def test_similarity_rejects_bad_points():
    template = ARCFACE_TEMPLATE
    with pytest.raises(ValueError):
        similarity_transform(template, template[:4])
    with pytest.raises(ValueError):
        similarity_transform(template[:1], template[:1])
    with pytest.raises(ValueError):
        similarity_transform(np.ones((5, 2)), template)
    nan = template.astype(np.float64).copy()
    nan[2, 0] = np.nan
    with pytest.raises(ValueError):
        similarity_transform(nan, template)


# --- the warp on a synthetic face -------------------------------------------------------------


def _draw_dots(shape: tuple[int, int], centres: np.ndarray, radius: float) -> np.ndarray:
    """A black RGB canvas with white discs at the (x, y) centres."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    grey = np.zeros(shape, dtype=np.uint8)
    for x, y in centres:
        grey[(cols - x) ** 2 + (rows - y) ** 2 <= radius**2] = 255
    return np.repeat(grey[:, :, None], 3, axis=2)


def _dot_centres(image: np.ndarray, threshold: int = 96) -> list[np.ndarray]:
    """Intensity-weighted centres (x, y) of the bright 4-connected blobs, biggest first."""
    grey = image.mean(axis=2) if image.ndim == 3 else image.astype(np.float64)
    bright = grey > threshold
    seen = np.zeros_like(bright)
    blobs = []
    for start in zip(*np.nonzero(bright), strict=True):
        if seen[start]:
            continue
        seen[start] = True
        stack, pixels = [start], []
        while stack:
            r, c = stack.pop()
            pixels.append((r, c))
            for rr, cc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
                inside = 0 <= rr < bright.shape[0] and 0 <= cc < bright.shape[1]
                if inside and bright[rr, cc] and not seen[rr, cc]:
                    seen[rr, cc] = True
                    stack.append((rr, cc))
        rr, cc = np.array(pixels).T
        weights = grey[rr, cc]
        centre = np.array([(cc * weights).sum(), (rr * weights).sum()]) / weights.sum()
        blobs.append((len(pixels), centre))
    return [centre for _, centre in sorted(blobs, key=lambda blob: -blob[0])]


def _match(found: list[np.ndarray], expected: np.ndarray) -> np.ndarray:
    """Distance from each expected point to the nearest found centre (each used once)."""
    assert len(found) == len(expected), f"found {len(found)} dots, expected {len(expected)}"
    left = list(found)
    distances = []
    for point in expected:
        gaps = [float(np.hypot(*(centre - point))) for centre in left]
        distances.append(min(gaps))
        left.pop(int(np.argmin(gaps)))
    return np.array(distances)


def _rotate_points(points: np.ndarray, angle_degrees: float, width: int, height: int):
    """Where Pillow's ``Image.rotate(angle)`` (counter-clockwise on screen) moves the points."""
    centre = np.array([(width - 1) / 2.0, (height - 1) / 2.0])  # Pillow's centre, in pixel indices
    angle = math.radians(angle_degrees)
    c, s = math.cos(angle), math.sin(angle)
    dx, dy = (np.asarray(points, dtype=np.float64) - centre).T
    return np.stack([c * dx + s * dy, -s * dx + c * dy], axis=1) + centre


@pytest.mark.parametrize("size", [112, 160])
def test_a_rotated_scaled_synthetic_face_comes_out_upright(size):
    side, scale, angle = 336, 3.0, 25.0
    landmarks = ARCFACE_TEMPLATE.astype(np.float64) * scale
    canvas = Image.fromarray(_draw_dots((side, side), landmarks, radius=2.0 * scale))
    rotated = np.asarray(canvas.rotate(angle, resample=Image.Resampling.BILINEAR))
    moved = _rotate_points(landmarks, angle, side, side)
    # the test's own geometry: the dots of the rotated canvas are where the landmarks went
    assert _match(_dot_centres(rotated), moved).max() < 0.5

    face = Face(box=(0.0, 0.0, float(side), float(side)), score=1.0, landmarks=moved)
    aligned = align_face(rotated, face, size=size)
    assert aligned.shape == (size, size, 3) and aligned.dtype == np.uint8
    expected = ARCFACE_TEMPLATE.astype(np.float64) * (size / 112)
    distances = _match(_dot_centres(aligned), expected)
    assert distances.max() < 2.0, distances
    assert distances.mean() < 0.75, distances  # no systematic half-pixel shift


def test_the_warp_has_no_half_pixel_shift():
    # Pillow samples at pixel centres x + 0.5, landmarks and the template count pixel centres at
    # x: a four-fold enlargement would shift the dots by 1.5 px if the two were mixed up
    landmarks = ARCFACE_TEMPLATE.astype(np.float64) * 0.5
    small = _draw_dots((56, 56), landmarks, radius=1.5)
    aligned = align_face(small, Face((0.0, 0.0, 56.0, 56.0), 1.0, landmarks), size=224)
    expected = ARCFACE_TEMPLATE.astype(np.float64) * 2.0
    found = _dot_centres(aligned)
    assert len(found) == 5
    offsets = np.array([min(found, key=lambda c, p=p: np.hypot(*(c - p))) - p for p in expected])
    assert np.abs(offsets.mean(axis=0)).max() < 0.5, offsets


def test_alignment_keeps_left_and_right():
    # the eyes and mouth corners are told apart by colour: left red, right green, nose blue
    side, scale = 336, 3.0
    landmarks = ARCFACE_TEMPLATE.astype(np.float64) * scale
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 0, 0), (0, 255, 0)]
    image = np.zeros((side, side, 3), dtype=np.uint8)
    rows, cols = np.mgrid[0:side, 0:side]
    for (x, y), colour in zip(landmarks, colours, strict=True):
        image[(cols - x) ** 2 + (rows - y) ** 2 <= 36] = colour
    rotated = np.asarray(Image.fromarray(image).rotate(-40, resample=Image.Resampling.BILINEAR))
    moved = _rotate_points(landmarks, -40, side, side)
    aligned = align_face(rotated, Face((0, 0, side, side), 1.0, moved)).astype(int)
    for (x, y), colour in zip(ARCFACE_TEMPLATE, colours, strict=True):
        pixel = aligned[round(float(y)), round(float(x))]
        assert int(np.argmax(pixel)) == int(np.argmax(colour)) and pixel.max() > 128


# --- crop with margin -------------------------------------------------------------------------


def _coordinate_image(height: int, width: int) -> np.ndarray:
    """R = column, G = row, B = 7: each pixel says where it is."""
    rows, cols = np.mgrid[0:height, 0:width]
    return np.stack([cols, rows, np.full_like(rows, 7)], axis=2).astype(np.uint8)


def test_crop_is_the_square_around_the_box_with_its_margin():
    image = _coordinate_image(100, 120)
    # a 40x50 box centred on (35, 35): side 50 * 1.4 = 70, from 0 to 69 both ways
    crop = crop_with_margin(image, (15.0, 10.0, 55.0, 60.0), size=70)
    np.testing.assert_array_equal(crop, image[0:70, 0:70])
    resized = crop_with_margin(image, (15.0, 10.0, 55.0, 60.0))
    assert resized.shape == (112, 112, 3) and resized.dtype == np.uint8


@pytest.mark.parametrize(
    "box",
    [
        (-10.0, -10.0, 30.0, 30.0),  # over the top-left corner
        (90.0, 60.0, 125.0, 105.0),  # over the bottom-right corner
        (-50.0, 20.0, 200.0, 40.0),  # wider than the image
        (500.0, 500.0, 540.0, 540.0),  # entirely outside
        (50.0, 50.0, 50.0, 50.0),  # empty
    ],
)
def test_crop_near_or_past_the_border_pads_with_edge_pixels(box):
    image = _coordinate_image(100, 120)
    crop = crop_with_margin(image, box, size=112)
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
    assert (crop[:, :, 2] == 7).all()  # only image pixels, no black fill


def test_crop_pads_with_the_edge_pixels_themselves():
    image = _coordinate_image(100, 120)
    # box (-10, -10, 30, 30): side 40 * 1.4 = 56 centred on (10, 10), from -18 to 37
    crop = crop_with_margin(image, (-10.0, -10.0, 30.0, 30.0), size=56)
    np.testing.assert_array_equal(crop[18:, 18:], image[0:38, 0:38])
    np.testing.assert_array_equal(crop[:18, 18:], np.repeat(image[0:1, 0:38], 18, axis=0))
    np.testing.assert_array_equal(crop[18:, :18], np.repeat(image[0:38, 0:1], 18, axis=1))
    assert (crop[:18, :18] == image[0, 0]).all()


def test_crop_rejects_bad_arguments():
    image = _coordinate_image(20, 20)
    with pytest.raises(ValueError):
        crop_with_margin(image, (0, 0, 10, 10), size=0)
    with pytest.raises(ValueError):
        crop_with_margin(image, (0, 0, 10, 10), margin=-0.1)
    with pytest.raises(ValueError):
        crop_with_margin(image, (0, 0, float("nan"), 10))
    with pytest.raises(ValueError):
        crop_with_margin(image.astype(np.float32), (0, 0, 10, 10))


# --- align_face -------------------------------------------------------------------------------


def test_without_landmarks_align_face_crops_with_margin():
    image = _coordinate_image(100, 120)
    box = (15.0, 10.0, 55.0, 60.0)
    np.testing.assert_array_equal(
        align_face(image, Face(box, 0.9)), crop_with_margin(image, box, size=112)
    )
    np.testing.assert_array_equal(
        align_face(image, Face(box, 0.9), size=64), crop_with_margin(image, box, size=64)
    )


def test_unusable_landmarks_fall_back_to_the_crop():
    image = _coordinate_image(100, 120)
    box = (15.0, 10.0, 55.0, 60.0)
    crop = crop_with_margin(image, box)
    same = np.full((5, 2), 30.0)
    nan = ARCFACE_TEMPLATE.astype(np.float64).copy()
    nan[0, 0] = np.nan
    for landmarks in (same, nan):
        np.testing.assert_array_equal(align_face(image, Face(box, 0.9, landmarks)), crop)
    with pytest.raises(ValueError):
        align_face(image, Face(box, 0.9, np.zeros((4, 2))))


def test_align_face_takes_grey_and_rgba_images():
    rgb = _coordinate_image(112, 112)
    face = Face((0.0, 0.0, 112.0, 112.0), 1.0, ARCFACE_TEMPLATE.copy())
    # landmarks on the template already: the warp is the identity, up to rounding
    identity = align_face(rgb, face)
    np.testing.assert_allclose(identity, rgb, atol=1)
    rgba = np.concatenate([rgb, np.full((112, 112, 1), 9, np.uint8)], axis=2)
    np.testing.assert_array_equal(align_face(rgba, face), identity)
    grey = rgb[:, :, 0]
    np.testing.assert_array_equal(align_face(grey, face), np.repeat(identity[:, :, :1], 3, axis=2))


# --- real detections --------------------------------------------------------------------------


def _yunet_detector():
    """The YuNet detector of ``imageprism_face.detectors.yunet`` (a skip only when the model
    file is absent; a detector that cannot be imported or built is a failure)."""
    if not YUNET_MODEL.is_file():
        pytest.skip(f"YuNet model not available: {YUNET_MODEL} is absent")
    module = importlib.import_module("imageprism_face.detectors.yunet")
    return module.YuNetDetector(YUNET_MODEL)


def _load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))


def _patch_mean(grey: np.ndarray, x: float, y: float, half: int = 5) -> float:
    r, c = round(y), round(x)
    return float(grey[r - half : r + half + 1, c - half : c + half + 1].mean())


def test_real_detections_align_to_upright_faces():
    if not FACES.is_dir():
        pytest.skip(f"real face photos not available: {FACES} is absent")
    photos = sorted(FACES.glob("img*.jpg"))
    if not photos:
        pytest.skip(f"no img*.jpg photos in {FACES}")
    detector = _yunet_detector()

    checked, darker = 0, 0
    for path in photos[:16]:
        image = _load_rgb(path)
        faces = detector.detect(image)
        if not faces or faces[0].landmarks is None:
            continue
        aligned = align_face(image, faces[0])
        assert aligned.shape == (112, 112, 3) and aligned.dtype == np.uint8
        boxed = align_face(image, Face(faces[0].box, faces[0].score))
        assert boxed.shape == (112, 112, 3) and boxed.dtype == np.uint8
        grey = aligned.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        (lx, ly), (rx, ry) = ARCFACE_TEMPLATE[:2]
        eyes = (_patch_mean(grey, lx, ly) + _patch_mean(grey, rx, ry)) / 2
        # the cheeks: below the eyes, beside the nose
        cheeks = (_patch_mean(grey, lx - 2, ly + 22) + _patch_mean(grey, rx + 2, ry + 22)) / 2
        checked += 1
        darker += eyes < cheeks
    assert checked > 0, "the YuNet detector found no face with landmarks in the sample photos"
    # a loose sanity check: on most aligned faces the eyes are darker than the cheeks
    assert darker >= math.ceil(0.75 * checked), f"eyes darker on {darker} of {checked} faces"
