"""engine.train.rng: the random streams last.pt stores, restored on a machine that sees another
number of GPUs (torch.cuda faked at its boundary: no GPU here; torch's own set_rng_state_all runs)."""

from __future__ import annotations

import pytest
import torch
import torch.cuda.random

from engine.train.rng import rng_state, set_rng_state


class FakeCudaGenerator:
    def __init__(self) -> None:
        self.state: torch.Tensor | None = None

    def set_state(self, state: torch.Tensor) -> None:
        self.state = state


@pytest.fixture
def one_visible_gpu(monkeypatch: pytest.MonkeyPatch) -> FakeCudaGenerator:
    """CUDA initialised (the run's model is on it) with one GPU visible (CUDA_VISIBLE_DEVICES=0)."""
    gen = FakeCudaGenerator()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda.random, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "default_generators", (gen,))
    return gen


def test_a_run_saved_with_four_gpus_visible_resumes_with_one(one_visible_gpu: FakeCudaGenerator) -> None:
    """A one-GPU run started with every GPU of the box visible saves one CUDA state per GPU;
    resumed under CUDA_VISIBLE_DEVICES=0 it restores its GPU's state (it raised IndexError)."""
    saved = {"cuda": [torch.full((16,), i, dtype=torch.uint8) for i in range(4)]}
    set_rng_state(saved)
    assert torch.equal(one_visible_gpu.state, saved["cuda"][0])


def test_the_cpu_streams_round_trip() -> None:
    state = rng_state()
    first = torch.rand(3)
    set_rng_state(state)
    assert torch.equal(torch.rand(3), first)
