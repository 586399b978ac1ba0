"""Fixtures shared by the engine tests: a tiny UNet checkpoint, as training writes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
import torch

from engine.checkpoint import FORMAT, save_checkpoint
from engine.models import build_model


def _tiny_state(**changes: Any) -> dict[str, Any]:
    torch.manual_seed(0)
    state = {"format": FORMAT, "arch": {"name": "unet", "kwargs": {"width": 4}},
             "model": build_model("unet", width=4).state_dict(), "image_size": 64, "mask_rule": "pet_border",
             "epoch": 1, "best_dice": 0.5, "config": {}}
    state.update(changes)
    return state


@pytest.fixture
def write_checkpoint() -> Callable[..., Path]:
    """``write_checkpoint(path, **changes)``: a UNet width-4, 64 px checkpoint with fields replaced."""

    def write(path: Path, **changes: Any) -> Path:
        save_checkpoint(_tiny_state(**changes), path)
        return path

    return write


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained UNet width-4, 64 px checkpoint, written once per session (read-only: tests never modify it)."""
    path = tmp_path_factory.mktemp("ck") / "best.pt"
    save_checkpoint(_tiny_state(), path)
    return path
