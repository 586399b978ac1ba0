"""`DataWaitMeter`: the share of step time the training loop spent waiting for its next batch.

The loop (`engine.train.train_loop.train_one_epoch`) reports, for each batch after the first,
how long fetching it took and the time since the previous batch arrived; the sampler thread
takes the share over the batches since its previous read. Thread-safe, two additions a batch.
"""

from __future__ import annotations

import threading


class DataWaitMeter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wait = 0.0
        self._period = 0.0

    def add(self, wait_seconds: float, period_seconds: float) -> None:
        """One batch: ``wait_seconds`` blocked on the loader, in a step of ``period_seconds``."""
        with self._lock:
            self._wait += wait_seconds
            self._period += period_seconds

    def take(self) -> float | None:
        """The share (0..1) since the previous take; None when no batch finished meanwhile."""
        with self._lock:
            wait, period = self._wait, self._period
            self._wait = self._period = 0.0
        if period <= 0:
            return None
        return min(1.0, max(0.0, wait / period))
