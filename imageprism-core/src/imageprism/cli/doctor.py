"""The checks behind ``imageprism doctor``: the facts a user needs to fix a setup."""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from imageprism import environment
from imageprism._version import __version__
from imageprism.plugin.dimension import PACKAGES
from imageprism.plugin.registry import get_registry
from imageprism.runtime.hub import offline


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


def _python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    ok = sys.version_info >= (3, 11)
    return Check("python", ok, f"Python {version}", "" if ok else "use Python 3.11 or newer")


def _plugins() -> list[Check]:
    registry = get_registry()
    out = [
        Check(
            f"plugin {p.name}",
            p.status != "failed",
            f"{p.distribution} {p.version}: {p.status}"
            + (f" ({', '.join(p.dimensions)})" if p.dimensions else "")
            + (f": {p.error}" if p.error else ""),
            f"reinstall or upgrade it: pip install -U {p.distribution}" if p.error else "",
        )
        for p in registry.plugins
    ]
    for package in sorted(set(PACKAGES.values())):
        version = _installed(package)
        wanted = sorted(name for name, owner in PACKAGES.items() if owner == package)
        out.append(
            Check(
                f"pack {package}",
                True,  # optional: only needed for its dimensions
                f"{package} {version}"
                if version
                else f"not installed (optional; provides {', '.join(wanted)})",
                "" if version else f"pip install {package}  (only if you need {', '.join(wanted)})",
            )
        )
    return out


def _onnx() -> list[Check]:
    out = []
    if importlib.util.find_spec("onnxruntime") is None:
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


def _formats() -> list[Check]:
    from PIL import features

    out = []
    heic = importlib.util.find_spec("pillow_heif") is not None
    out.append(
        Check(
            "HEIC images",
            True,  # optional
            "pillow-heif installed" if heic else "not readable (optional)",
            "" if heic else "pip install pillow-heif",
        )
    )
    avif = bool(features.check("avif")) if "avif" in features.modules else False
    avif = avif or importlib.util.find_spec("pillow_avif") is not None
    out.append(
        Check(
            "AVIF images",
            True,  # optional
            "readable" if avif else "not readable (optional)",
            "" if avif else "pip install pillow-avif-plugin (or a Pillow built with AVIF)",
        )
    )
    video = importlib.util.find_spec("av") is not None
    out.append(
        Check(
            "video input",
            True,  # optional
            "PyAV installed" if video else "PyAV not installed (optional)",
            "" if video else 'pip install "imageprism-core[video]"',
        )
    )
    parquet = importlib.util.find_spec("pyarrow") is not None
    out.append(
        Check(
            "Parquet output",
            True,  # optional
            "pyarrow installed" if parquet else "not available (optional; .npz works)",
            "" if parquet else 'pip install "imageprism-core[parquet]" (or write .npz)',
        )
    )
    return out


def run_checks() -> list[Check]:
    """Every check, in the order ``imageprism doctor`` prints them."""
    core = Check("imageprism-core", True, f"{__version__} at {Path(__file__).parent}")
    return [_python(), core, *_plugins(), *_onnx(), *_models(), *_formats()]
