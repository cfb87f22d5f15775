"""The face pack's pinned default detector files (downloaded once from the hub, verified).

Each pin (commit and sha256) was checked against independent public sources: the
UltraFace file is byte-identical to upstream's (Linzaer's repository and the ONNX
Model Zoo publish the same sha256); the YuNet file is OpenCV Zoo's 2023mar release
(its Git LFS pointer gives the same sha256 and size as the hub mirror's file).
"""

from __future__ import annotations

from imageprism.runtime.hub import ModelFile

ULTRAFACE_RFB_320 = ModelFile(
    repo_id="onnxmodelzoo/version-RFB-320",
    filename="version-RFB-320.onnx",
    revision="6fd293d22b523ec88959f104b8eef5395e3adfbc",
    sha256="34cd7e60aeff28744c657de7a3dc64e872d506741de66987f3426f2b79f88017",
    size=1_270_727,
    licence="MIT (Ultra-Light-Fast-Generic-Face-Detector-1MB)",
)
"""UltraFace RFB-320, the default detector (input 1x3x240x320)."""

YUNET_2023MAR = ModelFile(
    repo_id="opencv/face_detection_yunet",
    filename="face_detection_yunet_2023mar.onnx",
    revision="3cc26e7f1014a5ee5d74a42acee58bafc9d0a310",
    sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    size=232_589,
    licence="MIT (OpenCV Zoo)",
)
"""YuNet 2023mar from OpenCV Zoo (a fixed 640x640 input: images are letterboxed into it)."""

DEFAULT_DETECTOR_FILES: dict[str, ModelFile] = {
    "ultraface": ULTRAFACE_RFB_320,
    "yunet": YUNET_2023MAR,
}
"""The pinned file of each built-in detector, by detector name."""
