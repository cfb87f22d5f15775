"""Model files: pinned repo, revision and sha256; local caches first, verified downloads.

Resolution order for a ``ModelFile``:

1. an explicit local path (``model_path=`` in a dimension's config);
2. the cache folder in ``IMAGEPRISM_CACHE_DIR`` (Hugging Face layout), if set;
3. the Hugging Face cache (``HF_HUB_CACHE`` / ``HF_HOME``, default ``~/.cache/huggingface/hub``);
4. a download with ``huggingface_hub`` (into 2 if set, else 3), never when ``HF_HUB_OFFLINE=1``;

and then the file's sha256 is checked against the pin, on every load (hashed
once per process while the file's inode, size and times stay the same). A file
that fails the check is deleted from the cache and refused, and a later load of
the same file in the process (say, by another thread) reports that failure rather
than "not cached". One file is resolved by one thread at a time.

Files derived from model files (``derived_file``, e.g. a model with extra graph
outputs) are cached under ``cache_root()/derived`` but never trusted: each is
built again from its verified source once per process and the cached copy is used
only when it is byte for byte the same (otherwise it is replaced, with a warning).
Needs ``imageprism-core[onnx]``.

(Over the ~400 lines a module here aims at: pins, resolution, verification and
derived copies are one trust boundary, sharing one memo of file hashes and one
set of per-file locks.)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from imageprism import environment
from imageprism.errors import ModelFileError
from imageprism.plugin.specs import DimensionConfig
from imageprism.runtime.optional import require
from imageprism.runtime.providers import provider_names

_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_TRUE = frozenset({"1", "true", "yes", "on"})
#: Most ONNX Runtime threads per call a config may ask for.
MAX_INTRA_OP_THREADS = 64
#: Most images per model call a config may ask for.
MAX_IMAGES_PER_CALL = 256
# sha256 of files hashed in this process, by (path, device, inode, size, mtime, ctime):
# any write to a file changes its ctime, which no user can set back.
_verified: dict[tuple[str, int, int, int, int, int], str] = {}
_verified_lock = threading.Lock()
# The last verification failure of each model file (repo, filename, revision): the
# message and the path of the file deleted.
_refused: dict[tuple[str, str, str], tuple[str, Path]] = {}
# What each derived file must hold (its sha256), as built in this process, by path.
_derived: dict[str, str] = {}
_locks: dict[tuple[str, ...], threading.Lock] = {}


def _checked_sha256(value: str | None) -> str | None:
    if value is not None and not _SHA256.match(value.lower()):
        raise ValueError(f"sha256 must be 64 hex digits, got {value!r}")
    return None if value is None else value.lower()


class ModelFile(BaseModel):
    """One model file on the Hugging Face hub, pinned.

    Attributes:
        repo_id: e.g. ``"Xenova/clip-vit-base-patch32"``.
        filename: Path of the file in the repository, e.g. ``"onnx/vision_model_quantized.onnx"``.
        revision: A 40-hex commit hash (a pin) or, only when a user asks for it, a branch or tag.
        sha256: The file's sha256 (hex); None only for a user-chosen unpinned file.
        size: The file's size in bytes, when known.
        licence: The licence of the weights.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    repo_id: str = Field(min_length=3, pattern=r"^[\w.\-]+/[\w.\-]+$")
    filename: str = Field(min_length=1)
    revision: str = Field(min_length=1)
    sha256: str | None = None
    size: int | None = Field(default=None, ge=0)
    licence: str = ""

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        return _checked_sha256(value)

    @property
    def pinned(self) -> bool:
        """True when the revision is a commit hash and the sha256 is known."""
        return bool(_COMMIT.match(self.revision)) and self.sha256 is not None

    def describe(self) -> str:
        """``repo_id/filename@revision`` (revision shortened when it is a commit)."""
        revision = self.revision[:12] if _COMMIT.match(self.revision) else self.revision
        return f"{self.repo_id}/{self.filename}@{revision}"

    def url(self, endpoint: str = "https://huggingface.co") -> str:
        """Where the file can be downloaded by hand."""
        return f"{endpoint.rstrip('/')}/{self.repo_id}/resolve/{self.revision}/{self.filename}"


