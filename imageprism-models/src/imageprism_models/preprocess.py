"""Image preprocessing recipes of the model pack, each following its model's reference.

- CLIP: shortest side to 224 (bicubic), centre crop 224, CLIP mean/std.
- DINOv2: shortest side to 256 (bicubic), centre crop 224, ImageNet mean/std
  (Hugging Face's ``BitImageProcessor`` settings for ``facebook/dinov2-small``).
- MobileNetV2: shortest side to 224 (bicubic), centre crop 224, ImageNet mean/std.

Every recipe returns float32 NCHW batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from imageprism.io.images import PreparedImage

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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
        """One RGB image as a 3xHxW float32 array."""
        cropped = center_crop(resize_shortest(image.convert("RGB"), self.resize), self.crop)
        pixels = np.asarray(cropped, dtype=np.float32) / np.float32(255.0)
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        return ((pixels - mean) / std).transpose(2, 0, 1)

    def batch(self, images: Sequence[PreparedImage]) -> np.ndarray:
        """Images (decoded at the smallest sufficient scale) as an Nx3xHxW float32 batch."""
        return np.stack([self.tensor(image.rgb(min_side=self.resize)) for image in images])


CLIP = Recipe(resize=224, crop=224, mean=CLIP_MEAN, std=CLIP_STD)
DINOV2 = Recipe(resize=256, crop=224, mean=IMAGENET_MEAN, std=IMAGENET_STD)
MOBILENETV2 = Recipe(resize=224, crop=224, mean=IMAGENET_MEAN, std=IMAGENET_STD)
