"""Segmentation metrics: Dice and IoU on binary masks, and an on-device `SegMetrics` accumulator.

Two flavours are reported. Dataset-level ("pooled") scores sum intersections and areas
over every pixel of every image before dividing, so large pets weigh more; per-image
scores average each image's own score, so every photo counts once. An image (or dataset)
where both prediction and target are empty scores 1.0: nothing to find, nothing found.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _binary(mask: Tensor) -> Tensor:
    """Foreground as bool: bool masks as-is, anything else where the value is > 0.5."""
    return mask if mask.dtype == torch.bool else mask > 0.5


def _check_shapes(pred: Tensor, target: Tensor) -> None:
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")


def dice_score(pred: Tensor, target: Tensor, eps: float = 1e-7) -> float:
    """Pooled Dice ``2|P∩T| / (|P|+|T|)`` of two binary masks (values > 0.5 are foreground).

    ``eps`` is added to numerator and denominator: both empty gives exactly 1.0, and any
    other case is off by less than ``eps``.
    """
    _check_shapes(pred, target)
    p, t = _binary(pred), _binary(target)
    inter = (p & t).sum().item()
    total = p.sum().item() + t.sum().item()
    return (2.0 * inter + eps) / (total + eps)


def iou_score(pred: Tensor, target: Tensor, eps: float = 1e-7) -> float:
    """Pooled IoU ``|P∩T| / |P∪T|`` of two binary masks; both empty gives 1.0."""
    _check_shapes(pred, target)
    p, t = _binary(pred), _binary(target)
    inter = (p & t).sum().item()
    union = (p | t).sum().item()
    return (inter + eps) / (union + eps)


# Slots of the single accumulator tensor; one tensor means one host sync in compute().
_INTER, _PRED, _TARGET, _DICE_SUM, _IOU_SUM, _COUNT = range(6)


class SegMetrics:
    """Accumulates Dice/IoU over batches without leaving the device until `compute`.

    ``update`` only queues tensor ops (no ``.item()``), so it never stalls the GPU
    pipeline during validation; ``compute`` copies six numbers to the host once.
    """

    def __init__(self, eps: float = 1e-7) -> None:
        self.eps = eps
        self._sums: Tensor | None = None

    def reset(self) -> None:
        self._sums = None

    @torch.no_grad()
    def update(self, logits: Tensor, target: Tensor, threshold: float = 0.5) -> None:
        """Add a batch: ``logits`` and ``target`` are (N, 1, H, W) (or (N, H, W))."""
        _check_shapes(logits, target)
        pred = torch.sigmoid(logits.float()) > threshold
        truth = _binary(target)
        n = pred.shape[0]
        pred = pred.reshape(n, -1)
        truth = truth.reshape(n, -1)
        # float32 sums are exact for counts below 2**24 pixels, i.e. any single image here.
        inter = (pred & truth).sum(dim=1, dtype=torch.float32)
        p_sum = pred.sum(dim=1, dtype=torch.float32)
        t_sum = truth.sum(dim=1, dtype=torch.float32)
        dice = (2.0 * inter + self.eps) / (p_sum + t_sum + self.eps)
        iou = (inter + self.eps) / (p_sum + t_sum - inter + self.eps)
        # new_full fills on the device; new_tensor would be a blocking host->device copy on CUDA
        batch = torch.stack(
            [inter.sum(), p_sum.sum(), t_sum.sum(), dice.sum(), iou.sum(), inter.new_full((), float(n))]
        )
        if self._sums is None:
            # Dataset totals can pass 2**24 pixels; float64 keeps them exact (MPS lacks it).
            dtype = torch.float32 if batch.device.type == "mps" else torch.float64
            self._sums = torch.zeros(6, dtype=dtype, device=batch.device)
        self._sums += batch.to(self._sums.dtype)

    def compute(self) -> dict[str, float]:
        """``dice``/``iou`` pooled over the dataset, ``*_per_image`` means, and ``n_images``.

        With nothing accumulated every score is 0.0 and ``n_images`` is 0.
        """
        if self._sums is None:
            return {"dice": 0.0, "iou": 0.0, "dice_per_image": 0.0, "iou_per_image": 0.0, "n_images": 0}
        s = self._sums.tolist()  # the one device→host sync
        inter, p_sum, t_sum, count = s[_INTER], s[_PRED], s[_TARGET], s[_COUNT]
        return {
            "dice": (2.0 * inter + self.eps) / (p_sum + t_sum + self.eps),
            "iou": (inter + self.eps) / (p_sum + t_sum - inter + self.eps),
            "dice_per_image": s[_DICE_SUM] / count,
            "iou_per_image": s[_IOU_SUM] / count,
            "n_images": int(count),
        }
