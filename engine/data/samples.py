"""Real Oxford-IIIT Pet data shipped inside the package.

* ``engine/training_sample``: the default training data, 496 photos of three breeds
  (Abyssinian, Bengal, american_bulldog) with their official trimaps and split lists, downscaled
  to 256 px (see its ATTRIBUTION.md and ``engine.data.make_training_sample``).
* ``engine/demo_assets``: six photos of OTHER breeds with trimaps, downscaled to 320 px (see
  ``engine/demo_assets/ATTRIBUTION.md`` and ``engine.data.make_demo_assets``); the demo, the TUI
  and the inference tests use them to show how a model does on pets it has not seen.
"""

from __future__ import annotations

from pathlib import Path

from engine.data.images import IMAGE_SUFFIXES

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # engine/


def training_sample_dir() -> Path:
    """``engine/training_sample`` (official layout, with trainval.txt and test.txt)."""
    return _PACKAGE_DIR / "training_sample"


def demo_assets_dir() -> Path:
    """``engine/demo_assets`` (official layout: images/, annotations/trimaps/)."""
    return _PACKAGE_DIR / "demo_assets"


def sample_image_paths() -> list[Path]:
    """The demo photos, sorted by name."""
    folder = demo_assets_dir() / "images"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def sample_pairs() -> list[tuple[Path, Path]]:
    """(image, trimap) for every demo photo that has a trimap, sorted by name."""
    trimaps = demo_assets_dir() / "annotations" / "trimaps"
    return [(p, trimaps / f"{p.stem}.png") for p in sample_image_paths() if (trimaps / f"{p.stem}.png").is_file()]
