"""Conformance suites for plugin authors (needs pytest: ``pip install "imageprism-core[testing]"``).

The public home of the dimension suite, which lives in ``imageprism.plugin.testing``
(both paths give the same objects). Subclass ``DimensionContractTests``, set
``dimension_name`` (and ``config``, ``changed_configs``), and inherit every test::

    from imageprism.testing import DimensionContractTests

    class TestColorHist(DimensionContractTests):
        dimension_name = "colorhist"
        changed_configs = ({"bins": 16},)

The face pack's suites, ``FaceDetectorContractTests`` and ``FaceEmbedderContractTests``,
live in ``imageprism_face.testing``; they can be imported from here too when the face pack
is installed (``from imageprism.testing import FaceEmbedderContractTests``).
"""

from typing import Any

from imageprism.plugin.testing import (
    SAMPLE_SIZES,
    DimensionContractTests,
    check_batch_matches_single,
    check_deterministic,
    check_embeddings,
    check_fingerprint_changes,
    check_pair_scores,
    check_self_scores,
    check_spec,
    check_thread_safe,
    flat_arrays,
    flat_images,
    sample_arrays,
    sample_images,
)

__all__ = [
    "SAMPLE_SIZES",
    "DimensionContractTests",
    "check_batch_matches_single",
    "check_deterministic",
    "check_embeddings",
    "check_fingerprint_changes",
    "check_pair_scores",
    "check_self_scores",
    "check_spec",
    "check_thread_safe",
    "flat_arrays",
    "flat_images",
    "sample_arrays",
    "sample_images",
]

#: Names this module gives from ``imageprism_face.testing``, imported on first use.
FACE_SUITES = ("FaceDetectorContractTests", "FaceEmbedderContractTests")


def __getattr__(name: str) -> Any:
    """The face pack's suites, imported on request only (core does not need the face pack).

    Raises:
        PackNotInstalledError: a face suite was asked for without the face pack.
    """
    if name not in FACE_SUITES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from imageprism.errors import PackNotInstalledError

    try:
        import imageprism_face.testing as face_testing
    except ModuleNotFoundError as err:
        if err.name is None or not err.name.startswith("imageprism_face"):
            raise
        raise PackNotInstalledError(
            f"{name} comes with the face pack: pip install imageprism-face",
            package="imageprism-face",
        ) from err
    return getattr(face_testing, name)
