"""EMA of weights: the average it keeps, what checkpoints store, and resuming it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.train.ema import build_ema, restore_weights, resume_state, scored_weights
from engine.errors import CheckpointError


def toy() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))


def test_off_when_decay_is_zero() -> None:
    model = toy()
    assert build_ema(model, 0.0) is None
    assert scored_weights(model, None).keys() == model.state_dict().keys()
    assert resume_state(model, None) == {}


def test_average_matches_a_hand_computation() -> None:
    """ema_1 = w_1 (the first update copies), ema_t = d * ema_(t-1) + (1 - d) * w_t, for the
    weights and the BatchNorm running statistics alike."""
    model, d = toy(), 0.75
    ema = build_ema(model, d)
    seen = []
    for step in range(4):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        model.train()(torch.randn(8, 3))  # moves the running statistics
        ema.update(model)
        seen.append({k: v.clone() for k, v in model.state_dict().items()})
    for key in ("0.weight", "0.bias", "1.weight", "1.running_mean", "1.running_var"):
        expected = seen[0][key]
        for later in seen[1:]:
            expected = d * expected + (1 - d) * later[key]
        torch.testing.assert_close(ema.module.state_dict()[key], expected, rtol=1e-6, atol=1e-7)
        assert not torch.allclose(ema.module.state_dict()[key], seen[-1][key])  # really averaged
    assert ema.module[1].num_batches_tracked == model[1].num_batches_tracked == 4  # a counter: copied
    torch.testing.assert_close(scored_weights(model, ema)["0.weight"], ema.module.state_dict()["0.weight"])
    assert resume_state(model, ema)["ema_updates"] == 4


def test_restore_puts_back_both_weights_and_the_count(tmp_path: Path) -> None:
    model, d = toy(), 0.9
    ema = build_ema(model, d)
    for _ in range(3):
        with torch.no_grad():
            model[0].weight.add_(1.0)
        ema.update(model)
    ckpt = {"model": scored_weights(model, ema), **resume_state(model, ema)}

    fresh = toy()
    fresh_ema = build_ema(fresh, d)
    restore_weights(fresh, fresh_ema, ckpt, tmp_path / "last.pt")
    for a, b in ((model, fresh), (ema.module, fresh_ema.module)):
        for key, tensor in a.state_dict().items():
            assert torch.equal(tensor, b.state_dict()[key]), key
    # and both continue identically
    for m, e in ((model, ema), (fresh, fresh_ema)):
        with torch.no_grad():
            m[0].weight.add_(1.0)
        e.update(m)
    assert torch.equal(ema.module[0].weight, fresh_ema.module[0].weight)


def test_restore_without_training_weights_is_a_clear_error(tmp_path: Path) -> None:
    model = toy()
    with pytest.raises(CheckpointError, match="last.pt.*no training weights"):
        restore_weights(model, build_ema(model, 0.9), {"model": model.state_dict()}, tmp_path / "last.pt")
