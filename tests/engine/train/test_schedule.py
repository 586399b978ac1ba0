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


# ---- --time_budget: the schedule over elapsed training time, on a fake clock --------------------

from engine.train.schedule import TimeBudget, budget_factor, build_time_budget  # noqa: E402


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _budget(clock: FakeClock, **kw) -> tuple[TimeBudget, torch.optim.Optimizer]:
    cfg = TrainConfig(**{"epochs": 1000, "time_budget": "100s", "warmup_epochs": 0, "learning_rate": 1e-3, **kw})
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=cfg.learning_rate)
    budget = build_time_budget(opt, cfg, clock=clock)
    assert budget is not None
    return budget, opt


def test_time_budget_rate_is_the_cosine_of_elapsed_time() -> None:
    clock = FakeClock()
    budget, opt = _budget(clock)
    budget.start(0)
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-3)
    for elapsed in (25, 50, 75):
        clock.now = 1000.0 + elapsed
        assert budget.after_step(1, 1, 1000) is False
        assert opt.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi * elapsed / 100)))
    clock.now = 1100.0
    assert budget.after_step(1, 2, 1000) is True  # spent: the epoch ends after this batch
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-15)


def test_a_shared_budget_gives_every_rank_the_same_rate_and_end_whatever_its_own_clock() -> None:
    """Data-parallel ranks: each has its own clock (here 3 s apart), but a shared budget follows
    the elapsed time agreed after each batch, so rates and the last batch are the same."""
    cfg = TrainConfig(epochs=1000, time_budget="100s", warmup_epochs=0, learning_rate=1e-3)
    ranks = []
    for skew in (0.0, 3.0):
        clock = FakeClock()
        clock.now += skew
        opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=cfg.learning_rate)
        budget = build_time_budget(opt, cfg, clock=clock, shared=True)
        budget.start(0)
        ranks.append((clock, budget, opt))
    for batch, rank0 in enumerate((10.0, 55.5, 99.9, 100.2), start=1):
        ends = []
        for i, (clock, budget, opt) in enumerate(ranks):
            clock.now = 1000.0 + rank0 + 3.0 * i  # rank 1's clock runs 3 s ahead
            budget.agree(ranks[0][1].local_elapsed())
            ends.append(budget.after_step(1, batch, 1000))
        assert ranks[0][2].param_groups[0]["lr"] == ranks[1][2].param_groups[0]["lr"]
        assert ends[0] == ends[1] == (rank0 >= 100)


def test_time_budget_leaves_paused_time_out() -> None:
    clock, paused = FakeClock(), [0.0]
    budget, _ = _budget(clock)
    budget.start(0, paused_seconds=lambda: paused[0])
    clock.now += 60
    paused[0] = 50.0  # 50 of those 60 s were a pause
    assert budget.elapsed() == pytest.approx(10.0) and not budget.spent()
    clock.now += 90
    assert budget.elapsed() == pytest.approx(100.0) and budget.spent()


def test_epochs_stay_an_upper_bound_and_shape_the_rate_when_they_run_out_first() -> None:
    clock = FakeClock()
    budget, opt = _budget(clock, epochs=4)
    budget.start(0)
    clock.now += 10  # 10% of the time, but half of the epochs
    budget.after_step(2, 10, 10)
    assert budget.progress() == pytest.approx(0.5)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5e-3)


def test_time_budget_warmup_is_the_same_share_of_the_run_as_in_epochs() -> None:
    # 2 warm-up epochs of 10: the first 20% of the budget, from 1/3 of the rate (epoch 1's) up to all of it
    assert budget_factor(0.0, 0.2, 2, True) == pytest.approx(1 / 3)
    assert budget_factor(0.1, 0.2, 2, True) == pytest.approx(2 / 3)
    assert budget_factor(0.2, 0.2, 2, True) == pytest.approx(1.0)
    assert budget_factor(0.6, 0.2, 2, True) == pytest.approx(0.5)
    assert budget_factor(0.9, 0.2, 2, False) == 1.0


