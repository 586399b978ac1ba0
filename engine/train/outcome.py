"""How a run ended, from what its training raised: the state it records, the one-line message, and
its terminal event (made after the release, so the event's time stamp is the run's end)."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

from engine.atomic import atomic_write
from engine.errors import PetsegError, describe_error, first_line
from engine.events import STOPPED_BY_USER, RunDiverged, RunFailed, RunFinished, RunStopped, TrainEvent
from engine.runs import RunState
from engine.console_log import append_to_run_log
from engine.runs.layout import ERROR_LOG
from engine.train.rank_failures import peer_gone_message, timed_out_message
from engine.train.train_loop import Diverged


class StopRequested(Exception):
    """Raised between batches (or while data decodes) when the run was asked to stop."""


@dataclass(frozen=True)
class Outcome:
    state: RunState
    message: str
    terminal: Callable[..., TrainEvent]  # the terminal event, given its time fields when made
    error: str | None = None  # what the user is told went wrong (None for finished or stopped)


def stopped(done_epoch: int, reason: str = "", batch: int = 0) -> Outcome:
    """Stopped after ``done_epoch`` whole epochs and ``batch`` batches of the next one."""
    message = reason or STOPPED_BY_USER
    return Outcome(RunState.STOPPED, message, partial(RunStopped, epoch=done_epoch, reason=message, batch=batch))


def finished(epochs: int, best_dice: float, best_epoch: int) -> Outcome:
    return Outcome(RunState.FINISHED, f"best valid Dice {best_dice:.4f} at epoch {best_epoch}",
                   partial(RunFinished, epochs=epochs, best_dice=best_dice, best_epoch=best_epoch))


def diverged(exc: Diverged, run_path: Path, learning_rate: float, done_epoch: int,
             saved_epoch: int | None) -> Outcome:
    kept = (f"last.pt holds epoch {saved_epoch}" if saved_epoch is not None
            else "no epoch finished, so no last.pt" if not done_epoch else "no last.pt was saved")
    message = (f"{run_path}: loss is {exc.value} at epoch {exc.epoch}, batch {exc.batch} — training "
               f"diverged (learning rate {learning_rate} too high?); {kept}")
    return Outcome(RunState.DIVERGED, message,
                   partial(RunDiverged, epoch=exc.epoch, batch=exc.batch, message=message), error=message)


def failed(exc: Exception, run_path: Path, world_size: int = 1, rank: int = 0,
           processes: list[tuple[str, int]] | None = None) -> Outcome:
    """A `PetsegError` is its own message; anything else is one line for the user, with the
    traceback kept in the run folder's error log. In a data-parallel run (``world_size`` > 1) a
    rank (``rank``) that failed only because another one went away or stopped answering says so
    (`peer_gone_message`, `timed_out_message`), naming that rank where its process, one of
    ``processes`` (every rank's machine and pid), is seen to have ended."""
    if isinstance(exc, PetsegError):
        message = str(exc)
    else:
        log_path = run_path / ERROR_LOG
        trace = traceback.format_exc()
        try:  # a file put in its place (a run folder is untrusted): a FIFO hung the failing run for good,
            # a symlink out of the run was truncated and written through; the rename replaces either
            atomic_write(log_path, lambda fh: fh.write(trace.encode("utf-8", "replace")))
        except OSError:
            pass
        append_to_run_log(run_path, trace)  # the console log tells the whole story (not printed)
        sentence = describe_error(exc)  # an OS error on a named path: a sentence, not a type
        said = first_line(exc)
        gone = (peer_gone_message(said, world_size, rank, processes)
                or timed_out_message(said, world_size, rank, processes) if world_size > 1 else "")
        message = sentence or f"{gone or f'{type(exc).__name__}: {first_line(exc)}'} (traceback in {log_path})"
    return Outcome(RunState.FAILED, message, partial(RunFailed, message=message), error=message)
