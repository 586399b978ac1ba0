"""Training loss: binary cross-entropy plus soft Dice, both on raw logits."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class BCEDiceLoss(nn.Module):
    """``bce_weight * BCEWithLogits + dice_weight * (1 - soft Dice)``, a scalar.

    BCE gives well-behaved per-pixel gradients early on; soft Dice counters the
    foreground/background imbalance by scoring overlap. Dice is pooled over the whole
    batch (not averaged per image) so an image with an empty mask cannot blow it up;
    ``smooth`` keeps it defined (and equal to 1) when prediction and target are empty.
    """

    def __init__(self, bce_weight: float = 1.0, dice_weight: float = 1.0, smooth: float = 1.0) -> None:
        super().__init__()
        self.bce_weight = float(bce_weight)
        self.dice_weight = float(dice_weight)
        self.smooth = float(smooth)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        if logits.shape != target.shape:
            raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} differ in shape")
        # Under fp16/bf16 autocast the logits arrive in half precision; sums over a batch of
        # 256×256 masks overflow or lose all precision there, so the loss runs in float32.
        logits = logits.float()
        target = target.float()
        bce = F.binary_cross_entropy_with_logits(logits, target)
        probs = torch.sigmoid(logits)
        intersection = (probs * target).sum()
        dice = (2.0 * intersection + self.smooth) / (probs.sum() + target.sum() + self.smooth)
        return self.bce_weight * bce + self.dice_weight * (1.0 - dice)
