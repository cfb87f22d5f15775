"""Entry point of the face pack (registered under the ``imageprism`` group).

It adds the face pack's own hook specifications to core's plugin manager (as
pytest plugins use ``pytest_addhooks``), registers the ``face`` dimension, and
registers its detectors and embedders through those hooks, exactly as a third
party would.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from imageprism.plugin import DimensionSpec, Preset, hookimpl
from imageprism_face import hookspecs
from imageprism_face.config import FaceConfig
from imageprism_face.models import DEFAULT_DETECTOR_FILES, ULTRAFACE_RFB_320, YUNET_2023MAR
from imageprism_face.specs import FaceDetectorSpec, FaceEmbedderSpec

if TYPE_CHECKING:  # the factories import their module only when called
    from imageprism_face.detectors.ultraface import UltraFaceDetector
    from imageprism_face.detectors.yunet import YuNetDetector
    from imageprism_face.dimension import FaceDimension
    from imageprism_face.embedders.dlib import DlibFaceEmbedder
    from imageprism_face.embedders.onnx import OnnxFaceEmbedder


@hookimpl
def imageprism_add_hookspecs(pluginmanager: pluggy.PluginManager) -> None:
    """Add the face detector and embedder hooks to imageprism's plugin manager."""
    pluginmanager.add_hookspecs(hookspecs)


def _detector_path(config: FaceConfig, name: str) -> Path:
    """The user's ``detector_path``, or the detector's pinned file (downloaded once)."""
    from imageprism.runtime.hub import resolve_model_file

    if config.detector_path is not None:
        return config.detector_path.expanduser()
    return resolve_model_file(
        DEFAULT_DETECTOR_FILES[name], dimension="face", path_option="detector_path"
    )


def _where(config: FaceConfig) -> dict[str, Any]:
    """Where a detector runs, and how its file was given (for messages)."""
    given_as = "detector_path" if config.detector_path is not None else None
    return {"providers": config.providers, "given_as": given_as}


def _score(config: FaceConfig) -> dict[str, Any]:
    # min_face_score is the detector's threshold (so it is part of its fingerprint)
    return {} if config.min_face_score is None else {"score_threshold": config.min_face_score}


def _ultraface(config: FaceConfig) -> UltraFaceDetector:
    from imageprism_face.detectors.ultraface import UltraFaceDetector

    return UltraFaceDetector(
        _detector_path(config, "ultraface"),
        intra_op_threads=config.intra_op_threads,
        **_where(config),
        **_score(config),
    )


def _yunet(config: FaceConfig) -> YuNetDetector:
    from imageprism_face.detectors.yunet import YuNetDetector

    return YuNetDetector(
        _detector_path(config, "yunet"),
        intra_op_threads=config.intra_op_threads,
        **_where(config),
        **_score(config),
    )


def _arcface(config: FaceConfig) -> OnnxFaceEmbedder:
    from imageprism_face.embedders.onnx import ARCFACE, OnnxFaceEmbedder

    return OnnxFaceEmbedder(config, name="arcface", default=ARCFACE)


def _onnx(config: FaceConfig) -> OnnxFaceEmbedder:
    from imageprism_face.embedders.onnx import OnnxFaceEmbedder

    return OnnxFaceEmbedder(config, name="onnx", default=None)


def _dlib(config: FaceConfig) -> DlibFaceEmbedder:
    from imageprism_face.embedders.dlib import DlibFaceEmbedder

    return DlibFaceEmbedder(config)


def _face(config: FaceConfig) -> FaceDimension:
    from imageprism_face.dimension import FaceDimension

    return FaceDimension(config)


@hookimpl
def imageprism_register_dimensions(register: Callable[[DimensionSpec], None]) -> None:
    """Register the face dimension."""
    register(
        DimensionSpec(
            name="face",
            factory=_face,
            config_model=FaceConfig,
            summary="the same person (face detector + embedder, cosine of the largest face)",
            licence="code MIT; weights: see the chosen detector and embedder",
            # the detectors' pinned files; the ArcFace embedder's is not pinned (see README)
            model_files=(ULTRAFACE_RFB_320, YUNET_2023MAR),
        )
    )


