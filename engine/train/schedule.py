"""The learning-rate schedule of a run: `build_scheduler` from a `TrainConfig`, stepped once per epoch.

Without warm-up the schedulers are torch's own (``CosineAnnealingLR`` to 0 over the run,
``ReduceLROnPlateau`` on the valid Dice, or none), as before. With ``warmup_epochs`` = W > 0
(cosine or none; not given: ``engine.config.auto_warmup_epochs``, which the Trainer resolves
once when it creates a run, so config.json records the number) the rate of epoch ``e``
(1-based) is ``learning_rate * warmup_factor(...)``:

* warm-up, epochs 1..W: ``e / (W + 1)``, a straight line up to the full rate, which epoch
  W + 1 is the first to use (so no epoch repeats the peak);
* then cosine from 1 down towards 0 over the remaining ``epochs - W`` epochs, the same curve as
  ``CosineAnnealingLR(T_max=epochs - W)``; or 1 (constant) with ``--scheduler none``.

It is a ``LambdaLR`` over a plain function: its state (the epoch counter) is checkpointed, the
function is rebuilt from the config on resume, so extending a run's epochs reshapes the decay
that is left.

With ``--time_budget`` the same shape is drawn over elapsed training time instead of epochs
(`TimeBudget`, `build_time_budget`, below); `build_scheduler` then returns None for cosine and none.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import torch

from engine.config import AUTO_WARMUP_SHARE, TrainConfig, auto_warmup_epochs


def warmup_factor(epoch_index: int, epochs: int, warmup_epochs: int, cosine: bool) -> float:
    """Multiplier of the base rate for the epoch with 0-based ``epoch_index`` (LambdaLR's count)."""
    if epoch_index < warmup_epochs:
        return (epoch_index + 1) / (warmup_epochs + 1)
    if not cosine:
        return 1.0
    decay_epochs = max(1, epochs - warmup_epochs)
    done = min(epoch_index - warmup_epochs, decay_epochs)
    return 0.5 * (1.0 + math.cos(math.pi * done / decay_epochs))


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig) -> Any:
    """The per-epoch scheduler ``config`` asks for, or None (``--scheduler none``, no warm-up)."""
    lr = torch.optim.lr_scheduler
    if config.time_budget is not None and config.scheduler in ("cosine", "none"):
        return None  # the TimeBudget sets the rate after every step
    warmup = config.warmup_epochs
    if warmup is None:  # a new run's Trainer has resolved it already; other callers get the same rule
        warmup = auto_warmup_epochs(config.epochs, config.scheduler)
    if warmup > 0 and config.scheduler in ("cosine", "none"):
        epochs, cosine = config.epochs, config.scheduler == "cosine"

        def factor(epoch_index: int) -> float:  # a function, so LambdaLR does not checkpoint it
            return warmup_factor(epoch_index, epochs, warmup, cosine)

        return lr.LambdaLR(optimizer, factor)
    if config.scheduler == "cosine":
        return lr.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if config.scheduler == "plateau":
        return lr.ReduceLROnPlateau(optimizer, mode="max", factor=0.5, patience=5)
    return None


# ---- --time_budget: the schedule over wall-clock training time ----------------------------------


# a time budget alone: the warm-up ends at the latest after this share of the budget (a tenth, as
# auto warm-up gives an epoch-bound run at most one warm-up epoch in AUTO_WARMUP_SHARE)
TIME_ALONE_WARMUP_SHARE = 1 / AUTO_WARMUP_SHARE


def _now() -> float:
    """The budget's clock (looked up at each call, so a test can replace it: no sleeping tests)."""
    return time.monotonic()


def budget_factor(progress: float, warmup_share: float, warmup_epochs: int, cosine: bool) -> float:
    """Multiplier of the base rate at ``progress`` (0..1) of a time-budget run: the epoch
    schedule's shape (`warmup_factor`) as a continuous function of progress. The warm-up is the
    first ``warmup_share`` of the run, a line from 1/(W+1) (the first warm-up epoch's rate) to 1;
    then cosine to 0 at progress 1, or constant with ``--scheduler none``."""
    progress = min(max(progress, 0.0), 1.0)
    if warmup_share > 0 and progress < warmup_share:
        return (1 + warmup_epochs * progress / warmup_share) / (warmup_epochs + 1)
    if not cosine:
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * (progress - warmup_share) / max(1e-12, 1.0 - warmup_share)))


