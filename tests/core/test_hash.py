import io
import itertools

import imagehash
import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from imageprism import HashConfig, ImagePrism, prepare
from imageprism.dimensions.hash import HashDimension
from imageprism.images import PreparedImage
from imageprism.testing import DimensionContractTests


class TestHashDimensionContract(DimensionContractTests):
    dimension_name = "hash"


class TestSmallOddHashContract(DimensionContractTests):
    dimension_name = "hash"
    config = {"algorithms": ["dhash", "phash"], "hash_size": 5, "combine": "min"}


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "bad",
    [
        {"hash_size": 3},
        {"algorithms": ()},
        {"algorithms": ("phash", "phash")},
        {"algorithms": ("whash",)},
        {"combine": "median"},
        {"colour": True},
    ],
)
def test_hash_config_rejects_bad_values(bad):
    with pytest.raises(ValidationError):
        HashConfig(**bad)


def test_hash_config_is_frozen():
    with pytest.raises(ValidationError):
        HashConfig().hash_size = 16  # type: ignore[misc]


def test_embedding_is_packed_bits_per_algorithm():
    dim = HashDimension(HashConfig(algorithms=("phash",), hash_size=16))
    image = prepare(np.random.default_rng(1).integers(0, 255, (64, 80, 3), dtype=np.uint8))
    embedding = dim.embed(image)
    assert embedding.dtype == np.uint8 and embedding.shape == (32,)
    assert HashDimension(HashConfig(hash_size=5)).embed(image).shape == (3 * 4,)


def test_fingerprint_changes_with_config():
    prints = {
        HashDimension(c).fingerprint
        for c in (HashConfig(), HashConfig(hash_size=16), HashConfig(algorithms=("dhash",)))
    }
    assert len(prints) == 3
    assert HashDimension(HashConfig()).fingerprint == HashDimension().fingerprint


def test_similarity_is_fraction_of_matching_bits_combined():
    dims = {
        c: HashDimension(HashConfig(algorithms=("phash", "dhash"), combine=c))
        for c in ("mean", "max", "min")
    }
    a = np.zeros(16, dtype=np.uint8)
    b = a.copy()
    b[0] = 0xFF  # 8 of phash's 64 bits differ, dhash identical
    assert dims["mean"].similarity(a, b) == pytest.approx((56 / 64 + 1.0) / 2)
    assert dims["max"].similarity(a, b) == 1.0
    assert dims["min"].similarity(a, b) == pytest.approx(56 / 64)


def test_similarity_rejects_embeddings_of_another_size():
    with pytest.raises(ValueError, match="shape"):
        HashDimension().similarity(np.zeros(24, np.uint8), np.zeros(8, np.uint8))


def test_all_hashes_come_from_one_decode(monkeypatch, shared_photos):
    decodes = []
    original = PreparedImage._decode

    def counting(self, factor):
        decodes.append(factor)
        return original(self, factor)

    monkeypatch.setattr(PreparedImage, "_decode", counting)
    HashDimension().embed(prepare(shared_photos[0]))
    assert len(decodes) == 1 and decodes[0] > 1  # one decode, DCT-scaled


def test_hashes_agree_with_imagehash_on_full_resolution_pixels(shared_photos):
    dim = {
        name: HashDimension(HashConfig(algorithms=(name,))) for name in ("phash", "dhash", "ahash")
    }
    reference = {
        "phash": imagehash.phash,
        "dhash": imagehash.dhash,
        "ahash": imagehash.average_hash,
    }
    for path in shared_photos[:10]:
        with Image.open(path) as image:
            image.load()
        full = PreparedImage(str(path), image=image.convert("RGB"))
        full.rgb = lambda min_side=None, _img=full: _img._image  # type: ignore[method-assign]
        for name in dim:
            ours = np.unpackbits(dim[name].embed(full))
            theirs = reference[name](image).hash.ravel()
            assert np.mean(ours == theirs) >= 0.9, (path.name, name)


def test_reencoded_and_resized_photos_score_near_one(shared_photos):
    prism = ImagePrism()
    for path in shared_photos[:20]:
        with Image.open(path) as image:
            image.load()
        original = path.read_bytes()
        assert prism.compare(original, _jpeg(image, quality=40)).scores["hash"] >= 0.9
        half = image.resize((image.width // 2, image.height // 2), Image.Resampling.LANCZOS)
        assert prism.compare(original, _jpeg(half)).scores["hash"] >= 0.9
        double = image.resize((image.width * 2, image.height * 2), Image.Resampling.LANCZOS)
        assert prism.compare(original, _jpeg(double)).scores["hash"] >= 0.9


def test_unrelated_photos_score_near_one_half(shared_photos):
    prism = ImagePrism()
    photos = shared_photos[:40]
    scores = [prism.compare(a, b).scores["hash"] for a, b in itertools.pairwise(photos)]
    assert 0.4 <= float(np.mean(scores)) <= 0.6
    assert max(scores) < 0.9
