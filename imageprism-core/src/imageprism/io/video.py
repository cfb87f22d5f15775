"""Video input: sample frames of a video and dedup them in order (needs the ``video`` extra).

``sample_frames`` decodes the first video stream with PyAV and yields frames,
one per ``every_seconds`` or every Nth frame; ``dedup_video`` feeds them to
``ImagePrism.dedup`` in order and can write the distinct frames as PNG files
with a ``frames.json`` of their timestamps.

Install with ``pip install "imageprism-core[video]"``.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from imageprism.errors import ConfigError, ImageLoadError
from imageprism.io.atomic import atomic_write
from imageprism.io.images import DEFAULT_MAX_PIXELS, check_regular_file
from imageprism.runtime.optional import require
from imageprism.scoring import check_threshold

if TYPE_CHECKING:
    from imageprism.prism import ImagePrism

INSTALL_HINT = 'video input needs PyAV: pip install "imageprism-core[video]"'
FRAMES_JSON = "frames.json"

# Frame times come from integer timestamps times a rational time base; a frame
# this close below a sampling point still counts as at it (float noise in k * every).
_EPSILON = 1e-6


@dataclass(frozen=True)
class FrameInfo:
    """Where a frame is in its video.

    Attributes:
        index: The frame's number in the stream (0 for the first decoded frame).
        time: Seconds from the start of the stream.
    """

    index: int
    time: float

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "time": self.time}


@dataclass(frozen=True)
class Frame:
    """A decoded video frame.

    Attributes:
        index: The frame's number in the stream (0 for the first decoded frame).
        time: Seconds from the start of the stream (from the frame's timestamp,
            or ``index / frame rate`` when it has none).
        image: The picture, in RGB.
    """

    index: int
    time: float
    image: Image.Image

    @property
    def info(self) -> FrameInfo:
        """The frame's index and time, without the picture."""
        return FrameInfo(self.index, self.time)


