"""Conformance suites for plugin authors (needs pytest: ``pip install "imageprism-core[testing]"``).

The public home of the dimension suite, which lives in ``imageprism.plugin.testing``
(both paths give the same objects). Subclass ``DimensionContractTests``, set
``dimension_name`` (and ``config``, ``changed_configs``), and inherit every test::

    from imageprism.testing import DimensionContractTests

    class TestColorHist(DimensionContractTests):
        dimension_name = "colorhist"
        changed_configs = ({"bins": 16},)

The face pack's suites for face detectors and face embedders are in
``imageprism_face.testing``.
"""

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
