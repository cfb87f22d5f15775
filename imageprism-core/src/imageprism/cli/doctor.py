"""``imageprism doctor``: check the installation and print the facts a user needs to fix a
setup: the Python version, imageprism-core, each plugin and pack, ONNX Runtime, the network
and model cache settings, each model file, and the optional image, video and Parquet formats.
A missing optional feature is fine (with how to add it); any problem makes the exit code 1.
Printed text is escaped (``display_text``): a path holding a newline shows as ``\\n``.
``run_checks`` gives the checks as data (``imageprism.doctor`` is this module, for old code).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imageprism import environment
from imageprism._version import __version__
from imageprism.cli._common import EXIT_OK, EXIT_SOME_FAILED, add_json_option, print_json
from imageprism.io.names import display_text
from imageprism.plugin.dimension import PACKAGES
from imageprism.plugin.registry import PluginInfo, get_registry
from imageprism.runtime.hub import offline

if TYPE_CHECKING:
    import argparse


@dataclass(frozen=True)
class Check:
    """One fact about the setup.

    Attributes:
        name: What was checked.
        ok: Whether it is fine (a missing optional feature is fine).
        detail: What was found.
        fix: What to do: for a problem, the fix; for a missing optional feature,
            how to add it.
    """

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The check as JSON-ready data."""
        return asdict(self)


