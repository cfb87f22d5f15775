"""Face detectors and embedders cannot be squatted either (issue 20 item 5).

0.2 kept whichever plugin loaded first: an entry point named ``aaface`` registering
an embedder ``acme`` replaced the real ``acme``. Now a name two third-party plugins
register is refused for both, and the face pack's own names stay the face pack's.
"""

from importlib import metadata

import pytest
from fakes import core_entry_points
from tests_support import make_distribution

import imageprism_face.registry
from imageprism.errors import ConfigError
from imageprism.plugin.registry import ENTRY_POINT_GROUP, Registry
from imageprism_face import FaceConfig
from imageprism_face.dimension import FaceDimension, face_plugins


def embedder_plugin(name: str, summary: str) -> str:
    return (
        "from imageprism import hookimpl\n"
        "from imageprism_face.specs import FaceEmbedderSpec\n"
        "@hookimpl\n"
        "def imageprism_register_face_embedders(register):\n"
        f"    register(FaceEmbedderSpec(name={name!r}, factory=lambda config: None,\n"
        f"                              summary={summary!r}, licence='proprietary'))\n"
    )


def detector_plugin(name: str) -> str:
    return (
        "from imageprism import hookimpl\n"
        "from imageprism_face.specs import FaceDetectorSpec\n"
        "@hookimpl\n"
        "def imageprism_register_face_detectors(register):\n"
        f"    register(FaceDetectorSpec(name={name!r}, factory=lambda config: None,\n"
        "                              summary='finds faces'))\n"
    )


def face_entry_points() -> list[metadata.EntryPoint]:
    return [
        ep
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)
        if ep.dist is not None and ep.dist.name == "imageprism-face"
    ]


@pytest.fixture
def use(monkeypatch):
    """Make the face pack look plugins up in the given registry."""

    def install(registry: Registry) -> Registry:
        monkeypatch.setattr(imageprism_face.registry, "get_registry", lambda: registry)
        return registry

    return install


def status(registry: Registry) -> dict[str, str]:
    return {p.name: p.status for p in registry.plugins}


def test_an_embedder_name_two_plugins_claim_is_refused_for_both(tmp_path, monkeypatch, use):
    eps = make_distribution(
        tmp_path, monkeypatch, "aaface-dist", {"fc_aaface": embedder_plugin("acme", "impostor")}
    )
    eps += make_distribution(
        tmp_path, monkeypatch, "acme-dist", {"fc_acme": embedder_plugin("acme", "the real one")}
    )
    registry = use(Registry(entry_points=core_entry_points() + face_entry_points() + eps))
    assert status(registry)["fc_aaface"] == status(registry)["fc_acme"] == "failed"
    assert status(registry)["face"] == "ok"
    _, embedders, errors = face_plugins()
    assert "acme" not in embedders and {"arcface", "onnx", "dlib"} <= set(embedders)
    assert any("aaface-dist" in e and "acme-dist" in e for e in errors)
    with pytest.raises(ConfigError) as caught:
        FaceDimension(FaceConfig(embedder="acme"))
    message = str(caught.value)
    assert "face embedder 'acme' is refused: two plugins claim it" in message
    assert "aaface-dist" in message and "acme-dist" in message


def test_a_third_party_cannot_take_the_face_packs_embedder(tmp_path, monkeypatch, use):
    eps = make_distribution(
        tmp_path,
        monkeypatch,
        "aathief-dist",
        {"fc_aathief": embedder_plugin("arcface", "impostor")},
    )
    registry = use(Registry(entry_points=core_entry_points() + face_entry_points() + eps))
    _, embedders, _ = face_plugins()
    assert embedders["arcface"].summary != "impostor"
    assert registry.owner_of("face embedder", "arcface").distribution == "imageprism-face"
    (thief,) = registry.failures
    assert thief.name == "fc_aathief" and "imageprism-face" in thief.error
    assert "aathief-dist" in thief.error


def test_a_detector_name_two_plugins_claim_is_refused(tmp_path, monkeypatch, use):
    eps = make_distribution(tmp_path, monkeypatch, "d1-dist", {"fc_d1": detector_plugin("eye")})
    eps += make_distribution(tmp_path, monkeypatch, "d2-dist", {"fc_d2": detector_plugin("eye")})
    registry = use(Registry(entry_points=core_entry_points() + face_entry_points() + eps))
    (clash,) = registry.clashes
    assert (clash.kind, clash.name, clash.refused) == ("face detector", "eye", True)
    with pytest.raises(ConfigError, match="face detector 'eye' is refused.*d1-dist.*d2-dist"):
        FaceDimension(FaceConfig(detector="eye"))


def test_an_embedder_of_its_own_name_loads_and_names_its_distribution(tmp_path, monkeypatch, use):
    eps = make_distribution(
        tmp_path, monkeypatch, "acme2-dist", {"fc_acme2": embedder_plugin("acme2", "the real one")}
    )
    registry = use(Registry(entry_points=core_entry_points() + face_entry_points() + eps))
    _, embedders, errors = face_plugins()
    assert embedders["acme2"].summary == "the real one" and not errors
    assert registry.owner_of("face embedder", "acme2").distribution == "acme2-dist"
    listed = {(r.kind, r.name): r for r in registry.registrations()}
    assert listed["face embedder", "acme2"].licence == "proprietary"
