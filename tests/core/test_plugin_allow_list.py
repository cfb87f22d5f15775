"""``IMAGEPRISM_PLUGINS``: an allow-list of the plugins that load (core's own always do)."""

from importlib import metadata

import pytest
from fakes import core_entry_points
from tests_support import make_distribution

from imageprism import PackNotInstalledError, UnknownDimensionError
from imageprism.plugin.registry import ENTRY_POINT_GROUP, PluginAllowListWarning, Registry

PLUGIN = (
    "from imageprism import hookimpl, DimensionSpec\n"
    "from imageprism.builtins.hash import HashConfig, HashDimension\n"
    "@hookimpl\n"
    "def imageprism_register_dimensions(register):\n"
    "    register(DimensionSpec(name=NAME, factory=HashDimension, config_model=HashConfig,\n"
    "                           summary='a copy of hash'))\n"
)


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """Core, the models pack, and two third-party plugins ``al_wanted`` and ``al_other``."""
    eps = [
        ep
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)
        if ep.dist is not None and ep.dist.name == "imageprism-models"
    ]
    for name in ("al_wanted", "al_other"):
        code = PLUGIN.replace("NAME", repr(name))
        eps += make_distribution(tmp_path, monkeypatch, f"{name}-dist", {name: code})
    return core_entry_points() + eps


def status(registry: Registry) -> dict[str, str]:
    return {p.name: p.status for p in registry.plugins}


def test_only_the_allowed_plugins_and_core_load(installed, monkeypatch):
    monkeypatch.setenv("IMAGEPRISM_PLUGINS", "al_wanted, semantic")
    registry = Registry(entry_points=installed)
    got = status(registry)
    assert got["al_wanted"] == got["semantic"] == got["hash"] == got["profiles"] == "ok"
    assert got["al_other"] == got["instance"] == got["style"] == "not allowed"
    assert set(registry.dimensions) == {"hash", "al_wanted", "semantic"}
    assert not registry.failures  # not allowed is not a failure


def test_without_the_variable_every_plugin_loads(installed, monkeypatch):
    monkeypatch.delenv("IMAGEPRISM_PLUGINS", raising=False)
    assert set(status(Registry(entry_points=installed)).values()) == {"ok"}


def test_an_empty_allow_list_loads_only_core(installed, monkeypatch):
    monkeypatch.setenv("IMAGEPRISM_PLUGINS", "")
    registry = Registry(entry_points=installed)
    assert set(registry.dimensions) == {"hash"} and "dedup" in registry.profiles


def test_unknown_names_in_the_allow_list_are_warned_about(installed, monkeypatch):
    monkeypatch.setenv("IMAGEPRISM_PLUGINS", "al_wanted,wantd,nosuch")
    with pytest.warns(PluginAllowListWarning, match="not installed: nosuch, wantd"):
        registry = Registry(entry_points=installed)
    assert registry.unknown_allowed == ("nosuch", "wantd")
    assert status(registry)["al_wanted"] == "ok"


def test_disabling_still_applies_to_allowed_plugins(installed, monkeypatch):
    monkeypatch.setenv("IMAGEPRISM_PLUGINS", "al_wanted")
    monkeypatch.setenv("IMAGEPRISM_DISABLE_PLUGINS", "al_wanted")
    assert status(Registry(entry_points=installed))["al_wanted"] == "disabled"


def test_the_allow_list_can_be_passed_instead_of_read(installed, monkeypatch):
    monkeypatch.setenv("IMAGEPRISM_PLUGINS", "al_other")
    registry = Registry(entry_points=installed, allowed=["al_wanted"])
    assert status(registry)["al_wanted"] == "ok" and status(registry)["al_other"] == "not allowed"


def test_a_dimension_of_a_plugin_not_allowed_says_so(installed, monkeypatch):
    monkeypatch.setenv("IMAGEPRISM_PLUGINS", "al_wanted")
    registry = Registry(entry_points=installed)
    with pytest.raises(PackNotInstalledError, match="'semantic' not allowed by IMAGEPRISM_PLUGINS"):
        registry.dimension("semantic")
    with pytest.raises(
        UnknownDimensionError, match="not allowed by IMAGEPRISM_PLUGINS: .*al_other"
    ):
        registry.dimension("al_other")