@hookimpl
def imageprism_register_face_detectors(register: Callable[[FaceDetectorSpec], None]) -> None:
    """Register UltraFace and YuNet."""
    register(
        FaceDetectorSpec(
            name="ultraface",
            factory=_ultraface,
            summary="UltraFace RFB-320: boxes (the default)",
            model_files=(ULTRAFACE_RFB_320,),
            licence="code MIT; weights MIT (Ultra-Light-Fast-Generic-Face-Detector-1MB)",
        )
    )
    register(
        FaceDetectorSpec(
            name="yunet",
            factory=_yunet,
            summary="YuNet 2023mar: boxes and 5 landmarks",
            model_files=(YUNET_2023MAR,),
            licence="code MIT; weights MIT (OpenCV Zoo)",
        )
    )


@hookimpl
def imageprism_register_face_embedders(register: Callable[[FaceEmbedderSpec], None]) -> None:
    """Register the ArcFace embedder, the generic ONNX one and the dlib one."""
    from imageprism_face.embedders.onnx import ARCFACE  # a constant; no model is loaded

    register(
        FaceEmbedderSpec(
            name="arcface",
            factory=_arcface,
            summary="ArcFace ONNX (0.1's default; weights without a clear commercial licence)",
            # not pinned: using it needs embed_revision and embed_sha256 (or embed_path)
            model_files=(ARCFACE,),
            licence="code MIT; weights: no clear commercial licence (research-only training data)",
        )
    )
    register(
        FaceEmbedderSpec(
            name="onnx",
            factory=_onnx,
            summary="any ONNX face embedder you point it at (embed_path, or embed_repo/embed_file)",
            licence="code MIT; weights: those of the file you choose",
        )
    )
    register(
        FaceEmbedderSpec(
            name="dlib",
            factory=_dlib,
            summary="dlib ResNet (128-d), its own 5-point alignment; weights CC0 / Boost licence",
            licence=(
                "code: dlib, Boost Software License 1.0; weights: public domain, CC0 1.0 "
                "(dlib-models; face-recognition-models' LICENSE)"
            ),
        )
    )


FACE_PRESETS: tuple[Preset, ...] = (
    Preset(
        name="exact",
        target="face",
        threshold=0.96,
        precision=0.7704918032786885,
        recall=0.9947089947089947,
        benchmark="faces-transforms/v1",
        config={"embedder": "dlib"},
        summary="the same photo re-encoded or resized, by its largest face (dlib embedder)",
        note=(
            "the same photo re-encoded or resized, by its largest face (FaceConfig(embedder="
            "'dlib'), YuNet detector); a face score cannot tell a copy from another photo of the "
            "same person: it also matches 35 of the 38 same-person pairs of different photos "
            "here (and 77 pairs master.csv leaves unlabelled, most likely the same people); "
            "find copies with hash"
        ),
    ),
    Preset(
        name="near-duplicate",
        target="face",
        threshold=0.98,
        precision=0.9781420765027322,
        recall=0.9470899470899471,
        benchmark="faces-transforms/v1",
        config={"embedder": "dlib"},
        summary="the same photo edited, by its largest face (dlib embedder)",
        note=(
            "the same photo edited, by its largest face (FaceConfig(embedder='dlib'), YuNet "
            "detector); stricter than exact, yet it still matches 13 of the 38 same-person pairs "
            "of different photos here (and 7 unlabelled ones), while it misses a third of the "
            "50%-centre crops and a sixth of the blurred and quarter-size copies: it does not "
            "separate edited copies from other photos of the same person; pair it with hash"
        ),
    ),
    Preset(
        name="similar",
        target="face",
        threshold=0.92,
        precision=1.0,
        recall=1.0,
        benchmark="faces-master/v1",
        config={"embedder": "dlib"},
        summary="the same person (dlib embedder)",
        note=(
            "the same person, with FaceConfig(embedder='dlib') (YuNet detector); other "
            "embedders score on other scales (0.1 found about 0.32 for ArcFace on LFW)"
        ),
    ),
)
"""The face dimension's presets; the numbers come from ``benchmarks/presets.py``."""


@hookimpl
def imageprism_register_presets(register: Callable[[Preset], None]) -> None:
    """Register the face presets (measured with the dlib embedder)."""
    for preset in FACE_PRESETS:
        register(preset)
