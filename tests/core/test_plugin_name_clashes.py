"""A name two plugins register is refused for both, unless one is first-party: then it wins.

Pins issue 20 item 5 for dimensions, profiles and presets (the face pack's detectors and
embedders: tests/face/test_face_name_clashes.py). Third-party distributions are written
to disk with ``make_distribution``, so their entry points carry real metadata.
"""

from importlib import metadata

import pytest
from fakes import core_entry_points
from tests_support import make_distribution

from imageprism import ConfigError, UnknownDimensionError, UnknownProfileError
from imageprism.plugin.registry import ENTRY_POINT_GROUP, Registry


def dimension_plugin(name: str, *, summary: str = "a copy of hash", extra: str = "") -> str:
    """Source of a plugin module registering a copy of the hash dimension as ``name``."""
    return (
        "from imageprism import hookimpl, DimensionSpec\n"
        "from imageprism.builtins.hash import HashConfig, HashDimension\n"
        "@hookimpl\n"
        "def imageprism_register_dimensions(register):\n"
        f"    register(DimensionSpec(name={name!r}, factory=HashDimension,\n"
        f"                           config_model=HashConfig, summary={summary!r}))\n"
        f"{extra}"
    )


def profile_plugin(name: str) -> str:
    return (
        "from imageprism import hookimpl, ProfileSpec\n"
        "@hookimpl\n"
        "def imageprism_register_profiles(register):\n"
        f"    register(ProfileSpec(name={name!r}, weights={{'hash': 1.0}}, summary='mine'))\n"
    )


def preset_plugin(target: str, name: str) -> str:
    return (
        "from imageprism import hookimpl\n"
        "from imageprism.plugin import Preset\n"
        "@hookimpl\n"
        "def imageprism_register_presets(register):\n"
        f"    register(Preset(name={name!r}, target={target!r}, threshold=0.5))\n"
    )


def models_entry_points() -> list[metadata.EntryPoint]:
    return [
        ep
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)
        if ep.dist is not None and ep.dist.name == "imageprism-models"
    ]


def status(registry: Registry) -> dict[str, str]:
    return {p.name: p.status for p in registry.plugins}


def test_two_third_party_plugins_registering_one_dimension_both_fail(tmp_path, monkeypatch):
    eps = make_distribution(
        tmp_path, monkeypatch, "aaa-dist", {"nc_aaa_fake": dimension_plugin("x")}
    )
    eps += make_distribution(
        tmp_path, monkeypatch, "zzz-dist", {"nc_zzz_real": dimension_plugin("x")}
    )
    registry = Registry(entry_points=core_entry_points() + eps)
    assert (
        status(registry)["nc_aaa_fake"] == "failed" and status(registry)["nc_zzz_real"] == "failed"
    )
    assert "x" not in registry.dimensions
    (clash,) = registry.clashes
    assert clash.refused and (clash.kind, clash.name) == ("dimension", "x")
    assert clash.claimants == (("nc_aaa_fake", "aaa-dist"), ("nc_zzz_real", "zzz-dist"))
    for plugin in registry.failures:
        assert "aaa-dist" in plugin.error and "zzz-dist" in plugin.error
        assert plugin.clashes == (clash,)
    assert registry.dimension("hash")  # core is untouched


def test_asking_for_a_refused_dimension_says_two_plugins_claim_it(tmp_path, monkeypatch):
    eps = make_distribution(tmp_path, monkeypatch, "one-dist", {"nc_one": dimension_plugin("x")})
    eps += make_distribution(tmp_path, monkeypatch, "two-dist", {"nc_two": dimension_plugin("x")})
    registry = Registry(entry_points=core_entry_points() + eps)
    with pytest.raises(UnknownDimensionError) as caught:
        registry.dimension("x")
    message = str(caught.value)
    assert "refused: two plugins claim it" in message
    assert (
        "'nc_one' (distribution one-dist)" in message
        and "'nc_two' (distribution two-dist)" in message
    )


def test_the_outcome_does_not_depend_on_the_loading_order(tmp_path, monkeypatch):
    eps = make_distribution(tmp_path, monkeypatch, "b-dist", {"nc_b_mod": dimension_plugin("x")})
    eps += make_distribution(tmp_path, monkeypatch, "a-dist", {"nc_a_mod": dimension_plugin("x")})
    forward = Registry(entry_points=core_entry_points() + eps)
    backward = Registry(entry_points=core_entry_points() + eps[::-1])
    assert status(forward) == status(backward)
    assert status(forward)["nc_a_mod"] == status(forward)["nc_b_mod"] == "failed"


def test_a_plugin_that_loses_a_clash_fails_whole_and_others_keep_working(tmp_path, monkeypatch):
    both = dimension_plugin("x", extra=profile_plugin("mine"))
    eps = make_distribution(tmp_path, monkeypatch, "a-dist", {"nc_whole_a": both})
    eps += make_distribution(tmp_path, monkeypatch, "b-dist", {"nc_whole_b": dimension_plugin("x")})
    eps += make_distribution(tmp_path, monkeypatch, "c-dist", {"nc_whole_c": dimension_plugin("y")})
    registry = Registry(entry_points=core_entry_points() + eps)
    a_mod = next(p for p in registry.plugins if p.name == "nc_whole_a")
    assert a_mod.clashes and a_mod.error.startswith("dimension 'x' is refused")
    assert "mine" not in registry.profiles  # half a plugin is not loaded
    assert status(registry)["nc_whole_c"] == "ok" and "y" in registry.dimensions
    assert registry.plugin_of("y").distribution == "c-dist"


