"""Image preprocessing recipes of the model pack, each following its model's reference.

- CLIP: shortest side to 224 (bicubic), centre crop 224, CLIP mean/std.
- DINOv2: shortest side to 256 (bicubic), centre crop 224, ImageNet mean/std
  (Hugging Face's ``BitImageProcessor`` settings for ``facebook/dinov2-small``).
- MobileNetV2: shortest side to 224 (bicubic), centre crop 224, ImageNet mean/std.

Every recipe returns float32 NCHW batches (``imageprism.runtime.recipe.Recipe``).
"""

from __future__ import annotations

from imageprism.runtime.recipe import Recipe

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


CLIP = Recipe(resize=224, crop=224, mean=CLIP_MEAN, std=CLIP_STD)
DINOV2 = Recipe(resize=256, crop=224, mean=IMAGENET_MEAN, std=IMAGENET_STD)
MOBILENETV2 = Recipe(resize=224, crop=224, mean=IMAGENET_MEAN, std=IMAGENET_STD)
