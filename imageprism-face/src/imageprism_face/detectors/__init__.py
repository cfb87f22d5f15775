"""Face detectors on ONNX Runtime: UltraFace (boxes only) and YuNet (boxes and five landmarks)."""

import numpy as np

__all__ = ["checked_rgb"]


def checked_rgb(image: np.ndarray) -> np.ndarray:
    """``image`` as an array, or ValueError unless it is an HxWx3 ``uint8`` RGB image."""
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {array.dtype} {array.shape}")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"image has no pixels: {array.shape}")
    return array
