"""``imageprism plugin new NAME --kind dimension|face-embedder|face-detector [--dir DIR]``:
write a ready, installable plugin package to start a plugin from.

The package (in ``./NAME``, or ``DIR``) holds a ``pyproject.toml`` declaring the entry point
in the ``imageprism`` group, a module with a small working implementation of the kind asked
for and the hook that registers it, a test that runs the conformance tests on it, and a
README. ``NAME`` is the distribution's name; the module is ``NAME`` with ``_`` for ``-``, and
the registered name (the dimension, face embedder or face detector, and the entry point) is
the module's name without a leading ``imageprism_``. An existing folder is never written to.
The files come from the templates in ``plugin_templates`` (package data, filled in with
``string.Template``).
"""

from __future__ import annotations

import argparse
import importlib.util
import keyword
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from imageprism._version import __version__
from imageprism.cli._common import EXIT_OK, UsageError
from imageprism.io.names import display_name

#: What ``--kind`` takes: the registration hook of each kind, and how it is named in text.
KINDS: dict[str, tuple[str, str]] = {
    "dimension": ("imageprism_register_dimensions", "dimension"),
    "face-embedder": ("imageprism_register_face_embedders", "face embedder"),
    "face-detector": ("imageprism_register_face_detectors", "face detector"),
}

_NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
_MAX_NAME = 40
#: Names a plugin may not take: imageprism's own distributions and packages.
_OURS = frozenset({"imageprism", "imageprism_core", "imageprism_models", "imageprism_face"})
_TEMPLATES = "plugin_templates"


@dataclass(frozen=True)
class PluginNames:
    """The names a new plugin package uses, all derived from the one given.

    Attributes:
        distribution: What ``pip install`` and ``imageprism plugins`` show, e.g. ``acme-colours``.
        module: The import package, e.g. ``acme_colours``.
        component: The registered name and the entry point's, e.g. ``acme_colours`` (for
            ``imageprism-colours``: ``colours``).
    """

    distribution: str
    module: str
    component: str


