"""A run's history, folded from its events in order, and the rules that give a run its state.

`RunHistory` is what the CLI and the TUI show about a run; `RunSnapshot` is a frozen copy of
it for a UI thread. `is_stale` tells a run whose writer is gone from one still training.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from engine.atomic import pid_alive
from engine.events import (
    BatchProgress,
    CheckpointSaved,
    EpochEnded,
    EpochStarted,
    RunDiverged,
    RunFailed,
    RunFinished,
    RunPaused,
    RunResumed,
    RunStarted,
    RunStopped,
    RunWarning,
    TrainEvent,
)
from engine.runs.epoch_progress import EpochProgress
from engine.runs.journal import KEEP_BATCHES
from engine.runs.lock import lock_holder_pid, writer_lock_state
from engine.runs.state import RunState

STALE_AFTER_SECONDS = 30.0  # a "running" run with no heartbeat for this long is "interrupted"


@dataclass
class RunHistory:
    """Everything the app shows about a run, folded from its events.

    ``epochs`` maps epoch number to its `EpochEnded`; an epoch repeated after a resume replaces
    the earlier one, so the history has no duplicated epochs.
    """

    name: str
    config: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None  # the run folder, for its writer lock
    epochs: dict[int, EpochEnded] = field(default_factory=dict)
    batches: list[BatchProgress] = field(default_factory=list)  # current epoch only, the latest ≤ 2000
    warnings: list[str] = field(default_factory=list)
    started: float | None = None
    ended: float | None = None
    last_event_t: float | None = None
    total_epochs: int = 0
    current_epoch: int = 0
    current_batch: int = 0
    current_batches: int = 0
    current_lr: float | None = None  # the learning rate of the epoch in training (EpochStarted's)
    device: str = ""
    data: str = ""
    terminal: TrainEvent | None = None  # finished/stopped/diverged/failed
    paused: bool = False
    checkpoints: dict[str, CheckpointSaved] = field(default_factory=dict)
    last_batch: BatchProgress | None = None
    # Paused intervals (start, end or None while paused), oldest first. Time spent paused, and
    # between a stop and its resume, is not training time: `duration` leaves both out.
    pauses: list[tuple[float, float | None]] = field(default_factory=list)
    _segment_start: float | None = field(default=None, repr=False)  # RunStarted of this process
    _closed_active: float = field(default=0.0, repr=False)  # training seconds of earlier processes

    def apply(self, event: TrainEvent) -> None:
        previous_t = self.last_event_t
        self.last_event_t = event.t
        if isinstance(event, RunStarted):
            if self.started is None:
                self.started = event.t
            if self._segment_start is not None:  # the previous process died without a last word
                self._close_segment(previous_t if previous_t is not None else event.t)
            self._segment_start = event.t
            self.total_epochs = event.total_epochs
            self.device, self.data = event.device, event.data
            self.terminal, self.ended, self.paused = None, None, False
            # a resume restarts from start_epoch: later epochs on disk are superseded
            for ep in [e for e in self.epochs if e >= event.start_epoch]:
                del self.epochs[ep]
        elif isinstance(event, EpochStarted):
            self.current_epoch, self.current_batch = event.epoch, 0
            self.current_batches, self.total_epochs = event.batches, event.total_epochs
            self.current_lr = event.lr
            self.batches = []
        elif isinstance(event, BatchProgress):
            self.current_epoch, self.current_batch = event.epoch, event.batch
            self.current_batches = event.batches
            self.batches.append(event)
            if len(self.batches) > 2 * KEEP_BATCHES:  # an epoch of an old, chatty log: bounded
                del self.batches[:KEEP_BATCHES]
            self.last_batch = event
        elif isinstance(event, EpochEnded):
            self.epochs[event.epoch] = event
            self.total_epochs = event.total_epochs
        elif isinstance(event, CheckpointSaved):
            self.checkpoints[event.which] = event
        elif isinstance(event, RunPaused):
            self.paused = True
            if event.epoch == self.current_epoch:  # as for a stop: the pause's count is the latest
                self.current_batch = max(self.current_batch, event.batch)
            if not self.pauses or self.pauses[-1][1] is not None:
                self.pauses.append((event.t, None))
        elif isinstance(event, RunResumed):
            self.paused = False
            self._end_pause(event.t)
        elif isinstance(event, RunWarning):
            self.warnings.append(event.message)
        elif isinstance(event, (RunFinished, RunStopped, RunDiverged, RunFailed)):
            self.terminal, self.ended, self.paused = event, event.t, False
            if isinstance(event, RunStopped) and self.current_epoch == event.epoch + 1:
                # batches are reported at most once a second: a short epoch is stopped before
                # its first report, and the stop's own count ("after batch 1 of 4") is the latest
                self.current_batch = max(self.current_batch, event.batch)
            self._end_pause(event.t)
            if self._segment_start is not None:
                self._close_segment(event.t)

    def _end_pause(self, t: float) -> None:
        if self.pauses and self.pauses[-1][1] is None:
            self.pauses[-1] = (self.pauses[-1][0], max(t, self.pauses[-1][0]))

    def _close_segment(self, end: float) -> None:
        start = self._segment_start
        assert start is not None
        self._end_pause(end)
        self._closed_active += max(0.0, end - start - self.paused_between(start, end))
        self._segment_start = None

    def paused_between(self, t0: float, t1: float, now: float | None = None) -> float:
        """Seconds of [t0, t1] spent paused (an open pause counts up to ``now``, default t1)."""
        total = 0.0
        for start, end in self.pauses:
            stop = end if end is not None else (t1 if now is None else now)
            total += max(0.0, min(stop, t1) - max(start, t0))
        return total

    def extend(self, events: Iterable[TrainEvent]) -> None:
        for event in events:
            self.apply(event)

    # ---- derived figures -------------------------------------------------------------------
    @property
    def epoch_list(self) -> list[EpochEnded]:
        return [self.epochs[k] for k in sorted(self.epochs)]

    @property
    def last_epoch(self) -> EpochEnded | None:
        return self.epochs[max(self.epochs)] if self.epochs else None

    @property
    def best(self) -> EpochEnded | None:
        return best_epoch(self.epoch_list)

    @property
    def state(self) -> RunState:
        """The run's state from status.json, cross-checked with its events, its writer lock
        and its heartbeat. A held lock means a process is writing the run now: "running" (or
        "paused"), also while a resume prepares and status.json still says how it ended."""
        text = str(self.status.get("state") or "")
        if self.terminal is not None and (not text or RunState.parse(text).is_active):
            text = self.terminal.kind
        lock = writer_lock_state(self.path) if self.path is not None else None
        if lock:
            return RunState.PAUSED if text == RunState.PAUSED else RunState.RUNNING
        if not text:
            return RunState.RUNNING if self.started else RunState.UNKNOWN
        state = RunState.parse(text)
        if state.is_active and is_stale(self.status, lock=lock):
            return RunState.INTERRUPTED
        return state

    @property
    def new_writer_pid(self) -> int | None:
        """The pid of a process (on this host) that holds the run's writer lock but has not
        written status.json yet: a resume preparing. A resume writes its status only when the
        resumed run starts (one that fails first leaves the run as it was), so until then the
        status's pid, and the last segment's clock, are the previous process's."""
        if self.path is None or not writer_lock_state(self.path):
            return None
        held = lock_holder_pid(self.path)
        if held is None or held[1] != socket.gethostname():
            return None
        return held[0] if held[0] != self.status.get("pid") else None

    @property
    def duration(self) -> float | None:
        """Training time: wall time since the first start, less pauses and the gaps between a
        stop (or a crash) and the resume that continued the run."""
        if self.started is None:
            return None
        active = self._closed_active
        start = self._segment_start
        if start is not None:
            # a resume still preparing trains nothing yet: the last segment ended with its last event
            running = self.state.is_active and self.new_writer_pid is None
            end = time.time() if running else (self.last_event_t or start)
            if not running:  # killed mid-epoch: its process still beat after its last event
                beat = self.status.get("heartbeat")
                if isinstance(beat, (int, float)) and not isinstance(beat, bool) and beat > end:
                    end = float(beat)
            end = max(end, start)
            active += max(0.0, end - start - self.paused_between(start, end))
        return active

    @property
    def epoch_seconds(self) -> float | None:
        """Median seconds per epoch (robust to one slow epoch, e.g. the first, which warms caches)."""
        return _median([e.seconds for e in self.epochs.values()])

    @property
    def images_per_s(self) -> float | None:
        """Median training images per second over the epochs (not the last epoch's figure)."""
        return _median([e.images_per_s for e in self.epochs.values()])

    @property
    def message(self) -> str:
        t = self.terminal
        if isinstance(t, (RunFailed, RunDiverged)):
            return t.message
        if isinstance(t, RunStopped):  # a sweep that pruned the run says why in status.json
            return str(self.status.get("message") or t.reason) if self.status.get("state") == RunState.PRUNED \
                else t.reason
        return str(self.status.get("message") or "")


    @property
    def planned_epochs(self) -> int:
        """The epoch budget: from the events, else from config.json (before the run started)."""
        return self.total_epochs or int(self.config.get("epochs") or 0)

    @property
    def saved_epoch(self) -> int | None:
        """The finished epochs the newest last.pt holds, as its ``CheckpointSaved`` says (None: none
        recorded). It can trail the epochs reached: last.pt is saved at most every
        --checkpoint_interval seconds, and a run killed meanwhile resumes from it."""
        saved = self.checkpoints.get("last")
        return saved.epoch if saved is not None else None

    @property
    def saved_trained_seconds(self) -> float | None:
        """The training seconds of its --time_budget the newest last.pt holds, as its
        ``CheckpointSaved`` says (None: no budget, or not recorded): what a resume goes on from."""
        saved = self.checkpoints.get("last")
        return saved.trained_seconds if saved is not None else None

    def snapshot(self, *, batches: int | None = None, warnings: int | None = None) -> "RunSnapshot":
        """A frozen copy of what the run shows now (for another thread to draw); ``batches`` and
        ``warnings``: keep only the newest so many."""
        kept = tuple(self.batches[-batches:] if batches else self.batches)
        pid = self.new_writer_pid or self.status.get("pid")
        return RunSnapshot(
            name=self.name,
            path=self.path,
            state=self.state,
            message=self.message,
            config=dict(self.config),
            epochs=tuple(self.epoch_list),
            batches=kept,
            total_epochs=self.planned_epochs,
            current_epoch=self.current_epoch,
            current_batch=self.current_batch,
            current_batches=self.current_batches,
            current_lr=self.current_lr,
            device=self.device,
            data=self.data,
            warnings=tuple(self.warnings[-warnings:] if warnings else self.warnings),
            started=self.started,
            duration=self.duration,
            paused=self.paused,
            pid=pid if isinstance(pid, int) else None,
            epoch_seconds=self.epoch_seconds,
            paused_in_batches=self.paused_between(kept[0].t, kept[-1].t) if kept else 0.0,
            saved_epoch=self.saved_epoch,
            saved_trained_seconds=self.saved_trained_seconds,
        )


