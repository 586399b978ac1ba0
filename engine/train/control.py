"""Stop / pause / resume of a training run, from any thread (methods) or any process (the run's
control file, polled at most every CONTROL_POLL_INTERVAL seconds)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from engine.runs import clear_control, read_control

CONTROL_POLL_INTERVAL = 0.25


class RunControl:
    """The requests a run obeys between batches, and the seconds it has spent paused."""

    def __init__(self, run_path: Path) -> None:
        self.run_path = run_path
        self._stop = threading.Event()
        self._unpaused = threading.Event()
        self._unpaused.set()
        self._last_poll = 0.0
        self.paused_seconds = 0.0  # not training time: rates and ETAs leave it out
        self._reason: str | Callable[[], str] = ""
        self._stop_asked = False

    def stop(self, reason: str | Callable[[], str] = "") -> None:
        """Stop at the next stop point; ``reason`` (the first one given) is the run's message, or
        makes it once the run has stopped (a signal's: what sent it shows only then).

        A signal handler's call: a second call made while the first one runs returns at once,
        taking no lock. The second signal runs its handler inside the first (a killed launcher's
        ranks get their death signal twice, about 1 ms apart: when its main thread ends, then its
        last one), and a lock the first held (``threading.Event.set``'s) was waited on for good."""
        if self._stop_asked:
            return
        self._stop_asked = True
        if reason:
            self._reason = reason
        self._stop.set()
        self._unpaused.set()

    @property
    def stop_reason(self) -> str:
        """Why the run was stopped, if not by its user ("": x, Ctrl-C, the control file)."""
        return self._reason() if callable(self._reason) else self._reason

    def pause(self) -> None:
        self._unpaused.clear()

    def resume(self) -> None:
        self._unpaused.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._unpaused.is_set()

    def reset_clock(self) -> None:
        """A run starts: poll the file at once, nothing paused yet."""
        self._last_poll = 0.0
        self.paused_seconds = 0.0

    def poll_file(self, force: bool = False) -> None:
        """Obey a request another process wrote (at most every CONTROL_POLL_INTERVAL, unless ``force``)."""
        now = time.monotonic()
        if not force and now - self._last_poll < CONTROL_POLL_INTERVAL:
            return
        self._last_poll = now
        action = read_control(self.run_path)
        if action is None:
            return
        clear_control(self.run_path)
        if action == "stop":
            self.stop()
        elif action == "pause":
            self.pause()
        elif action == "resume":
            self.resume()

    def wait_unpaused(self, timeout: float = CONTROL_POLL_INTERVAL) -> bool:
        """True once the run is no longer paused (resumed or stopped); False after ``timeout``."""
        return self._unpaused.wait(timeout)
