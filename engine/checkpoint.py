"""Checkpoints: atomic save, safe load (``weights_only=True``) and rebuilding the model.

A checkpoint is a plain dict of tensors and primitives::

    {"format": "petseg-checkpoint/1", "arch": {"name": ..., "kwargs": {...}}, "model": state_dict,
     "image_size", "mask_rule", "epoch", "best_dice", "best_epoch", "config",
     "optimizer", "scheduler", "scaler", "rng"}   # the last four only in training checkpoints

``arch`` lets inference rebuild the network with no extra flags. Loading never unpickles
arbitrary objects: a file made by ``torch.save(model)`` is refused with a clear message.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from engine.atomic import atomic_write
from engine.errors import CheckpointError

FORMAT = "petseg-checkpoint/1"


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """Write ``state`` to ``path`` atomically: temp file in the same folder, fsync, rename.

    A crash or a full disk during the write leaves the previous file at ``path`` intact; the
    temp file is removed on error. Raises CheckpointError with the OS reason.
    """
    path = Path(path)
    try:
        atomic_write(path, lambda fh: torch.save(state, fh), fault_point="checkpoint")
    except (OSError, RuntimeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
        raise CheckpointError(path, f"could not save checkpoint ({reason})") from None


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a petseg checkpoint safely; every failure is a one-line CheckpointError."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(path, "no such checkpoint file")
    if path.is_dir():
        raise CheckpointError(path, "is a directory, not a checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(path, "empty file (0 bytes), not a checkpoint")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "weights_only" in text or "Unsupported global" in text or "GLOBAL" in text:
            raise CheckpointError(
                path,
                "refused: it pickles Python objects (a whole model saved with torch.save(model)?); "
                "only state_dict checkpoints are loaded, with weights_only=True",
            ) from None
        raise CheckpointError(path, "corrupt checkpoint (cannot unpickle)") from None
    except Exception as exc:  # the unpickler raises many types (IndexError, EOFError, ...) on junk
        # first sentence only: torch's zip reader appends a long "internal miniz error" hint
        first = (str(exc).splitlines() or [type(exc).__name__])[0].split(". ")[0][:120]
        raise CheckpointError(path, f"corrupt or truncated checkpoint ({first})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "arch" not in ckpt:
        raise CheckpointError(path, "not a petseg checkpoint (no architecture record); was it saved by petseg?")
    arch = ckpt["arch"]
    if not isinstance(arch, dict) or not isinstance(arch.get("name"), str):
        raise CheckpointError(path, "not a petseg checkpoint (malformed architecture record)")
    return ckpt


def build_model_from_checkpoint(ckpt: dict[str, Any], path: str | Path = "<checkpoint>") -> torch.nn.Module:
    """Rebuild the recorded architecture and load its weights; eval mode."""
    from engine.models import MODEL_NAMES, build_model

    arch = ckpt["arch"]
    name = arch["name"]
    if name not in MODEL_NAMES:
        raise CheckpointError(path, f"unknown architecture {name!r} (known: {', '.join(MODEL_NAMES)})")
    try:
        model = build_model(name, **dict(arch.get("kwargs") or {}))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(path, f"cannot rebuild {name} from its record ({exc})") from None
    state = ckpt["model"]
    if not isinstance(state, dict):
        raise CheckpointError(path, "model weights are not a state_dict")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError:
        missing = sum(1 for k in model.state_dict() if k not in state)
        unexpected = sum(1 for k in state if k not in model.state_dict())
        raise CheckpointError(
            path,
            f"weights do not fit a {name} network ({missing} missing, {unexpected} unexpected or "
            f"mis-shaped tensors) — is it a checkpoint of another architecture?",
        ) from None
    model.eval()
    return model
