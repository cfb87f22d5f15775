"""The default ArcFace weights' licence caveat: a FaceModelLicenceWarning a company can filter."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import onnx_builders
import pytest
from models_support import publish

import imageprism_face
from imageprism import ImagePrism
from imageprism_face import Face, FaceConfig, FaceModelLicenceWarning

FACE = Face(box=(16.0, 16.0, 112.0, 112.0), score=0.9)


def _image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(128, 128, 3), dtype=np.uint8)


@pytest.fixture
def default_embedder(hub):
    """The ``arcface`` embedder on a stand-in file published where the real one is."""
    pin = publish(hub, "onnx-community/arcface-onnx", "arcface.onnx", onnx_builders.arcface())
    config = FaceConfig(embed_revision=pin["revision"], embed_sha256=pin["sha256"])
    return ImagePrism(["face"], config={"face": config}).dimension("face").embedder


def test_the_warning_has_its_own_category_exported_by_the_face_pack():
    assert issubclass(FaceModelLicenceWarning, UserWarning)
    assert imageprism_face.FaceModelLicenceWarning is FaceModelLicenceWarning
    assert "FaceModelLicenceWarning" in imageprism_face.__all__


def test_the_default_weights_warn_and_name_every_alternative(default_embedder):
    with pytest.warns(FaceModelLicenceWarning) as caught:
        default_embedder.embed_faces(_image(), [FACE])
    (warning,) = [w for w in caught if w.category is FaceModelLicenceWarning]
    text = str(warning.message)
    assert "no clear commercial licence" in text
    assert not text.startswith("imageprism:")  # the command line prefixes its warnings so
    assert "onnx-community/arcface-onnx/arcface.onnx" in text
    for alternative in (
        "FaceConfig(embed_path=...)",
        "FaceConfig(embed_repo=..., embed_file=...)",
        "face-embedder plugin",
        "FaceConfig(embedder='dlib')",
        "category=imageprism_face.FaceModelLicenceWarning",
    ):
        assert alternative in text, alternative


def test_a_company_filters_it_by_category(default_embedder):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=FaceModelLicenceWarning)
        vectors = default_embedder.embed_faces(_image(), [FACE])
    assert len(vectors) == 1
    assert not [w for w in caught if issubclass(w.category, FaceModelLicenceWarning)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", FaceModelLicenceWarning)
        with pytest.raises(FaceModelLicenceWarning):
            default_embedder.embed_faces(_image(), [FACE])


def test_by_default_it_is_shown_once_however_often_faces_are_embedded(default_embedder):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for seed in range(3):
            default_embedder.embed_faces(_image(seed), [FACE])
        default_embedder.embed_faces(_image(), [FACE, FACE])
    assert len([w for w in caught if w.category is FaceModelLicenceWarning]) == 1


def test_weights_of_your_own_give_no_warning(hub, tmp_path):
    data = onnx_builders.arcface()
    local = onnx_builders.save(data, tmp_path / "mine.onnx")
    pin = publish(hub, "my-org/licensed", "model.onnx", data)
    configs = [
        FaceConfig(embed_path=local),
        FaceConfig(
            "my-org/licensed",
            "model.onnx",
            embed_revision=pin["revision"],
            embed_sha256=hashlib.sha256(data).hexdigest(),
        ),
    ]
    for config in configs:
        embedder = ImagePrism(["face"], config={"face": config}).dimension("face").embedder
        with warnings.catch_warnings():
            warnings.simplefilter("error", FaceModelLicenceWarning)
            assert len(embedder.embed_faces(_image(), [FACE])) == 1


def test_no_faces_no_warning(default_embedder):
    with warnings.catch_warnings():
        warnings.simplefilter("error", FaceModelLicenceWarning)
        assert default_embedder.embed_faces(_image(), []) == []
