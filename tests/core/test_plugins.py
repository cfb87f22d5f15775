import textwrap
from importlib import metadata

import pytest
from tests_support import make_distribution

from imageprism import ImagePrism, PackNotInstalledError, PluginError, UnknownDimensionError
from imageprism.builtins.profiles import BUILTIN_PROFILES
from imageprism.plugin.registry import ENTRY_POINT_GROUP, Registry, get_registry


def test_core_registers_hash_and_profiles_through_entry_points():
    registry = get_registry()
    assert registry.plugin_of("hash").distribution == "imageprism-core"
    assert {p.name for p in BUILTIN_PROFILES} <= set(registry.profiles)
    names = {ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    assert {"hash", "profiles"} <= names


def test_face_pack_adds_its_own_hookspecs():
    hook = get_registry().manager.hook
    assert hasattr(hook, "imageprism_register_face_detectors")
    assert hasattr(hook, "imageprism_register_face_embedders")


GOOD = """
from imageprism import hookimpl, DimensionSpec
from imageprism.builtins.hash import HashConfig, HashDimension

class GoodHash(HashDimension):
    def __init__(self, config):
        super().__init__(config)
        self.name = "goodhash"

@hookimpl
def imageprism_register_dimensions(register):
    register(DimensionSpec(name="goodhash", factory=GoodHash, config_model=HashConfig,
                           summary="a copy of hash under another name"))
"""


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("raise RuntimeError('boom at import')", "boom at import"),
        (
            "from imageprism import hookimpl\n"
            "@hookimpl\n"
            "def imageprism_register_dimensions(register):\n"
            "    raise ValueError('boom in register')\n",
            "boom in register",
        ),
        (
            "from imageprism import hookimpl\n"
            "@hookimpl\n"
            "def imageprism_register_dimension(register):\n"
            "    pass\n",
            "unknown hook",
        ),
        (
            "from imageprism import hookimpl\n"
            "@hookimpl\n"
            "def imageprism_register_dimensions(register):\n"
            "    register('not a spec')\n",
            "takes a DimensionSpec",
        ),
    ],
    ids=["import", "register", "misspelt-hook", "wrong-type"],
)
def test_broken_plugin_is_reported_and_others_keep_working(
    tmp_path, monkeypatch, request, code, expected
):
    module = f"broken_{request.node.callspec.id.replace('-', '_')}"
    eps = make_distribution(tmp_path, monkeypatch, "broken-dist", {module: code})
    eps += make_distribution(tmp_path, monkeypatch, "good-dist", {"good_mod": GOOD})
    registry = Registry(entry_points=core_and(eps))
    broken = next(p for p in registry.plugins if p.name == module)
    assert broken.status == "failed"
    assert broken.distribution == "broken-dist"
    assert expected in broken.error
    assert "goodhash" in registry.dimensions and "hash" in registry.dimensions
    prism = ImagePrism(dimensions=["hash", "goodhash"], registry=registry)
    assert prism.dimensions == ("hash", "goodhash")
    with pytest.raises(UnknownDimensionError, match=f"{module} \\(broken-dist\\)"):
        registry.dimension("nosuch")


def core_and(extra):
    core = [
        ep
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)
        if ep.dist is not None and ep.dist.name == "imageprism-core"
    ]
    return core + extra


def test_registering_an_existing_name_is_an_error_naming_both(tmp_path, monkeypatch):
    code = GOOD.replace('name="goodhash",', 'name="hash",')
    eps = make_distribution(tmp_path, monkeypatch, "thief-dist", {"thief": code})
    registry = Registry(entry_points=core_and(eps))
    thief = next(p for p in registry.plugins if p.name == "thief")
    assert thief.status == "failed"
    assert "'hash'" in thief.error and "imageprism-core" in thief.error
    assert registry.plugin_of("hash").distribution == "imageprism-core"


def test_plugins_can_be_disabled_by_name(monkeypatch):
    monkeypatch.setenv("IMAGEPRISM_DISABLE_PLUGINS", "face, semantic")
    registry = Registry()
    status = {p.name: p.status for p in registry.plugins}
    assert status["face"] == "disabled" and status["semantic"] == "disabled"
    assert status["hash"] == "ok" and status["instance"] == "ok"
    with pytest.raises(PackNotInstalledError, match="imageprism-models.*semantic' disabled"):
        registry.dimension("semantic")
    assert "instance" in registry.dimensions


