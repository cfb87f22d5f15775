"""Video input (the ``video`` extra): frame sampling and in-order dedup on a generated video."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imageprism import ImagePrism
from imageprism.errors import ConfigError, ImageLoadError, ImagePrismError
from imageprism.io.video import (
    FRAMES_JSON,
    Frame,
    FrameInfo,
    dedup_video,
    frame_filename,
    sample_frames,
)

try:
    import av
except ImportError as err:  # not installed, or installed but broken
    pytest.skip(
        f'PyAV cannot be imported ({err}); install it with pip install "imageprism-core[video]"',
        allow_module_level=True,
    )

WIDTH, HEIGHT, FPS, SECONDS = 160, 120, 10, 3


def red_scene(step: int) -> np.ndarray:
    """A red picture with a dark quadrant and a small white square moving right."""
    pixels = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    pixels[..., 0] = 200
    pixels[: HEIGHT // 2, : WIDTH // 2] = (120, 20, 20)
    x = 100 + step
    pixels[80:86, x : x + 6] = 255
    return pixels


def blue_scene(step: int) -> np.ndarray:
    """A blue picture with gradients (static)."""
    pixels = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    pixels[..., 2] = 220
    pixels[..., 1] = np.linspace(0, 255, WIDTH, dtype=np.uint8)[None, :]
    pixels[..., 0] = np.linspace(0, 200, HEIGHT, dtype=np.uint8)[:, None]
    return pixels


def encoder() -> str:
    for name in ("libx264", "mpeg4"):
        try:
            av.Codec(name, "w")
        except Exception:
            continue
        return name
    pytest.skip("this PyAV build has neither a libx264 nor an mpeg4 encoder")


def write_video(path: Path) -> Path:
    """3 s at 10 fps: 1 s of the red scene, 1 s of the blue scene, the red second again."""
    codec = encoder()
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "18"}
        else:
            stream.bit_rate = 2_000_000
        for index in range(FPS * SECONDS):
            scene = blue_scene if FPS <= index < 2 * FPS else red_scene
            frame = av.VideoFrame.from_ndarray(scene(index % FPS), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "scenes.mp4")


@pytest.fixture(scope="module")
def prism() -> ImagePrism:
    return ImagePrism()


def indexes(frames: list[Frame]) -> list[int]:
    return [frame.index for frame in frames]


# -- sampling ------------------------------------------------------------------------------


def test_all_frames_by_default(video):
    frames = list(sample_frames(video))
    assert indexes(frames) == list(range(FPS * SECONDS))
    assert [frame.time for frame in frames] == pytest.approx([i / FPS for i in range(30)])
    assert all(frame.image.mode == "RGB" for frame in frames)
    assert frames[0].image.size == (WIDTH, HEIGHT)
    assert frames[0].info == FrameInfo(0, 0.0)


def test_every_half_second_gives_six_frames(video):
    frames = list(sample_frames(str(video), every_seconds=0.5))
    assert indexes(frames) == [0, 5, 10, 15, 20, 25]
    assert [frame.time for frame in frames] == pytest.approx([0, 0.5, 1.0, 1.5, 2.0, 2.5])


def test_every_seconds_takes_the_first_frame_at_or_after_each_multiple(video):
    # multiples 0, 0.25, 0.5, 0.75, ... fall on frames 0, 0.3 s, 0.5 s, 0.8 s, ...
    frames = list(sample_frames(video, every_seconds=0.25))
    assert indexes(frames)[:6] == [0, 3, 5, 8, 10, 13]
    # 3 * 0.1 is 0.30000000000000004: float noise must not skip frame 3
    assert indexes(sample_frames(video, every_seconds=0.1)) == list(range(30))
    assert indexes(sample_frames(video, every_seconds=10)) == [0]


def test_every_fifth_frame(video):
    frames = list(sample_frames(video, every_frames=5))
    assert indexes(frames) == [0, 5, 10, 15, 20, 25]
    assert [frame.time for frame in frames] == pytest.approx([0, 0.5, 1.0, 1.5, 2.0, 2.5])
    assert indexes(sample_frames(video, every_frames=1)) == list(range(30))
    assert indexes(sample_frames(video, every_frames=100)) == [0]


def test_the_frames_show_the_scenes(video):
    red, blue, red_again = (
        np.asarray(f.image, float) for f in sample_frames(video, every_frames=10)
    )
    assert red[..., 0].mean() > red[..., 2].mean() + 100
    assert blue[..., 2].mean() > blue[..., 0].mean() + 50
    assert np.abs(red - red_again).mean() < 3


# -- dedup ---------------------------------------------------------------------------------


def test_dedup_keeps_each_scene_once_in_order_and_writes_them(video, prism, tmp_path):
    out = tmp_path / "out" / "frames"  # created as needed
    result = dedup_video(prism, video, threshold=0.9, out_dir=out)

    assert indexes(result.frames) == list(range(30))  # type: ignore[arg-type]
    # greedy and in order: the red scene, then the blue one; the red scene that
    # comes back at 2 s matches the first frame and is not kept again
    assert result.kept == [0, 10]
    assert result.labels == [0] * 10 + [10] * 10 + [0] * 10
    assert result.kept_frames == [FrameInfo(0, 0.0), FrameInfo(10, pytest.approx(1.0))]

    names = [frame_filename(frame) for frame in result.kept_frames]
    assert names == ["frame_000000_0.000s.png", "frame_000010_1.000s.png"]
    assert result.written == [str(out / name) for name in names]
    assert sorted(p.name for p in out.iterdir()) == sorted([*names, FRAMES_JSON])  # no temp files
    with Image.open(out / names[1]) as png:
        assert png.format == "PNG" and png.size == (WIDTH, HEIGHT)
        blue = np.asarray(png.convert("RGB"), float)
    assert blue[..., 2].mean() > blue[..., 0].mean() + 50

    data = json.loads((out / FRAMES_JSON).read_text(encoding="utf-8"))
    assert data == json.loads(json.dumps(result.to_dict()))
    assert [(k["index"], k["file"]) for k in data["kept"]] == [(0, names[0]), (10, names[1])]
    assert [k["time"] for k in data["kept"]] == pytest.approx([0.0, 1.0])
    assert len(data["frames"]) == 30 and data["labels"] == result.labels


def test_dedup_of_sampled_frames_without_out_dir(video, prism):
    result = dedup_video(prism, video, every_seconds=0.5)
    assert indexes(result.frames) == [0, 5, 10, 15, 20, 25]  # type: ignore[arg-type]
    assert result.kept == [0, 2]  # positions: frame 0 (red) and frame 10 (blue)
    assert result.labels == [0, 0, 2, 2, 0, 0]
    assert result.written == []
    data = result.to_dict()
    assert set(data) == {"frames", "kept", "labels"}
    assert data["kept"] == [
        {"index": 0, "time": 0.0, "file": None},
        {"index": 10, "time": pytest.approx(1.0), "file": None},
    ]


def test_a_strict_threshold_keeps_more_frames(video, prism):
    result = dedup_video(prism, video, every_frames=5, threshold=1.0)
    assert len(result.kept) > 2  # the moving square now tells red frames apart


# -- errors --------------------------------------------------------------------------------


def test_missing_pyav_gives_a_clear_error(video, prism, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # `import av` now raises ImportError
    message = r'video input needs PyAV: pip install "imageprism-core\[video\]"'
    with pytest.raises(ImagePrismError, match=message) as caught:
        sample_frames(video)
    assert isinstance(caught.value.__cause__, ImportError)
    with pytest.raises(ImagePrismError, match=message):
        dedup_video(prism, video)


def test_a_text_file_is_an_image_load_error(tmp_path, prism):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 50, encoding="utf-8")
    with pytest.raises(ImageLoadError) as caught:
        list(sample_frames(text))
    assert caught.value.source == str(text)
    out = tmp_path / "out"
    with pytest.raises(ImageLoadError, match="notes.mp4"):
        dedup_video(prism, text, out_dir=out)
    assert not out.exists()


def test_a_missing_file_is_an_image_load_error(tmp_path):
    with pytest.raises(ImageLoadError, match="absent.mp4"):
        list(sample_frames(tmp_path / "absent.mp4"))


def test_a_file_without_video_is_an_image_load_error(tmp_path):
    path = tmp_path / "tone.wav"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        samples = np.zeros((1, 800), np.int16)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with pytest.raises(ImageLoadError, match="no video stream"):
        list(sample_frames(path))


@pytest.mark.parametrize(
    "arguments",
    [
        {"every_seconds": 0},
        {"every_seconds": -1.0},
        {"every_seconds": float("nan")},
        {"every_seconds": float("inf")},
        {"every_seconds": "1"},
        {"every_seconds": True},
        {"every_frames": 0},
        {"every_frames": 2.5},
        {"every_frames": True},
        {"every_seconds": 1.0, "every_frames": 2},
    ],
)
def test_bad_sampling_arguments_are_config_errors(video, prism, arguments):
    with pytest.raises(ConfigError):
        sample_frames(video, **arguments)  # raised at the call, before any decoding
    with pytest.raises(ConfigError):
        dedup_video(prism, video, **arguments)


def test_bad_threshold_is_a_config_error(video, prism):
    with pytest.raises(ConfigError, match="threshold"):
        dedup_video(prism, video, threshold=1.5)


def test_cli_dedups_a_video_and_writes_distinct_frames(video: Path, tmp_path: Path, capsys) -> None:
    import json

    from imageprism.cli import main

    out = tmp_path / "frames"
    code = main(["dedup", str(video), "--every", "0.5s", "--out", str(out), "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert [frame["index"] for frame in data["kept"]] == [0, 10]
    assert (out / "frames.json").is_file()
    assert sorted(p.name for p in out.glob("*.png")) == sorted(
        Path(frame["file"]).name for frame in data["kept"]
    )
    assert main(["dedup", str(video), "--every", "soon"]) == 2
