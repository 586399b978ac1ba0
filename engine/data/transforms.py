"""Albumentations pipelines for training and evaluation (same recipe as smp's Oxford Pet example).

Training ("default" strength): HorizontalFlip 0.5, VerticalFlip 0.2, RandomRotate90 0.3, Affine 0.5
(the Albumentations 2 replacement of the deprecated ShiftScaleRotate(shift 0.1, scale 0.2,
rotate 15)), RandomBrightnessContrast 0.2 (±0.2), GaussianBlur 3x3 0.3, Resize S x S, Normalize
to [-1, 1] (mean 0.5, std 0.5 per channel), ToTensorV2. Evaluation: Resize, Normalize, ToTensorV2.

``--augment_strength`` picks one row of `AUGMENT_LEVELS`, which only changes those probabilities
and ranges (the same steps in the same order, so a batched device pipeline can follow it):

* ``off``: no augmentation (resize and normalise only), to measure what augmenting is worth;
* ``light``: photos of pets are upright, so no vertical flips or 90° turns; horizontal flip 0.5,
  a milder Affine (p 0.3, ±5 % shift, scale 0.9-1.1, ±10°), brightness/contrast p 0.2 ±0.1, no blur;
* ``default``: the smp recipe above;
* ``strong``: the default's flips and turns and blur, with Affine p 0.8 (±15 % shift, scale
  0.7-1.4, ±30°) and brightness/contrast p 0.5 ±0.3: more variety for a 269-image train split.

The Affine fills uncovered corners with 0 in BOTH the image and the mask (ShiftScaleRotate
reflected them): reflecting the image while filling the mask with background would teach the
model that mirrored fur is background. Masks use nearest interpolation everywhere so they stay
binary; Resize is kept even though cached arrays are already S x S so that the pipelines also
accept arbitrary inputs (on an S x S input it is a no-op copy).

Seeding: use ``seed_transform``, not ``Compose.set_random_seed``. In Albumentations 2.0.8 the
latter gives EVERY child transform its own generator with the same seed, so all of them draw
the same numbers: HorizontalFlip (p 0.5), VerticalFlip (p 0.2) and Affine (p 0.5) then fire
together or not at all. ``seed_transform`` makes the children share one seeded stream.
"""

from __future__ import annotations

import os

# Albumentations asks PyPI for a newer version on import (a 2 s network call, a warning
# offline); a training tool must not phone home. setdefault: a user may still opt in.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import albumentations as A  # noqa: E402
import random  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from albumentations.pytorch import ToTensorV2  # noqa: E402

MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)


def _tail(size: int) -> list:
    return [
        A.Resize(size, size, interpolation=cv2.INTER_AREA, mask_interpolation=cv2.INTER_NEAREST),
        A.Normalize(mean=MEAN, std=STD, max_pixel_value=255.0),
        ToTensorV2(),
    ]


# The default recipe's parameters, and per --augment_strength the values that differ from it.
# Names are those of issue 9's AugmentSpec (engine/data/augment_spec.py there), so that merged,
# a level is ``dataclasses.replace(TRAIN_AUGMENT, **AUGMENT_LEVELS[strength])``.
DEFAULT_AUGMENT: dict[str, float] = dict(
    hflip_p=0.5, vflip_p=0.2, rot90_p=0.3,
    affine_p=0.5, translate=0.1, scale_min=0.8, scale_max=1.2, rotate=15.0,
    brightness_contrast_p=0.2, brightness=0.2, contrast=0.2,
    blur_p=0.3, blur_sigma_min=0.5, blur_sigma_max=3.0, blur_kernel=3,
)
AUGMENT_LEVELS: dict[str, dict[str, float]] = {
    "off": dict(hflip_p=0.0, vflip_p=0.0, rot90_p=0.0, affine_p=0.0, brightness_contrast_p=0.0, blur_p=0.0),
    "light": dict(vflip_p=0.0, rot90_p=0.0, affine_p=0.3, translate=0.05, scale_min=0.9, scale_max=1.1,
                  rotate=10.0, brightness=0.1, contrast=0.1, blur_p=0.0),
    "default": {},
    "strong": dict(affine_p=0.8, translate=0.15, scale_min=0.7, scale_max=1.4, rotate=30.0,
                   brightness_contrast_p=0.5, brightness=0.3, contrast=0.3),
}


