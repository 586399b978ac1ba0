"""A run's events on their way out: appended to ``events.jsonl`` first (fsynced when a crash must
not lose them), then handed to the subscribers of this process (the CLI's progress display, a
queue). A broken subscriber never stops training."""

from __future__ import annotations

import queue
import threading
import traceback
from typing import Any, Callable

from engine.events import BatchProgress, EpochStarted, TrainEvent

Subscriber = Callable[[TrainEvent], None]


class EventEmitter:
    def __init__(self, writer: Any, log: Callable[[str], None]) -> None:
        self.writer, self._log = writer, log
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()
        self._unwritten = 0  # events that could not be appended since the last one that could

    def subscribe(self, callback: Subscriber) -> None:
        """``callback(event)`` is called from the trainer thread after the event is on disk."""
        with self._lock:
            self._subscribers.append(callback)

    def queue(self, maxsize: int = 0) -> "queue.Queue[TrainEvent]":
        """A new thread-safe queue that receives every later event."""
        q: queue.Queue[TrainEvent] = queue.Queue(maxsize)

        def put(event: TrainEvent) -> None:
            try:
                q.put_nowait(event)
            except queue.Full:  # a slow consumer loses batch events, never blocks training
                if not isinstance(event, BatchProgress):
                    q.put(event)

        self.subscribe(put)
        return q

    def emit(self, event: TrainEvent) -> None:
        # fsync what a crash must not lose; an epoch's start is not worth a disk flush per epoch
        sync = not isinstance(event, (BatchProgress, EpochStarted))
        try:
            self.writer.append(event, sync=sync)
        except OSError as exc:
            # said once, not for every batch: a full disk printed hundreds of the same line
            if not self._unwritten:
                self._log(f"warning: could not append to {self.writer.events_path}: {exc}; "
                          "its events are not recorded until it can be written again")
            self._unwritten += 1
        else:
            if self._unwritten:
                self._log(f"{self.writer.events_path} written again ({self._unwritten} events were not recorded)")
                self._unwritten = 0
        with self._lock:
            subs = list(self._subscribers)
        for cb in subs:
            try:
                cb(event)
            except Exception:  # a broken subscriber must not kill training
                traceback.print_exc()
