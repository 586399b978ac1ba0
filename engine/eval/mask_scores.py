"""Scoring one predicted mask: against another mask, or against the Oxford trimap beside its
photo the way ``petseg eval`` scores a photo (``engine.eval.evaluate``: the border band left out by
default, ``EVAL_IGNORE_BORDER``).

The counting is numpy; the formulas are ``engine.eval.metrics``' (the one definition of Dice and
IoU), through `engine.eval.evaluate.Overlap` and its label groups. Used by the trainer's epoch
previews and, in a worker thread, by the TUI's inference screen.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.config import EVAL_IGNORE_BORDER

if TYPE_CHECKING:  # pragma: no cover
    from engine.eval.scores import Overlap


def overlap(pred: np.ndarray, truth: np.ndarray) -> "Overlap":
    """Pixel counts of two binary masks of the same shape (values > 0, or True, are pet)."""
    from engine.eval.scores import Overlap

    p, t = np.asarray(pred) > 0, np.asarray(truth) > 0
    if p.shape != t.shape:
        raise ValueError(f"prediction {p.shape} and truth {t.shape} differ in shape")
    return Overlap(int(np.count_nonzero(p & t)), int(np.count_nonzero(p)), int(np.count_nonzero(t)))


def dice_iou(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(Dice, IoU) of two binary masks; both empty scores 1.0."""
    o = overlap(pred, truth)
    return o.dice, o.iou


def trimap_for_image(image_path: str | Path) -> Path | None:
    """The trimap of a photo in the Oxford-IIIT Pet layout (``images/NAME.jpg`` ->
    ``annotations/trimaps/NAME.png``), or None if there is none."""
    path = Path(image_path)
    candidate = path.parent.parent / "annotations" / "trimaps" / f"{path.stem}.png"
    return candidate if path.parent.name == "images" and candidate.is_file() else None


def load_trimap_at(trimap_path: str | Path, shape: tuple[int, int], photo: str | Path | None = None) -> np.ndarray:
    """The trimap's values (1 pet, 2 background, 3 border) at ``shape`` (nearest resize when a
    huge photo was predicted downscaled). BadImageError / DatasetError if it is unusable.

    ``photo``: the file the mask was predicted from. Trimaps follow the photo's STORED pixels,
    while a prediction is shown as the photo is, EXIF-turned (`engine.data.images.load_photo`);
    the trimap is turned the same way first, or a rotated photo's mask would be scored against a
    rotated (or, at 90 degrees, stretched) truth."""
    from PIL import Image

    from engine.data.images import exif_orientation, load_trimap, orient_as_shown

    trimap = load_trimap(trimap_path)
    if photo is not None:
        trimap = orient_as_shown(trimap, exif_orientation(photo))
    if trimap.shape != tuple(shape):
        trimap = np.asarray(Image.fromarray(trimap).resize((shape[1], shape[0]), Image.NEAREST))
    return trimap


def trimap_overlap(mask: np.ndarray, trimap: np.ndarray, mask_rule: str,
                   ignore_border: bool = EVAL_IGNORE_BORDER) -> "Overlap":
    """A predicted mask against trimap values, as ``petseg eval`` counts a photo."""
    from engine.eval.scores import N_LABELS, Overlap, label_groups, overlap_from_confusion

    if mask.shape != trimap.shape:
        raise ValueError(f"mask {mask.shape} and trimap {trimap.shape} differ in shape")
    code = (np.asarray(mask) > 0).astype(np.uint8).ravel() * N_LABELS + trimap.ravel()
    confusion = np.bincount(code, minlength=2 * N_LABELS)[: 2 * N_LABELS].reshape(2, N_LABELS).tolist()
    return Overlap(*overlap_from_confusion(confusion, *label_groups(mask_rule, ignore_border)))


def score_against_trimap(mask: np.ndarray, trimap_path: str | Path, mask_rule: str,
                         ignore_border: bool = EVAL_IGNORE_BORDER,
                         photo: str | Path | None = None) -> tuple[float, float]:
    """(Dice, IoU) of a predicted mask against a trimap file; ``photo``: the file the mask was
    predicted from (`load_trimap_at`: its EXIF orientation)."""
    o = trimap_overlap(mask, load_trimap_at(trimap_path, mask.shape[:2], photo), mask_rule, ignore_border)
    return o.dice, o.iou
