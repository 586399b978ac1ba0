"""Exponential moving average of a run's weights (``--ema_decay``), and how it is checkpointed.

After every optimiser step ``ema = decay * ema + (1 - decay) * weights`` (the first update
copies the weights), for parameters AND buffers (BatchNorm running statistics averaged alike,
so the averaged weights are scored with matching statistics). torch's ``AveragedModel`` with
``get_ema_multi_avg_fn`` does the arithmetic (one fused ``_foreach_lerp_`` per dtype).

When EMA is on, the averaged weights are what validation scores, so they are what every
checkpoint stores under ``"model"`` (best.pt, last.pt: ``petseg eval`` / ``infer`` load them
with no flag). A resumable last.pt also stores the raw training weights (``"train_model"``)
and the update count (``"ema_updates"``), so a resumed run continues both exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from engine.errors import CheckpointError


def build_ema(model: torch.nn.Module, decay: float) -> AveragedModel | None:
    """An EMA copy of ``model`` (same device and memory format), or None when ``decay`` is 0."""
    if decay <= 0:
        return None
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
    ema.eval()  # it is only ever scored, never trained
    return ema


def scored_weights(model: torch.nn.Module, ema: AveragedModel | None) -> dict[str, torch.Tensor]:
    """The state_dict validation scores: the average when EMA is on, else the model's own."""
    return (ema.module if ema is not None else model).state_dict()


def resume_state(model: torch.nn.Module, ema: AveragedModel | None) -> dict[str, Any]:
    """What a resumable checkpoint needs beyond ``scored_weights`` (nothing without EMA)."""
    if ema is None:
        return {}
    return {"train_model": model.state_dict(), "ema_updates": int(ema.n_averaged.item())}


def restore_weights(model: torch.nn.Module, ema: AveragedModel | None, ckpt: dict[str, Any], path: Path) -> None:
    """Load a resumable checkpoint's weights into ``model`` (and ``ema``)."""
    if ema is None:
        model.load_state_dict(ckpt["model"])
        return
    if "train_model" not in ckpt or "ema_updates" not in ckpt:
        raise CheckpointError(path, "has no training weights beside the EMA weights; cannot resume this EMA run")
    model.load_state_dict(ckpt["train_model"])
    ema.module.load_state_dict(ckpt["model"])
    ema.n_averaged.fill_(int(ckpt["ema_updates"]))
