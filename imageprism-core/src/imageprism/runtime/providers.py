"""ONNX Runtime execution providers: names, the CPU fallback, and what is installed.

A session runs on the providers a model's config names (``providers=``), else on
those in ``IMAGEPRISM_PROVIDERS``, else on the CPU; ``CPUExecutionProvider`` is
always appended, so what another provider cannot run falls back to the CPU. A
provider that is unknown or not installed here is an ``ExecutionProviderError``
naming it and the providers available, never a silent fallback: asking for a GPU
and getting the CPU would only show as a slow run. Providers are not part of
fingerprints: a model gives the same embeddings on every provider, up to float
rounding, so caches and indexes made on one machine serve another.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

from imageprism import environment
from imageprism.errors import ModelFileError
from imageprism.runtime.optional import require

__all__ = [
    "CPU_PROVIDER",
    "MAX_PROVIDERS",
    "PROVIDER_SHORT_NAMES",
    "ExecutionProviderError",
    "execution_providers",
    "provider_names",
]

CPU_PROVIDER = "CPUExecutionProvider"
"""ONNX Runtime's CPU provider: always last in a session's providers, the fallback."""

PROVIDER_SHORT_NAMES: dict[str, str] = {
    "cpu": CPU_PROVIDER,
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "migraphx": "MIGraphXExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "directml": "DmlExecutionProvider",
    "dml": "DmlExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "qnn": "QNNExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider",
}
"""Short names accepted for ONNX Runtime execution providers (any case), and the full names."""

#: Most providers a config or ``IMAGEPRISM_PROVIDERS`` may name (a file can carry any list).
MAX_PROVIDERS = 8
_FULL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,47}ExecutionProvider$")


class ExecutionProviderError(ModelFileError):
    """An ONNX Runtime execution provider asked for is not installed here, or did not start.

    Asked for by a config's ``providers=`` or by ``IMAGEPRISM_PROVIDERS``; the message
    names it and the providers available. A ``ModelFileError``: no model can run as asked,
    so a batch stops at once instead of failing image by image.
    """


def provider_names(value: str | Sequence[str]) -> tuple[str, ...]:
    """ONNX Runtime provider names from a config value or ``IMAGEPRISM_PROVIDERS``.

    Takes a comma-separated string or a sequence of names; each is a short name
    (``PROVIDER_SHORT_NAMES``: ``cuda``, ``coreml``, ``directml``, ``openvino``, ...,
    any case) or a full name ending in ``ExecutionProvider``. Returns the full names in
    the order given, each once. Whether they are installed is checked when a session
    is created (``execution_providers``), so a config stays valid on any machine.

    Raises:
        ValueError: a name is neither, or more than ``MAX_PROVIDERS`` are given.
    """
    items = value.split(",") if isinstance(value, str) else list(value)
    names: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"provider names must be strings, got {type(item).__name__}")
        text = item.strip()
        if not text:
            continue
        name = PROVIDER_SHORT_NAMES.get(text.lower())
        if name is None:
            if not _FULL_NAME.match(text):
                raise ValueError(
                    f"unknown execution provider {text[:60]!r}: give a short name ("
                    f"{', '.join(PROVIDER_SHORT_NAMES)}) or ONNX Runtime's full name, "
                    "e.g. CUDAExecutionProvider"
                )
            name = text
        if name not in names:
            names.append(name)
    if len(names) > MAX_PROVIDERS:
        raise ValueError(f"at most {MAX_PROVIDERS} execution providers, got {len(names)}")
    return tuple(names)


def execution_providers(providers: Sequence[str] | None = None) -> tuple[str, ...]:
    """The providers a session is created with, ``CPUExecutionProvider`` last.

    Args:
        providers: A config's ``providers`` (names as ``provider_names`` takes them).
            None: ``IMAGEPRISM_PROVIDERS`` if set, else the CPU alone. An empty sequence
            means the CPU alone, whatever the variable says.

    Raises:
        ExecutionProviderError: a name is invalid (in ``IMAGEPRISM_PROVIDERS``), or a
            provider is not installed (not in ``onnxruntime.get_available_providers()``).
    """
    source = "providers="
    if providers is None:
        source = environment.PROVIDERS
        try:
            names = provider_names(os.environ.get(environment.PROVIDERS, ""))
        except ValueError as err:
            raise ExecutionProviderError(f"{environment.PROVIDERS}: {err}") from err
    else:
        try:
            names = provider_names(providers)
        except ValueError as err:
            raise ExecutionProviderError(f"providers=: {err}") from err
    chosen = (*names, CPU_PROVIDER) if CPU_PROVIDER not in names else names
    if chosen == (CPU_PROVIDER,):
        return chosen
    available = list(_ort().get_available_providers())
    missing = [name for name in chosen if name not in available]
    if missing:
        raise ExecutionProviderError(
            f"ONNX Runtime execution provider {', '.join(missing)} (asked for by {source}) "
            f"is not installed here; available: {', '.join(available) or 'none'}. Install "
            "the onnxruntime package that brings it (e.g. onnxruntime-gpu for CUDA, "
            "onnxruntime-directml, onnxruntime-openvino) instead of onnxruntime, or do not "
            f"ask for it (the CPU, {CPU_PROVIDER}, needs nothing)"
        )
    return chosen


def _ort() -> Any:
    return require(
        "onnxruntime",
        'model-backed dimensions need onnxruntime: pip install "imageprism-core[onnx]"',
        ModelFileError,
    )
