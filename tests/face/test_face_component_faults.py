"""Faults of a third-party face detector or embedder name it and its distribution.

The ``acme`` plugin of the ``acme-faces`` distribution registers the detector
``acme-detector`` and the embedder ``acme`` with the face pack; the face dimension
uses both. A factory that fails is a ``PluginError`` and a call that fails or
returns something refused fails that image alone; every message blames the acme
component and ``acme-faces``, never "plugin 'face' (imageprism-face)".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib import metadata
from typing import Any

import numpy as np
import pytest
from fakes import entry_points_from

import imageprism.plugin.registry as registry_module
from imageprism import DimensionError, ImagePrism, PluginError, hookimpl
from imageprism.plugin.registry import ENTRY_POINT_GROUP, Registry
from imageprism_face import Face, FaceConfig, FaceDetectorSpec, FaceEmbedderSpec
from imageprism_face.dimension import FaceDimension

EMBEDDER = "face embedder 'acme' of plugin 'acme' (acme-faces)"
DETECTOR = "face detector 'acme-detector' of plugin 'acme' (acme-faces)"
CONFIG = FaceConfig(detector="acme-detector", embedder="acme")


def _solid(colour: tuple[int, int, int]) -> np.ndarray:
    return np.full((30, 40, 3), colour, dtype=np.uint8)


RED, GREEN, BLUE = _solid((220, 10, 10)), _solid((10, 220, 10)), _solid((10, 10, 220))


def _red(pixels: np.ndarray) -> bool:
    return bool(pixels[..., 0].mean() > 150)


class AcmeDetector:
    """Finds one face in the middle of every image; ``fault(pixels)`` replaces its answer."""

    name = "acme-detector"
    fingerprint = "acme-detector/1"

    def __init__(self, fault: Callable[[np.ndarray], Any] | None) -> None:
        self.fault = fault

    def detect(self, image: np.ndarray) -> list[Face]:
        if self.fault is not None and _red(image):
            return self.fault(image)
        height, width = image.shape[:2]
        return [Face((width * 0.25, height * 0.25, width * 0.75, height * 0.75), 0.9)]


class AcmeEmbedder:
    """The mean colour of the image (plus one) as the face's vector; ``fault`` as above."""

    name = "acme"
    fingerprint = "acme/1"

    def __init__(self, fault: Callable[[np.ndarray], Any] | None) -> None:
        self.fault = fault

    def embed_faces(self, image: np.ndarray, faces: list[Face]) -> list[np.ndarray]:
        if self.fault is not None and _red(image):
            return self.fault(image)
        vector = image.reshape(-1, 3).mean(axis=0).astype(np.float32) + 1.0
        return [vector for _ in faces]


class AcmeFaces:
    """The plugin: registers the two components; tests set the faults before use."""

    def __init__(self) -> None:
        self.detector_fault: Callable[[np.ndarray], Any] | None = None
        self.embedder_fault: Callable[[np.ndarray], Any] | None = None
        self.build_detector: Callable[[FaceConfig], Any] = lambda c: AcmeDetector(
            self.detector_fault
        )
        self.build_embedder: Callable[[FaceConfig], Any] = lambda c: AcmeEmbedder(
            self.embedder_fault
        )

    @hookimpl
    def imageprism_register_face_detectors(self, register):
        register(
            FaceDetectorSpec(
                name="acme-detector",
                factory=lambda config: self.build_detector(config),
                summary="test",
            )
        )

    @hookimpl
    def imageprism_register_face_embedders(self, register):
        register(
            FaceEmbedderSpec(
                name="acme", factory=lambda config: self.build_embedder(config), summary="test"
            )
        )


@pytest.fixture
def acme(tmp_path, monkeypatch) -> AcmeFaces:
    """The installed plugins plus ``acme`` (from ``acme-faces``), as the process's registry."""
    plugin = AcmeFaces()
    installed = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    registry = Registry(
        entry_points=installed + entry_points_from(tmp_path, "acme-faces", {"acme": plugin}),
        disabled=(),
    )
    monkeypatch.setattr(registry_module, "_registry", registry)
    return plugin


def _prism() -> ImagePrism:
    return ImagePrism(["face"], config={"face": CONFIG}, registry=registry_module.get_registry())


def _never_the_face_pack(message: str) -> None:
    assert "imageprism-face" not in message and "plugin 'face'" not in message, message


