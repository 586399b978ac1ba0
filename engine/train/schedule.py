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
"""

from __future__ import annotations

import math
from typing import Any

import torch

from engine.config import TrainConfig, auto_warmup_epochs


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
