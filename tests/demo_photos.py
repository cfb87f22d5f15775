"""Write a few real photos, and edited copies of them, for the demo and the tests.

The photos are samples bundled in scikit-image's wheel (public domain or
CC0/CC-BY, see skimage/data/README.txt); no network is needed.

    python tests/demo_photos.py OUT_DIR    # writes OUT_DIR/photos/*.jpg
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from PIL import Image

#: Bundled colour photos used as originals.
ORIGINALS = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png")


def sample_dir() -> Path:
    """The folder of scikit-image's bundled sample images."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("scikit-image is not installed: run `python3 tasks.py install` first")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def write_photos(out: Path) -> dict[str, Path]:
    """Write the originals and their edited copies to ``out``; returns name -> path.

    Edited copies: ``coffee_q40`` (re-encoded at JPEG quality 40), ``chelsea_half``
    (resized to half), ``astronaut_crop`` (3% trimmed off each side) and
    ``rocket_png`` (the same pixels as a PNG).
    """
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    images: dict[str, Image.Image] = {}
    for filename in ORIGINALS:
        name = Path(filename).stem
        with Image.open(sample_dir() / filename) as image:
            images[name] = image.convert("RGB")
        paths[name] = out / f"{name}.jpg"
        images[name].save(paths[name], quality=90)

    paths["coffee_q40"] = out / "coffee_q40.jpg"
    images["coffee"].save(paths["coffee_q40"], quality=40)
    chelsea = images["chelsea"]
    paths["chelsea_half"] = out / "chelsea_half.jpg"
    chelsea.resize((chelsea.width // 2, chelsea.height // 2), Image.Resampling.LANCZOS).save(
        paths["chelsea_half"], quality=90
    )
    astronaut = images["astronaut"]
    dx, dy = astronaut.width * 3 // 100, astronaut.height * 3 // 100
    paths["astronaut_crop"] = out / "astronaut_crop.jpg"
    astronaut.crop((dx, dy, astronaut.width - dx, astronaut.height - dy)).save(
        paths["astronaut_crop"], quality=90
    )
    paths["rocket_png"] = out / "rocket_png.png"
    images["rocket"].save(paths["rocket_png"])
    return paths


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else ".demo") / "photos"
    written = write_photos(target)
    print(f"wrote {len(written)} photos to {target}")
