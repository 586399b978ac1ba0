"""Segmentation metrics: Dice and IoU on binary masks, and an on-device `SegMetrics` accumulator.

Two flavours are reported. Dataset-level ("pooled") scores sum intersections and areas
over every pixel of every image before dividing, so large pets weigh more; per-image
scores average each image's own score, so every photo counts once. An image (or dataset)
where both prediction and target are empty scores 1.0: nothing to find, nothing found.

Everything is computed from three counts per image, ``overlap_counts`` (intersection, predicted
and target pixels, optionally only where a ``valid`` mask is true, e.g. outside the trimap's
border band), or read off a `label_confusion` of the prediction against a label map (the
trimap), turned into scores by ``dice_from_counts`` / ``iou_from_counts``: the one definition
of Dice and IoU in the project.
"""

from __future__ import annotations

from collections.abc import Callable


import numpy as np
import torch
from torch import Tensor

from engine.eval.scores import EPS, dice_from_counts, iou_from_counts, overlap_from_confusion  # noqa: F401  (one definition)


def _binary(mask: Tensor) -> Tensor:
    """Foreground as bool: bool masks as-is, anything else where the value is > 0.5."""
    return mask if mask.dtype == torch.bool else mask > 0.5


def _check_shapes(pred: Tensor, target: Tensor) -> None:
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")


def overlap_counts(pred: Tensor, target: Tensor, valid: Tensor | None = None) -> Tensor:
    """(N, 3) int64 ``[|P∩T|, |P|, |T|]`` per image of (N, ...) binary masks.

    With ``valid`` (same shape), pixels where it is false count in neither prediction nor
    target: the way to leave an "unsure" band out of the score.
    """
    _check_shapes(pred, target)
    p, t = _binary(pred), _binary(target)
    if valid is not None:
        _check_shapes(pred, valid)
        v = _binary(valid)
        p, t = p & v, t & v
    n = p.shape[0]
    p, t = p.reshape(n, -1), t.reshape(n, -1)
    return torch.stack([(p & t).sum(dim=1), p.sum(dim=1), t.sum(dim=1)], dim=1)


def label_confusion(pred: Tensor, labels: Tensor, n_labels: int, threshold: float | None = None) -> Tensor:
    """(N, 2, n_labels) int64 per image of (N, ...) binary ``pred`` (or scores, foreground where
    above ``threshold``) against integer ``labels`` in ``[0, n_labels)``: ``[i, 0, v]`` pixels of
    label v predicted background, ``[i, 1, v]`` predicted foreground.

    One pass (a bincount) instead of one per mask, and it holds every overlap that a grouping
    of the labels gives: which labels are the target, which are left out
    (`overlap_from_confusion`), e.g. the trimap's pet/background/border under either mask rule.
    CPU tensors are counted with numpy: these are cheap memory-bound passes, and torch's
    intra-op threads make each wait for every core (docs/PERFORMANCE.md, "Threads on a shared
    2-core CPU").
    """
    _check_shapes(pred, labels)
    if pred.device.type == "cpu" and labels.device.type == "cpu":
        return _numpy_label_confusion(pred, labels, n_labels, threshold)
    return _torch_label_confusion(pred, labels, n_labels, threshold)


def _numpy_label_confusion(pred: Tensor, labels: Tensor, n_labels: int, threshold: float | None) -> Tensor:
    n = pred.shape[0]
    p = pred.reshape(n, -1).numpy()
    p = p > threshold if threshold is not None else (p if p.dtype == np.bool_ else p > 0.5)
    lab = labels.reshape(n, -1).numpy()
    if n == 1 and lab.dtype == np.uint8 and 2 * n_labels <= 256:
        code = p.astype(np.uint8) * np.uint8(n_labels) + lab  # one byte per pixel: a big photo
    else:
        code = p.astype(np.int64) * n_labels + lab.astype(np.int64) + np.arange(n)[:, None] * (2 * n_labels)
    counts = np.bincount(code.ravel(), minlength=n * 2 * n_labels)[: n * 2 * n_labels]
    return torch.from_numpy(counts.astype(np.int64).reshape(n, 2, n_labels))