class TimeBudget:
    """``--time_budget``: a run's elapsed training time, the learning rate fitted to it, and when to end.

    *Elapsed training time* starts when the first epoch starts (after the data has decoded) and
    counts everything from there (training steps, validation, checkpoints) except pauses;
    earlier sessions of a resumed run add their time (`state_dict`, kept in last.pt). *Progress*
    is ``max(elapsed / budget, epochs trained / --epochs)``: --epochs stays an upper bound, and
    the rate anneals towards whichever of the two runs out first, counted in fractions of an
    epoch (after every batch).

    Without an epoch bound (``epochs`` None: the time alone) progress is ``elapsed / budget``
    and the warm-up, which cannot be a share of unknown epochs, ends after ``warmup_epochs``
    epochs or a tenth of the budget (`TIME_ALONE_WARMUP_SHARE`), whichever comes first; the
    cosine then spans the rest of the budget from where the warm-up ended (kept in last.pt).

    With ``--scheduler cosine`` or ``none`` it owns the learning rate (`budget_factor`, set after
    every optimiser step; the run then has no per-epoch scheduler); with ``plateau`` it only
    ends the run (``optimizer`` None). The run ends after the batch that spends the budget,
    mid-epoch: that epoch is validated and reported as the last (see `Trainer`).

    ``clock`` (seconds, monotonic) is injectable so tests need no sleeping.

    A data-parallel run (``shared=True``) must take every decision on every rank alike, or the
    ranks' rates would differ and one would end its epoch while the others wait in a collective:
    there every rank uses rank 0's elapsed time, handed to `agree` after every batch with the
    ranks' control flags (the value between two batches is the one agreed last).
    """

    def __init__(self, budget_seconds: float, epochs: int | None, optimizer: torch.optim.Optimizer | None = None, *,
                 warmup_epochs: int = 0, cosine: bool = True, clock: Callable[[], float] | None = None,
                 shared: bool = False) -> None:
        self.budget_seconds = float(budget_seconds)
        self.epochs = None if epochs is None else max(1, int(epochs))
        self.optimizer = optimizer
        self.warmup_epochs = warmup_epochs
        if self.epochs is None:
            self.warmup_share = None  # known once the warm-up ends (`_time_alone_factor`)
        else:
            self.warmup_share = min(warmup_epochs / self.epochs, 0.5) if warmup_epochs > 0 else 0.0
        self.cosine = cosine
        self._clock = clock or (lambda: _now())
        self._paused: Callable[[], float] = lambda: 0.0
        self.carried = 0.0  # training seconds of earlier sessions (from last.pt)
        self._t0: float | None = None
        self._paused0 = 0.0
        self._at_epoch_end = 0.0  # what an end-of-epoch last.pt records
        self.position = 0.0  # epochs trained, fractional
        self.shared = shared
        self._agreed: float | None = None  # shared: rank 0's elapsed time, as last agreed
        if optimizer is not None:
            self.base_lrs = [float(g["lr"]) for g in optimizer.param_groups]
            self._set_lr()

    def start(self, done_epochs: float, paused_seconds: Callable[[], float] | None = None) -> None:
        """Start counting (this session's training begins, ``done_epochs`` in: fractional after a
        stop inside an epoch); sets the rate for here."""
        self._paused = paused_seconds or (lambda: 0.0)
        self._t0, self._paused0 = self._clock(), self._paused()
        self.position = float(done_epochs)
        if self.shared:
            self._agreed = self.carried  # every rank starts from last.pt's figure, not its own clock
        self._set_lr()

    def agree(self, rank0_elapsed: float) -> None:
        """A data-parallel run: rank 0's `local_elapsed`, the same on every rank from here."""
        self._agreed = float(rank0_elapsed)

    def elapsed(self) -> float:
        """Training seconds so far, earlier sessions included, pauses left out (a shared budget:
        rank 0's, as last agreed)."""
        if self.shared and self._agreed is not None:
            return self._agreed
        return self.local_elapsed()

    def local_elapsed(self) -> float:
        """This process's own count of `elapsed`."""
        if self._t0 is None:
            return self.carried
        return self.carried + (self._clock() - self._t0) - (self._paused() - self._paused0)

    def progress(self) -> float:
        by_time = self.elapsed() / self.budget_seconds
        if self.epochs is None:
            return min(1.0, by_time)
        return min(1.0, max(by_time, self.position / self.epochs))

    def spent(self) -> bool:
        return self.elapsed() >= self.budget_seconds

    def after_step(self, epoch: int, batch: int, batches: int) -> bool:
        """After batch ``batch`` of ``batches`` of ``epoch`` (1-based): the rate for the next step;
        True when the budget is spent (the epoch ends here)."""
        self.position = (epoch - 1) + batch / max(1, batches)
        self._set_lr()
        return self.spent()

    def epoch_ended(self) -> None:
        self._at_epoch_end = self.elapsed()

    def factor(self) -> float:
        """The multiplier of the base rate here (what `_set_lr` sets). With the time alone, the
        first call past the warm-up also fixes ``warmup_share`` where it ended (it depends on
        whether the epochs or the time got there first, so it is kept, not derived)."""
        progress = self.progress()
        if self.warmup_share is not None:
            return budget_factor(progress, self.warmup_share, self.warmup_epochs, self.cosine)
        # the time alone: the warm-up ends at its epochs or its share of the budget, the cosine
        # then spans what is left from there
        if self.warmup_epochs > 0:
            ramp = max(self.position / self.warmup_epochs, progress / TIME_ALONE_WARMUP_SHARE)
            if ramp < 1:
                return (1 + self.warmup_epochs * ramp) / (self.warmup_epochs + 1)
        self.warmup_share = progress if self.warmup_epochs > 0 else 0.0
        return budget_factor(progress, self.warmup_share, self.warmup_epochs, self.cosine)

    def _set_lr(self) -> None:
        if self.optimizer is None:
            return
        factor = self.factor()
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * factor

    def state_dict(self, now: bool = False) -> dict[str, float]:
        """What last.pt keeps: the training seconds at the last epoch's end, or with ``now`` (a
        save inside an epoch, whose resume goes on from that batch) those so far; with the time
        alone, where the warm-up ended (a share of the budget) once it has."""
        state = {"budget_seconds": self.budget_seconds, "elapsed_seconds": self.elapsed() if now else self._at_epoch_end}
        if self.epochs is None and self.warmup_share is not None:
            state["warmup_share"] = self.warmup_share
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.carried = self._at_epoch_end = float(state.get("elapsed_seconds", 0.0))
        share = state.get("warmup_share")
        if self.epochs is None and isinstance(share, (int, float)) and 0 <= share < 1:
            self.warmup_share = float(share)


def build_time_budget(optimizer: torch.optim.Optimizer, config: TrainConfig,
                      clock: Callable[[], float] | None = None, shared: bool = False) -> TimeBudget | None:
    """The run's `TimeBudget` (None without ``--time_budget``). It shapes the rate with cosine
    and none, so `build_scheduler` then gives no per-epoch scheduler."""
    if config.time_budget is None:
        return None
    from engine.durations import parse_duration

    warmup = config.warmup_epochs
    if warmup is None:
        warmup = auto_warmup_epochs(config.epochs, config.scheduler)
    shapes_lr = config.scheduler in ("cosine", "none")
    return TimeBudget(parse_duration(config.time_budget), config.epochs, optimizer if shapes_lr else None,
                      warmup_epochs=warmup if shapes_lr else 0, cosine=config.scheduler == "cosine", clock=clock,
                      shared=shared)