@pytest.mark.parametrize(
    ("dimension", "package"),
    [
        ("semantic", "imageprism-models"),
        ("instance", "imageprism-models"),
        ("style", "imageprism-models"),
        ("face", "imageprism-face"),
    ],
)
def test_missing_pack_error_names_the_package_to_install(monkeypatch, dimension, package):
    real_version = metadata.version

    def not_installed(name):
        if name == package:
            raise metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    registry = Registry(entry_points=core_and([]))
    with pytest.raises(PackNotInstalledError, match=f"pip install {package}") as info:
        ImagePrism(dimensions=[dimension], registry=registry)
    assert info.value.package == package
    assert isinstance(info.value, ImportError) and isinstance(info.value, KeyError)


def test_installed_pack_without_the_dimension_says_to_upgrade():
    registry = Registry(entry_points=core_and([]))  # imageprism-face installed, not loaded
    with pytest.raises(PackNotInstalledError, match="upgrade it: pip install -U imageprism-face"):
        ImagePrism(dimensions=["face"], registry=registry)


def test_hook_tracing_prints_each_call(monkeypatch, capsys):
    monkeypatch.setenv("IMAGEPRISM_TRACE_HOOKS", "1")
    Registry()
    err = capsys.readouterr().err
    assert "imageprism_register_dimensions -> hash" in err


def test_plugin_error_carries_the_cause_text(tmp_path, monkeypatch):
    eps = make_distribution(tmp_path, monkeypatch, "syntax-dist", {"syntax_mod": "def broken(:\n"})
    registry = Registry(entry_points=core_and(eps))
    failure = registry.failures[0]
    assert failure.name == "syntax_mod" and "SyntaxError" in failure.error
    assert failure.to_dict()["status"] == "failed"


def test_make_distribution_helper_is_sane(tmp_path, monkeypatch):
    eps = make_distribution(tmp_path, monkeypatch, "x-dist", {"x_mod": textwrap.dedent(GOOD)})
    assert eps[0].dist.name == "x-dist" and eps[0].name == "x_mod"


def test_disabled_plugins_are_named_when_a_dimension_is_unknown(monkeypatch):
    monkeypatch.setenv("IMAGEPRISM_DISABLE_PLUGINS", "hash")
    with pytest.raises(UnknownDimensionError, match="disabled by IMAGEPRISM_DISABLE_PLUGINS: hash"):
        Registry().dimension("hash")


def test_a_config_model_that_is_not_frozen_is_refused(tmp_path, monkeypatch):
    code = GOOD.replace("config_model=HashConfig", "config_model=Loose") + (
        "\nfrom pydantic import BaseModel\nclass Loose(BaseModel):\n    x: int = 1\n"
    )
    eps = make_distribution(tmp_path, monkeypatch, "loose-dist", {"loose_mod": code})
    registry = Registry(entry_points=core_and(eps))
    failure = next(p for p in registry.plugins if p.name == "loose_mod")
    assert failure.status == "failed" and "must be frozen" in failure.error


def test_a_factory_returning_a_non_dimension_is_an_error_naming_the_plugin(tmp_path, monkeypatch):
    code = GOOD.replace("factory=GoodHash", "factory=lambda config: object()")
    eps = make_distribution(tmp_path, monkeypatch, "odd-dist", {"odd_mod": code})
    registry = Registry(entry_points=core_and(eps))
    with pytest.raises(PluginError, match="Dimension protocol") as info:
        ImagePrism(["goodhash"], registry=registry)
    assert info.value.plugin == "odd_mod" and info.value.distribution == "odd-dist"


def test_a_hook_implementation_may_take_fewer_arguments(tmp_path, monkeypatch):
    code = (
        "from imageprism import hookimpl\n"
        "CALLED = []\n"
        "@hookimpl\n"
        "def imageprism_add_hookspecs():\n"
        "    CALLED.append(True)\n"
    )
    eps = make_distribution(tmp_path, monkeypatch, "lean-dist", {"lean_mod": code})
    registry = Registry(entry_points=core_and(eps))
    assert next(p for p in registry.plugins if p.name == "lean_mod").status == "ok"


def test_first_party_packs_load_before_third_parties(tmp_path, monkeypatch):
    code = GOOD.replace('name="goodhash",', 'name="semantic",').replace(
        'self.name = "goodhash"', 'self.name = "semantic"'
    )
    eps = make_distribution(tmp_path, monkeypatch, "aaa-dist", {"aaa_semantic": code})
    models = [
        ep
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)
        if ep.dist is not None and ep.dist.name == "imageprism-models"
    ]
    registry = Registry(entry_points=core_and(eps + models))
    assert registry.plugin_of("semantic").distribution == "imageprism-models"
    assert (
        "already registered" in next(p for p in registry.plugins if p.name == "aaa_semantic").error
    )