@dataclass(frozen=True)
class VideoDedup:
    """The distinct frames of a video, found by ``dedup_video``.

    Attributes:
        frames: Every sampled frame (index and time), in stream order.
        kept: Positions in ``frames`` of the distinct frames (each the first of
            its group), ascending.
        labels: Per sampled frame, the position in ``frames`` of its
            representative (its own position when it was kept).
        written: The files written, one PNG per kept frame in the order of
            ``kept``; empty when no output folder was given.
    """

    frames: list[FrameInfo]
    kept: list[int]
    labels: list[int]
    written: list[str]

    @property
    def kept_frames(self) -> list[FrameInfo]:
        """The distinct frames (index and time), in order."""
        return [self.frames[position] for position in self.kept]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: ``frames``, ``kept`` (with each PNG's file name, or None
        when nothing was written) and ``labels``."""
        files: list[str | None] = (
            [Path(name).name for name in self.written] if self.written else [None] * len(self.kept)
        )
        return {
            "frames": [frame.to_dict() for frame in self.frames],
            "kept": [
                {**self.frames[position].to_dict(), "file": file}
                for position, file in zip(self.kept, files, strict=True)
            ],
            "labels": list(self.labels),
        }


def _import_av() -> Any:
    return require("av", INSTALL_HINT)


def _check_sampling(every_seconds: float | None, every_frames: int | None) -> None:
    if every_seconds is not None and every_frames is not None:
        raise ConfigError("pass either every_seconds= or every_frames=, not both")
    if every_seconds is not None and (
        isinstance(every_seconds, bool)
        or not isinstance(every_seconds, numbers.Real)
        or not math.isfinite(every_seconds)
        or every_seconds <= 0
    ):
        raise ConfigError(f"every_seconds must be a number > 0, got {every_seconds!r}")
    if every_frames is not None and (
        isinstance(every_frames, bool)
        or not isinstance(every_frames, numbers.Integral)
        or every_frames < 1
    ):
        raise ConfigError(f"every_frames must be an integer >= 1, got {every_frames!r}")


def _frame_rate(stream: Any) -> Fraction | None:
    for name in ("average_rate", "guessed_rate", "base_rate"):
        rate = getattr(stream, name, None)
        if rate:
            return Fraction(rate)
    return None


def sample_frames(
    path: str | os.PathLike[str],
    *,
    every_seconds: float | None = None,
    every_frames: int | None = None,
) -> Iterator[Frame]:
    """Decode the first video stream of ``path`` and yield frames in order.

    With ``every_seconds``, one frame per interval: the first frame at or after
    each multiple of ``every_seconds`` (a frame covering several multiples, after
    a gap, is yielded once). With ``every_frames``, frames 0, N, 2N, ... All
    frames when neither is given. Frames are decoded one at a time: only the
    frame being yielded is held.

    Raises:
        ConfigError: ``every_seconds`` is not > 0, ``every_frames`` is not an
            integer >= 1, or both are given (raised at the call).
        ImagePrismError: PyAV is not installed (raised at the call).
        ImageLoadError: the file cannot be read, is not a video or has no video
            stream, or a frame cannot be decoded (raised while iterating).
    """
    _check_sampling(every_seconds, every_frames)
    av = _import_av()
    return _frames(av, path, every_seconds, every_frames)


def _frames(
    av: Any,
    path: str | os.PathLike[str],
    every_seconds: float | None,
    every_frames: int | None,
) -> Generator[Frame, None, None]:
    source = os.fspath(path)
    check_regular_file(source)  # FFmpeg would block on a FIFO, and never end on a device
    failures = (av.FFmpegError, OSError, EOFError, MemoryError)
    try:
        container = av.open(source)
    except failures as err:
        raise ImageLoadError(source, f"not a readable video: {err}") from err
    with container:
        if not container.streams.video:
            raise ImageLoadError(source, "no video stream")
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "AUTO"
        rate = _frame_rate(stream)
        start = stream.start_time or 0
        decoded = container.decode(stream)
        index = -1
        next_time = 0.0
        while True:
            try:
                frame = next(decoded, None)
            except failures as err:
                raise ImageLoadError(source, f"cannot decode frame {index + 1}: {err}") from err
            if frame is None:
                return
            index += 1
            time_base = frame.time_base or stream.time_base
            if frame.pts is not None and time_base:
                time = float((frame.pts - start) * time_base)
            elif rate:
                time = float(index / rate)
            else:
                raise ImageLoadError(source, f"frame {index} has no timestamp and no frame rate")
            if every_frames is not None and index % every_frames:
                continue
            if every_seconds is not None:
                if time < next_time - _EPSILON:
                    continue
                next_time = (math.floor((time + _EPSILON) / every_seconds) + 1) * every_seconds
            if frame.width * frame.height > DEFAULT_MAX_PIXELS:
                raise ImageLoadError(
                    source,
                    f"frames of {frame.width}x{frame.height} exceed the limit of "
                    f"{DEFAULT_MAX_PIXELS} pixels of an image",
                )
            try:
                image = frame.to_image()
            except failures as err:
                raise ImageLoadError(source, f"cannot convert frame {index}: {err}") from err
            yield Frame(index=index, time=time, image=image.convert("RGB"))


def frame_filename(frame: FrameInfo | Frame) -> str:
    """The PNG name ``dedup_video`` writes a kept frame under: ``frame_<index>_<time>s.png``."""
    return f"frame_{frame.index:06d}_{frame.time:.3f}s.png"


def _write_png(image: Image.Image, target: Path) -> str:
    atomic_write(target, lambda temporary: image.save(temporary, format="PNG"))
    return str(target)


def dedup_video(
    prism: ImagePrism,
    path: str | os.PathLike[str],
    *,
    threshold: float = 0.9,
    every_seconds: float | None = None,
    every_frames: int | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> VideoDedup:
    """Sample frames of a video and dedup them in order with ``prism``.

    ``progress(done, None)`` is called as frames are embedded.

    Frames are sampled as by ``sample_frames`` and grouped by ``prism.dedup``:
    each frame joins the first kept frame it matches (score >= ``threshold``),
    or is kept. So a scene that comes back later is not kept again.

    The sampled frames stream through ``prism.dedup``, which holds only a few
    batches of pictures at a time. With ``out_dir`` (created if missing), the
    video is decoded a second time to write each kept frame as
    ``frame_<index>_<time>s.png``, then ``frames.json`` (``VideoDedup.to_dict``);
    every file is written atomically. Files already in ``out_dir`` are left alone
    (same-named ones are replaced).

    Raises:
        ConfigError: a bad ``threshold``, ``every_seconds`` or ``every_frames``.
        ImagePrismError: PyAV is not installed.
        ImageLoadError: the video cannot be read or decoded, or a frame cannot be
            embedded (names the frame).
        OSError: ``out_dir`` cannot be created or written.
    """
    threshold = check_threshold(threshold)
    _check_sampling(every_seconds, every_frames)
    _import_av()
    source = os.fspath(path)
    frames: list[FrameInfo] = []

    def images() -> Iterator[Image.Image]:
        for frame in sample_frames(path, every_seconds=every_seconds, every_frames=every_frames):
            frames.append(frame.info)
            yield frame.image

    result = prism.dedup(images(), threshold=threshold, progress=progress)
    if result.errors:
        failure = result.errors[0]
        frame = frames[failure.index]
        raise ImageLoadError(
            source, f"frame {frame.index} at {frame.time:.3f}s failed: {failure.reason}"
        )
    labels = [int(label) for label in result.labels if label is not None]
    kept = list(result.unique)
    written: list[str] = []
    if out_dir is not None:
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        written = _write_kept(path, folder, frames, kept, every_seconds, every_frames)
    outcome = VideoDedup(frames=frames, kept=kept, labels=labels, written=written)
    if out_dir is not None:
        text = json.dumps(outcome.to_dict(), indent=2)
        atomic_write(
            Path(out_dir) / FRAMES_JSON,
            lambda temporary: temporary.write_text(text + "\n", encoding="utf-8"),
        )
    return outcome


def _write_kept(
    path: str | os.PathLike[str],
    folder: Path,
    frames: list[FrameInfo],
    kept: list[int],
    every_seconds: float | None,
    every_frames: int | None,
) -> list[str]:
    """Decode the video again and write the kept frames (no pictures were held meanwhile)."""
    wanted = set(kept)
    written: list[str] = []
    if not wanted:
        return written
    sampled = _frames(_import_av(), path, every_seconds, every_frames)
    try:
        for position, frame in enumerate(sampled):
            if position >= len(frames) or frame.info != frames[position]:
                raise ImageLoadError(os.fspath(path), "the video changed while it was read")
            if position in wanted:
                written.append(_write_png(frame.image, folder / frame_filename(frame)))
                if len(written) == len(wanted):
                    break
    finally:
        sampled.close()
    if len(written) != len(wanted):
        raise ImageLoadError(os.fspath(path), "the video changed while it was read")
    return written
