"""Rebuild ``engine/demo_assets`` from the six-image Oxford-IIIT Pet sample (reproducible).

    python -m engine.data.make_demo_assets SRC [--dest DIR] [--max-side 320]

SRC is the six-image ``oxford-pet-mini`` folder the assets were made from. Each pair goes through
``engine.data.downscale.downscale_pair`` (longest side ``max_side``, JPEG quality 90, metadata
dropped; trimap resized NEAREST to the same size, so values stay 1/2/3 and aligned).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from engine.data.downscale import downscale_pair
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
the official trimaps. Regenerate with `python -m engine.data.make_demo_assets SRC`.

Files: {names}.
"""


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
        downscale_pair(layout.image_path(name), layout.trimap_path(name), dest / "images" / f"{name}.jpg",
                       dest / "annotations" / "trimaps" / f"{name}.png", max_side, quality=90)
    (dest / "ATTRIBUTION.md").write_text(
        ATTRIBUTION.format(max_side=max_side, names=", ".join(f"`{n}`" for n in names))
    )
    return names


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path, help="the oxford-pet-mini folder")
    parser.add_argument("--dest", type=Path, default=None)
    parser.add_argument("--max-side", type=int, default=320)
    args = parser.parse_args(argv)
    names = make_demo_assets(args.src, args.dest, args.max_side)
    print(f"wrote {len(names)} pairs to {args.dest or demo_assets_dir()}")


if __name__ == "__main__":
    main()
