import io
import itertools

import imagehash
import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from imageprism import HashConfig, ImagePrism, prepare
from imageprism.builtins.hash import HashDimension
from imageprism.errors import ConfigError
from imageprism.io.images import PreparedImage

# The conformance suite (imageprism.testing) runs on hash in test_conformance_hash.py.


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


def test_hash_size_has_an_upper_bound_with_a_clear_message():
    HashConfig(hash_size=64)  # the largest allowed
    with pytest.raises(ValidationError, match="less than or equal to 64"):
        HashConfig(hash_size=65)
    with pytest.raises(ConfigError, match=r"hash_size: .*less than or equal to 64.*got 100000"):
        ImagePrism(config={"hash": {"hash_size": 100_000}})


def test_hash_config_is_frozen():
    with pytest.raises(ValidationError):
        HashConfig().hash_size = 16  # type: ignore[misc]


def test_embedding_is_packed_bits_per_algorithm():
    single = {"flip": False, "windows": (1.0,)}
    dim = HashDimension(HashConfig(algorithms=("phash",), hash_size=16, **single))
    image = prepare(np.random.default_rng(1).integers(0, 255, (64, 80, 3), dtype=np.uint8))
    embedding = dim.embed(image)
    assert embedding.dtype == np.uint8 and embedding.shape == (32,)
    assert HashDimension(HashConfig(hash_size=5, **single)).embed(image).shape == (3 * 4,)
    # default: (3 windows x 2 orientations) sets of 3 algorithms x 8 bytes
    assert HashDimension().embed(image).shape == (6 * 3 * 8,)


def test_fingerprint_changes_with_config():
    prints = {
        HashDimension(c).fingerprint
        for c in (HashConfig(), HashConfig(hash_size=16), HashConfig(algorithms=("dhash",)))
    }
    assert len(prints) == 3
    assert HashDimension(HashConfig()).fingerprint == HashDimension().fingerprint


def test_similarity_is_fraction_of_matching_bits_combined():
    dims = {
        c: HashDimension(
            HashConfig(algorithms=("phash", "dhash"), combine=c, flip=False, windows=(1.0,))
        )
        for c in ("mean", "max", "min")
    }
    a = np.zeros(16, dtype=np.uint8)
    b = a.copy()
    b[0] = 0xFF  # 8 of phash's 64 bits differ, dhash identical
    assert dims["mean"].similarity(a, b) == pytest.approx((56 / 64 + 1.0) / 2)
    assert dims["max"].similarity(a, b) == 1.0
    assert dims["min"].similarity(a, b) == pytest.approx(56 / 64)


@pytest.mark.parametrize("grey", [(200, 0, 0), (201, 1, 0), (37, 37, 37), (128, 64, 250)])
def test_flat_images_of_any_colour_and_size_hash_alike(grey):
    # A flat image has no structure: its bits must not come from floating-point noise.
    dimension = HashDimension()
    reference = dimension.embed(prepare(np.full((30, 40, 3), (90, 90, 90), np.uint8)))
    flat = dimension.embed(prepare(np.full((31, 47, 3), grey, np.uint8)))
    assert dimension.similarity(reference, flat) == 1.0


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


def test_hashes_mostly_agree_with_imagehash_on_full_resolution_pixels(shared_photos):
    # pHash is imagehash's (but for 0.1's median rule); dHash and aHash are area
    # averages of the pHash square rather than separate LANCZOS resizes, so they
    # agree less bit for bit.
    reference = {
        "phash": imagehash.phash,
        "dhash": imagehash.dhash,
        "ahash": imagehash.average_hash,
    }
    minimum = {"phash": 0.95, "dhash": 0.85, "ahash": 0.92}
    for name, function in reference.items():
        dimension = HashDimension(HashConfig(algorithms=(name,), flip=False, windows=(1.0,)))
        agreement = []
        for path in shared_photos[:20]:
            with Image.open(path) as image:
                image.load()
            full = PreparedImage(str(path), image=image.convert("RGB"))
            full.rgb = lambda min_side=None, _img=full: _img._image  # type: ignore[method-assign]
            ours = np.unpackbits(dimension.embed(full))
            agreement.append(np.mean(ours == function(image).hash.ravel()))
        assert np.mean(agreement) >= minimum[name], (name, np.mean(agreement))


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


def test_best_matching_set_counts_for_flips_and_windows():
    dim = HashDimension(HashConfig(algorithms=("ahash",), flip=True, windows=(1.0, 0.5)))
    sets = np.zeros((4, 8), dtype=np.uint8)  # (window 1.0, 0.5) x (as is, mirrored)
    other = np.full((4, 8), 0xFF, dtype=np.uint8)
    other[3] = 0  # only b's mirrored half-window equals a's sets
    assert dim.similarity(sets.ravel(), other.ravel()) == 1.0
    other[3, 0] = 0x0F  # 4 of 64 bits differ in the best pair
    assert dim.similarity(sets.ravel(), other.ravel()) == pytest.approx(60 / 64)
    assert dim.similarity(other.ravel(), sets.ravel()) == pytest.approx(60 / 64)


def test_flips_and_centre_crops_score_as_the_same_picture(shared_photos):
    from PIL import ImageOps

    prism = ImagePrism()
    old = ImagePrism(config={"hash": HashConfig(flip=False, windows=(1.0,))})
    for path in shared_photos[:10]:
        with Image.open(path) as image:
            image.load()
        w, h = image.size
        crop = image.crop((w // 4, h // 4, w // 4 + w // 2, h // 4 + h // 2))
        mirrored = ImageOps.mirror(image)
        assert prism.compare(image, mirrored).scores["hash"] >= 0.9
        assert prism.compare(image, crop).scores["hash"] >= 0.85
        assert old.compare(image, mirrored).scores["hash"] < 0.8


@pytest.mark.parametrize("windows", [(0.5, 1.0), (1.0, 1.0), (1.0, 0.1), ()])
def test_windows_must_start_with_the_whole_image_and_be_distinct(windows):
    with pytest.raises(ValidationError, match="windows"):
        HashConfig(windows=windows)


@pytest.mark.parametrize(
    "config",
    [HashConfig(), HashConfig(flip=False, windows=(1.0,)), HashConfig(hash_size=5, combine="min")],
)
def test_similarity_many_equals_similarity_row_by_row(config):
    dimension = HashDimension(config)
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, dimension.embedding_size, dtype=np.uint8)
    others = rng.integers(0, 256, (50, dimension.embedding_size), dtype=np.uint8)
    others[7] = a
    many = dimension.similarity_many(a, others)
    assert many[7] == 1.0
    assert list(many) == [dimension.similarity(a, row) for row in others]
