"""Exponential moving average of a run's weights (``--ema_decay``), and how it is checkpointed.

After every optimiser step ``ema = decay * ema + (1 - decay) * weights`` (the first update
copies the weights), for parameters AND floating-point buffers (BatchNorm running statistics
averaged alike, so the averaged weights are scored with matching statistics; the integer
``num_batches_tracked`` is copied). The arithmetic is torch's own EMA step
(``torch.optim.swa_utils.get_ema_multi_avg_fn``: one fused ``_foreach_lerp_``).

`WeightEMA` holds the copy instead of ``AveragedModel``, whose ``update_parameters`` keeps its
update count in a tensor and moves it between host and device on every call: on CUDA that is a
blocking synchronisation per training step (pytorch/pytorch#157705 and #175085), which the
trainer avoids everywhere else. Here the count is a Python int.

When EMA is on, the averaged weights are what validation scores, so they are what every
checkpoint stores under ``"model"`` (best.pt, last.pt: ``petseg eval`` / ``infer`` load them
with no flag). A resumable last.pt also stores the raw training weights (``"train_model"``)
and the update count (``"ema_updates"``), so a resumed run continues both exactly.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from torch.optim.swa_utils import get_ema_multi_avg_fn

from engine.errors import CheckpointError


class WeightEMA:
    """An averaged copy of a model (same device and memory format), in eval mode."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay = decay
        self.updates = 0
        self._step = get_ema_multi_avg_fn(decay)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """Blend ``model``'s current weights in (the first call copies them)."""
        averaged = [*self.module.parameters(), *self.module.buffers()]
        current = [t.detach() for t in (*model.parameters(), *model.buffers())]
        floats = [i for i, t in enumerate(averaged) if t.is_floating_point()]
        if self.updates == 0:
            for a, c in zip(averaged, current):
                a.copy_(c)
        else:
            self._step([averaged[i] for i in floats], [current[i] for i in floats], None)
            for i in set(range(len(averaged))) - set(floats):  # step counters: not averaged
                averaged[i].copy_(current[i])
        self.updates += 1


def build_ema(model: torch.nn.Module, decay: float) -> WeightEMA | None:
    """An EMA of ``model``, or None when ``decay`` is 0 (EMA off)."""
    return WeightEMA(model, decay) if decay > 0 else None


def scored_weights(model: torch.nn.Module, ema: WeightEMA | None) -> dict[str, torch.Tensor]:
    """The state_dict validation scores: the average when EMA is on, else the model's own."""
    return (ema.module if ema is not None else model).state_dict()


def resume_state(model: torch.nn.Module, ema: WeightEMA | None) -> dict[str, Any]:
    """What a resumable checkpoint needs beyond ``scored_weights`` (nothing without EMA)."""
    if ema is None:
        return {}
    return {"train_model": model.state_dict(), "ema_updates": ema.updates}


def restore_weights(model: torch.nn.Module, ema: WeightEMA | None, ckpt: dict[str, Any], path: Path) -> None:
    """Load a resumable checkpoint's weights into ``model`` (and ``ema``)."""
    if ema is None:
        model.load_state_dict(ckpt["model"])
        return
    if "train_model" not in ckpt or "ema_updates" not in ckpt:
        raise CheckpointError(path, "has no training weights beside the EMA weights; cannot resume this EMA run")
    model.load_state_dict(ckpt["train_model"])
    ema.module.load_state_dict(ckpt["model"])
    ema.updates = int(ckpt["ema_updates"])
