"""Where a run's wall time went, from its own events: training steps, validation, checkpoints.

The target for a short run on a GPU ("a 30-epoch ``petseg train`` spends >= 0.8 of its wall
time from first batch to ``finished`` in training steps") is read from ``events.jsonl`` alone:
each ``EpochEnded`` carries the wall-clock time of its first batch and its training and
validation seconds, each ``CheckpointSaved`` the trainer's snapshot seconds and the background
write seconds. Runs written before those fields existed give ``None`` (`time_breakdown`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.events import CheckpointSaved, EpochEnded, RunFinished, RunPaused, RunResumed, RunStarted, TrainEvent
from engine.runs import EVENTS_FILE, read_events


@dataclass(frozen=True)
class TimeBreakdown:
    """Seconds of the last session of a run (after its last ``run_started``)."""

    epochs: int
    wall: float  # first batch of the first epoch -> finished, pauses left out
    train: float  # in training steps
    valid: float
    checkpoint_snapshots: float  # the trainer's share of checkpointing (writes are in the background)
    checkpoint_writes: float  # background, overlapping training
    paused: float

    @property
    def train_share(self) -> float:
        return self.train / self.wall if self.wall > 0 else 0.0

    @property
    def other(self) -> float:
        """Wall time in none of the above (events, metrics read-back, the final write, ...)."""
        return self.wall - self.train - self.valid - self.checkpoint_snapshots


def time_breakdown(events: list[TrainEvent]) -> TimeBreakdown | None:
    """The breakdown of a finished run's last session, or None (not finished, or written before
    the timing fields existed)."""
    start = max((i for i, e in enumerate(events) if isinstance(e, RunStarted)), default=-1)
    session = events[start + 1 :]
    finished = next((e for e in session if isinstance(e, RunFinished)), None)
    epochs = [e for e in session if isinstance(e, EpochEnded)]
    if finished is None or not epochs or any(e.first_batch_t is None or e.train_seconds is None for e in epochs):
        return None
    paused, since = 0.0, None
    for e in session:
        if isinstance(e, RunPaused):
            since = e.t
        elif isinstance(e, RunResumed) and since is not None:
            paused, since = paused + (e.t - since), None
    saves = [e for e in session if isinstance(e, CheckpointSaved)]
    return TimeBreakdown(
        epochs=len(epochs),
        wall=finished.t - epochs[0].first_batch_t - paused,
        train=sum(e.train_seconds for e in epochs),
        valid=sum(e.valid_seconds or 0.0 for e in epochs),
        checkpoint_snapshots=sum(e.snapshot_seconds or 0.0 for e in saves),
        checkpoint_writes=sum(e.write_seconds or 0.0 for e in saves),
        paused=paused,
    )


def run_time_breakdown(run_path: str | Path) -> TimeBreakdown | None:
    """`time_breakdown` of the run folder ``run_path``."""
    return time_breakdown(read_events(Path(run_path) / EVENTS_FILE))
