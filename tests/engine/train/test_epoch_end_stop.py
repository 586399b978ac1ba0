"""A data-parallel stop or pause agreed after an epoch's last batch (a `kill -9` of the launcher,
x in the dashboard): the epoch is validated first, as on one process. It used to be saved as a
mid-epoch stop with every batch trained, and `petseg train --resume` then failed on every rank
with `ZeroDivisionError: float division by zero` (no batch left to score)."""

from __future__ import annotations

import torch

from engine.train.checkpoint_state import batches_to_skip
from engine.train.outcome import StopRequested
from engine.train.train_loop import train_one_epoch

BATCHES = 2


def _loader() -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(torch.zeros(2, 3, 8, 8), torch.ones(2, 1, 8, 8)) for _ in range(BATCHES)]


def _step(images: torch.Tensor, masks: torch.Tensor):
    return torch.tensor(0.5), torch.ones(2, 1, 8, 8), masks


def _epoch(agree=None, skip: int = 0):
    return train_one_epoch(_step, torch.nn.Linear(1, 1), _loader(), torch.device("cpu"), 1,
                           between_batches=lambda *_: None, report=lambda _: None, paused_seconds=lambda: 0.0,
                           agree=agree, skip=skip)


def test_a_stop_agreed_after_the_last_batch_lets_the_epoch_end() -> None:
    asked: list[int] = []

    def agree(epoch: int, batch: int, first_bad: torch.Tensor, obey: bool = True) -> None:
        """The trainer's `_agree` with a stop that arrives as the last batch ends."""
        asked.append(batch)
        if batch == BATCHES and obey:
            raise StopRequested

    trained = _epoch(agree)
    assert trained.images == 4 and 0 < trained.dice <= 1
    assert asked == [1, BATCHES]  # still agreed once after the last batch (divergence, time budget)


def test_a_stop_agreed_inside_the_epoch_still_stops_there() -> None:
    def agree(epoch: int, batch: int, first_bad: torch.Tensor, obey: bool = True) -> None:
        if batch == 1 and obey:
            raise StopRequested

    try:
        _epoch(agree)
    except StopRequested:
        return
    raise AssertionError("the stop after batch 1 was not obeyed")


def test_a_resume_of_a_last_pt_saved_after_every_batch_trains_the_last_one_again() -> None:
    """A last.pt an older petseg saved after the epoch's last batch: the resume trains that batch
    again (and says so), so the epoch has figures; a stop inside the epoch skips what it trained."""
    said: list[str] = []
    after_all = {"epoch": 39, "batches": BATCHES, "world_size": 2}
    skip = batches_to_skip(after_all, 38, 2, said.append, epoch_batches=BATCHES)
    assert skip == BATCHES - 1
    assert said and "trained again" in said[0]
    trained = _epoch(skip=skip)
    assert trained.images == 2 and 0 < trained.dice <= 1
    assert batches_to_skip({"epoch": 39, "batches": 1, "world_size": 2}, 38, 2, said.append, epoch_batches=BATCHES) == 1
