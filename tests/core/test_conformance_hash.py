"""The dimension conformance suite (``imageprism.testing``): hash passes it, broken dimensions
fail it with messages that state the offending values, and it needs pytest by name."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Sequence

import numpy as np
import pytest

import imageprism.plugin.testing
import imageprism.testing
from imageprism.io.images import PreparedImage
from imageprism.testing import (
    SAMPLE_SIZES,
    DimensionContractTests,
    check_batch_matches_single,
    check_deterministic,
    check_embeddings,
    check_fingerprint_changes,
    check_pair_scores,
    check_self_scores,
    check_thread_safe,
    sample_images,
)


class TestHashDimensionContract(DimensionContractTests):
    dimension_name = "hash"
    changed_configs = (
        {"hash_size": 16},
        {"algorithms": ["dhash"]},
        {"combine": "max"},
        {"flip": False},
        {"windows": [1.0]},
    )


class TestSmallOddHashContract(DimensionContractTests):
    dimension_name = "hash"
    config = {"algorithms": ["dhash", "phash"], "hash_size": 5, "combine": "min"}
    changed_configs = ({"hash_size": 6},)


def test_imageprism_testing_is_the_plugin_testing_suite():
    assert imageprism.testing.DimensionContractTests is DimensionContractTests
    assert DimensionContractTests is imageprism.plugin.testing.DimensionContractTests
    assert set(imageprism.testing.__all__) == set(imageprism.plugin.testing.__all__)


def test_sample_images_have_every_size_and_aspect_ratio():
    sizes = {image.size for image in sample_images()}
    assert set(SAMPLE_SIZES) <= sizes
    assert all(image.source.startswith("<sample ") for image in sample_images())


@pytest.mark.parametrize("module", ["imageprism.testing", "imageprism.plugin.testing"])
def test_without_pytest_the_import_error_names_the_extra(module):
    code = f"import sys; sys.modules['pytest'] = None; import {module}"
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)
    )
    assert run.returncode == 1
    assert "ImportError" in run.stderr
    assert 'pip install "imageprism-core[testing]"' in run.stderr


# --- broken dimensions fail the suite, and the message states the values -------------------


class _Fake:
    """A cosine dimension of mean colours (unit vectors); subclasses break one rule each."""

    name = "fake"
    metric = "cosine"
    fingerprint = "fake/1"

    def embed_one(self, image: PreparedImage) -> np.ndarray | None:
        pixels = image.array().astype(np.float64)
        vector = np.concatenate([pixels.mean(axis=(0, 1)), pixels.std(axis=(0, 1))]) + 1.0
        return (vector / np.linalg.norm(vector)).astype(np.float32)

    def embed_batch(self, images: Sequence[PreparedImage]) -> list[np.ndarray | None]:
        return [self.embed_one(image) for image in images]

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float | None:
        return float(np.clip(a.astype(np.float64) @ b.astype(np.float64), 0.0, 1.0))


def _fails(check, *args) -> str:
    with pytest.raises(AssertionError) as failure:
        check(*args)
    return str(failure.value)


def test_a_well_behaved_fake_passes_every_check():
    fake = _Fake()
    images = sample_images()
    check_embeddings(fake, images)
    check_batch_matches_single(fake, images)
    check_self_scores(fake, images)
    check_pair_scores(fake, images)
    check_deterministic(fake, sample_images)
    check_thread_safe(fake, sample_images)


def test_an_embedding_whose_length_follows_the_image_fails_naming_the_lengths():
    class VaryingLength(_Fake):
        def embed_one(self, image):
            return np.ones(image.size[0] % 7 + 1, dtype=np.float32)

    message = _fails(check_embeddings, VaryingLength(), sample_images())
    assert "embedding lengths vary with the image" in message
    # 96 % 7 + 1 = 6 for the 96x72 samples, 20 % 7 + 1 = 7 for 20x500
    assert "6 for <sample gradient 96x72> (96x72)" in message
    assert "7 for <sample gradient 20x500> (20x500)" in message


def test_nan_inf_and_zero_vectors_fail_with_the_vector_shown():
    class NaNs(_Fake):
        def embed_one(self, image):
            return np.array([1.0, np.nan, np.inf], dtype=np.float32)

    class Zeros(_Fake):
        def embed_one(self, image):
            return np.zeros(4, dtype=np.float32)

    message = _fails(check_embeddings, NaNs(), sample_images())
    assert "has 2 NaN or inf values" in message and "[ 1. nan inf]" in message
    message = _fails(check_embeddings, Zeros(), sample_images())
    assert "is all zeros (float32 shape (4,)" in message and "score 0.0" in message


def test_wrong_dtype_count_and_shape_fail_with_what_came_back():
    class Ints(_Fake):
        def embed_one(self, image):
            return np.ones(3, dtype=np.int64)

    class TooFew(_Fake):
        def embed_batch(self, images):
            return super().embed_batch(images)[:-1]

    class TwoD(_Fake):
        def embed_one(self, image):
            return np.ones((2, 2), dtype=np.float32)

    class FloatHashes(_Fake):
        metric = "hamming"

    assert "is int64: a 'cosine' dimension returns float32 or float64" in _fails(
        check_embeddings, Ints(), sample_images()
    )

    class Halves(_Fake):  # a float the host refuses too (EMBEDDING_DTYPES)
        def embed_one(self, image):
            return np.ones(3, dtype=np.float16)

    assert "is float16: a 'cosine' dimension returns float32 or float64" in _fails(
        check_embeddings, Halves(), sample_images()
    )
    count = len(sample_images())
    assert f"returned {count - 1} results for {count} images" in _fails(
        check_embeddings, TooFew(), sample_images()
    )
    assert "has shape (2, 2): it must be 1-D" in _fails(check_embeddings, TwoD(), sample_images())
    assert "is float32: a 'hamming' dimension returns packed uint8 bits" in _fails(
        check_embeddings, FloatHashes(), sample_images()
    )


def test_a_flat_image_that_does_not_score_one_with_itself_fails_with_the_score():
    class HalfOnFlat(_Fake):
        def similarity(self, a, b):
            return 0.5 if np.ptp(a) < 1e-3 else super().similarity(a, b)

        def embed_one(self, image):
            pixels = image.array()
            if np.ptp(pixels) == 0:
                return np.full(6, 0.4, dtype=np.float32)
            return super().embed_one(image)

    message = _fails(check_self_scores, HalfOnFlat(), imageprism.testing.flat_images())
    assert "<sample flat grey 64x48> scores 0.5 with itself, not 1.0" in message


def test_asymmetric_out_of_range_and_undiscerning_scores_fail_with_the_scores():
    class Asymmetric(_Fake):
        def similarity(self, a, b):
            return 1.0 if a is b else (0.25 if float(a[0]) < float(b[0]) else 0.75)

    class AboveOne(_Fake):
        def similarity(self, a, b):
            return 1.5

    class AllOne(_Fake):
        metric = "hamming"

        def embed_one(self, image):
            return np.packbits(np.resize(image.array().ravel(), 64) > 127)

        def similarity(self, a, b):
            return 1.0

    class AboveCosine(_Fake):
        def similarity(self, a, b):
            return 1.0 if a is b else min(1.0, float(a @ b) + 0.2)

    message = _fails(check_pair_scores, AboveCosine(), sample_images())
    assert "above the cosine of their embeddings" in message
    message = _fails(check_pair_scores, Asymmetric(), sample_images())
    assert "not symmetric" in message
    assert "0.25 vs 0.75" in message or "0.75 vs 0.25" in message
    assert "is 1.5, outside [0, 1]" in _fails(check_pair_scores, AboveOne(), sample_images())
    message = _fails(check_pair_scores, AllOne(), sample_images())
    assert "scored at least 0.99 (lowest 1.0)" in message


def test_a_pair_that_cannot_be_scored_may_give_none_but_not_one_way_or_with_itself():
    class NoneForDark(_Fake):
        """None for pairs involving a dark image (as the protocol allows), 1.0 with itself."""

        def similarity(self, a, b):
            if a is b or np.array_equal(a, b):
                return 1.0
            return None if min(a[0], b[0]) < 0.3 else super().similarity(a, b)

    class OneWay(_Fake):
        def similarity(self, a, b):
            return None if float(a[0]) < float(b[0]) else super().similarity(a, b)

    class NoneWithItself(_Fake):
        def similarity(self, a, b):
            return None

    dark = NoneForDark()
    embeddings = dark.embed_batch(sample_images())
    assert any(dark.similarity(embeddings[0], e) is None for e in embeddings)  # not vacuous
    check_pair_scores(dark, sample_images())
    message = _fails(check_pair_scores, OneWay(), sample_images())
    assert "not symmetric" in message
    assert "None vs 0." in message or "vs None" in message
    message = _fails(check_self_scores, NoneWithItself(), sample_images())
    assert "with itself is None; it must be 1.0" in message


def test_a_dimension_that_embeds_nothing_says_to_override_the_images():
    class Nothing(_Fake):
        def embed_one(self, image):
            return None

    count = len(sample_images())
    message = _fails(check_pair_scores, Nothing(), sample_images())
    assert f"only 0 of {count} images gave an embedding" in message
    assert "override the suite's make_images fixture" in message


def test_nondeterministic_and_thread_unsafe_embeddings_fail_with_the_difference():
    class Drifting(_Fake):
        def __init__(self):
            self.calls = 0

        def embed_one(self, image):
            self.calls += 1
            vector = super().embed_one(image)
            assert vector is not None
            return vector + np.float32(self.calls)

    class SharedScratch(_Fake):
        """Sums into one scratch vector shared by every call: fine alone, wrong in threads."""

        def __init__(self):
            self.scratch = np.zeros(6, dtype=np.float32)
            self.gate = threading.Barrier(4, timeout=10)

        def _wait(self):
            if threading.current_thread() is not threading.main_thread():
                with contextlib.suppress(threading.BrokenBarrierError):
                    self.gate.wait()  # the four threads step together

        def embed_one(self, image):
            self._wait()
            self.scratch[:] = 0
            self._wait()
            self.scratch += super().embed_one(image)
            self._wait()
            out = self.scratch.copy()
            self._wait()
            return out

    message = _fails(check_deterministic, Drifting(), sample_images)
    assert "embedded twice gives two results: largest difference" in message
    message = _fails(check_thread_safe, SharedScratch(), sample_images)
    assert "embedded by 4 threads at once differs from a serial run" in message
    assert "largest difference" in message


def test_a_fingerprint_that_ignores_the_config_fails_naming_the_change():
    from imageprism.plugin.registry import get_registry

    spec = get_registry().dimension("hash")

    class Blind:
        fingerprint = "always-the-same"

    blind = spec.model_copy(update={"factory": lambda config: Blind()})
    message = _fails(check_fingerprint_changes, blind, None, [{"hash_size": 16}])
    assert "stays 'always-the-same' when the config changes by {'hash_size': 16}" in message


BROKEN_PLUGIN_TESTS = '''
import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict

from imageprism.plugin import DimensionSpec
from imageprism.testing import DimensionContractTests


class Config(BaseModel):
    model_config = ConfigDict(frozen=True)
    bins: int = 4


class Varying:
    """Its embedding is one value per pixel column: the length follows the image."""

    name = "varying"
    metric = "cosine"

    def __init__(self, config):
        self.fingerprint = f"varying/{config.bins}"

    def embed_batch(self, images):
        return [image.array().mean(axis=(0, 2)).astype(np.float32) + 1 for image in images]

    def similarity(self, a, b):
        return 1.0


class TestVarying(DimensionContractTests):
    dimension_name = "varying"
    changed_configs = ({"bins": 8},)

    @pytest.fixture
    def spec(self):
        return DimensionSpec(
            name="varying", factory=Varying, config_model=Config, summary="a broken example"
        )
'''


def test_a_broken_plugin_s_own_test_run_fails_stating_the_values(tmp_path):
    """As a plugin author sees it: pytest on an installed suite (no assert rewriting)."""
    (tmp_path / "test_varying.py").write_text(BROKEN_PLUGIN_TESTS)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_varying.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "IMAGEPRISM_STRICT_TESTS": "0"},
    )
    out = run.stdout
    assert run.returncode == 1, out
    assert "passed" in out and "failed" in out
    assert "FAILED test_varying.py::TestVarying::test_embeddings_have_one_length" in out
    assert (
        "varying: embedding lengths vary with the image (they must not): 96 for <sample "
        "gradient 96x72> (96x72); 20 for <sample gradient 20x500> (20x500); 1200 for" in out
    )
    assert "PASSED" not in out and "::test_spec_is_complete" not in out  # that one passes
