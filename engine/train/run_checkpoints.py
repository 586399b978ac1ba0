"""When a run saves its checkpoints, and when it says they are saved: a mixin of `Trainer`.

``best.pt`` whenever the validation Dice improves, ``last.pt`` at most every
``checkpoint_interval`` seconds at an epoch end (and at the first, so a crash never loses a
finished epoch), and always at the end, on stop, on pause. Both are written by the run's
background `CheckpointSaver` from a snapshot (`checkpoint_state` says what they hold); the
``CheckpointSaved`` event follows from the trainer's own thread once a file is on disk, so the
events keep one writer's order.

The mixin uses the trainer's `training`, `progress`, `config`, `dist`, `run_path`, `_emit`, `_log`
and its position fields (`_position`, `_epoch_streams`, `_nonfinite`, `_saved_epoch`,
`_last_save_at`, `_resume_from`).
"""

from __future__ import annotations

import dataclasses
import math
import time

from engine.errors import PetsegError
from engine.events import CheckpointSaved
from engine.runs import checkpoint_path
from engine.train.checkpoint_saver import CheckpointSaver
from engine.train.checkpoint_state import (
    EpochPosition,
    checkpoint_state,
    rank_streams,
    weights_finite,
)
from engine.train.distributed import broadcast_from_main, gather_to_main


class RunCheckpoints:
    """The checkpoints of `Trainer`: `_save`, `_checkpoint_epoch`, `_save_on_stop`, and
    `_emit_saved` / `_flush_checkpoints` for what the saver has written."""

    def _save(self, which: str, valid_dice: float) -> None:
        """Hand a snapshot of ``which``.pt to the background saver (``CheckpointSaved`` follows
        when it is on disk). Mid-epoch saves (stop, pause) skip weights that are no longer finite."""
        t = self.training
        if t is None or self._nonfinite:
            return
        # inside an epoch (stop, pause): its position, and the data streams of its start, so the
        # resume draws the same batches and passes over those trained already
        position = (EpochPosition(*self._position, world_size=self.dist.world_size)
                    if which == "last" and self._position is not None else None)
        streams = None
        if which == "last":
            # every rank's random streams go into last.pt, so a resume with as many processes repeats
            # an uninterrupted run: a gather, which every rank reaches (last.pt is saved at agreed points)
            own = rank_streams(t, self._epoch_streams if position is not None else None)
            streams = gather_to_main(own, self._control_group, self.dist) if self.dist.enabled else [own]
        if not self.dist.is_main:
            return
        path = checkpoint_path(self.run_path, which)
        if math.isnan(valid_dice) and not weights_finite(t.model):
            self._log(f"warning: not saving {path.name}: the weights are no longer finite")
            return
        state = checkpoint_state(t, self.config, self.progress, which == "last", valid_dice, streams, position)
        budget = state.get("time_budget")
        # the event says the budget seconds last.pt holds, so the dashboard's resume offer says what is left
        # of it from the same figure the resume reads (`engine.runs.summary.budget_left_note`)
        info = CheckpointSaved(epoch=self.progress.done_epoch, which=which, path=str(path), valid_dice=valid_dice,
                               trained_seconds=float(budget["elapsed_seconds"]) if isinstance(budget, dict) else None)
        t.saver.submit(path, state, info)
        if which == "last":
            self._saved_epoch = self.progress.done_epoch
            self._last_save_at = time.monotonic()

    def _checkpoint_epoch(self, valid_dice: float, improved: bool, last: bool) -> None:
        """An epoch's end: best.pt if it ``improved``; last.pt if it is the ``last`` epoch or one is due."""
        if improved:
            self._save("best", valid_dice)
        # the first epoch's end always saves (a run not resumed from a last.pt has none): without
        # one a crash loses every epoch so far
        due = (time.monotonic() - self._last_save_at >= self.config.checkpoint_interval
               or (self._saved_epoch is None and self._resume_from is None))
        if self.dist.enabled:  # rank 0's clock decides for all: saving last.pt gathers from every rank
            due = broadcast_from_main(due, self._control_group, self.dist)
        if last or due:
            self._save("last", valid_dice)
        self._emit_saved()

    def _emit_saved(self, saver: CheckpointSaver | None = None) -> None:
        """Emit ``CheckpointSaved`` for what the saver finished writing (from this thread, so
        events keep one order); raises the error of a failed write of the running run."""
        running = self.training.saver if self.training is not None else None
        saver = saver or running
        if saver is None:
            return
        for done in saver.completed():
            self._emit(dataclasses.replace(done.info, t=time.time(), snapshot_seconds=round(done.snapshot_seconds, 4),
                                           write_seconds=round(done.write_seconds, 4)))
        if saver is running:
            saver.raise_error()

    def _flush_checkpoints(self) -> None:
        if self.training is not None:
            self.training.saver.wait()
            self._emit_saved()

    def _save_on_stop(self) -> None:
        """Stop mid-epoch: keep the weights trained so far; the epoch counter stays at the last
        finished epoch and last.pt says how far into the next one it got, so a resume goes on
        from that batch (none trained twice). Waits until it is on disk: a signal-triggered exit follows."""
        try:
            self._save("last", float("nan"))
            self._flush_checkpoints()
        except PetsegError as exc:
            self._log(f"warning: {exc}")