def _torch_label_confusion(pred: Tensor, labels: Tensor, n_labels: int, threshold: float | None) -> Tensor:
    """The same on the tensors' device (GPU): no copy to the host until the caller wants one."""
    n = pred.shape[0]
    p = (pred > threshold if threshold is not None else _binary(pred)).reshape(n, -1)
    lab = labels.reshape(n, -1)
    if n == 1 and lab.dtype == torch.uint8 and 2 * n_labels <= 256:
        code = p.to(torch.uint8) * n_labels + lab
    else:
        offsets = torch.arange(n, device=lab.device).unsqueeze(1) * (2 * n_labels)
        code = p.to(torch.int64) * n_labels + lab.to(torch.int64) + offsets
    return torch.bincount(code.flatten(), minlength=n * 2 * n_labels)[: n * 2 * n_labels].reshape(n, 2, n_labels)


def dice_score(pred: Tensor, target: Tensor, eps: float = EPS) -> float:
    """Pooled Dice ``2|P∩T| / (|P|+|T|)`` of two binary masks (values > 0.5 are foreground)."""
    _check_shapes(pred, target)
    inter, p, t = overlap_counts(pred.reshape(1, -1), target.reshape(1, -1))[0].tolist()
    return dice_from_counts(inter, p, t, eps)


def iou_score(pred: Tensor, target: Tensor, eps: float = EPS) -> float:
    """Pooled IoU ``|P∩T| / |P∪T|`` of two binary masks; both empty gives 1.0."""
    _check_shapes(pred, target)
    inter, p, t = overlap_counts(pred.reshape(1, -1), target.reshape(1, -1))[0].tolist()
    return iou_from_counts(inter, p, t, eps)


# Slots of the single accumulator tensor; one tensor means one host sync in compute().
_INTER, _PRED, _TARGET, _DICE_SUM, _IOU_SUM, _COUNT = range(6)


class SegMetrics:
    """Accumulates Dice/IoU over batches without leaving the device until `compute`.

    ``update`` only queues tensor ops (no ``.item()``), so it never stalls the GPU
    pipeline during validation; ``compute`` copies six numbers to the host once.
    """

    def __init__(self, eps: float = EPS) -> None:
        self.eps = eps
        self._sums: Tensor | None = None

    def reset(self) -> None:
        self._sums = None

    @torch.no_grad()
    def update(self, logits: Tensor, target: Tensor, threshold: float = 0.5) -> None:
        """Add a batch: ``logits`` and ``target`` are (N, 1, H, W) (or (N, H, W))."""
        _check_shapes(logits, target)
        pred = torch.sigmoid(logits.float()) > threshold
        n = pred.shape[0]
        # float32 is exact for counts below 2**24 pixels, i.e. any single image here.
        inter, p_sum, t_sum = overlap_counts(pred, target).float().unbind(dim=1)
        dice = dice_from_counts(inter, p_sum, t_sum, self.eps)
        iou = iou_from_counts(inter, p_sum, t_sum, self.eps)
        # new_full fills on the device; new_tensor would be a blocking host->device copy on CUDA
        batch = torch.stack(
            [inter.sum(), p_sum.sum(), t_sum.sum(), dice.sum(), iou.sum(), inter.new_full((), float(n))]
        )
        if self._sums is None:
            # Dataset totals can pass 2**24 pixels; float64 keeps them exact (MPS lacks it).
            dtype = torch.float32 if batch.device.type == "mps" else torch.float64
            self._sums = torch.zeros(6, dtype=dtype, device=batch.device)
        self._sums += batch.to(self._sums.dtype)

    def reduce(self, op: Callable[[Tensor], Tensor], device: torch.device) -> None:
        """Replace the sums by ``op(sums)`` (a sum over data-parallel ranks); a rank that saw no
        image still takes part, with zeros."""
        if self._sums is None:
            dtype = torch.float32 if device.type == "mps" else torch.float64
            self._sums = torch.zeros(6, dtype=dtype, device=device)
        self._sums = op(self._sums)

    def compute(self) -> dict[str, float]:
        """``dice``/``iou`` pooled over the dataset, ``*_per_image`` means, and ``n_images``.

        With nothing accumulated every score is 0.0 and ``n_images`` is 0.
        """
        if self._sums is None:
            return {"dice": 0.0, "iou": 0.0, "dice_per_image": 0.0, "iou_per_image": 0.0, "n_images": 0}
        s = self._sums.tolist()  # the one device→host sync
        inter, p_sum, t_sum, count = s[_INTER], s[_PRED], s[_TARGET], s[_COUNT]
        return {
            "dice": dice_from_counts(inter, p_sum, t_sum, self.eps),
            "iou": iou_from_counts(inter, p_sum, t_sum, self.eps),
            "dice_per_image": s[_DICE_SUM] / count,
            "iou_per_image": s[_IOU_SUM] / count,
            "n_images": int(count),
        }
