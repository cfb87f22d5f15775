"""Face detectors on ONNX Runtime: UltraFace (boxes only) and YuNet (boxes and five landmarks)."""
