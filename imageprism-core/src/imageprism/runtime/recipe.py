"""Preprocessing recipes of model dimensions: resize the shortest side, centre-crop, normalise.

A ``Recipe`` turns decoded images into the float32 NCHW batch an image model takes.
It never makes a large intermediate: an image up to 4:1 is resized whole (at most
``4 * resize**2`` pixels) and cropped, as its model's reference does; a longer one
has its crop found in source coordinates and only that region resampled to
``crop`` x ``crop`` (Pillow's ``resize(box=...)``, which reads the pixels around the
box as resizing the whole image would: the same pixels, up to rounding). So a
1x1000 strip becomes a 224x224 square, never a 224x224000 image.
The model pack defines its recipes (CLIP, DINOv2, MobileNetV2) with it; a third-party
ONNX dimension can do the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image

__all__ = ["Decodable", "Recipe", "center_crop", "crop_box", "resize_shortest"]


class Decodable(Protocol):
    """What a recipe needs of an input: an RGB decode at the smallest sufficient scale.

    ``imageprism.io.images.PreparedImage`` is one.
    """

    def rgb(self, min_side: int | None = None) -> Image.Image:
        """The image as RGB, decoded at least ``min_side`` pixels on its shorter side."""
        ...


_WHOLE_ASPECT = 4  # up to 4:1 the whole image is resized (at most 4 * resize**2 pixels)


def resize_shortest(image: Image.Image, shortest: int) -> Image.Image:
    """Resize (bicubic) so the shorter side is ``shortest``, keeping the aspect ratio."""
    width, height = image.size
    scale = shortest / min(width, height)
    size = (max(shortest, round(width * scale)), max(shortest, round(height * scale)))
    if size == image.size:
        return image
    return image.resize(size, Image.Resampling.BICUBIC)


def center_crop(image: Image.Image, side: int) -> Image.Image:
    """The centred ``side`` x ``side`` square (the image must be at least that large)."""
    width, height = image.size
    left = (width - side) // 2
    top = (height - side) // 2
    return image.crop((left, top, left + side, top + side))


def crop_box(size: tuple[int, int], resize: int, crop: int) -> tuple[float, float, float, float]:
    """The region of an image of ``size`` that resizing to ``resize`` then cropping keeps.

    In source coordinates: ``(left, top, right, bottom)``, for ``Image.resize(box=...)``.
    """
    width, height = size
    scale = resize / min(width, height)
    resized = (max(resize, round(width * scale)), max(resize, round(height * scale)))
    left = (resized[0] - crop) // 2
    top = (resized[1] - crop) // 2
    sx, sy = width / resized[0], height / resized[1]
    return (left * sx, top * sy, (left + crop) * sx, (top + crop) * sy)


@dataclass(frozen=True)
class Recipe:
    """Resize the shortest side, centre-crop, scale to [0, 1], normalise per channel.

    Attributes:
        resize: Target of the shorter side.
        crop: Side of the centred square crop.
        mean: Per-channel mean (RGB) subtracted after scaling to [0, 1].
        std: Per-channel standard deviation (RGB) divided by.
    """

    resize: int
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def tensor(self, image: Image.Image) -> np.ndarray:
        """One RGB image as a 3xHxW float32 array (never resized beyond ``4 * resize**2``)."""
        rgb = image.convert("RGB")
        if max(rgb.size) <= _WHOLE_ASPECT * min(rgb.size) or self.crop > self.resize:
            cropped = center_crop(resize_shortest(rgb, self.resize), self.crop)
        else:  # long and thin: resample only the region the crop keeps
            box = crop_box(rgb.size, self.resize, self.crop)
            cropped = rgb.resize((self.crop, self.crop), Image.Resampling.BICUBIC, box=box)
        pixels = np.asarray(cropped, dtype=np.float32) / np.float32(255.0)
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        return ((pixels - mean) / std).transpose(2, 0, 1)

    def batch(self, images: Sequence[Decodable]) -> np.ndarray:
        """Images (decoded at the smallest sufficient scale) as an Nx3xHxW float32 batch."""
        return np.stack([self.tensor(image.rgb(min_side=self.resize)) for image in images])
