"""Typed training events: what a `Trainer` emits and what ``events.jsonl`` stores, one per line.

Every event is a frozen dataclass with a ``kind`` tag; ``event_to_dict`` / ``event_from_dict``
round-trip them through JSON. The TUI reads these without importing torch.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from engine.json_kinds import describe_kind, kind_ok, short_value


@dataclass(frozen=True)
class TrainEvent:
    """Base class; ``t`` is the wall-clock time (epoch seconds) the event was made."""

    kind: ClassVar[str] = "event"
    t: float = field(default_factory=time.time, kw_only=True)


@dataclass(frozen=True)
class RunStarted(TrainEvent):
    kind: ClassVar[str] = "run_started"
    run: str
    total_epochs: int
    start_epoch: int  # 1 for a fresh run, N+1 when resuming after epoch N
    train_size: int
    valid_size: int
    device: str
    data: str  # human description of the data source (path, real or generated)
    resumed: bool = False


@dataclass(frozen=True)
class EpochStarted(TrainEvent):
    kind: ClassVar[str] = "epoch_started"
    epoch: int
    total_epochs: int
    batches: int
    # the optimiser's learning rate as the epoch begins, the one it trains at (with --time_budget
    # the schedule moves on each step); None in runs written before it was recorded
    lr: float | None = None


@dataclass(frozen=True)
class BatchProgress(TrainEvent):
    """The running mean loss of the epoch so far; written at a bounded rate (`BatchThrottle`)."""

    kind: ClassVar[str] = "batch"
    epoch: int
    batch: int  # 1-based count of finished batches
    batches: int
    loss: float
    images_per_s: float


BATCH_EVENT_MIN_SECONDS = 1.0  # at most one BatchProgress per second ...
BATCH_EVENTS_PER_EPOCH = 100  # ... and about this many per epoch, however many batches it has


class BatchThrottle:
    """Decides which batches of an epoch get a `BatchProgress` event: the last batch always,
    others only if a second has passed since the previous one and they are at least 1% of the
    epoch further on. So a run writes at most ~101 batch events per epoch and one per second,
    which keeps events.jsonl small for weeks of training (docs/RELIABILITY.md, "Large logs")."""

    def __init__(self, batches: int, now: float) -> None:
        self.batches = batches
        self.step = max(1, batches // BATCH_EVENTS_PER_EPOCH)
        self._last_t = now
        self._next = self.step

    def due(self, batch: int, now: float) -> bool:
        if batch >= self.batches:
            return True
        if batch < self._next or now - self._last_t < BATCH_EVENT_MIN_SECONDS:
            return False
        self._last_t, self._next = now, batch + self.step
        return True


@dataclass(frozen=True)
class EpochEnded(TrainEvent):
    kind: ClassVar[str] = "epoch_ended"
    epoch: int
    total_epochs: int
    train_loss: float
    train_dice: float
    valid_loss: float
    valid_dice: float  # dataset-level (all pixels of the split pooled)
    valid_iou: float
    valid_dice_per_image: float  # mean of per-image scores
    valid_iou_per_image: float
    lr: float
    seconds: float
    images_per_s: float  # training images per second over the epoch
    best_dice: float
    best_epoch: int
    # Where the time went (None in runs written before these existed): wall-clock time of the
    # epoch's first training batch, seconds from it to the end of the last training step
    # (pauses left out), and seconds of validation. engine.train.run_timing adds them up.
    first_batch_t: float | None = None
    train_seconds: float | None = None
    valid_seconds: float | None = None


@dataclass(frozen=True)
class CheckpointSaved(TrainEvent):
    kind: ClassVar[str] = "checkpoint"
    epoch: int
    which: str  # "best" | "last"
    path: str
    valid_dice: float
    # seconds the trainer spent taking the snapshot, and the background writer writing it
    snapshot_seconds: float | None = None
    write_seconds: float | None = None
    # a --time_budget run's last.pt: the training seconds of the budget it holds (what a resume goes on from)
    trained_seconds: float | None = None


@dataclass(frozen=True)
class RunPaused(TrainEvent):
    kind: ClassVar[str] = "paused"
    epoch: int
    batch: int


@dataclass(frozen=True)
class RunResumed(TrainEvent):
    kind: ClassVar[str] = "resumed"
    epoch: int
    batch: int


@dataclass(frozen=True)
class RunWarning(TrainEvent):
    kind: ClassVar[str] = "warning"
    message: str


@dataclass(frozen=True)
class RunFinished(TrainEvent):
    kind: ClassVar[str] = "finished"
    epochs: int
    best_dice: float
    best_epoch: int
    seconds: float


# a stop's reason when its user asked for it (x, Ctrl-C, the control file): the run's message, and
# what `petseg train` does not repeat under "stopped ...; last.pt saved" (any other reason it does)
STOPPED_BY_USER = "stopped by user"


@dataclass(frozen=True)
class RunStopped(TrainEvent):
    """Stopped on request after finishing the current batch; ``last.pt`` holds the state."""

    kind: ClassVar[str] = "stopped"
    epoch: int  # last fully finished epoch (0 if none)
    reason: str = STOPPED_BY_USER
    batch: int = 0  # batches of the next epoch trained before the stop (kept in last.pt; 0: none)


@dataclass(frozen=True)
class RunDiverged(TrainEvent):
    kind: ClassVar[str] = "diverged"
    epoch: int
    batch: int
    message: str


@dataclass(frozen=True)
class RunFailed(TrainEvent):
    kind: ClassVar[str] = "failed"
    message: str


EVENT_TYPES: dict[str, type[TrainEvent]] = {
    cls.kind: cls
    for cls in (
        RunStarted,
        EpochStarted,
        BatchProgress,
        EpochEnded,
        CheckpointSaved,
        RunPaused,
        RunResumed,
        RunWarning,
        RunFinished,
        RunStopped,
        RunDiverged,
        RunFailed,
    )
}

TERMINAL_KINDS = frozenset({"finished", "stopped", "diverged", "failed"})


def event_to_dict(event: TrainEvent) -> dict[str, Any]:
    data = dataclasses.asdict(event)
    data["kind"] = event.kind
    return data


class EventFieldError(ValueError):
    """A known event kind whose fields are missing or of the wrong type (``str()``: which)."""


def _field_kinds(cls: type[TrainEvent]) -> dict[str, str]:
    # annotations are strings here (from __future__ import annotations): "int", "float", ...
    return {f.name: str(f.type) for f in dataclasses.fields(cls)}


_KINDS = {kind: _field_kinds(cls) for kind, cls in EVENT_TYPES.items()}


def parse_event(data: dict[str, Any]) -> TrainEvent | None:
    """Rebuild an event, checking every field's type. None for an unknown kind (a newer
    writer); EventFieldError naming the field for a known kind with a missing or mistyped one."""
    kind = str(data.get("kind"))
    cls = EVENT_TYPES.get(kind)
    if cls is None:
        return None
    fields = _KINDS[kind]
    values = {}
    for name, type_name in fields.items():
        if name not in data:
            if name in _OPTIONAL.get(kind, ()) or name == "t":
                continue
            raise EventFieldError(f"{kind} event has no {name}")
        value = data[name]
        if not kind_ok(value, type_name):
            raise EventFieldError(f"{kind} event: {name} must be {describe_kind(type_name)}, got {short_value(value)}")
        values[name] = value
    if "t" not in values:
        raise EventFieldError(f"{kind} event has no t (time)")
    return cls(**values)


# fields with defaults that older writers may not have written
_OPTIONAL = {"run_started": ("resumed",), "epoch_started": ("lr",), "stopped": ("reason", "batch"),
             "checkpoint": ("trained_seconds",)}


def event_from_dict(data: dict[str, Any]) -> TrainEvent | None:
    """Rebuild an event; None for an unknown kind or missing/mistyped fields (`parse_event`
    says which)."""
    try:
        return parse_event(data)
    except EventFieldError:
        return None