@dataclass(frozen=True)
class RunSnapshot:
    """`RunHistory` frozen at one moment: what a screen draws without touching files."""

    name: str
    path: Path | None
    state: RunState  # a plain string is taken as its RunState (UNKNOWN if it names none)
    message: str = ""
    config: dict = field(default_factory=dict)
    epochs: tuple[EpochEnded, ...] = ()  # in epoch order
    batches: tuple[BatchProgress, ...] = ()
    total_epochs: int = 0
    current_epoch: int = 0
    current_batch: int = 0
    current_batches: int = 0
    current_lr: float | None = None  # the learning rate of the epoch in training, if recorded
    device: str = ""
    data: str = ""
    warnings: tuple[str, ...] = ()
    started: float | None = None
    duration: float | None = None
    paused: bool = False
    pid: int | None = None  # of the process writing the run: status.json's, or a resume's still preparing
    epoch_seconds: float | None = None  # median over the finished epochs, pauses left out
    paused_in_batches: float = 0.0  # seconds paused between the first and the last batch kept
    saved_epoch: int | None = None  # the epoch last.pt holds (`RunHistory.saved_epoch`)
    saved_trained_seconds: float | None = None  # its --time_budget seconds last.pt holds (`RunHistory`'s)

    def __post_init__(self) -> None:
        if not isinstance(self.state, RunState):
            object.__setattr__(self, "state", RunState.parse(self.state))

    @property
    def best(self) -> EpochEnded | None:
        return best_epoch(self.epochs)

    @property
    def last(self) -> EpochEnded | None:
        return self.epochs[-1] if self.epochs else None

    @property
    def done_epochs(self) -> int:
        """The number of the last finished epoch (0 before the first)."""
        return self.epochs[-1].epoch if self.epochs else 0

    @property
    def epoch_progress(self) -> EpochProgress:
        """Its epochs in the words every view uses (the runs table's row says the same)."""
        return EpochProgress(self.done_epochs, self.total_epochs, self.current_epoch, self.state)

    @property
    def images_per_s(self) -> float | None:
        """Median training images per second over the finished epochs: the run's speed, as
        `RunHistory.images_per_s` gives it to the runs table and `petseg runs`."""
        return _median([e.images_per_s for e in self.epochs])

    @property
    def active(self) -> bool:
        return self.state.is_active


def best_epoch(epochs: Iterable[EpochEnded]) -> EpochEnded | None:
    """The epoch best.pt was taken at: the highest validation Dice (the earliest of equals)."""
    return max(epochs, key=lambda e: e.valid_dice, default=None)


def _median(values: list[float]) -> float | None:
    xs = sorted(v for v in values if isinstance(v, (int, float)) and v == v)
    if not xs:
        return None
    mid = len(xs) // 2
    return float(xs[mid]) if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2


def is_stale(status: dict[str, Any], now: float | None = None, lock: bool | None = None) -> bool:
    """A running run whose writer is gone: its lock is free (written on this host), its pid is
    dead on this host, or no heartbeat for a while. ``lock``: `writer_lock_state` of the run.
    A lock file written on another host is not trusted (network file systems may not share
    flock), so such a run relies on its heartbeat."""
    now = time.time() if now is None else now
    pid, host = status.get("pid"), status.get("host")
    if lock is True:
        return False
    if lock is False and host == socket.gethostname():
        return True
    if isinstance(pid, int) and host == socket.gethostname() and not pid_alive(pid):
        return True
    beat = status.get("heartbeat")
    if not isinstance(beat, (int, float)):
        return True
    return now - float(beat) > STALE_AFTER_SECONDS