def _installed(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _optional(name: str, present: bool, found: str, missing: str, fix: str) -> Check:
    """An optional feature: fine either way; ``found`` or ``missing`` says which, and
    without it the check says how to add it (``fix``)."""
    return Check(name, True, found if present else missing, "" if present else fix)


def _has(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    return importlib.util.find_spec(module) is not None


def _python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    ok = sys.version_info >= (3, 11)
    return Check("python", ok, f"Python {version}", "" if ok else "use Python 3.11 or newer")


def _plugin_hint(plugin: PluginInfo) -> str:
    """What to do about a failed plugin: upgrading does not undo a name clash, and may
    not fix code that raises."""
    if not plugin.error:
        return ""
    leave_out = f"IMAGEPRISM_DISABLE_PLUGINS={plugin.name}"
    if plugin.clashes:
        return (
            f"two plugins claim the same name: uninstall one (pip uninstall "
            f"{plugin.distribution}), or leave one out with {leave_out} or IMAGEPRISM_PLUGINS"
        )
    return (
        f"its code failed (the error above): leave it out with {leave_out}, try "
        f"pip install --force-reinstall {plugin.distribution}, or report it to its authors"
    )


def _plugins() -> list[Check]:
    registry = get_registry()
    out = [
        Check(
            f"plugin {p.name}",
            p.status != "failed",
            f"{p.distribution} {p.version}: {p.status}"
            + (f" ({', '.join(p.dimensions)})" if p.dimensions else "")
            + (f": {p.error}" if p.error else ""),
            _plugin_hint(p),
        )
        for p in registry.plugins
    ]
    for package in sorted(set(PACKAGES.values())):
        version = _installed(package)
        wanted = sorted(name for name, owner in PACKAGES.items() if owner == package)
        out.append(  # optional: only needed for its dimensions
            _optional(
                f"pack {package}",
                bool(version),
                f"{package} {version}",
                f"not installed (optional; provides {', '.join(wanted)})",
                f"pip install {package}  (only if you need {', '.join(wanted)})",
            )
        )
    return out


def _onnx() -> list[Check]:
    out = []
    if not _has("onnxruntime"):
        out.append(
            Check(
                "onnxruntime",
                True,  # optional: the hash dimension needs none
                "not installed (optional; needed by semantic, instance, style, face)",
                'pip install "imageprism-core[onnx]"',
            )
        )
    else:
        try:
            import onnxruntime

            providers = ", ".join(onnxruntime.get_available_providers())
            out.append(
                Check("onnxruntime", True, f"{onnxruntime.__version__}; providers: {providers}")
            )
        except Exception as err:
            out.append(
                Check(
                    "onnxruntime",
                    False,
                    f"installed but does not load: {type(err).__name__}: {err}",
                    'reinstall it: pip install --force-reinstall "imageprism-core[onnx]"',
                )
            )
    out.append(
        Check(
            "network",
            True,
            f"{environment.HF_HUB_OFFLINE} is set: model downloads are off"
            if offline()
            else "model downloads allowed (set HF_HUB_OFFLINE=1 to forbid them)",
        )
    )
    cache = os.environ.get(environment.CACHE_DIR)
    if cache:
        path = Path(cache).expanduser()
        writable = os.access(path if path.exists() else path.parent, os.W_OK)
        out.append(
            Check(
                "model cache",
                writable,
                f"{environment.CACHE_DIR}={path}" + ("" if writable else " is not writable"),
                ""
                if writable
                else f"make {path} writable or point {environment.CACHE_DIR} elsewhere",
            )
        )
    return out


def _models() -> list[Check]:
    registry = get_registry()
    out = []
    for name, spec in sorted(registry.dimensions.items()):
        for model in spec.model_files:
            try:
                from imageprism.runtime.hub import describe_cache_state

                state = describe_cache_state(model)
            except Exception as err:  # huggingface_hub missing, unreadable cache...
                out.append(Check(f"model {name}", False, f"{model.describe()}: {err}", str(err)))
                continue
            # Not downloaded yet is fine online (first use downloads it), a problem offline.
            is_offline = offline()
            if state["cached"]:
                detail = f"{model.describe()}: cached at {state['path']}"
            else:
                detail = f"{model.describe()}: not downloaded" + (
                    "" if is_offline else " (downloads on first use)"
                )
            out.append(
                Check(
                    f"model {name}",
                    state["cached"] or not is_offline,
                    detail,
                    "" if state["cached"] else f"imageprism models pull {name}",
                )
            )
    return out


#: The optional formats: the check's name, and its detail when present, when missing, and
#: how to add it.
_FORMATS = {
    "HEIC images": ("pillow-heif installed", "not readable (optional)", "pip install pillow-heif"),
    "AVIF images": (
        "readable",
        "not readable (optional)",
        "pip install pillow-avif-plugin (or a Pillow built with AVIF)",
    ),
    "video input": (
        "PyAV installed",
        "PyAV not installed (optional)",
        'pip install "imageprism-core[video]"',
    ),
    "Parquet output": (
        "pyarrow installed",
        "not available (optional; .npz works)",
        'pip install "imageprism-core[parquet]" (or write .npz)',
    ),
}


def _formats() -> list[Check]:
    from PIL import features

    present = {
        "HEIC images": _has("pillow_heif"),
        "AVIF images": (bool(features.check("avif")) if "avif" in features.modules else False)
        or _has("pillow_avif"),
        "video input": _has("av"),
        "Parquet output": _has("pyarrow"),
    }
    return [_optional(name, present[name], *texts) for name, texts in _FORMATS.items()]


def run_checks() -> list[Check]:
    """Every check, in the order ``imageprism doctor`` prints them."""
    package = Path(__file__).parents[1]  # imageprism/, not imageprism/cli/
    core = Check("imageprism-core", True, f"{__version__} at {package}")
    return [_python(), core, *_plugins(), *_onnx(), *_models(), *_formats()]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``doctor`` command to the subcommands ``sub``."""
    p = sub.add_parser(
        "doctor", help="check the setup: packs, plugins, model cache, ONNX Runtime, formats"
    )
    add_json_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print every check (a fix under each problem); returns 1 if any is a problem, else 0."""
    checks = run_checks()
    problems = [c for c in checks if not c.ok]
    if args.json:
        print_json({"ok": not problems, "checks": [c.to_dict() for c in checks]})
    else:
        width = max(len(display_text(c.name)) for c in checks)
        for check in checks:
            status = "ok     " if check.ok else "problem"
            name = display_text(check.name)
            fix = f"\n{'':{width + 11}}fix: {display_text(check.fix)}" if check.fix else ""
            print(f"{status}  {name:<{width}}  {display_text(check.detail)}{fix}")
    return EXIT_SOME_FAILED if problems else EXIT_OK
