"""The run's random streams: seeding them at the start, and their state in `last.pt` so that a
resumed run draws what an uninterrupted one would have."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Python's, numpy's, torch's (and CUDA's) generator states, as a checkpoint stores them."""
    py = random.getstate()
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` saved (missing parts are left as they are)."""
    py = state.get("python")
    if py:
        random.setstate((py[0], tuple(py[1]), py[2]))
    npst = state.get("numpy")
    if npst:
        np.random.set_state((npst[0], npst[1].numpy().astype(np.uint32), *npst[2:]))
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        # one state per GPU visible when it was saved: a resume that sees fewer (CUDA_VISIBLE_DEVICES)
        # restores those it has (torch's set_rng_state_all raised IndexError on the first missing one)
        torch.cuda.set_rng_state_all(list(state["cuda"])[: torch.cuda.device_count()])
