"""``imageprism plugins`` and ``imageprism models list``: summaries, licences, name clashes
(red on a terminal only), plugins not allowed, face detectors and embedders (issue 20
items 5 and 6)."""

import json
import sys
from importlib import metadata

import pytest
from fakes import core_entry_points
from hub_fixtures import isolated_caches  # noqa: F401  (autouse: empty model caches)
from tests_support import make_distribution

import imageprism.cli.plugins
from imageprism.cli import main
from imageprism.plugin.registry import ENTRY_POINT_GROUP, Registry

RED = "\033[31m"

EMBEDDER = (
    "from imageprism import hookimpl\n"
    "from imageprism_face.specs import FaceEmbedderSpec\n"
    "@hookimpl\n"
    "def imageprism_register_face_embedders(register):\n"
    "    register(FaceEmbedderSpec(name='acme', factory=lambda config: None,\n"
    "                              summary='acme faces', licence='proprietary'))\n"
)


def face_entry_points() -> list[metadata.EntryPoint]:
    return [
        ep
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)
        if ep.dist is not None and ep.dist.name == "imageprism-face"
    ]


@pytest.fixture
def clashing(tmp_path, monkeypatch):
    """A registry where two third-party plugins register the face embedder ``acme``."""
    eps = make_distribution(tmp_path, monkeypatch, "aaface-dist", {"cl_aaface": EMBEDDER})
    eps += make_distribution(tmp_path, monkeypatch, "acme-dist", {"cl_acme": EMBEDDER})
    registry = Registry(entry_points=core_entry_points() + face_entry_points() + eps)
    monkeypatch.setattr(imageprism.cli.plugins, "get_registry", lambda: registry)
    return registry


def listing(capsys) -> dict:
    assert main(["plugins", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_table_shows_each_registrations_summary_and_licence(capsys):
    assert main(["plugins"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.startswith("KIND"))
    assert header.split() == ["KIND", "NAME", "PLUGIN", "SUMMARY", "LICENCE"]

    def row(kind: str, name: str) -> str:
        return next(
            line for line in lines if line.split()[: len(kind.split()) + 1] == [*kind.split(), name]
        )

    assert "perceptual hashes" in row("dimension", "hash") and "MIT" in row("dimension", "hash")
    assert "re-uses of a picture" in row("profile", "copyright")
    assert "MIT (distribution)" in row("profile", "copyright")  # no licence of its own
    assert "re-encoded or resized" in row("preset", "hash/exact")
    assert "boxes and 5 landmarks" in row("face detector", "yunet")
    assert "OpenCV Zoo" in row("face detector", "yunet")
    assert "no clear commercial licence" in row("face embedder", "arcface")
    assert "CC0" in row("face embedder", "dlib")


def test_the_json_lists_every_registration_with_summary_and_licence(capsys):
    data = listing(capsys)
    found = {(r["kind"], r["name"]): r for r in data["registrations"]}
    kinds = {kind for kind, _ in found}
    assert {"dimension", "profile", "preset", "face detector", "face embedder"} <= kinds
    assert all(r["summary"] for r in found.values())  # ours all have one
    assert found["face detector", "ultraface"]["licence"].startswith("code MIT")
    assert found["face detector", "ultraface"]["model_files"][0].startswith("onnxmodelzoo/")
    assert found["face embedder", "onnx"]["distribution"] == "imageprism-face"
    assert found["profile", "dedup"]["shown_licence"] == "MIT (distribution)"
    assert data["dimensions"]["semantic"]["licence"].startswith("code MIT")
    hash_plugin = next(p for p in data["plugins"] if p["name"] == "hash")
    assert hash_plugin["licence"] == "MIT" and hash_plugin["first_party"] is True
    assert data["clashes"] == []


def test_a_clash_is_listed_with_both_distributions_in_plain_text(clashing, capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    (line,) = [line for line in out.splitlines() if line.startswith("name clash:")]
    assert "face embedder 'acme' is refused" in line
    assert "aaface-dist" in line and "acme-dist" in line
    assert "\033[" not in out  # not a terminal: no colour codes


def test_a_clash_is_red_on_a_terminal(clashing, capsys, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    (line,) = [line for line in out.splitlines() if "name clash" in line]
    assert line.startswith(RED + "name clash:") and line.endswith("\033[0m")
    monkeypatch.setenv("NO_COLOR", "1")
    assert main(["plugins"]) == 0
    assert "\033[" not in capsys.readouterr().out


def test_a_clash_is_in_the_json_with_both_distributions(clashing, capsys):
    data = listing(capsys)
    (clash,) = data["clashes"]
    assert (clash["kind"], clash["name"], clash["refused"]) == ("face embedder", "acme", True)
    assert [p["distribution"] for p in clash["plugins"]] == ["aaface-dist", "acme-dist"]
    plugins = {p["name"]: p for p in data["plugins"]}
    assert plugins["cl_aaface"]["status"] == plugins["cl_acme"]["status"] == "failed"
    assert plugins["cl_acme"]["clashes"][0]["name"] == "acme"
    assert "acme" not in data["registered"]["face_embedders"]


def test_plugins_not_allowed_are_listed_as_such(monkeypatch, capsys):
    monkeypatch.setenv("IMAGEPRISM_PLUGINS", "semantic")
    registry = Registry()
    monkeypatch.setattr(imageprism.cli.plugins, "get_registry", lambda: registry)
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    face_row = next(line for line in out.splitlines() if line.startswith("face "))
    assert "not allowed" in face_row
    assert "not allowed by IMAGEPRISM_PLUGINS: face, instance, style" in out
    data = listing(capsys)
    assert {p["name"]: p["status"] for p in data["plugins"]}["face"] == "not allowed"
    assert data["allow_list"] == {"variable": "IMAGEPRISM_PLUGINS", "set": True, "unknown": []}


def test_models_list_includes_face_detectors_and_embedders(capsys):
    assert main(["models", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by = {(row["kind"], row["name"]): row for row in rows}
    assert by["face detector", "yunet"]["dimension"] == "face"
    assert by["face detector", "yunet"]["pinned"] is True
    arcface = by["face embedder", "arcface"]
    assert arcface["pinned"] is False and "commercial" in arcface["licence"]
    assert main(["models", "list", "arcface"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("face embedder arcface") and "not pinned" in out
