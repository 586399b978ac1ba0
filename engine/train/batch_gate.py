"""What happens between two batches of a run: a control request obeyed, a pause held, and on N
ranks the stop / pause / divergence / time-budget flags agreed in one small all-reduce.

A mixin of `Trainer` (its `control`, `dist`, `writer`, `training` and checkpoint methods). On one
process the control file is read before each batch; on several, after each batch on every rank
together, so no rank leaves the others waiting in DDP's gradient all-reduce. A pause saves
last.pt first (a paused run may be left for hours, or killed) and its time is left out of the run's.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from engine.events import RunPaused, RunResumed
from engine.runs import RunState
from engine.train.control import CONTROL_POLL_INTERVAL
from engine.train.distributed import agree_flags
from engine.train.outcome import StopRequested
from engine.train.rank_failures import rank_words
from engine.train.train_loop import Diverged


def other_rank_stop(rank: int, world_size: int) -> str:
    """Why this rank stopped when the stop was asked on rank ``rank`` only. Rank 0's words are
    the run's message: another rank is stopped only by a signal to it or its launcher's end (a
    killed node's torchrun). A rank > 0 says them to the user's torchrun only: rank 0 may have
    been stopped from the dashboard too, and its output and the run's status say how."""
    if rank == 0:
        return f"stopped with {rank_words(0, world_size)}, which was asked to stop (its output says why)"
    return f"stopped by {rank_words(rank, world_size)}: a signal to it, or its launcher ended (see that rank's output)"


class BetweenBatches:
    """The batch boundary of `Trainer`: `_between_batches` (one process), `_agree` and
    `_before_rank_batch` (N ranks)."""

    # (stop, pause) agreed after an epoch's last batch, obeyed before the next epoch's first
    _carried: tuple[int, int] = (0, 0)

    def _stop_point(self, *_: Any) -> None:
        if self.control.stop_requested:
            raise StopRequested

    def _between_batches(self, epoch: int, batch: int) -> None:
        """Before each batch (one process): obey a control request, report checkpoints the saver
        finished, raise on stop, and wait out a pause."""
        self._position = (epoch, batch)
        self.control.poll_file()
        self._emit_saved()
        self._stop_point()
        if self.control.paused:
            self._hold(epoch, batch, self._wait_here)

    def _agree(self, epoch: int, batch: int, first_bad: Any, obey: bool = True) -> None:
        """After every batch of a data-parallel run, on every rank: stop, pause and divergence
        decided together (one small all-reduce), so no rank leaves the others waiting in DDP's
        gradient all-reduce. Rank 0 reads the control file; a signal on any rank counts. With
        ``obey`` False (the epoch's end) a stop or pause stays asked and is obeyed at the next batch."""
        self._position = (epoch, batch)
        if self.dist.is_main:
            self.control.poll_file()
        budget = self.training.budget if self.training is not None else None
        # a time budget: rank 0's clock, in ms, rides on the same all-reduce (the others give 0)
        ms = int(budget.local_elapsed() * 1000) if budget is not None and self.dist.is_main else 0
        stop, pause, bad, agreed_ms = self._agreed(int(first_bad.item()), ms)
        if budget is not None:
            budget.agree(agreed_ms / 1000)
        if bad >= 0:
            raise Diverged(epoch, bad, "NaN/Inf")
        if obey:
            self._obey(epoch, batch, stop, pause)
        else:
            self._carried = (stop, pause)  # the same on every rank: they obey it together

    def _before_rank_batch(self, epoch: int, batch: int) -> None:
        """Before each batch (N ranks): report checkpoints the saver finished, and obey a stop or
        pause agreed at the previous epoch's end. Waiting for the next agreement instead never
        obeyed it when a rank's epoch is one batch (32 images on 2 ranks of 16): that batch is
        the last, so the run trained on through the dashboard's x / p and SIGTERM."""
        self._emit_saved()
        (stop, pause), self._carried = self._carried, (0, 0)
        self._obey(epoch, batch, stop, pause)

    def _obey(self, epoch: int, batch: int, stop: int, pause: int) -> None:
        """A stop or pause the ranks agreed on, obeyed at this batch on every rank alike."""
        if stop:
            self._stop_agreed(stop - 1)
            raise StopRequested
        if pause:
            self._position = (epoch, batch)
            self._hold(epoch, batch, self._wait_together)

    def _agreed(self, first_bad: int = -1, budget_ms: int = 0) -> list[int]:
        """(stop, pause, first non-finite batch, rank 0's budget clock) over the ranks; stop is 1 +
        the highest rank that asked (0: none), so the run can name where its stop came from."""
        stop = self.dist.rank + 1 if self.control.stop_requested else 0
        return agree_flags([stop, int(self.control.paused), first_bad, budget_ms], self._control_group, self.dist)

    def _stop_agreed(self, asked_on: int) -> None:
        """A stop the ranks agreed on, asked on rank ``asked_on``. Asked on another rank only (a
        signal to it, its launcher gone: a killed node's torchrun), this rank's run read "stopped
        by user", then "stopped by another rank"; it names that rank (its output says why)."""
        if not self.control.stop_requested:
            self.control.stop(other_rank_stop(asked_on, self.dist.world_size))

    def _hold(self, epoch: int, batch: int, wait: Callable[[], None]) -> None:
        """A pause: last.pt saved first (a paused run may be left for hours, or killed), then
        ``wait`` until resumed or stopped; the paused time is left out of the run's."""
        paused_at = time.monotonic()
        self.writer.set_status(RunState.PAUSED)
        self._emit(RunPaused(epoch=epoch, batch=batch))
        self._save("last", float("nan"))
        wait()
        self.control.paused_seconds += time.monotonic() - paused_at
        self._stop_point()
        self.writer.set_status(RunState.RUNNING)
        self._emit(RunResumed(epoch=epoch, batch=batch))

    def _wait_here(self) -> None:
        while not self.control.wait_unpaused(CONTROL_POLL_INTERVAL):
            self.control.poll_file(force=True)
            self._emit_saved()

    def _wait_together(self) -> None:
        """Every rank waits in step: each round ends with the same all-reduce (never one long
        collective that the process group's timeout would end)."""
        while True:
            if self.dist.is_main:
                self.control.wait_unpaused(CONTROL_POLL_INTERVAL)
                self.control.poll_file(force=True)
                self._emit_saved()
            stop, pause, _, _ = self._agreed()
            if stop:
                self._stop_agreed(stop - 1)  # every rank raises at its stop point
            if stop or not pause:
                return
