"""A real third-party plugin, installed with pip, is discovered and used by name.

The example package ``imageprism-core/docs/examples/imageprism-colorhist`` (shipped with
the docs) is pip-installed once per session into a temporary directory (no network:
``--no-build-isolation`` uses the venv's hatchling). Child Python processes get that directory on
``PYTHONPATH``, so entry-point discovery sees the installed distribution exactly
as it would after ``pip install imageprism-colorhist``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from tests_support import pip_install_target

from imageprism import ImagePrism, UnknownDimensionError
from imageprism.environment import DISABLE_PLUGINS
from imageprism.plugin import Registry

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "imageprism-core" / "docs" / "examples" / "imageprism-colorhist"


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory imageprism-colorhist was pip-installed into (``--target``)."""
    return pip_install_target(PACKAGE, tmp_path_factory.mktemp("site"))


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A warm red-orange gradient and a cold blue-green noise image, as PNG files."""
    folder = tmp_path_factory.mktemp("images")
    ramp = np.linspace(0, 255, 96, dtype=np.uint8)
    warm = np.zeros((96, 96, 3), dtype=np.uint8)
    warm[..., 0] = 200 + ramp[None, :] // 5
    warm[..., 1] = ramp[:, None] // 2
    rng = np.random.default_rng(0)
    cold = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
    cold[..., 0] //= 8
    paths = {"warm": folder / "warm.png", "cold": folder / "cold.png"}
    Image.fromarray(warm).save(paths["warm"])
    Image.fromarray(cold).save(paths["cold"])
    return paths


def run_json(target: Path, *argv: str, disable: str = "") -> Any:
    """Run ``python *argv`` with ``target`` on PYTHONPATH; parse the JSON it prints."""
    env = {**os.environ, "PYTHONPATH": str(target), DISABLE_PLUGINS: disable}
    result = subprocess.run(
        [sys.executable, *argv], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def code(source: str) -> list[str]:
    """``-c`` arguments running ``source`` (dedented)."""
    return ["-c", textwrap.dedent(source)]


def test_colorhist_is_unknown_without_the_install() -> None:
    with pytest.raises(metadata.PackageNotFoundError):
        metadata.distribution("imageprism-colorhist")
    with pytest.raises(UnknownDimensionError, match="colorhist"):
        Registry().dimension("colorhist")
    with pytest.raises(UnknownDimensionError, match="colorhist"):
        ImagePrism(dimensions=["colorhist"], registry=Registry())


def test_installed_colorhist_scores_an_image_with_itself_as_one_and_a_different_one_lower(
    installed: Path, images: dict[str, Path]
) -> None:
    scores = run_json(
        installed,
        *code(
            """
            import json, sys
            from imageprism import ImagePrism
            prism = ImagePrism(dimensions=["colorhist"])
            same = prism.compare(sys.argv[1], sys.argv[1])
            other = prism.compare(sys.argv[1], sys.argv[2])
            out = {"same": same.scores, "other": other.scores, "dims": prism.dimensions}
            print(json.dumps(out))
            """
        ),
        str(images["warm"]),
        str(images["cold"]),
    )
    assert scores["dims"] == ["colorhist"]
    assert scores["same"] == {"colorhist": pytest.approx(1.0, abs=1e-9)}
    assert 0.0 <= scores["other"]["colorhist"] < 0.2


def test_colorhist_and_hash_weighted_equally_give_the_mean_of_both_scores(
    installed: Path, images: dict[str, Path]
) -> None:
    result = run_json(
        installed,
        *code(
            """
            import json, sys
            from imageprism import ImagePrism
            prism = ImagePrism(weights={"hash": 0.5, "colorhist": 0.5})
            print(json.dumps(prism.compare(sys.argv[1], sys.argv[2]).to_dict()))
            """
        ),
        str(images["warm"]),
        str(images["cold"]),
    )
    scores = result["scores"]
    assert set(scores) == {"hash", "colorhist"}
    assert all(0.0 <= score <= 1.0 for score in scores.values())
    assert scores["hash"] != pytest.approx(scores["colorhist"])  # the mean tells them apart
    assert result["weighted_score"] == pytest.approx((scores["hash"] + scores["colorhist"]) / 2)


def test_plugins_json_lists_colorhist_with_its_distribution_and_dimension(
    installed: Path,
) -> None:
    listing = run_json(installed, "-m", "imageprism", "plugins", "--json")
    plugins = {plugin["name"]: plugin for plugin in listing["plugins"]}
    colorhist = plugins["colorhist"]
    assert colorhist["distribution"] == "imageprism-colorhist"
    assert colorhist["version"] == "0.1.0"
    assert colorhist["dimensions"] == ["colorhist"]
    assert colorhist["status"] == "ok"
    assert listing["dimensions"]["colorhist"]["plugin"] == "colorhist"


def test_disabling_the_colorhist_plugin_makes_the_dimension_unknown(installed: Path) -> None:
    result = run_json(
        installed,
        *code(
            """
            import json
            from imageprism import ImagePrism, UnknownDimensionError
            try:
                ImagePrism(dimensions=["colorhist"])
            except UnknownDimensionError as err:
                print(json.dumps({"raised": type(err).__name__, "message": str(err)}))
            else:
                print(json.dumps({"raised": None}))
            """
        ),
        disable="colorhist",
    )
    assert result["raised"] == "UnknownDimensionError"
    assert "unknown dimension 'colorhist'" in result["message"]


def test_colorhist_config_accepts_valid_bins_and_rejects_out_of_range_bins_as_config_error(
    installed: Path, images: dict[str, Path]
) -> None:
    result = run_json(
        installed,
        *code(
            """
            import json, sys
            from imageprism import ConfigError, ImagePrism
            prism = ImagePrism(dimensions=["colorhist"], config={"colorhist": {"bins": 4}})
            out = {
                "bins": prism.dimension("colorhist").config.bins,
                "size": len(prism.embed(sys.argv[1])["colorhist"]),
                "default_size": len(ImagePrism("colorhist").embed(sys.argv[1])["colorhist"]),
            }
            try:
                ImagePrism(dimensions=["colorhist"], config={"colorhist": {"bins": 1}})
            except ConfigError as err:
                out["error"] = str(err)
            print(json.dumps(out))
            """
        ),
        str(images["warm"]),
    )
    assert result["bins"] == 4
    assert result["size"] == 4**3
    assert result["default_size"] == 8**3
    assert "config['colorhist'] is invalid" in result["error"]
    assert "bins" in result["error"]
