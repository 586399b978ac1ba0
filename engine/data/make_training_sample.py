"""Rebuild ``engine/training_sample``, the real training data shipped with the package (reproducible).

    python -m engine.data.make_training_sample SRC [--dest DIR] [--max-side 256] [--quality 88]

SRC is the ``oxford-pet-sample`` folder: 496 original Oxford-IIIT Pet photos with their official
trimaps, ``annotations/trainval.txt`` (298) and ``annotations/test.txt`` (198). Every listed pair
goes through ``engine.data.downscale.downscale_pair`` (longest side ``max_side``, JPEG
``quality``, metadata dropped; trimap resized NEAREST to the same size); the list files are
copied byte for byte. At 256 px and quality 88 the copy is about 7.5 MB, small enough to ship in
the repository and the wheel, and 256 px is the largest size training uses by default.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from engine.data.downscale import downscale_pair
from engine.data.layout import PetLayout
from engine.data.samples import training_sample_dir

LIST_FILES = ("trainval.txt", "test.txt")

ATTRIBUTION = """# Training sample: attribution and licence

The photos in `images/` and the trimaps in `annotations/trimaps/` are {n} image/trimap pairs
({n_trainval} trainval, {n_test} test) of three breeds (Abyssinian, Bengal, american_bulldog) from
the **Oxford-IIIT Pet Dataset**:

> O. M. Parkhi, A. Vedaldi, A. Zisserman, C. V. Jawahar. "Cats and Dogs".
> IEEE Conference on Computer Vision and Pattern Recognition (CVPR), 2012.
> https://www.robots.ox.ac.uk/~vgg/data/pets/

Licence: Creative Commons Attribution-ShareAlike 4.0 International (CC BY-SA 4.0),
https://creativecommons.org/licenses/by-sa/4.0/. The copyright of the images remains with their
original owners. This folder, a modified copy, is shared under the same licence.

Changes: downscaled so that the longest side is {max_side} px (images: LANCZOS, re-encoded as
JPEG quality {quality} without metadata, in the stored pixel orientation the trimaps are aligned
with; trimaps: nearest-neighbour, values unchanged: 1 pet, 2 background, 3 border).
`annotations/trainval.txt` and `annotations/test.txt` are the official split lists in the
official format ("NAME CLASS-ID SPECIES BREED-ID"). Some photos of these breeds were held back
for independent testing, so a few names of the official lists are absent here.

Regenerate with `python -m engine.data.make_training_sample SRC` (SRC: the original-size sample).
"""


def make_training_sample(src: Path, dest: Path | None = None, max_side: int = 256, quality: int = 88) -> int:
    """Write the downscaled copy of ``src`` into ``dest`` (replacing it); returns the pair count."""
    dest = dest or training_sample_dir()
    layout = PetLayout(src)
    if not layout.has_split_files:
        raise SystemExit(f"{src}: no annotations/trainval.txt; the training sample needs the split lists")
    if layout.missing:
        raise SystemExit(f"{src}: {layout.missing} listed images have no image or trimap "
                         f"(first: {layout.missing_names[0]}); the copy must be complete")
    trainval, test = layout.trainval_names(), layout.test_names()
    for sub in ("images", "annotations"):
        shutil.rmtree(dest / sub, ignore_errors=True)
    (dest / "images").mkdir(parents=True)
    (dest / "annotations" / "trimaps").mkdir(parents=True)
    for name in trainval + test:
        downscale_pair(layout.image_path(name), layout.trimap_path(name), dest / "images" / f"{name}.jpg",
                       dest / "annotations" / "trimaps" / f"{name}.png", max_side, quality)
    for list_file in LIST_FILES:
        shutil.copyfile(layout.root / "annotations" / list_file, dest / "annotations" / list_file)
    (dest / "ATTRIBUTION.md").write_text(ATTRIBUTION.format(
        n=len(trainval) + len(test), n_trainval=len(trainval), n_test=len(test),
        max_side=max_side, quality=quality,
    ))
    return len(trainval) + len(test)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path, help="the original-size oxford-pet-sample folder")
    parser.add_argument("--dest", type=Path, default=None)
    parser.add_argument("--max-side", type=int, default=256)
    parser.add_argument("--quality", type=int, default=88)
    args = parser.parse_args(argv)
    n = make_training_sample(args.src, args.dest, args.max_side, args.quality)
    print(f"wrote {n} pairs to {args.dest or training_sample_dir()}")


if __name__ == "__main__":
    main()
