"""The six real demo photos shipped inside the package (``engine/demo_assets``).

They are Oxford-IIIT Pet images with their trimaps, downscaled to 320 px (see
``engine/demo_assets/ATTRIBUTION.md`` and ``engine.data.make_demo_assets``); the TUI and the
inference tests use them so a fresh install has something real to segment.
"""

from __future__ import annotations

from pathlib import Path

from engine.data.images import IMAGE_SUFFIXES


def demo_assets_dir() -> Path:
    """``engine/demo_assets`` (official layout: images/, annotations/trimaps/)."""
    return Path(__file__).resolve().parent.parent / "demo_assets"


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
