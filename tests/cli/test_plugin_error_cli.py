"""A plugin's fault on the command line: one line naming the plugin and its distribution.

A ``PluginError`` (a factory that fails, a score out of range) is a usage or
configuration error: ``imageprism: error: ...`` and exit 2. A fault about one
image is listed with the inputs that could not be used (exit 1) while the others
are processed; a batch call that returns too few embeddings is a one-line warning.
"""

from __future__ import annotations

import re
from importlib import metadata

import numpy as np
import pytest
from fakes import FakePack, MeanColourDimension, entry_points_from
from PIL import Image

import imageprism.plugin.registry as registry_module
from imageprism import hookimpl
from imageprism.cli import main
from imageprism.plugin.registry import ENTRY_POINT_GROUP, Registry
from imageprism_face import FaceDetectorSpec, FaceEmbedderSpec

NAMED = "dimension 'colour' of plugin 'acme' (acme-dims)"


@pytest.fixture
def acme(tmp_path, monkeypatch) -> FakePack:
    """The installed plugins plus ``acme`` (``acme-dims``, dimension ``colour``), for ``main``."""
    pack = FakePack("colour")
    installed = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    points = entry_points_from(tmp_path / "site", "acme-dims", {"acme": pack})
    monkeypatch.setattr(
        registry_module, "_registry", Registry(entry_points=installed + points, disabled=())
    )
    return pack


@pytest.fixture
def photos(tmp_path) -> list[str]:
    """A green, a red and a blue PNG."""
    paths = []
    for name, colour in [("green", (10, 220, 10)), ("red", (220, 10, 10)), ("blue", (10, 10, 220))]:
        path = tmp_path / f"{name}.png"
        Image.new("RGB", (40, 30), colour).save(path)
        paths.append(str(path))
    return paths


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("imageprism: error: "), err
    return lines[0].removeprefix("imageprism: error: ")


def test_a_dimension_factory_that_fails_is_one_line_and_exit_2(acme, photos, capsys, monkeypatch):
    def broken(self, name, config):
        raise OSError("licence server\nunreachable")  # a newline must not break the line

    monkeypatch.setattr(MeanColourDimension, "__init__", broken)
    code = main(["compare", photos[0], photos[2], "--dimensions", "colour"])
    assert code == 2
    assert _one_error_line(capsys) == (
        "dimension 'colour' could not be built by plugin 'acme' (acme-dims): "
        "OSError: licence server\\nunreachable"
    )


def test_a_score_out_of_range_is_one_line_and_exit_2(acme, photos, capsys, monkeypatch):
    monkeypatch.setattr(MeanColourDimension, "similarity", lambda self, a, b: 3.0)
    assert main(["compare", photos[0], photos[2], "--dimensions", "colour"]) == 2
    assert _one_error_line(capsys).startswith(f"{NAMED} scored a pair 3.0, outside [0, 1]")


def test_a_refused_embedding_is_listed_with_its_file_and_the_rest_is_deduplicated(
    acme, photos, capsys, monkeypatch
):
    real = MeanColourDimension.embed_batch

    def nan_for_red(self, images):
        return [np.full(3, np.nan) if e[0] > 150 else e for e in real(self, images)]

    monkeypatch.setattr(MeanColourDimension, "embed_batch", nan_for_red)
    code = main(["dedup", *photos, "--dimensions", "colour", "--quiet", "--threshold", "0.99"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "2 images, 2 unique" in out
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"imageprism: cannot use {photos[1]}: {NAMED} returned NaN")


def test_a_short_batch_is_a_one_line_warning_and_the_run_succeeds(
    acme, photos, capsys, monkeypatch
):
    real = MeanColourDimension.embed_batch
    monkeypatch.setattr(
        MeanColourDimension,
        "embed_batch",
        lambda self, images: real(self, images)[: max(1, len(images) - 1)],
    )
    code = main(["dedup", *photos, "--dimensions", "colour", "--quiet", "--json"])
    err = capsys.readouterr().err
    assert code == 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # once, however many batches were short
    # how the 3 images are chunked depends on the machine's cores (threads)
    assert re.fullmatch(
        rf"imageprism: warning: {re.escape(NAMED)} returned (1 embedding for 2|2 embeddings for 3) "
        r"images from one embed_batch call \(it must return one embedding or None per image\); "
        "its images are embedded one at a time instead",
        lines[0],
    ), lines[0]


class BrokenFaceEmbedder:
    """A face plugin whose embedder cannot be built, and a detector that never runs."""

    @hookimpl
    def imageprism_register_face_detectors(self, register):
        register(FaceDetectorSpec(name="acme-detector", factory=self._fail, summary="test"))

    @hookimpl
    def imageprism_register_face_embedders(self, register):
        register(FaceEmbedderSpec(name="acme", factory=self._fail, summary="test"))

    @staticmethod
    def _fail(config):
        raise RuntimeError("no licence for this host")


def test_a_face_embedder_that_cannot_be_built_names_it_not_the_face_pack(
    photos, tmp_path, capsys, monkeypatch
):
    installed = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    points = entry_points_from(tmp_path / "site", "acme-faces", {"acme": BrokenFaceEmbedder()})
    monkeypatch.setattr(
        registry_module, "_registry", Registry(entry_points=installed + points, disabled=())
    )
    argv = ["compare", photos[0], photos[2], "--dimensions", "face"]
    code = main([*argv, "--set", "face.detector=acme-detector", "--set", "face.embedder=acme"])
    assert code == 2
    message = _one_error_line(capsys)
    assert message == (
        "face detector 'acme-detector' of plugin 'acme' (acme-faces) could not be built: "
        "RuntimeError: no licence for this host"
    )
    assert "imageprism-face" not in message