def augment_params(strength: str = "default") -> SimpleNamespace:
    """The parameters of one ``--augment_strength`` level (attribute access, like AugmentSpec)."""
    if strength not in AUGMENT_LEVELS:
        raise ValueError(f"augment strength must be one of {', '.join(AUGMENT_LEVELS)}, got {strength!r}")
    return SimpleNamespace(**{**DEFAULT_AUGMENT, **AUGMENT_LEVELS[strength]})


def train_transform(size: int, strength: str = "default") -> A.Compose:
    """Augmenting pipeline; call with ``image=HxWx3 uint8, mask=HxW uint8``."""
    spec = augment_params(strength)
    return A.Compose(
        [
            A.HorizontalFlip(p=spec.hflip_p),
            A.VerticalFlip(p=spec.vflip_p),
            A.RandomRotate90(p=spec.rot90_p),
            A.Affine(
                translate_percent=(-spec.translate, spec.translate),
                scale=(spec.scale_min, spec.scale_max),
                rotate=(-spec.rotate, spec.rotate),
                interpolation=cv2.INTER_LINEAR,
                mask_interpolation=cv2.INTER_NEAREST,
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                fill_mask=0,
                p=spec.affine_p,
            ),
            A.RandomBrightnessContrast(
                brightness_limit=(-spec.brightness, spec.brightness),
                contrast_limit=(-spec.contrast, spec.contrast),
                brightness_by_max=True,
                p=spec.brightness_contrast_p,
            ),
            A.GaussianBlur(
                blur_limit=(spec.blur_kernel, spec.blur_kernel),
                sigma_limit=(spec.blur_sigma_min, spec.blur_sigma_max),
                p=spec.blur_p,
            ),
            *_tail(size),
        ]
    )


def eval_transform(size: int) -> A.Compose:
    """Deterministic pipeline for validation, test and inference."""
    return A.Compose(_tail(size))


def seed_transform(transform: object, seed: int) -> None:
    """Reproducibly seed ``transform`` (a Compose or one transform) from ``seed``.

    One numpy and one Python generator are SHARED by all children (Compose.set_random_state
    propagates them), so each child draws the next numbers of one stream: independent
    decisions, fully determined by the seed. Objects without RNG state are ignored.
    """
    if hasattr(transform, "set_random_state"):
        transform.set_random_state(np.random.default_rng(seed), random.Random(seed))


def transform_rng_state(transform: object) -> dict | None:
    """The state of the generators `seed_transform` gave ``transform`` (for a resumable
    checkpoint), or None if it has none. Plain ints, lists and strings: loadable with
    ``torch.load(weights_only=True)``."""
    np_rng = getattr(transform, "random_generator", None)
    py_rng = getattr(transform, "py_random", None)
    if not isinstance(np_rng, np.random.Generator) or not isinstance(py_rng, random.Random):
        return None
    version, internal, gauss = py_rng.getstate()
    return {"numpy": np_rng.bit_generator.state, "python": [version, list(internal), gauss]}


def set_transform_rng_state(transform: object, state: dict | None) -> bool:
    """Put back a `transform_rng_state`; the shared generators are restored IN PLACE, so every
    child transform (which holds the same objects) continues the saved stream. False if
    ``state`` or the transform's generators are missing (nothing changed)."""
    np_rng = getattr(transform, "random_generator", None)
    py_rng = getattr(transform, "py_random", None)
    if not state or not isinstance(np_rng, np.random.Generator) or not isinstance(py_rng, random.Random):
        return False
    np_rng.bit_generator.state = state["numpy"]
    version, internal, gauss = state["python"]
    py_rng.setstate((version, tuple(internal), gauss))
    return True
