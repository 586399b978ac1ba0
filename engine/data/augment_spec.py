"""THE training augmentation recipe: which augmentations, how often, how strong.

`AugmentSpec` is the one owner of every probability and range. Both pipelines read it:
``engine.data.transforms.train_transform`` (albumentations, per sample, on the CPU in the
DataLoader workers) and ``engine.data.batch_augment.BatchAugment`` (torch ops on whole uint8
batches, on the training device). Tune the recipe here and both follow; the tests in
tests/engine/data/test_data_batch_augment.py check that the two draw the same distribution of
parameters from it.

Order and meaning (the seed's smp recipe), each step independent with its own probability:

1. horizontal flip, 2. vertical flip, 3. rotation by k x 90 degrees with k uniform in {0,1,2,3},
4. affine about the image centre: translation uniform in +-translate of the width/height (each
   axis on its own, truncated to whole pixels), scale uniform in [scale_min, scale_max] for x and
   y independently, rotation uniform in +-rotate degrees; uncovered corners are 0 in image and
   mask,
5. brightness/contrast: ``image * (1 + c) + 255 * b`` with c, b uniform in +-contrast,
   +-brightness, clipped to [0, 255],
6. Gaussian blur with a 3x3 kernel, sigma uniform in [blur_sigma_min, blur_sigma_max],
7. normalise to [-1, 1] (mean 0.5, std 0.5), done by both pipelines after augmenting.

``--augment_strength`` picks one row of `AUGMENT_LEVELS`, the fields that differ from the smp
recipe (same steps, same order); `augment_spec` turns a level name into its `AugmentSpec`:

* ``off``: no augmentation (resize and normalise only), to measure what augmenting is worth;
* ``light`` (THE DEFAULT, engine.config.DEFAULT_AUGMENT_STRENGTH): photos of pets are upright,
  so no vertical flips or 90 degree turns; horizontal flip 0.5, a milder affine (p 0.3, +-5 %
  shift, scale 0.9-1.1, +-10 degrees), brightness/contrast p 0.2 +-0.1, no blur. On the real
  sample it beat the smp recipe by 0.03 test Dice on both seeds of a sweep (docs/RESULTS.md);
* ``smp``: the smp recipe above (`TRAIN_AUGMENT`), the default until that sweep (runs recorded
  then say "default", read as "smp");
* ``strong``: smp's flips, turns and blur, with affine p 0.8 (+-15 % shift, scale
  0.7-1.4, +-30 degrees) and brightness/contrast p 0.5 +-0.3: more variety for a 269-image
  train split.

No torch or albumentations import: the TUI may read it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class AugmentSpec:
    hflip_p: float = 0.5
    vflip_p: float = 0.2
    rot90_p: float = 0.3
    affine_p: float = 0.5
    translate: float = 0.1  # fraction of width (x) and height (y)
    scale_min: float = 0.8
    scale_max: float = 1.2
    rotate: float = 15.0  # degrees, both ways
    brightness_contrast_p: float = 0.2
    brightness: float = 0.2  # fraction of 255, both ways
    contrast: float = 0.2  # both ways, around 1
    blur_p: float = 0.3
    blur_sigma_min: float = 0.5
    blur_sigma_max: float = 3.0
    blur_kernel: int = 3


TRAIN_AUGMENT = AugmentSpec()

# Per --augment_strength (engine.config.AUGMENT_STRENGTHS), the fields that differ from TRAIN_AUGMENT.
AUGMENT_LEVELS: dict[str, dict[str, float]] = {
    "off": dict(hflip_p=0.0, vflip_p=0.0, rot90_p=0.0, affine_p=0.0, brightness_contrast_p=0.0, blur_p=0.0),
    "light": dict(vflip_p=0.0, rot90_p=0.0, affine_p=0.3, translate=0.05, scale_min=0.9, scale_max=1.1,
                  rotate=10.0, brightness=0.1, contrast=0.1, blur_p=0.0),
    "smp": {},
    "strong": dict(affine_p=0.8, translate=0.15, scale_min=0.7, scale_max=1.4, rotate=30.0,
                   brightness_contrast_p=0.5, brightness=0.3, contrast=0.3),
}


def augment_spec(strength: str) -> AugmentSpec:
    """The recipe of one ``--augment_strength`` level."""
    if strength not in AUGMENT_LEVELS:
        raise ValueError(f"augment strength must be one of {', '.join(AUGMENT_LEVELS)}, got {strength!r}")
    return replace(TRAIN_AUGMENT, **AUGMENT_LEVELS[strength])

# Normalisation after augmenting (and at evaluation / inference): x / 255 -> (x - mean) / std.
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)
