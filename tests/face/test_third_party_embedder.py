"""A third-party face embedder, installed with pip, is found by the face pack and used by name.

The example package ``imageprism-core/docs/examples/imageprism-facepatch`` (shipped with
the docs) is pip-installed once per session into a temporary directory (no network:
``--no-build-isolation`` uses the venv's hatchling; ``--no-deps`` as imageprism-face is
already in the venv). Child Python processes get that directory on ``PYTHONPATH``, so
entry-point discovery sees it exactly as after ``pip install imageprism-facepatch``.
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

import pytest
from tests_support import pip_install_target

from imageprism import ConfigError
from imageprism_face import FaceConfig
from imageprism_face.dimension import FaceDimension

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "imageprism-core" / "docs" / "examples" / "imageprism-facepatch"
SHARED = Path(__file__).resolve().parents[2].parent / "shared"
ULTRAFACE = SHARED / "models/ultraface/version-RFB-320.onnx"
FACES = SHARED / "data/faces"


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory imageprism-facepatch was pip-installed into (``--target``)."""
    return pip_install_target(PACKAGE, tmp_path_factory.mktemp("facepatch-site"))


@pytest.fixture
def shared_photos() -> list[Path]:
    """The real face photos of ../shared (skips when the detector or photos are absent)."""
    if not ULTRAFACE.is_file():
        pytest.skip(f"UltraFace model not available: {ULTRAFACE} is absent")
    photos = sorted(FACES.glob("*.jpg")) if FACES.is_dir() else []
    if len(photos) < 2:
        pytest.skip(f"real face photos not available: {FACES} is absent or holds too few")
    return photos


def run_json(target: Path, *argv: str) -> Any:
    """Run ``python *argv`` with ``target`` on PYTHONPATH; parse the JSON it prints."""
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("IMAGEPRISM_DISABLE_PLUGINS", None)
    result = subprocess.run(
        [sys.executable, *argv], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def code(source: str) -> list[str]:
    """``-c`` arguments running ``source`` (dedented)."""
    return ["-c", textwrap.dedent(source)]


def test_facepatch_is_unavailable_without_the_install() -> None:
    with pytest.raises(metadata.PackageNotFoundError):
        metadata.distribution("imageprism-facepatch")
    with pytest.raises(
        ConfigError, match=r"unknown face embedder 'facepatch'; available: .*arcface.*onnx"
    ):
        FaceDimension(FaceConfig(embedder="facepatch"))


def test_plugins_json_lists_facepatch_from_its_distribution(installed: Path) -> None:
    listing = run_json(installed, "-m", "imageprism", "plugins", "--json")
    plugins = {plugin["name"]: plugin for plugin in listing["plugins"]}
    facepatch = plugins["facepatch"]
    assert facepatch["distribution"] == "imageprism-facepatch"
    assert facepatch["version"] == "0.1.0"
    assert facepatch["status"] == "ok", facepatch["error"]
    assert facepatch["dimensions"] == []  # it adds an embedder to the face pack, no dimension
    assert plugins["face"]["status"] == "ok"


def test_face_plugins_include_facepatch_and_it_embeds_unit_zero_mean_vectors(
    installed: Path,
) -> None:
    result = run_json(
        installed,
        *code(
            """
            import json
            import numpy as np
            from imageprism_face import Face, FaceConfig, FaceEmbedder
            from imageprism_face.dimension import face_plugins
            detectors, embedders, errors = face_plugins()
            spec = embedders["facepatch"]
            embedder = spec.factory(FaceConfig(embedder="facepatch"))
            rng = np.random.default_rng(0)
            image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
            faces = [Face((40, 30, 100, 90), 0.9), Face((10, 10, 50, 60), 0.8)]
            vectors = embedder.embed_faces(image, faces)
            print(json.dumps({
                "embedders": sorted(embedders),
                "errors": errors,
                "licence": spec.licence,
                "protocol": isinstance(embedder, FaceEmbedder),
                "name": embedder.name,
                "shapes": [list(v.shape) for v in vectors],
                "norms": [float(np.linalg.norm(v)) for v in vectors],
                "means": [float(v.mean()) for v in vectors],
            }))
            """
        ),
    )
    assert "facepatch" in result["embedders"]
    assert {"arcface", "onnx"} <= set(result["embedders"])
    assert result["errors"] == []
    assert result["licence"]
    assert result["protocol"] is True
    assert result["name"] == "facepatch"
    assert result["shapes"] == [[256], [256]]
    assert result["norms"] == pytest.approx([1.0, 1.0], abs=1e-5)
    assert result["means"] == pytest.approx([0.0, 0.0], abs=1e-5)


def test_facepatch_scores_a_face_one_with_itself_and_none_against_a_blank_image(
    installed: Path, shared_photos: list[Path]
) -> None:
    result = run_json(
        installed,
        *code(
            """
            import json, sys
            from pathlib import Path
            import numpy as np
            from imageprism import ImagePrism
            from imageprism_face import FaceConfig
            config = FaceConfig(
                embedder="facepatch", detector="ultraface", detector_path=Path(sys.argv[1])
            )
            prism = ImagePrism(["face"], config={"face": config})
            blank = np.full((240, 320, 3), 128, dtype=np.uint8)
            print(json.dumps({
                "embedder": prism.dimension("face").embedder.name,
                "same": prism.compare(sys.argv[2], sys.argv[2]).scores["face"],
                "other": prism.compare(sys.argv[2], sys.argv[3]).scores["face"],
                "blank": prism.compare(sys.argv[2], blank).scores["face"],
            }))
            """
        ),
        str(ULTRAFACE),
        str(shared_photos[0]),
        str(shared_photos[1]),
    )
    assert result["embedder"] == "facepatch"
    assert result["same"] == pytest.approx(1.0)
    assert result["blank"] is None
    assert result["other"] is not None and 0.0 <= result["other"] < 1.0
