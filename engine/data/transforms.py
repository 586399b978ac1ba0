"""Albumentations pipelines for training and evaluation (same recipe as smp's Oxford Pet example).

Training: HorizontalFlip, VerticalFlip, RandomRotate90, Affine (the Albumentations 2 replacement
of the deprecated ShiftScaleRotate), RandomBrightnessContrast, GaussianBlur 3x3, Resize S x S,
Normalize to [-1, 1] (mean 0.5, std 0.5 per channel), ToTensorV2. Every probability and range
comes from ``engine.data.augment_spec.AugmentSpec`` (shared with the batched device pipeline,
``engine.data.batch_augment``); ``--augment_strength`` picks one of its levels
(``augment_spec.AUGMENT_LEVELS``). Evaluation: Resize, Normalize, ToTensorV2.

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

import random

import albumentations as A  # engine/__init__ has already turned off its PyPI version check
import cv2
import numpy as np
from albumentations.pytorch import ToTensorV2

from engine.data.augment_spec import MEAN, STD, TRAIN_AUGMENT, AugmentSpec, augment_spec


def _tail(size: int) -> list:
    return [
        A.Resize(size, size, interpolation=cv2.INTER_AREA, mask_interpolation=cv2.INTER_NEAREST),
        A.Normalize(mean=MEAN, std=STD, max_pixel_value=255.0),
        ToTensorV2(),
    ]


def train_transform(size: int, spec: AugmentSpec | str = TRAIN_AUGMENT) -> A.Compose:
    """Augmenting pipeline; call with ``image=HxWx3 uint8, mask=HxW uint8``. ``spec``: a recipe,
    or the name of an ``--augment_strength`` level."""
    if isinstance(spec, str):
        spec = augment_spec(spec)
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
