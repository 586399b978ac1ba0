"""Typed training events: what a `Trainer` emits and what ``events.jsonl`` stores, one per line.

Every event is a frozen dataclass with a ``kind`` tag; ``event_to_dict`` / ``event_from_dict``
round-trip them through JSON. The TUI reads these without importing torch.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar


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


@dataclass(frozen=True)
class BatchProgress(TrainEvent):
    """Throttled (at most ~10/s): the running mean loss of the epoch so far."""

    kind: ClassVar[str] = "batch"
    epoch: int
    batch: int  # 1-based count of finished batches
    batches: int
    loss: float
    images_per_s: float


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


@dataclass(frozen=True)
class CheckpointSaved(TrainEvent):
    kind: ClassVar[str] = "checkpoint"
    epoch: int
    which: str  # "best" | "last"
    path: str
    valid_dice: float


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


@dataclass(frozen=True)
class RunStopped(TrainEvent):
    """Stopped on request after finishing the current batch; ``last.pt`` holds the state."""

    kind: ClassVar[str] = "stopped"
    epoch: int  # last fully finished epoch (0 if none)
    reason: str = "stopped by user"


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


def event_from_dict(data: dict[str, Any]) -> TrainEvent | None:
    """Rebuild an event; None for an unknown kind or missing fields (newer/older writers)."""
    cls = EVENT_TYPES.get(str(data.get("kind")))
    if cls is None:
        return None
    names = {f.name for f in dataclasses.fields(cls)}
    try:
        return cls(**{k: v for k, v in data.items() if k in names})
    except TypeError:
        return None
