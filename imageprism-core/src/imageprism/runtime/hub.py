"""Model files: pinned repo, revision and sha256; local caches first, verified downloads.

Resolution order for a ``ModelFile``:

1. an explicit local path (``model_path=`` in a dimension's config);
2. the cache folder in ``IMAGEPRISM_CACHE_DIR`` (Hugging Face layout), if set;
3. the Hugging Face cache (``HF_HUB_CACHE`` / ``HF_HOME``, default ``~/.cache/huggingface/hub``);
4. a download with ``huggingface_hub`` (into 2 if set, else 3), never when ``HF_HUB_OFFLINE=1``;

and then the file's sha256 is checked against the pin. A file that fails the
check is deleted from the cache and refused. Needs ``imageprism-core[onnx]``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from imageprism import environment
from imageprism.errors import ModelFileError
from imageprism.plugin.specs import DimensionConfig
from imageprism.runtime.optional import require

_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_TRUE = frozenset({"1", "true", "yes", "on"})
_verified: dict[tuple[str, int, int, str], bool] = {}
_verified_lock = threading.Lock()


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

    How it runs: ``intra_op_threads``, ONNX Runtime's threads per call (default:
    every core for a single ``embed``, a share of them in the prism's batch
    calls); ``images_per_call``, most images per model call (default: the
    dimension's own choice).
    """

    repo_id: str | None = None
    filename: str | None = None
    revision: str | None = None
    sha256: str | None = None
    model_path: Path | None = None
    intra_op_threads: int | None = Field(default=None, ge=1)
    images_per_call: int | None = Field(default=None, ge=1)

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        return _checked_sha256(value)

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


def sha256_of(path: Path) -> str:
    """The sha256 (hex) of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _remove(path: Path) -> None:
    # A cached file is a symlink into blobs/; remove both so a retry downloads again.
    target = path.resolve()
    for item in {path, target}:
        with contextlib.suppress(FileNotFoundError):
            item.unlink()


def verify(path: Path, model: ModelFile, *, delete_if_bad: bool) -> None:
    """Check ``path`` against the pinned size and sha256; refuse (and maybe delete) a bad file.

    Raises:
        ModelFileError: the file does not match its pin.
    """
    if model.sha256 is None:
        return
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, model.sha256)
    with _verified_lock:
        if _verified.get(key):
            return
    if model.size is not None and stat.st_size != model.size:
        actual = f"size {stat.st_size} bytes, expected {model.size}"
    else:
        found = sha256_of(path)
        actual = "" if found == model.sha256 else f"sha256 {found}, expected {model.sha256}"
    if not actual:
        with _verified_lock:
            _verified[key] = True
        return
    if delete_if_bad:
        _remove(path)
    raise ModelFileError(
        f"model file {model.describe()} at {path} failed verification ({actual})"
        + ("; it was deleted, pull it again" if delete_if_bad else "")
    )


def _snapshot_commit(path: str) -> str | None:
    parts = Path(path).parts
    if "snapshots" in parts:
        index = len(parts) - 1 - parts[::-1].index("snapshots")
        if index + 1 < len(parts):
            return parts[index + 1]
    return None


def _how_to_get(model: ModelFile, name: str | None) -> str:
    pull = f"imageprism models pull {name}" if name else "imageprism models pull"
    return (
        f"to use it offline, run `{pull}` on a machine with network access and copy its "
        f"cache folder here (set {environment.CACHE_DIR} to it), or download {model.url()} "
        "and pass its path as model_path= in the dimension's config"
    )


def resolve_model_file(
    model: ModelFile,
    *,
    local_path: Path | str | None = None,
    dimension: str | None = None,
    allow_download: bool = True,
) -> Path:
    """Find ``model`` locally or download it, verify it, and return its path.

    Args:
        model: The pinned file.
        local_path: Use this file instead of any cache (still checked against
            ``model.sha256`` when set, never deleted).
        dimension: The dimension that needs it, for messages (``models pull NAME``).
        allow_download: False to only look in the caches.

    Raises:
        ModelFileError: not found where it may be looked for, download failed,
            or verification failed; the message names the file and places and
            says how to pre-pull it.
    """
    if local_path is not None:
        path = Path(local_path).expanduser()
        if not path.is_file():
            raise ModelFileError(f"model file {path} (model_path for {model.describe()}) not found")
        verify(path, model, delete_if_bad=False)
        return path
    hub = _hub()
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
        raise ModelFileError(
            f"model file {model.describe()} is not cached (looked in {where}) and {reason}; "
            + _how_to_get(model, dimension)
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
            f"{type(err).__name__}: {err}; " + _how_to_get(model, dimension)
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