class ModelConfig(DimensionConfig):
    """Config fields shared by model-backed dimensions: where the model comes from.

    Leave them unset for the dimension's pinned default. Set ``repo_id``,
    ``filename`` and/or ``revision`` to use another file from the hub (pin its
    ``sha256`` too, or it is used unverified), or ``model_path`` to use a local
    file as is.

    How it runs: ``intra_op_threads``, ONNX Runtime's threads per call, 1 to
    ``MAX_INTRA_OP_THREADS`` (64; default: every core for a single ``embed``, a
    share of them in the prism's batch calls); ``images_per_call``, most images per
    model call, 1 to ``MAX_IMAGES_PER_CALL`` (256; default: the dimension's own
    choice). Both are bounded so that a config file cannot ask for unbounded
    threads or batch memory. ``providers``: ONNX Runtime execution providers, in order
    (short names ``cuda``, ``coreml``, ``directml``, ``openvino``, ... or full names;
    default: ``IMAGEPRISM_PROVIDERS``, else the CPU; the CPU is always the fallback;
    not part of the fingerprint; see ``imageprism.runtime.providers``).
    """

    repo_id: str | None = None
    filename: str | None = None
    revision: str | None = None
    sha256: str | None = None
    model_path: Path | None = None
    intra_op_threads: int | None = Field(default=None, ge=1, le=MAX_INTRA_OP_THREADS)
    images_per_call: int | None = Field(default=None, ge=1, le=MAX_IMAGES_PER_CALL)
    providers: tuple[str, ...] | None = None

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        return _checked_sha256(value)

    @field_validator("providers", mode="before")
    @classmethod
    def _providers(cls, value: Any) -> Any:
        return value if value is None else provider_names(value)

    def model_file(self, default: ModelFile) -> ModelFile:
        """The file to use: ``default`` unless the user pointed elsewhere.

        With ``model_path`` the local file is checked only against a ``sha256``
        the user gave.
        """
        if self.model_path is not None:
            return default.model_copy(update={"sha256": self.sha256, "size": None})
        same_file = (self.repo_id in (None, default.repo_id)) and (
            self.filename in (None, default.filename)
        )
        revision = self.revision or (default.revision if same_file else "main")
        sha256 = self.sha256
        if sha256 is None and same_file and revision == default.revision:
            sha256 = default.sha256
        return ModelFile(
            repo_id=self.repo_id or default.repo_id,
            filename=self.filename or default.filename,
            revision=revision,
            sha256=sha256,
            size=default.size if same_file and revision == default.revision else None,
            licence=default.licence if same_file else "",
        )


def _hub() -> ModuleType:
    return require(
        "huggingface_hub",
        'model downloads need huggingface_hub: pip install "imageprism-core[onnx]"',
        ModelFileError,
    )


def offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set (checked at call time, not import time)."""
    return os.environ.get(environment.HF_HUB_OFFLINE, "").strip().lower() in _TRUE


def cache_dirs() -> list[Path | None]:
    """Caches searched in order: ``IMAGEPRISM_CACHE_DIR`` (if set), then the HF cache (None)."""
    own = os.environ.get(environment.CACHE_DIR)
    return [Path(own).expanduser(), None] if own else [None]


def _cache_name(cache: Path | None) -> str:
    if cache is not None:
        return f"{environment.CACHE_DIR}={cache}"
    from huggingface_hub import constants

    return f"the Hugging Face cache ({constants.HF_HUB_CACHE})"


def _in_caches(path: Path) -> bool:
    """Whether ``path`` lies in one of the caches searched now."""
    from huggingface_hub import constants

    roots = [Path(constants.HF_HUB_CACHE) if c is None else c for c in cache_dirs()]
    return any(Path(path).is_relative_to(root) for root in roots)


def sha256_of(path: Path) -> str:
    """The sha256 (hex) of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _state(path: Path) -> tuple[str, int, int, int, int, int]:
    stat = path.stat()
    return (
        str(path.resolve()),
        stat.st_dev,
        stat.st_ino,
        stat.st_size,
        stat.st_mtime_ns,
        stat.st_ctime_ns,
    )


def file_sha256(path: Path) -> str:
    """The sha256 (hex) of a file, hashed again whenever the file may have changed.

    Remembered for the process while the file's path, inode, size, mtime and ctime
    stay the same (a write changes the ctime, which cannot be set back), so a
    file checked on every load is read once unless it changes.

    Raises:
        OSError: the file cannot be read.
    """
    before = _state(path)
    with _verified_lock:
        known = _verified.get(before)
    if known is not None:
        return known
    found = sha256_of(path)
    if _state(path) == before:  # not written while it was read
        with _verified_lock:
            _verified[before] = found
    return found


def _lock(*key: str) -> threading.Lock:
    with _verified_lock:
        return _locks.setdefault(key, threading.Lock())


def _remove(path: Path) -> None:
    # A cached file is a symlink into blobs/; remove both so a retry downloads again.
    target = path.resolve()
    for item in {path, target}:
        with contextlib.suppress(FileNotFoundError):
            item.unlink()