def test_resume_continues_the_remaining_budget_from_the_last_finished_epoch() -> None:
    clock = FakeClock()
    budget, _ = _budget(clock)
    budget.start(0)
    clock.now += 30
    budget.epoch_ended()  # last.pt records 30 s
    clock.now += 20  # an epoch interrupted here is re-run by the resume: not counted
    state = budget.state_dict()
    assert state == {"budget_seconds": 100.0, "elapsed_seconds": 30.0}
    later = FakeClock()
    resumed, opt = _budget(later)
    resumed.load_state_dict(state)
    resumed.start(1)
    assert resumed.elapsed() == pytest.approx(30.0)
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi * 0.3)))
    later.now += 70
    assert resumed.spent()


def test_time_budget_replaces_the_epoch_scheduler_except_plateau() -> None:
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    assert build_scheduler(opt, TrainConfig(time_budget="10m")) is None
    assert build_scheduler(opt, TrainConfig(time_budget="10m", scheduler="none")) is None
    plateau = TrainConfig(time_budget="10m", scheduler="plateau")
    assert isinstance(build_scheduler(opt, plateau), torch.optim.lr_scheduler.ReduceLROnPlateau)
    clock = FakeClock()
    budget = build_time_budget(opt, plateau, clock=clock)
    budget.start(0)
    clock.now += 300
    budget.after_step(1, 1, 10)
    assert opt.param_groups[0]["lr"] == 1e-3  # plateau owns the rate; the budget only ends the run
    assert build_time_budget(opt, TrainConfig()) is None


@pytest.mark.parametrize("text,problem", [("10m", None), ("1h30m", None), ("90", None), ("0s", "more than 0"),
                                          ("ten minutes", "must be a duration"), ("5x", "must be a duration")])
def test_time_budget_flag_is_validated_in_one_line(text: str, problem: str | None) -> None:
    errors = TrainConfig(time_budget=text).field_errors()
    if problem is None:
        assert "time_budget" not in errors
    else:
        assert problem in errors["time_budget"] and "\n" not in errors["time_budget"]


# ---- a time budget alone (no epoch bound) ---------------------------------------------------------


def test_a_time_budget_alone_anneals_over_the_time_whatever_the_epochs() -> None:
    """No epoch bound: progress is the time alone, so epoch 400 of a fast run is still mid-schedule
    (with --epochs 10 it would be past the end)."""
    clock = FakeClock()
    budget, opt = _budget(clock, epochs=None)
    budget.start(0)
    clock.now += 50
    assert budget.after_step(400, 5, 10) is False
    assert budget.progress() == pytest.approx(0.5)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5e-3)
    clock.now += 50
    assert budget.after_step(800, 5, 10) is True


@pytest.mark.parametrize("fast", [True, False])
def test_a_time_budget_alone_warms_up_for_its_epochs_or_a_tenth_of_the_time(fast: bool) -> None:
    """3 warm-up epochs, 100 s: fast epochs (1 s) end the warm-up at epoch 3 (3 % of the time), slow
    ones (20 s) at 10 s, a tenth of the budget; the cosine then spans the rest of the time from there."""
    clock = FakeClock()
    budget, opt = _budget(clock, epochs=None, warmup_epochs=3)
    budget.start(0)
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-3 / 4)  # the first warm-up epoch's rate, as with epochs
    epoch_seconds = 1.0 if fast else 20.0
    ends = 3.0 if fast else 10.0
    clock.now += ends / 2
    budget.after_step(1, 1, 1) if fast else budget.after_step(1, 1, 4)
    assert 1e-3 / 4 < opt.param_groups[0]["lr"] < 1e-3  # still rising
    clock.now = 1000.0 + ends
    budget.after_step(int(ends / epoch_seconds) if fast else 1, 1 if fast else 2, 1 if fast else 4)
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-3)  # the peak, where the warm-up ended
    clock.now = 1000.0 + ends + (100 - ends) / 2
    budget.after_step(50, 1, 1)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5e-3)  # halfway down the cosine of what was left
    # a resume keeps where the warm-up ended: the rate goes on from the same curve
    budget.epoch_ended()
    later = FakeClock()
    resumed, opt2 = _budget(later, epochs=None, warmup_epochs=3)
    resumed.load_state_dict(budget.state_dict())
    resumed.start(50)
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.5e-3)