@pytest.mark.parametrize("kind", ["detector", "embedder"])
def test_a_component_factory_that_raises_is_a_plugin_error_naming_it(acme, kind):
    def broken(config):
        raise RuntimeError("licence server unreachable")

    setattr(acme, f"build_{kind}", broken)
    with pytest.raises(PluginError) as info:
        _prism().compare(GREEN, BLUE)
    error = info.value
    named = DETECTOR if kind == "detector" else EMBEDDER
    assert str(error) == f"{named} could not be built: RuntimeError: licence server unreachable"
    component = "face detector 'acme-detector'" if kind == "detector" else "face embedder 'acme'"
    assert (error.plugin, error.distribution, error.component) == ("acme", "acme-faces", component)
    assert not isinstance(error, DimensionError)  # not about one image: nothing was embedded
    _never_the_face_pack(str(error))


def test_a_factory_that_builds_something_else_is_a_plugin_error(acme):
    acme.build_embedder = lambda config: object()
    with pytest.raises(PluginError, match="does not implement the FaceEmbedder protocol") as info:
        _prism().embed(GREEN)
    assert str(info.value).startswith(f"{EMBEDDER} built an object")


def test_an_embedder_that_raises_fails_only_that_image_and_is_named(acme):
    def explode(pixels):
        raise ValueError("bad crop")

    acme.embedder_fault = explode
    batch = _prism().embed_many([GREEN, RED, BLUE])
    assert [error.index for error in batch.errors] == [1]
    reason = batch.errors[0].reason
    assert reason == f"{EMBEDDER} failed on <array 30x40x3 uint8>: ValueError: bad crop"
    _never_the_face_pack(reason)
    assert batch.embeddings[0]["face"] is not None and batch.embeddings[2]["face"] is not None


def test_a_detector_that_raises_fails_only_that_image_and_is_named(acme):
    def explode(pixels):
        raise RuntimeError("detector crashed")

    acme.detector_fault = explode
    batch = _prism().embed_many([RED, GREEN])
    assert [error.index for error in batch.errors] == [0]
    assert batch.errors[0].reason.startswith(f"{DETECTOR} failed on <array")


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        (lambda p: [np.array([np.nan, 1, 1], np.float32)], "returned NaN or infinite values"),
        (lambda p: [np.zeros(3, np.float32)], "returned an all-zero vector"),
        (lambda p: [np.ones(4, np.float32)], "returned 4 values, but its embeddings are 3"),
        (lambda p: [np.ones(3, np.int32)], "returned an int32 array, but cosine embeddings"),
        (lambda p: [np.ones(3)] * 2, "returned 2 vectors for 1 face in <array"),
        (lambda p: np.ones(3), "returned a 1-D float64 array of shape (3,) for 1 face"),
        (lambda p: [[1.0, 2.0, 3.0]], "returned a list, but embed_faces must return 1-D numpy"),
    ],
)
def test_a_refused_face_vector_fails_its_image_naming_the_embedder(acme, fault, says):
    acme.embedder_fault = fault
    prism = _prism()
    assert prism.embed(GREEN)["face"].shape == (3,)  # the first vector sets the length
    with pytest.raises(DimensionError) as info:
        prism.embed(RED)
    error = info.value
    assert str(error).startswith(f"{EMBEDDER} {says}"), str(error)
    assert (error.plugin, error.distribution, error.dimension) == ("acme", "acme-faces", "face")
    _never_the_face_pack(str(error))


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        (lambda p: "a face", "returned a str for <array"),
        (lambda p: [(0, 0, 10, 10)], "returned a tuple among the faces, not a Face"),
        (lambda p: [Face((0, 0, float("nan"), 10), 0.9)], "box or score is not finite"),
        (lambda p: [Face((0, 0, 10, 10), 0.9, np.zeros((4, 2)))], "landmarks are not 5x2"),
    ],
)
def test_refused_faces_fail_their_image_naming_the_detector(acme, fault, says):
    acme.detector_fault = fault
    batch = _prism().embed_many([GREEN, RED])
    assert [error.index for error in batch.errors] == [1]
    assert batch.errors[0].reason.startswith(DETECTOR)
    assert says in batch.errors[0].reason


def test_no_face_is_none_not_a_fault(acme):
    acme.detector_fault = lambda pixels: []
    batch = _prism().embed_many([RED, GREEN])
    assert batch.errors == [] and batch.embeddings[0]["face"] is None


def test_the_face_packs_own_components_are_blamed_on_the_face_pack():
    dimension = FaceDimension(FaceConfig())
    assert re.fullmatch(
        r"face embedder 'arcface' of plugin 'face' \(imageprism-face\)",
        str(dimension._embedder_culprit),
    )
    assert str(dimension._detector_culprit).startswith("face detector 'ultraface' of plugin 'face'")


def test_a_missing_model_file_stops_the_call_instead_of_failing_each_image(acme):
    from imageprism import ModelFileError

    def missing(pixels):
        raise ModelFileError("acme.onnx not found; pull it with imageprism models pull")

    acme.embedder_fault = missing
    with pytest.raises(ModelFileError, match=r"^acme\.onnx not found"):
        _prism().embed_many([GREEN, RED])
