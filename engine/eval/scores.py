"""Scores of masks against trimaps, torch-free: Dice and IoU from pixel counts (the one definition
of both), the confusion table of one photo under either border setting (`ImageScore`), pooled and
per-image figures (`Figures`), and a split's `Evaluation`. The TUI reads these on its UI thread,
so nothing here imports torch; `engine.eval.evaluate` is the pipeline that fills them."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from engine.config import EVAL_IGNORE_BORDER

EPS = 1e-7


def dice_from_counts(inter: Any, pred: Any, target: Any, eps: float = EPS) -> Any:
    """Dice ``2|P∩T| / (|P|+|T|)`` from pixel counts (numbers or tensors).

    ``eps`` is added to numerator and denominator: both empty gives exactly 1.0, and any
    other case is off by less than ``eps``.
    """
    return (2.0 * inter + eps) / (pred + target + eps)


def iou_from_counts(inter: Any, pred: Any, target: Any, eps: float = EPS) -> Any:
    """IoU ``|P∩T| / |P∪T|`` from pixel counts (numbers or tensors); both empty gives 1.0."""
    return (inter + eps) / (pred + target - inter + eps)


def overlap_from_confusion(
    confusion: Sequence[Sequence[int]], target: Sequence[bool], scored: Sequence[bool] | None = None
) -> tuple[int, int, int]:
    """``(|P∩T|, |P|, |T|)`` from one image's (2, L) `label_confusion`: labels v with
    ``target[v]`` true are the target's foreground; labels with ``scored[v]`` false count in
    neither prediction nor target."""
    background, foreground = confusion[0], confusion[1]
    inter = pred = truth = 0
    for v, (neg, pos) in enumerate(zip(background, foreground)):
        if scored is not None and not scored[v]:
            continue
        pred += int(pos)
        if target[v]:
            inter += int(pos)
            truth += int(pos) + int(neg)
    return inter, pred, truth


SPLITS = ("test", "valid")
Resolution = Literal["photo", "train"]


@dataclass(frozen=True)
class Overlap:
    """Pixel counts of one comparison: intersection, predicted pet, true pet."""

    inter: int
    pred: int
    truth: int

    @property
    def dice(self) -> float:

        return float(dice_from_counts(self.inter, self.pred, self.truth))

    @property
    def iou(self) -> float:

        return float(iou_from_counts(self.inter, self.pred, self.truth))


# Trimap values index the confusion tables: 0 (unused), 1 pet, 2 background, 3 border.
N_LABELS = 4


@functools.lru_cache(maxsize=8)
def label_groups(mask_rule: str, ignore_border: bool) -> tuple[tuple[bool, ...], tuple[bool, ...]]:
    """(target, scored) per trimap value: which values are pet under ``mask_rule`` (asked of
    ``trimap_to_mask``, the owner of the rule) and which are scored at all."""
    from engine.data.masks import BORDER, trimap_to_mask

    values = np.arange(N_LABELS, dtype=np.uint8)
    target = tuple(bool(v) for v in trimap_to_mask(values, mask_rule))
    scored = tuple(not (ignore_border and v == BORDER) for v in values)
    return target, scored


Confusion = tuple[tuple[int, ...], tuple[int, ...]]  # [predicted background, predicted pet][trimap value]


@dataclass(frozen=True)
class ImageScore:
    """One photo's prediction counted against its trimap, at the photo's size and at the
    training size; `overlap` / `dice` / `iou` score it under either border setting."""

    name: str
    height: int  # the photo's own size
    width: int
    mask_rule: str
    photo_counts: Confusion  # prediction resized back to the photo vs. the original trimap
    train_counts: Confusion  # S×S prediction vs. the nearest-resized trimap, as validation does

    def overlap(self, resolution: Resolution = "photo", ignore_border: bool = EVAL_IGNORE_BORDER) -> Overlap:

        if resolution not in ("photo", "train"):
            raise ValueError(f"resolution must be 'photo' or 'train', got {resolution!r}")
        counts = self.photo_counts if resolution == "photo" else self.train_counts
        return Overlap(*overlap_from_confusion(counts, *label_groups(self.mask_rule, ignore_border)))

    def dice(self, resolution: Resolution = "photo", ignore_border: bool = EVAL_IGNORE_BORDER) -> float:
        return self.overlap(resolution, ignore_border).dice

    def iou(self, resolution: Resolution = "photo", ignore_border: bool = EVAL_IGNORE_BORDER) -> float:
        return self.overlap(resolution, ignore_border).iou

    @property
    def pet_fraction(self) -> float:
        """Share of the photo's pixels predicted as pet."""
        return sum(self.photo_counts[1]) / max(1, self.height * self.width)


@dataclass(frozen=True)
class Figures:
    """One scoring over many photos: pooled over all pixels, and the mean of per-photo scores."""

    dice: float
    iou: float
    dice_per_image: float
    iou_per_image: float
    n_images: int


@dataclass
class ScoredPhoto:
    """A photo kept with its prediction, for pictures: the record plus what it was scored on."""

    record: ImageScore
    image: np.ndarray  # (H, W, 3) uint8, as viewers show it (EXIF-turned after scoring, with trimap and prob)
    trimap: np.ndarray  # (H, W) uint8, 1 pet / 2 background / 3 border
    prob: np.ndarray  # (H, W) float32 pet probability at the photo's size (threshold it to score)
    source: Path

    def mask(self, threshold: float = 0.5) -> np.ndarray:
        """(H, W) uint8 predicted mask, exactly the one that was scored at this threshold."""
        return (self.prob > threshold).astype(np.uint8)