def verify(path: Path, model: ModelFile, *, delete_if_bad: bool) -> None:
    """Check ``path`` against the pinned size and sha256; refuse (and maybe delete) a bad file.

    Checked on every call; the hash is computed again whenever the file may have
    changed (see ``file_sha256``).

    Raises:
        ModelFileError: the file does not match its pin, or cannot be read.
    """
    if model.sha256 is None:
        return
    try:
        size = path.stat().st_size
        if model.size is not None and size != model.size:
            actual = f"size {size} bytes, expected {model.size}"
        else:
            found = file_sha256(path)
            actual = "" if found == model.sha256 else f"sha256 {found}, expected {model.sha256}"
    except OSError as err:
        raise ModelFileError(
            f"model file {model.describe()} at {path} cannot be read to verify it: "
            f"{err.strerror or err}"
        ) from err
    key = (model.repo_id, model.filename, model.revision)
    if not actual:
        with _verified_lock:
            _refused.pop(key, None)
        return
    failure = f"model file {model.describe()} at {path} failed verification ({actual})"
    if not delete_if_bad:
        raise ModelFileError(failure)
    with _verified_lock:  # before the file goes: a load that then finds none says why
        _refused[key] = (failure, path)
    _remove(path)
    raise ModelFileError(f"{failure}; it was deleted, pull it again")


def _snapshot_commit(path: str) -> str | None:
    parts = Path(path).parts
    if "snapshots" in parts:
        index = len(parts) - 1 - parts[::-1].index("snapshots")
        if index + 1 < len(parts):
            return parts[index + 1]
    return None


def _how_to_get(model: ModelFile, name: str | None, path_option: str = "model_path") -> str:
    pull = f"imageprism models pull {name}" if name else "imageprism models pull"
    return (
        f"to use it offline, run `{pull}` on a machine with network access and copy its "
        f"cache folder here (set {environment.CACHE_DIR} to it), or download {model.url()} "
        f"and pass its path as {path_option}= in the dimension's config"
    )


def resolve_model_file(
    model: ModelFile,
    *,
    local_path: Path | str | None = None,
    dimension: str | None = None,
    allow_download: bool = True,
    path_option: str = "model_path",
) -> Path:
    """Find ``model`` locally or download it, verify it, and return its path.

    Args:
        model: The pinned file.
        local_path: Use this file instead of any cache (still checked against
            ``model.sha256`` when set, never deleted).
        dimension: The dimension that needs it, for messages (``models pull NAME``).
        allow_download: False to only look in the caches.
        path_option: The config field that takes a local file instead, for messages
            (e.g. the face pack's ``detector_path`` or ``embed_path``).

    Raises:
        ModelFileError: not found where it may be looked for, download failed,
            or verification failed; the message names the file and places and
            says how to pre-pull it.
    """
    if local_path is not None:
        path = Path(local_path).expanduser()
        if not path.is_file():
            raise ModelFileError(
                f"model file {path} ({path_option} for {model.describe()}) not found"
            )
        verify(path, model, delete_if_bad=False)
        return path
    hub = _hub()
    with _lock("model", model.repo_id, model.filename, model.revision):
        return _resolve_cached_or_download(hub, model, dimension, allow_download, path_option)


def _resolve_cached_or_download(
    hub: ModuleType,
    model: ModelFile,
    dimension: str | None,
    allow_download: bool,
    path_option: str = "model_path",
) -> Path:
    """``resolve_model_file`` for the caches and the hub; the caller holds the file's lock."""
    looked: list[str] = []
    for cache in cache_dirs():
        looked.append(_cache_name(cache))
        found = hub.try_to_load_from_cache(
            model.repo_id, model.filename, cache_dir=cache, revision=model.revision
        )
        if isinstance(found, str):
            verify(Path(found), model, delete_if_bad=True)
            return Path(found)
    where = "; ".join(looked)
    if offline() or not allow_download:
        reason = f"{environment.HF_HUB_OFFLINE}=1" if offline() else "downloads are off"
        with _verified_lock:
            refused = _refused.get((model.repo_id, model.filename, model.revision))
        if refused is not None and _in_caches(refused[1]):
            # an earlier load deleted it from these caches: say why, not just "not cached"
            raise ModelFileError(
                f"{refused[0]} and was deleted by an earlier load in this process; it is not "
                f"cached now (looked in {where}) and {reason}; "
                + _how_to_get(model, dimension, path_option)
            )
        raise ModelFileError(
            f"model file {model.describe()} is not cached (looked in {where}) and {reason}; "
            + _how_to_get(model, dimension, path_option)
        )
    own = os.environ.get(environment.CACHE_DIR)
    print(f"imageprism: downloading {model.describe()} (one time)", file=sys.stderr)
    try:
        downloaded = hub.hf_hub_download(
            model.repo_id,
            model.filename,
            revision=model.revision,
            cache_dir=own or None,
            # read at call time: huggingface_hub reads HF_ENDPOINT only at its import
            endpoint=os.environ.get("HF_ENDPOINT") or None,
        )
    except Exception as err:
        raise ModelFileError(
            f"cannot download model file {model.describe()} (looked in {where} first): "
            f"{type(err).__name__}: {err}; " + _how_to_get(model, dimension, path_option)
        ) from err
    if _COMMIT.match(model.revision) and _snapshot_commit(downloaded) != model.revision:
        _remove(Path(downloaded))
        raise ModelFileError(
            f"the hub served {model.describe()} from commit {_snapshot_commit(downloaded)}, "
            f"not the pinned {model.revision}; refused"
        )
    verify(Path(downloaded), model, delete_if_bad=True)
    return Path(downloaded)