def test_a_third_party_taking_a_core_name_fails_and_core_keeps_it(tmp_path, monkeypatch):
    eps = make_distribution(tmp_path, monkeypatch, "aaa-dist", {"nc_aaa": dimension_plugin("hash")})
    registry = Registry(entry_points=core_entry_points() + eps)
    assert registry.plugin_of("hash").distribution == "imageprism-core"
    (thief,) = registry.failures
    assert thief.name == "nc_aaa" and "imageprism-core" in thief.error and "aaa-dist" in thief.error
    (clash,) = thief.clashes
    assert clash.winner == "hash" and not clash.refused
    assert registry.dimension("hash").summary != "a copy of hash"


def test_a_first_party_pack_keeps_its_name_whatever_the_order(tmp_path, monkeypatch):
    eps = make_distribution(
        tmp_path, monkeypatch, "aaa-dist", {"nc_aaa_semantic": dimension_plugin("semantic")}
    )
    registry = Registry(entry_points=core_entry_points() + eps + models_entry_points())
    assert registry.plugin_of("semantic").distribution == "imageprism-models"
    assert status(registry)["semantic"] == "ok"
    error = next(p for p in registry.plugins if p.name == "nc_aaa_semantic").error
    assert "imageprism-models" in error and "aaa-dist" in error and "first-party" in error


def test_two_third_party_profiles_of_one_name_are_refused(tmp_path, monkeypatch):
    eps = make_distribution(tmp_path, monkeypatch, "p1-dist", {"nc_p1": profile_plugin("mine")})
    eps += make_distribution(tmp_path, monkeypatch, "p2-dist", {"nc_p2": profile_plugin("mine")})
    registry = Registry(entry_points=core_entry_points() + eps)
    assert "mine" not in registry.profiles
    with pytest.raises(
        UnknownProfileError, match="refused: two plugins claim it.*p1-dist.*p2-dist"
    ):
        registry.profile("mine")


def test_a_third_party_taking_a_builtin_profile_fails(tmp_path, monkeypatch):
    eps = make_distribution(tmp_path, monkeypatch, "p-dist", {"nc_p_mod": profile_plugin("dedup")})
    registry = Registry(entry_points=core_entry_points() + eps)
    assert registry.owner_of("profile", "dedup").distribution == "imageprism-core"
    assert registry.profile("dedup").summary != "mine"
    assert status(registry)["nc_p_mod"] == "failed"


def test_two_third_party_presets_of_one_target_and_name_are_refused(tmp_path, monkeypatch):
    eps = make_distribution(
        tmp_path, monkeypatch, "q1-dist", {"nc_q1": preset_plugin("hash", "mine")}
    )
    eps += make_distribution(
        tmp_path, monkeypatch, "q2-dist", {"nc_q2": preset_plugin("hash", "mine")}
    )
    eps += make_distribution(
        tmp_path, monkeypatch, "q3-dist", {"nc_q3": preset_plugin("hash", "own")}
    )
    registry = Registry(entry_points=core_entry_points() + eps)
    assert ("hash", "mine") not in registry.presets
    assert registry.presets["hash", "own"].threshold == 0.5  # another name on the same target
    (clash,) = registry.clashes
    assert (clash.kind, clash.name) == ("preset", "hash/mine") and clash.refused
    # asking for it says why it is not there, naming both distributions
    from imageprism.thresholds.presets import preset

    with pytest.raises(ConfigError, match="q1-dist.*q2-dist"):
        preset("mine", "hash", registry=registry)


def test_a_plugin_registering_one_name_twice_fails(tmp_path, monkeypatch):
    twice = dimension_plugin("x") + (
        "    register(DimensionSpec(name='x', factory=HashDimension,\n"
        "                           config_model=HashConfig, summary='again'))\n"
    )
    eps = make_distribution(tmp_path, monkeypatch, "t-dist", {"nc_t_mod": twice})
    registry = Registry(entry_points=core_entry_points() + eps)
    (failed,) = registry.failures
    assert "registered twice" in failed.error and "x" not in registry.dimensions


def test_an_entry_point_named_like_cores_cannot_pass_for_it(tmp_path, monkeypatch):
    (ep,) = make_distribution(
        tmp_path, monkeypatch, "mimic-dist", {"nc_mimic": dimension_plugin("hash")}
    )
    (ep.dist._path / "entry_points.txt").write_text("[imageprism]\nhash = nc_mimic\n")
    (mimic,) = [e for e in ep.dist.entry_points if e.group == ENTRY_POINT_GROUP]
    assert mimic.name == "hash"  # the same entry-point name as core's hash plugin
    registry = Registry(entry_points=[*core_entry_points(), mimic])
    assert registry.plugin_of("hash").distribution == "imageprism-core"
    (failed,) = registry.failures
    assert failed.distribution == "mimic-dist"
    assert "name 'hash' is already taken by plugin 'hash' (distribution imageprism-core)" in (
        failed.error
    )
    assert "(distribution mimic-dist) cannot load" in failed.error
