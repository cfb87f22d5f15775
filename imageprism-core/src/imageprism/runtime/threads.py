"""How many cores one model call may use while several run at once.

ONNX Runtime gives every session as many threads as the machine has cores. When
the prism embeds two chunks at once, two such calls would run four threads on two
cores, and their busy-waiting threads slow each other and the image decoding
beside them. So in its batch calls (``embed_many``, ``compare``, ``dedup``) the
prism declares each call's share of the cores (cores / ``threads``), even for a
batch of one chunk, so that one session per model serves them all, and a session
opened inside (see ``imageprism.runtime.onnx``) takes that many threads; a single
``embed`` keeps ONNX Runtime's default.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_cores_per_call: ContextVar[int | None] = ContextVar("imageprism_cores_per_call", default=None)


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cores_per_call() -> int | None:
    """The cores the current model call may use, or None when it runs alone."""
    return _cores_per_call.get()


@contextmanager
def sharing_cores(concurrent: int) -> Iterator[None]:
    """Within the block, model calls share the cores with ``concurrent`` calls in all."""
    if concurrent <= 1:
        yield
        return
    token = _cores_per_call.set(max(1, available_cores() // concurrent))
    try:
        yield
    finally:
        _cores_per_call.reset(token)
