"""The training loop's data-wait timer (issue 20): `train_one_epoch` tells the system metrics how
long it waited for each batch, and the share follows where the time went."""

from __future__ import annotations

import time

import torch

from engine.sysmetrics.data_wait import DataWaitMeter
from engine.train.train_loop import train_one_epoch


class SlowLoader:
    """4 batches of 2 tiny images, each ``fetch`` seconds to produce."""

    def __init__(self, fetch: float) -> None:
        self.fetch = fetch

    def __len__(self) -> int:
        return 4

    def __iter__(self):
        for _ in range(4):
            time.sleep(self.fetch)
            yield torch.zeros(2, 3, 8, 8), torch.ones(2, 1, 8, 8)


def _share(fetch: float, step_seconds: float) -> float:
    def step(images, masks):
        time.sleep(step_seconds)
        return torch.tensor(0.5), torch.ones(2, 1, 8, 8), masks

    meter = DataWaitMeter()
    calls: list[tuple[float, float]] = []

    def data_wait(wait: float, period: float) -> None:
        calls.append((wait, period))
        meter.add(wait, period)

    train_one_epoch(step, torch.nn.Linear(1, 1), SlowLoader(fetch), torch.device("cpu"), 1,
                    between_batches=lambda *_: None, report=lambda ev: None, paused_seconds=lambda: 0.0,
                    data_wait=data_wait)
    assert len(calls) == 3  # every batch after the first
    assert all(0 <= w <= p for w, p in calls)
    return meter.take()


def test_a_slow_loader_is_most_of_the_step_time() -> None:
    assert _share(fetch=0.08, step_seconds=0.005) > 0.6


def test_a_fast_loader_is_little_of_it() -> None:
    assert _share(fetch=0.0, step_seconds=0.05) < 0.3