def plugin_names(name: str) -> PluginNames:
    """The names a plugin package called ``name`` uses.

    Raises:
        UsageError: ``name`` is not a lowercase distribution name that also makes a Python
            module and a plugin name, or it is one of imageprism's own or the standard
            library's, or a module of that name is already installed.
    """
    rule = (
        "use lowercase letters and digits, words joined by single '-' or '_', starting "
        "with a letter (e.g. acme-colours); it names the distribution, the module and the plugin"
    )
    if not _NAME.fullmatch(name):
        raise UsageError(f"plugin name {name!r} is not valid: {rule}")
    if len(name) > _MAX_NAME:
        raise UsageError(
            f"plugin name {name!r} is too long ({len(name)} characters; at most {_MAX_NAME})"
        )
    module = name.replace("-", "_")
    if module in _OURS or module in sys.stdlib_module_names or keyword.iskeyword(module):
        raise UsageError(
            f"plugin name {name!r} is taken by imageprism or Python itself (module {module!r}); "
            "choose another, e.g. with your company's prefix"
        )
    if importlib.util.find_spec(module) is not None:
        raise UsageError(
            f"plugin name {name!r} would shadow the installed module {module!r}; choose another"
        )
    component = module.removeprefix("imageprism_")
    if not _NAME.fullmatch(component):
        raise UsageError(
            f"plugin name {name!r} is not valid: after 'imageprism-' comes the plugin's own "
            "name, which must start with a letter"
        )
    return PluginNames(name, module, component)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``plugin`` command group (``new``) to the subcommands ``sub``."""
    plugin = sub.add_parser("plugin", help="start a plugin: write a ready, installable package")
    plugin_sub = plugin.add_subparsers(dest="plugin_command", required=True, metavar="ACTION")
    p = plugin_sub.add_parser(
        "new",
        help="write a plugin package: pyproject, module, conformance test and README",
        description=(
            "Write a ready, installable plugin package into ./NAME (or --dir): pyproject.toml "
            "with the entry point, a module with a small working implementation, a test "
            "running the conformance tests, and a README. An existing folder is never touched."
        ),
    )
    p.add_argument(
        "name",
        metavar="NAME",
        help="distribution name, e.g. acme-colours (module acme_colours, plugin acme_colours; "
        "imageprism-colours gives the plugin name colours)",
    )
    p.add_argument("--kind", required=True, choices=list(KINDS), help="what the plugin provides")
    p.add_argument("--dir", help="folder to create (default: ./NAME); must not exist")
    p.set_defaults(run=run_new)


def _registered_names(kind: str) -> tuple[set[str], str]:
    """The names already registered for ``kind`` here, and who registered one (for errors)."""
    from imageprism.plugin.registry import get_registry

    registry = get_registry()
    hook, text = KINDS[kind]
    if kind == "dimension":
        return set(registry.dimensions), text
    if not hasattr(registry.manager.hook, hook):  # the face pack is not installed
        return set(), text
    found, _ = registry.collect(hook, object, text)
    return set(found), text


def render(kind: str, names: PluginNames) -> dict[str, str]:
    """The files of a new ``kind`` plugin package, by path relative to its folder.

    Raises:
        KeyError: ``kind`` is not one of ``KINDS``.
    """
    _, text = KINDS[kind]
    major_minor = ".".join(__version__.split(".")[:2])
    requirement = "imageprism-core" if kind == "dimension" else "imageprism-face"
    values = {
        "distribution": names.distribution,
        "module": names.module,
        "component": names.component,
        "kind_text": text,
        "requirement": f"{requirement}>={major_minor}",
    }
    templates = resources.files("imageprism.cli").joinpath(_TEMPLATES)

    def fill(template: str) -> str:
        return Template(templates.joinpath(template).read_text(encoding="utf-8")).substitute(values)

    return {
        "pyproject.toml": fill("pyproject.toml.tmpl"),
        "README.md": fill(f"README-{kind}.md.tmpl"),
        f"src/{names.module}/__init__.py": fill(f"{kind}.py.tmpl"),
        f"src/{names.module}/py.typed": "",
        f"tests/test_{names.module}.py": fill(f"test_{kind}.py.tmpl"),
    }


def write_package(kind: str, names: PluginNames, folder: Path) -> list[Path]:
    """Write a new plugin package into ``folder``, which must not exist; returns its files.

    The files are written to a temporary folder next to it, then moved in place at once,
    so a failure leaves nothing half-written.

    Raises:
        UsageError: ``folder`` exists, or the folder it would go in does not.
        OSError: the files could not be written.
    """
    shown = display_name(str(folder))
    if folder.exists() or folder.is_symlink():
        raise UsageError(f"{shown} already exists; give another NAME or --dir (nothing written)")
    parent = folder.absolute().parent
    if not parent.is_dir():
        raise UsageError(f"cannot write {shown}: folder {display_name(str(parent))} not found")
    files = render(kind, names)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=parent))
    try:
        for relative, content in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        staging.chmod(0o777 & ~_umask())
        if folder.exists():  # made while we wrote: still never touch it
            raise UsageError(f"{shown} already exists; give another NAME or --dir")
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [folder / relative for relative in files]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def run_new(args: argparse.Namespace) -> int:
    """``plugin new``: write the package and say what to do next; returns the exit code."""
    names = plugin_names(args.name)
    taken, text = _registered_names(args.kind)
    if names.component in taken:
        raise UsageError(
            f"a {text} named {names.component!r} is already registered here; "
            "choose another NAME (two plugins cannot share a name)"
        )
    folder = Path(args.dir) if args.dir else Path(args.name)
    files = write_package(args.kind, names, folder)
    shown = display_name(str(folder))
    print(
        f"wrote {shown}: {text} {names.component!r} in module {names.module}, "
        f"distribution {names.distribution}"
    )
    for path in files:
        print(f"  {display_name(str(path))}")
    local = str(folder) if folder.is_absolute() or folder.parent != Path() else f"./{folder}"
    print(f'next: pip install -e "{display_name(local)}[test]" && pytest {shown}')
    return EXIT_OK
