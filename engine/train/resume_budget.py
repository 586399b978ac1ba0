"""A resumed run's new epoch budget (``petseg train --resume RUN --epochs N``, or ``epochs``
edited in config.json; `engine.train.resume.plan_resume` decides whether it is allowed): the
change as recorded, described and applied to the restored scheduler.

Rule for ``cosine``: the original schedule stretched to N epochs —
epoch e > k (k = epochs done) gets ``lr = base_lr * (1 + cos(pi * (e-1) / N)) / 2``, exactly
what a run planned for N epochs from the start uses there. Why not "a fresh cosine from the
current lr": a finished cosine run's current lr is 0, so that rule would train nothing
(the bug this replaces: epochs 3-6 at lr 0.00e+00). Stretching always gives the added
epochs a real learning rate that anneals to 0 at the new end; the price is one jump up at
the resume point (a warm restart, as in SGDR). With ``warmup_epochs`` W (engine.train.schedule) the
same rule holds for the cosine after the warm-up, stretched over N - W epochs. ``plateau``
and ``none`` keep their state and simply run longer. Each change is recorded in config.json (``epochs`` and
``budget_changes``) and shown by ``petseg runs`` and the TUI.

Torch is only needed by `apply_budget` (called by the trainer with its scheduler).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.train.resume import ResumePlan

COSINE_RULE = ("cosine stretched to the new budget: lr(e) = base_lr * (1 + cos(pi * (e-1) / N)) / 2; with W warm-up "
               "epochs, the cosine part over N - W")


@dataclass
class BudgetChange:
    """A new epoch budget: after ``after_epoch`` epochs, ``old`` total epochs became ``new``."""

    after_epoch: int
    old: int
    new: int
    scheduler: str
    next_lr: float | None = None  # the lr of epoch after_epoch + 1 (filled in by apply_budget)

    def describe(self) -> str:
        rule = {"cosine": "cosine stretched", "plateau": "plateau continues",
                "none": "constant lr"}.get(self.scheduler, self.scheduler)
        lr = f", lr {self.next_lr:.2e} at epoch {self.after_epoch + 1}" if self.next_lr is not None else ""
        return f"epochs {self.old}→{self.new} after epoch {self.after_epoch} ({rule}{lr})"

    @classmethod
    def from_dict(cls, data: Any) -> "BudgetChange | None":
        """From a config.json ``budget_changes`` entry; None if it is not one."""
        if not isinstance(data, dict):
            return None
        try:
            lr = data.get("next_lr")
            return cls(after_epoch=int(data["after_epoch"]), old=int(data["from"]), new=int(data["to"]),
                       scheduler=str(data.get("scheduler", "")),
                       next_lr=float(lr) if isinstance(lr, (int, float)) and not isinstance(lr, bool) else None)
        except (KeyError, TypeError, ValueError):
            return None

    def to_dict(self) -> dict[str, Any]:
        return {"after_epoch": self.after_epoch, "from": self.old, "to": self.new,
                "scheduler": self.scheduler, "next_lr": self.next_lr,
                "rule": COSINE_RULE if self.scheduler == "cosine" else f"{self.scheduler}: state kept, runs longer"}


def describe_budget_changes(config: dict[str, Any]) -> str:
    """The epoch-budget changes recorded in a run's config.json, as one line ("" if none)."""
    changes = [BudgetChange.from_dict(c) for c in config.get("budget_changes") or []] \
        if isinstance(config.get("budget_changes"), list) else []
    return "; ".join(c.describe() for c in changes if c is not None)


def apply_budget(plan: ResumePlan, scheduler: Any, optimizer: Any) -> None:
    """Give a restored scheduler the plan's epoch budget (see the module docstring).

    With no budget change nothing is touched, so a plain resume repeats an uninterrupted run
    bit for bit.
    """
    import torch

    change = plan.budget
    if change is None:
        return
    k = change.after_epoch
    if isinstance(scheduler, torch.optim.lr_scheduler.CosineAnnealingLR):
        scheduler.T_max = change.new
        for group, base_lr in zip(optimizer.param_groups, scheduler.base_lrs):
            lr = scheduler.eta_min + (base_lr - scheduler.eta_min) * (1 + math.cos(math.pi * k / change.new)) / 2
            group["lr"] = lr
        # CosineAnnealingLR steps recursively from the current lr, so from here it follows the
        # stretched curve exactly
    elif isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR):
        # warm-up (engine.train.schedule): the factor function was rebuilt from the new budget, so the
        # decay after the warm-up is already stretched; only the lr of the next epoch, set by
        # the old function at the last step, must come from the new one
        for group, base_lr, factor in zip(optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas):
            group["lr"] = base_lr * factor(k)
    change.next_lr = float(optimizer.param_groups[0]["lr"])
