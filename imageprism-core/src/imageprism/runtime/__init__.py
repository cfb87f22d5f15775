"""The model runtime: pinned model files from the hub, ONNX Runtime sessions, threads, extras.

``hub`` resolves a pinned ``ModelFile`` (local path, cache, download, sha256);
``onnx`` keeps one ONNX Runtime session per model file and thread count;
``threads`` decides how many cores a model call may use; ``optional`` imports an
optional dependency with a message naming the extra to install.
"""

__all__ = ["hub", "onnx", "optional", "threads"]
