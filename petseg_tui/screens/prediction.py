"""What the inference screen shows of one prediction, computed in its worker threads: the engine's
Predictor (`load_predictor`), the thresholded mask and overlay (`render_prediction` -> `Rendered`)
and the photo's trimap when it has one (`truth_for` -> `Truth`).

Nothing here imports torch, numpy or Pillow at module import: each function imports what it needs
when a worker calls it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import PetsegError


def load_predictor(checkpoint: Path) -> Any:
    """Build the engine's Predictor (imports torch; call from a worker thread only)."""
    from engine.infer.inference import Predictor

    return Predictor.from_checkpoint(checkpoint, device="auto")


def render_prediction(prediction: Any, threshold: float, outline: bool, alpha: float = 0.45,
                      truth: Truth | None = None) -> Rendered:
    """Threshold a cached prediction and build the mask and overlay images (numpy/PIL); with
    the photo's ``truth`` (its trimap) also Dice and IoU, counted as ``petseg eval`` counts."""
    from PIL import Image

    from engine.eval.mask_scores import trimap_overlap
    from engine.infer.render import mask_to_image, overlay_image

    mask = prediction.mask(threshold)
    dice = iou = None
    if truth is not None and truth.trimap is not None:
        scored = trimap_overlap(mask, truth.trimap, truth.rule, truth.ignore_border)
        dice, iou = scored.dice, scored.iou
    return Rendered(
        threshold=threshold,
        outline=outline,
        fraction=float(mask.mean()) if mask.size else 0.0,
        image=Image.fromarray(prediction.image),
        mask=mask_to_image(mask),
        overlay=overlay_image(prediction.image, mask, alpha=alpha, outline=outline),
        dice=dice,
        iou=iou,
        photo_size=photo_size(prediction),
    )


def photo_size(prediction: Any) -> tuple[int, int] | None:
    """(W, H) of the photo file as viewers show it, when it differs from the prediction's (a huge
    photo is predicted downscaled; ``petseg infer`` writes at the photo's size), else None."""
    from engine.infer.inference import original_size

    size = original_size(prediction.source)
    h, w = prediction.image.shape[:2]
    return size if size is not None and size != (w, h) else None


def at_photo_size(picture: Any, size: tuple[int, int] | None, mask: bool) -> Any:
    """A rendered picture resized to the photo's ``size`` as ``petseg infer`` does
    (`engine.infer.inference.output_picture`: nearest for a mask, bilinear for an overlay)."""
    from PIL import Image

    if size is None or picture.size == size:
        return picture
    return picture.resize(size, Image.NEAREST if mask else Image.BILINEAR)


@dataclass(frozen=True)
class Truth:
    """The trimap of a photo that has one beside it (Oxford layout), or why it is not used."""

    trimap: Any = None  # (H, W) uint8 values 1/2/3 at the prediction's size, or None
    rule: str = ""  # the model's mask rule
    ignore_border: bool = True  # as petseg eval scores by default
    note: str = ""  # a trimap that could not be used

    @property
    def scoring(self) -> str:
        """Words for how the Dice is counted, as petseg eval says them."""
        from engine.eval.scores import scoring_label

        return scoring_label("photo", self.ignore_border, self.rule, 0).removeprefix("photo size, ")


def truth_for(prediction: Any, mask_rule: str) -> Truth:
    """Find and load the trimap of the predicted photo (worker thread: numpy and Pillow)."""
    from engine.config import EVAL_IGNORE_BORDER
    from engine.eval.mask_scores import load_trimap_at, trimap_for_image

    path = trimap_for_image(prediction.source)
    if path is None:
        return Truth()
    try:
        # the photo's EXIF turn applied to its trimap too: the prediction is of the photo as shown
        trimap = load_trimap_at(path, prediction.image.shape[:2], photo=prediction.source)
        return Truth(trimap, mask_rule, EVAL_IGNORE_BORDER)
    except PetsegError as exc:
        return Truth(note=f"trimap not used: {exc}")


@dataclass
class Rendered:
    """What the panes show for one prediction at one threshold."""

    threshold: float
    outline: bool
    fraction: float
    image: Any  # PIL images, full prediction resolution
    mask: Any
    overlay: Any
    dice: float | None = None  # against the photo's trimap, when it has one
    iou: float | None = None
    photo_size: tuple[int, int] | None = None  # (W, H) of the photo file, when it was predicted downscaled