def describe_cache_state(model: ModelFile) -> dict[str, Any]:
    """Whether ``model`` is cached, and where (for ``imageprism models list``)."""
    hub = _hub()
    for cache in cache_dirs():
        found = hub.try_to_load_from_cache(
            model.repo_id, model.filename, cache_dir=cache, revision=model.revision
        )
        if isinstance(found, str):
            return {"cached": True, "path": found}
    return {"cached": False, "path": None}


def cache_root() -> Path:
    """imageprism's own cache folder (not created here).

    ``IMAGEPRISM_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/imageprism``
    (default ``~/.cache/imageprism``).
    """
    own = os.environ.get(environment.CACHE_DIR)
    if own:
        return Path(own).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "imageprism"


def derived_dir(kind: str) -> Path:
    """A folder for files imageprism derives from model files (e.g. models with extra outputs).

    Under ``cache_root()``.
    """
    folder = cache_root() / "derived" / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def derived_file(kind: str, name: str, build: Callable[[], bytes | None]) -> Path | None:
    """The file ``derived_dir(kind) / name``, trusted only when it equals a fresh build.

    A derived file (e.g. a model with extra graph outputs) lies in a cache anyone
    with write access to it could have replaced, so it is never taken on trust:
    the first call for ``name`` in a process runs ``build()`` (from an already
    verified source) and uses the cached copy only when its bytes are the same;
    otherwise the copy is replaced, with a warning on standard error. Later calls
    only check that the file still has the sha256 built (hashing it again if it
    changed since, rebuilding if it differs). ``name`` must identify everything
    the bytes depend on (e.g. the source's sha256 and the derivation's version).

    Args:
        kind: The folder under ``derived_dir``, e.g. ``"style"``.
        name: The file's name in it.
        build: Returns the file's bytes, or None when there is nothing to derive.

    Returns:
        The path of the checked file, or None when ``build()`` returned None.

    Raises:
        ModelFileError: the folder or the file cannot be written.
    """
    try:
        target = derived_dir(kind) / name
    except OSError as err:
        raise ModelFileError(
            f"cannot create the folder for derived model files under {cache_root()}: "
            f"{err.strerror or err}; set {environment.CACHE_DIR} to a writable folder"
        ) from err
    with _lock("derived", str(target)):
        with _verified_lock:
            expected = _derived.get(str(target))
        if expected is not None and _holds(target, expected):
            return target
        data = build()
        if data is None:
            return None
        expected = hashlib.sha256(data).hexdigest()
        if not _holds(target, expected):
            if os.path.lexists(target):
                print(
                    f"imageprism: warning: derived model file {target} differs from the copy "
                    "built again from its verified source; replaced it",
                    file=sys.stderr,
                )
            try:
                _write_atomically(target, data)
            except OSError as err:
                raise ModelFileError(
                    f"cannot write derived model file {target}: {err.strerror or err}; "
                    f"check that {target.parent} is writable or set {environment.CACHE_DIR}"
                ) from err
        with _verified_lock:
            _derived[str(target)] = expected
        return target


def _write_atomically(target: Path, data: bytes) -> None:
    # runtime sits below io (imageprism.io.atomic): the same temporary-then-rename here
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)


def _umask() -> int:
    """The process umask, read without setting it.

    Setting it, even for a moment, would let another thread create a file open to everyone.
    """
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return 0o077  # unknown: owner only


def _holds(path: Path, sha256: str) -> bool:
    """Whether ``path`` is a regular file (not a link) with that sha256."""
    try:
        return not path.is_symlink() and path.is_file() and file_sha256(path) == sha256
    except OSError:
        return False
