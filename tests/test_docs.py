"""The documentation site: it builds with warnings as errors, the plugin guide documents every
hook and every spec field, and the generated CLI reference has every command.

Named by what each pins, parametrised by name (datasette's ``test_docs.py`` pattern), so a new
hook, spec field or command fails the test by its name until the docs mention it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from imageprism.plugin import hookspecs
from imageprism.plugin.specs import ComponentSpec, DimensionSpec, Preset, ProfileSpec

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "imageprism-core"
DOCS = CORE / "docs"
GUIDE = DOCS / "plugins"


def _load_cli_reference():
    spec = importlib.util.spec_from_file_location("cli_reference", DOCS / "cli_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cli_reference = _load_cli_reference()
COMMANDS = cli_reference.commands()


def _hook_names() -> list[str]:
    from imageprism_face import hookspecs as face_hookspecs

    names = []
    for module in (hookspecs, face_hookspecs):
        names += [name for name in vars(module) if name.startswith("imageprism_")]
    return sorted(set(names))


def _spec_models() -> list[type[BaseModel]]:
    from imageprism_face.specs import FaceDetectorSpec, FaceEmbedderSpec

    return [ComponentSpec, DimensionSpec, ProfileSpec, Preset, FaceDetectorSpec, FaceEmbedderSpec]


SPEC_FIELDS = [
    (model.__name__, field)
    for model in _spec_models()
    for field in model.model_fields
    if not field.startswith("_")
]


def _guide_text() -> str:
    return "\n".join(page.read_text() for page in sorted(GUIDE.glob("*.md")))


def _documented_fields(spec_name: str) -> set[str]:
    """The fields in the first table after the guide's ``SpecName`` fields line or heading."""
    lines = _guide_text().splitlines()
    for i, line in enumerate(lines):
        names_spec = f"`{spec_name}`" in line
        if names_spec and (line.startswith("#") or line.rstrip().endswith("fields:")):
            rows = []
            for following in lines[i + 1 :]:
                if following.startswith("|"):
                    rows.append(following)
                elif rows or following.startswith("#"):
                    break
            return {m.group(1) for row in rows if (m := re.match(r"\| `(\w+)` \|", row))}
    return set()


def test_there_are_hooks_spec_fields_and_commands_to_check():
    assert {"imageprism_register_dimensions", "imageprism_register_face_embedders"} <= set(
        _hook_names()
    )
    assert ("DimensionSpec", "factory") in SPEC_FIELDS
    assert {"compare", "dedup", "index build", "not-duplicates salvage"} <= set(COMMANDS)


@pytest.mark.parametrize("hook", _hook_names())
def test_plugin_guide_documents_hook(hook):
    assert f"`{hook}(" in _guide_text(), f"{hook} is not documented in {GUIDE}"


@pytest.mark.parametrize(("spec", "field"), SPEC_FIELDS, ids=[f"{s}.{f}" for s, f in SPEC_FIELDS])
def test_plugin_guide_documents_spec_field(spec, field):
    documented = _documented_fields(spec)
    assert field in documented, (
        f"{spec}.{field} is not in the `{spec}` fields table of the plugin guide "
        f"(documented: {sorted(documented)})"
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_generated_cli_reference_has_command(command, built_site):
    heading = f"`imageprism {command}`"
    assert re.search(rf"^#+ {re.escape(heading)}", cli_reference.markdown(), re.M), command
    page = (built_site / "reference" / "cli" / "index.html").read_text()
    assert f"imageprism {command}</code>" in page, command


def test_generated_cli_reference_lists_every_option_of_dedup():
    from imageprism.cli._main import _parser

    dedup = next(
        action.choices["dedup"]
        for action in _parser()._actions
        if isinstance(getattr(action, "choices", None), dict)
    )
    help_options = ("-h", "--help")
    options = {o for a in dedup._actions for o in a.option_strings if o not in help_options}
    assert options
    text = cli_reference.markdown()
    section = text.split("`imageprism dedup`", 1)[1].split("\n#", 1)[0]
    for option in options:
        assert f"`{option}`" in section, option


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mkdocs", reason="the dev extra (mkdocs) is not installed")
    site = tmp_path_factory.mktemp("site")
    # No network at build time: any fetch would go to a closed port and fail the build.
    closed = "http://127.0.0.1:9"
    env = {**os.environ, "HTTP_PROXY": closed, "HTTPS_PROXY": closed, "NO_PROXY": ""}
    env["NO_MKDOCS_2_WARNING"] = "1"
    build = ["build", "--strict", "-f", str(CORE / "mkdocs.yml"), "-d", str(site)]
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", *build],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return site


def test_site_builds_strict_with_every_page_of_the_nav(built_site):
    nav = re.findall(r":\s+(\S+\.md)\s*$", (CORE / "mkdocs.yml").read_text(), re.M)
    assert len(nav) > 20
    for page in nav:
        target = page.removesuffix(".md")
        built = built_site / ("index.html" if target == "index" else f"{target}/index.html")
        if target.endswith("/index"):
            built = built_site / target.removesuffix("/index") / "index.html"
        assert built.is_file(), page
    api = (built_site / "reference" / "api" / "index.html").read_text()
    for name in ("ImagePrism", "DedupResult", "HashConfig", "ImageLoadError", "ImageIndex"):
        assert f'id="imageprism.{name}' in api or f'id="imageprism.errors.{name}' in api, name


def test_docs_code_blocks_run_like_the_readme(demo_photos, tmp_path, monkeypatch):
    # getting-started's first Python block is the README's quick example: it must run and
    # print what its comments say
    from test_readme import run_quick_example

    text = (DOCS / "getting-started.md").read_text()
    block = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    scores, labels = run_quick_example(block, demo_photos, tmp_path, monkeypatch)
    assert scores["hash"] > 0.95
    assert labels == [0, 0, 2]


def test_every_docs_link_to_a_file_resolves():
    broken = []
    for page in sorted(DOCS.rglob("*.md")):
        if "examples" in page.relative_to(DOCS).parts:
            continue
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            path = target.split("#")[0]
            if not path or "://" in path or path.endswith("/"):
                continue
            if not (page.parent / path).resolve().exists():
                broken.append(f"{page.relative_to(DOCS)}: {target}")
    assert not broken
