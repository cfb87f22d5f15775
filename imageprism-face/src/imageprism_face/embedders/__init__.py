"""Face embedders that ship with the face pack: any ONNX file (ArcFace by name) and dlib's ResNet.

``onnx`` runs an ONNX face embedder on aligned 112x112 chips; ``dlib`` runs dlib's
ResNet with its own 5-point alignment (``pip install "imageprism-face[dlib]"``).
"""

__all__ = ["dlib", "onnx"]
