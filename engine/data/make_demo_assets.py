"""Rebuild ``engine/demo_assets`` from the six-image Oxford-IIIT Pet sample (reproducible).

    python -m engine.data.make_demo_assets [SRC] [--dest DIR] [--max-side 320]

SRC defaults to ``oxford-pet-mini`` in the shared data folder. Each image is downscaled so its
longest side is ``max_side`` (LANCZOS, JPEG quality 90, metadata dropped) and its trimap to
exactly the same size with NEAREST, so values stay 1/2/3 and stay aligned with the photo.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from PIL import Image

from engine.data.dirs import shared_data_dirs
from engine.data.images import load_trimap
from engine.data.layout import PetLayout
from engine.data.samples import demo_assets_dir

ATTRIBUTION = """# Demo images: attribution and licence

The photos in `images/` and the trimaps in `annotations/trimaps/` are six image/trimap pairs from
the **Oxford-IIIT Pet Dataset**:

> O. M. Parkhi, A. Vedaldi, A. Zisserman, C. V. Jawahar. "Cats and Dogs".
> IEEE Conference on Computer Vision and Pattern Recognition (CVPR), 2012.
> https://www.robots.ox.ac.uk/~vgg/data/pets/

Licence: Creative Commons Attribution-ShareAlike 4.0 International (CC BY-SA 4.0). The copyright
of the images remains with their original owners.

Changes: downscaled so that the longest side is {max_side} px (images: LANCZOS, re-encoded as
JPEG quality 90 without metadata; trimaps: nearest-neighbour, values unchanged: 1 pet,
2 background, 3 border). These come from a processed copy whose border band is wider than in
the official trimaps. Regenerate with `python -m engine.data.make_demo_assets`.

Files: {names}.
"""


def default_source() -> Path:
    for d in shared_data_dirs():
        if (d / "oxford-pet-mini").is_dir():
            return d / "oxford-pet-mini"
    raise SystemExit("oxford-pet-mini not found in the shared data folder; pass its path")


def make_demo_assets(src: Path, dest: Path | None = None, max_side: int = 320) -> list[str]:
    """Write the downscaled pairs of ``src`` into ``dest`` (replacing it); returns the names."""
    dest = dest or demo_assets_dir()
    layout = PetLayout(src)
    names = layout.trainval_names() + layout.test_names()
    for sub in ("images", "annotations"):
        shutil.rmtree(dest / sub, ignore_errors=True)
    (dest / "images").mkdir(parents=True)
    (dest / "annotations" / "trimaps").mkdir(parents=True)
    for name in names:
        with Image.open(layout.image_path(name)) as im:
            im = im.convert("RGB")
            w, h = im.size
            s = min(1.0, max_side / max(w, h))
            size = (max(1, round(w * s)), max(1, round(h * s)))
            im.resize(size, Image.Resampling.LANCZOS).save(dest / "images" / f"{name}.jpg", quality=90)
        trimap = Image.fromarray(load_trimap(layout.trimap_path(name)), "L")
        if trimap.size != (w, h):
            raise SystemExit(f"{layout.trimap_path(name)}: trimap {trimap.size} != image {(w, h)}")
        trimap.resize(size, Image.Resampling.NEAREST).save(dest / "annotations" / "trimaps" / f"{name}.png")
    (dest / "ATTRIBUTION.md").write_text(
        ATTRIBUTION.format(max_side=max_side, names=", ".join(f"`{n}`" for n in names))
    )
    return names


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", nargs="?", type=Path, default=None)
    parser.add_argument("--dest", type=Path, default=None)
    parser.add_argument("--max-side", type=int, default=320)
    args = parser.parse_args(argv)
    names = make_demo_assets(args.src or default_source(), args.dest, args.max_side)
    print(f"wrote {len(names)} pairs to {args.dest or demo_assets_dir()}")


if __name__ == "__main__":
    main()