def figures_of(records: Sequence[ImageScore], resolution: Resolution, ignore_border: bool) -> Figures:
    """Pooled and per-image Dice/IoU of ``records`` under one scoring (all 0.0 when empty)."""

    if not records:
        return Figures(0.0, 0.0, 0.0, 0.0, 0)
    overlaps = [r.overlap(resolution, ignore_border) for r in records]
    inter = sum(o.inter for o in overlaps)
    pred = sum(o.pred for o in overlaps)
    truth = sum(o.truth for o in overlaps)
    n = len(overlaps)
    return Figures(
        dice=float(dice_from_counts(inter, pred, truth)),
        iou=float(iou_from_counts(inter, pred, truth)),
        dice_per_image=sum(o.dice for o in overlaps) / n,
        iou_per_image=sum(o.iou for o in overlaps) / n,
        n_images=n,
    )


def scoring_label(resolution: Resolution, ignore_border: bool, mask_rule: str, image_size: int,
                  trained_size: int | None = None) -> str:
    """Words for one scoring, e.g. "photo size, border ignored" or "128 px, border = pet".
    ``trained_size``: the side the model was trained at when known and not ``image_size`` (an
    ONNX export run with --dynamic_size at another --image_size): then not "training size"."""
    if resolution == "photo":
        where = "photo size"
    elif trained_size is None or trained_size == image_size:
        where = f"{image_size} px (training size)"
    else:
        where = f"{image_size} px (model input; trained at {trained_size})"
    if ignore_border:
        border = "border ignored"
    else:
        border = "border = " + ("background" if mask_rule == "pet_only" else "pet") + f" ({mask_rule})"
    return f"{where}, {border}"


@dataclass
class Evaluation:
    """What ``evaluate_checkpoint`` / ``score_photos`` found. ``ignore_border`` chose the
    headline scoring (and the order of ``worst``); ``records`` hold all four scorings."""

    records: list[ImageScore]
    split: str
    tta: bool
    ignore_border: bool
    threshold: float
    mask_rule: str
    image_size: int
    seconds: float  # decode + predict + score (model loading not included)
    trained_size: int | None = None  # the run's image_size, when known; None: the same as image_size
    load_seconds: float = 0.0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    data: str = ""
    checkpoint: Path | None = None
    warnings: list[str] = field(default_factory=list)  # e.g. the checkpoint's NaN weights
    # False: data the run recorded it did not train and validate on (--data_path), so the training-size
    # row is not its valid Dice
    own_data: bool = True
    # the kept photos, lowest Dice first, per border setting (ignore_border -> photos)
    kept: dict[bool, list[ScoredPhoto]] = field(default_factory=dict)

    @property
    def n_images(self) -> int:
        return len(self.records)

    @property
    def worst(self) -> list[ScoredPhoto]:
        """The kept photos with the lowest headline Dice, worst first."""
        return self.kept.get(self.ignore_border, [])

    def with_border(self, ignore_border: bool) -> "Evaluation":
        """The same evaluation with the other headline border setting (figures, ranking and
        ``worst`` follow it); nothing is recomputed, the photos were kept for both."""
        return dataclasses.replace(self, ignore_border=ignore_border)

    def figures(self, resolution: Resolution = "photo", ignore_border: bool | None = None) -> Figures:
        """Pooled and per-image figures under one scoring (border: the headline setting if None)."""
        return figures_of(self.records, resolution, self.ignore_border if ignore_border is None else ignore_border)

    @property
    def headline(self) -> Figures:
        """Photo size under this evaluation's border setting: the figure to quote."""
        return self.figures("photo", self.ignore_border)

    def label(self, resolution: Resolution = "photo", ignore_border: bool | None = None) -> str:
        ib = self.ignore_border if ignore_border is None else ignore_border
        return scoring_label(resolution, ib, self.mask_rule, self.image_size, self.trained_size)

    @property
    def at_training_size(self) -> bool:
        """The S×S scorings are at the size the run trained at, so comparable with its valid Dice."""
        return self.trained_size is None or self.trained_size == self.image_size

    def ranked(self) -> list[ImageScore]:
        """Records from the lowest headline Dice up (ties: in split order)."""
        order = {id(r): i for i, r in enumerate(self.records)}
        return sorted(self.records, key=lambda r: (r.dice("photo", self.ignore_border), order[id(r)]))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary: settings and the figures of every scoring."""
        out: dict[str, Any] = {
            "split": self.split, "n_images": self.n_images, "tta": self.tta,
            "ignore_border": self.ignore_border, "threshold": self.threshold, "mask_rule": self.mask_rule,
            "image_size": self.image_size, "trained_size": self.trained_size, "seconds": self.seconds,
            "skipped": len(self.skipped),
            "data": self.data, "checkpoint": str(self.checkpoint) if self.checkpoint else None,
        }
        for res in ("photo", "train"):
            for ib in (False, True):
                key = f"{res}_{'no_border' if ib else 'border'}"
                out[key] = vars(self.figures(res, ib))  # type: ignore[arg-type]
        return out


def confusion_of(table: list[list[int]]) -> Confusion:
    """A `label_confusion` row as the frozen table an `ImageScore` keeps."""
    return tuple(tuple(int(c) for c in row) for row in table)  # type: ignore[return-value]
