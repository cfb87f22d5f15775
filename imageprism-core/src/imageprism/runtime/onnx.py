"""One ONNX Runtime session per model file per process, shared by every model plugin.

Sessions are created lazily on first use, with ONNX Runtime's log noise
silenced, and are safe to run from several threads (ONNX Runtime's ``run`` is
thread-safe). Unless told a thread count, a session uses ONNX Runtime's default
(every core) for a single ``embed``, and its share of the cores in the prism's
batch calls, which run several model calls at once (a second session of the same
file; see ``imageprism.runtime.threads``). Needs ``imageprism-core[onnx]``.

A session runs on the execution providers a model's config names (``providers=``),
else on those in ``IMAGEPRISM_PROVIDERS``, else on the CPU, always with the CPU as
the fallback (``imageprism.runtime.providers``); one session per file, thread count
and providers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from imageprism.errors import ModelFileError
from imageprism.runtime.hub import ModelFile, file_sha256, resolve_model_file
from imageprism.runtime.optional import require
from imageprism.runtime.providers import ExecutionProviderError, execution_providers
from imageprism.runtime.threads import cores_per_call

_ERRORS_ONLY = 3
_sessions: dict[tuple[str, int | None, tuple[str, ...]], Any] = {}
_sessions_lock = threading.Lock()


def _ort() -> Any:
    onnxruntime = require(
        "onnxruntime",
        'model-backed dimensions need onnxruntime: pip install "imageprism-core[onnx]"',
        ModelFileError,
    )
    onnxruntime.set_default_logger_severity(_ERRORS_ONLY)
    return onnxruntime


def load_session(
    path: Path,
    *,
    intra_op_threads: int | None = None,
    sha256: str | None = None,
    providers: Sequence[str] | None = None,
    given_as: str | None = None,
) -> Any:
    """The process-wide ONNX Runtime session for ``path`` (created on first call).

    ``intra_op_threads`` None means: ONNX Runtime's default, or the call's share of the
    cores inside the prism's batch calls (``imageprism.runtime.threads``). With
    ``sha256``, a new session is created only if the file still has that sha256 (the
    one it had when it was verified), so a file rewritten since is never loaded.
    ``providers``: the execution providers to run on (see ``execution_providers``;
    None: ``IMAGEPRISM_PROVIDERS``, else the CPU). ``given_as``: the config field
    that named the file when it is the user's own (e.g. ``"model_path"``), for messages.

    Raises:
        ModelFileError: the file is not a loadable ONNX model (truncated, corrupt, or not ONNX),
            or no longer has ``sha256``.
        ExecutionProviderError: a provider asked for is not installed or did not start.
    """
    if intra_op_threads is None:
        intra_op_threads = cores_per_call()
    chosen = execution_providers(providers)
    key = (str(Path(path).resolve()), intra_op_threads, chosen)
    session = _sessions.get(key)  # no lock: calls must not wait while another file loads
    if session is not None:
        return session
    with _sessions_lock:
        session = _sessions.get(key)
        if session is not None:
            return session
        if sha256 is not None:
            _check_unchanged(Path(path), sha256)
        ort = _ort()
        options = ort.SessionOptions()
        options.log_severity_level = _ERRORS_ONLY
        # ONNX Runtime's CPU arena keeps each session's largest run for good: with five
        # models that sum stays resident (dedup over Pillow's test images peaked at
        # 1.35 GiB with it, 0.92 GiB without) for about the same end-to-end speed
        # (benchmarks/onnx_arena.py, benchmarks/pillow_test_images.py)
        options.enable_cpu_mem_arena = False
        if intra_op_threads:
            options.intra_op_num_threads = intra_op_threads
        try:
            session = ort.InferenceSession(str(path), sess_options=options, providers=list(chosen))
        except Exception as err:
            text = str(err).strip()
            first_line = text.splitlines()[0] if text else type(err).__name__
            if given_as is not None:  # the user's own file: pulling again cannot help
                raise ModelFileError(
                    f"{path} (given as {given_as}) is not a loadable ONNX model (truncated, "
                    f"corrupt or not ONNX?): ONNX Runtime says: {first_line[:300]}"
                ) from err
            raise ModelFileError(
                f"model file {path} cannot be loaded by ONNX Runtime (truncated, corrupt or "
                f"not an ONNX model?): {first_line[:300]}; delete it and pull it again"
            ) from err
        _check_started(session, chosen, path)
        _sessions[key] = session
        return session


def _check_started(session: Any, chosen: tuple[str, ...], path: Path) -> None:
    """Refuse a session on which ONNX Runtime dropped a provider it was asked for.

    ONNX Runtime falls back to the CPU, with a logged error, when an installed
    provider fails to start (no driver, no device).
    """
    running = list(session.get_providers())
    dropped = [name for name in chosen if name not in running]
    if dropped:
        raise ExecutionProviderError(
            f"ONNX Runtime could not start {', '.join(dropped)} for {path} (it runs on "
            f"{', '.join(running) or 'nothing'}): check the device and its drivers, or do "
            "not ask for it"
        )


def _check_unchanged(path: Path, sha256: str) -> None:
    try:
        found = file_sha256(path)
    except OSError as err:
        raise ModelFileError(f"model file {path} cannot be read: {err.strerror or err}") from err
    if found != sha256:
        raise ModelFileError(
            f"model file {path} changed after it was verified (sha256 {found}, expected "
            f"{sha256}); refused: something rewrote it while imageprism ran; run again"
        )


class OnnxModel:
    """A pinned model file and its session, both resolved on first use.

    Args:
        model: The pinned file.
        local_path: Use this file instead of the caches and the hub.
        dimension: The dimension using it (for messages).
        intra_op_threads: ONNX Runtime intra-op threads (default: every core for a call
            made alone, a share of them in the prism's batch calls).
        transform: Applied to the verified file's path before loading (e.g. to add
            graph outputs); returns the path of the file to load.
        images_per_call: Most images per session call (default: the whole batch); some
            models run faster on small batches than large ones.
        providers: ONNX Runtime execution providers (see ``execution_providers``; None:
            ``IMAGEPRISM_PROVIDERS``, else the CPU).
        path_option: The config field that names a local file (for messages): the
            default ``"model_path"``, or e.g. the face pack's ``"embed_path"``.
    """

    def __init__(
        self,
        model: ModelFile,
        *,
        local_path: Path | None = None,
        dimension: str | None = None,
        intra_op_threads: int | None = None,
        transform: Callable[[Path], Path] | None = None,
        images_per_call: int | None = None,
        providers: Sequence[str] | None = None,
        path_option: str = "model_path",
    ) -> None:
        self.model = model
        self.transform = transform
        self.local_path = local_path
        self.dimension = dimension
        self.intra_op_threads = intra_op_threads
        self.images_per_call = images_per_call
        self.providers = None if providers is None else tuple(providers)
        self.path_option = path_option
        self._path: Path | None = None
        self._source: Path | None = None
        self._sha256: str | None = None  # of the file at _path, when it was resolved
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        """The file the session runs: the verified model file, or what ``transform`` made of it.

        Resolved (found or downloaded, verified, transformed) on first use.
        """
        if self._path is None:
            with self._lock:
                if self._path is None:
                    source = resolve_model_file(
                        self.model,
                        local_path=self.local_path,
                        dimension=self.dimension,
                        path_option=self.path_option,
                    )
                    path = source if self.transform is None else self.transform(source)
                    try:
                        self._sha256 = file_sha256(path)
                    except OSError as err:
                        raise ModelFileError(
                            f"model file {path} cannot be read: {err.strerror or err}"
                        ) from err
                    self._source, self._path = source, path
        return self._path

    def derived_sha256(self) -> str | None:
        """The sha256 of the file ``transform`` made, or None when the session runs the source.

        Raises:
            ModelFileError: the model file cannot be found, verified, derived or read.
        """
        path = self.path
        if self._source is not None and Path(path) == Path(self._source):
            return None
        return self._sha256

    @property
    def session(self) -> Any:
        """The ONNX Runtime session (resolves, verifies and loads the file on first use)."""
        path = self.path
        own = self.local_path is not None and Path(path) == Path(self._source or path)
        return load_session(
            path,
            intra_op_threads=self.intra_op_threads,
            sha256=self._sha256,
            providers=self.providers,
            given_as=self.path_option if own else None,  # not a file derived from it
        )

    @property
    def input_name(self) -> str:
        """Name of the model's first input."""
        return str(self.session.get_inputs()[0].name)

    @property
    def input_shape(self) -> list[Any]:
        """Shape of the first input; symbolic axes are strings or None."""
        return list(self.session.get_inputs()[0].shape)

    @property
    def output_names(self) -> list[str]:
        """Names of every output."""
        return [str(o.name) for o in self.session.get_outputs()]

    @property
    def dynamic_batch(self) -> bool:
        """True when the first input's batch axis is symbolic, so batches run in one call."""
        return _dynamic_batch(self.session)

    def run(self, batch: np.ndarray, outputs: Sequence[str] | None = None) -> list[np.ndarray]:
        """Run a batch (first axis = images) and return the requested outputs, batch first.

        A model with a fixed batch of 1 is run image by image, and a batch larger than
        ``images_per_call`` in slices of that size; the results are stacked.
        """
        names = list(outputs) if outputs is not None else None
        session = self.session
        feed = str(session.get_inputs()[0].name)
        step = (self.images_per_call or len(batch)) if _dynamic_batch(session) else 1
        if len(batch) <= step:
            return list(session.run(names, {feed: batch}))
        parts = [
            session.run(names, {feed: batch[i : i + step]}) for i in range(0, len(batch), step)
        ]
        return [np.concatenate([p[k] for p in parts], axis=0) for k in range(len(parts[0]))]


def _dynamic_batch(session: Any) -> bool:
    shape = list(session.get_inputs()[0].shape)
    batch = shape[0] if shape else 1
    return not isinstance(batch, int) or batch <= 0
