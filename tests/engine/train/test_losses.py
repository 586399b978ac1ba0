"""BCEDiceLoss against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from engine.train.losses import BCEDiceLoss


def test_perfect_confident_logits_give_almost_zero_loss():
    target = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    logits = (target * 2 - 1) * 30  # ±30: sigmoid is 1 or 0 to float32 precision
    assert BCEDiceLoss()(logits, target).item() == pytest.approx(0.0, abs=1e-6)


def test_hand_computed_value_for_zero_logits():
    # Logits 0 -> every probability is 0.5 and every pixel's BCE is ln 2.
    # Target [1, 0, 1, 1]: sum(p*t) = 1.5, sum(p) = 2, sum(t) = 3, smooth = 1:
    #   dice = (2*1.5 + 1) / (2 + 3 + 1) = 4/6, so 1 - dice = 1/3.
    target = torch.tensor([1.0, 0.0, 1.0, 1.0]).view(1, 1, 2, 2)
    logits = torch.zeros_like(target)
    assert BCEDiceLoss()(logits, target).item() == pytest.approx(math.log(2) + 1 / 3, rel=1e-6)
    # Weights scale each term separately.
    loss = BCEDiceLoss(bce_weight=0.5, dice_weight=2.0)(logits, target).item()
    assert loss == pytest.approx(0.5 * math.log(2) + 2 / 3, rel=1e-6)


def test_empty_target_and_confident_empty_prediction_is_not_penalised():
    # smooth makes Dice (0 + 1) / (0 + 0 + 1) = 1 when both masks are empty.
    target = torch.zeros(1, 1, 4, 4)
    assert BCEDiceLoss()(torch.full_like(target, -30.0), target).item() == pytest.approx(0.0, abs=1e-6)


def test_gradients_flow_and_point_the_right_way():
    target = torch.tensor([1.0, 0.0]).view(1, 1, 1, 2)
    logits = torch.zeros_like(target, requires_grad=True)
    BCEDiceLoss()(logits, target).backward()
    # Raising the foreground logit and lowering the background one must both reduce the loss.
    assert logits.grad[0, 0, 0, 0] < 0 < logits.grad[0, 0, 0, 1]


def test_half_precision_logits_give_a_float32_loss():
    target = torch.randint(0, 2, (2, 1, 8, 8)).float()
    logits = torch.randn(2, 1, 8, 8)
    full = BCEDiceLoss()(logits, target)
    half = BCEDiceLoss()(logits.bfloat16(), target.bfloat16())
    assert half.dtype == torch.float32 and half.ndim == 0
    assert half.item() == pytest.approx(full.item(), abs=2e-2)
