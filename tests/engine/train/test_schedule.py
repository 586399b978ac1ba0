"""Learning-rate schedule: linear warm-up epochs, then cosine (or constant), stepped per epoch."""

from __future__ import annotations

import math

import pytest
import torch

from engine.config import TrainConfig
from engine.train.schedule import build_scheduler


def rates(config: TrainConfig, epochs: int | None = None) -> list[float]:
    """The rate each epoch trains at, stepping the scheduler as the trainer does."""
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=config.learning_rate)
    sched = build_scheduler(opt, config)
    out = []
    for _ in range(epochs or config.epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_warmup_rises_linearly_then_cosine_decays_over_the_rest() -> None:
    lr = 1e-3
    got = rates(TrainConfig(epochs=6, warmup_epochs=2, learning_rate=lr))
    cosine = [0.5 * (1 + math.cos(math.pi * j / 4)) for j in range(4)]  # 4 epochs after warm-up
    assert got == pytest.approx([lr / 3, 2 * lr / 3] + [lr * c for c in cosine], rel=1e-12)


def test_warmup_then_constant_with_scheduler_none() -> None:
    got = rates(TrainConfig(epochs=5, warmup_epochs=3, learning_rate=0.01, scheduler="none"))
    assert got == pytest.approx([0.0025, 0.005, 0.0075, 0.01, 0.01], rel=1e-12)


def test_without_warmup_the_schedules_are_unchanged() -> None:
    cfg = TrainConfig(epochs=8, learning_rate=1e-3)
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    assert isinstance(build_scheduler(opt, cfg), torch.optim.lr_scheduler.CosineAnnealingLR)
    assert rates(cfg) == pytest.approx([1e-3 * 0.5 * (1 + math.cos(math.pi * e / 8)) for e in range(8)], rel=1e-9)
    assert build_scheduler(opt, TrainConfig(scheduler="none", warmup_epochs=0)) is None


@pytest.mark.parametrize("epochs, warmup", [(20, 2), (60, 3)])
def test_without_a_warmup_given_the_auto_warmup_shapes_the_rates(epochs: int, warmup: int) -> None:
    assert TrainConfig().warmup_epochs is None
    assert rates(TrainConfig(epochs=epochs)) == pytest.approx(rates(TrainConfig(epochs=epochs, warmup_epochs=warmup)),
                                                              rel=1e-12)


def test_resume_with_more_epochs_follows_the_new_budget() -> None:
    """A resumed run restores the epoch counter; the curve left is the one of the new budget."""
    lr = 1e-3
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = build_scheduler(opt, TrainConfig(epochs=4, warmup_epochs=1, learning_rate=lr))
    for _ in range(3):
        opt.step()
        sched.step()
    state, opt_state = sched.state_dict(), opt.state_dict()

    opt2 = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched2 = build_scheduler(opt2, TrainConfig(epochs=10, warmup_epochs=1, learning_rate=lr))
    opt2.load_state_dict(opt_state)
    sched2.load_state_dict(state)
    sched2.step()  # into epoch 5 (index 4) of 10: 3 of the 9 decay epochs done
    assert opt2.param_groups[0]["lr"] == pytest.approx(lr * 0.5 * (1 + math.cos(math.pi * 3 / 9)), rel=1e-12)
