"""The model runtime: pinned model files from the hub, ONNX Runtime sessions, threads, extras.

``hub`` resolves a pinned ``ModelFile`` (local path, cache, download, sha256);
``onnx`` keeps one ONNX Runtime session per model file, thread count and providers;
``providers`` names ONNX Runtime's execution providers (CUDA, CoreML, ...) and checks them;
``threads`` decides how many cores a model call may use; ``optional`` imports an
optional dependency with a message naming the extra to install; ``recipe`` turns
decoded images into a model's input batch and ``model_dimension`` is the base of a
cosine dimension computed by one ONNX model (what the model pack's dimensions share).
"""

__all__ = ["hub", "model_dimension", "onnx", "optional", "providers", "recipe", "threads"]
