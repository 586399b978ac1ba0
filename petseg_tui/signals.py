"""`SignalThread`: SIGTERM / SIGHUP answered in a thread of their own, not in the event loop.

A terminal that stops reading (an SSH link stalled, without tmux) fills Textual's writer queue (30
writes), and the event loop then waits in its next write for as long as the terminal reads
nothing. A handler run by the loop (``loop.add_signal_handler``) waited with it: ``kill`` left the
dashboard running until the output was read (docs/RELIABILITY.md). Here the interpreter's own
signal handler writes the signal's number to a pipe (`signal.set_wakeup_fd`: it does so in C,
whichever thread the kernel interrupts), and a daemon thread waiting on that pipe calls the
callback. The Python-level handler does nothing: no lock is taken inside a signal, and a second
signal (one may come twice, docs/RELIABILITY.md "A signal inside a signal") only adds a byte. No
Textual import here.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any


def _noted(signum: int, frame: FrameType | None) -> None:
    """The Python-level handler: nothing (the wakeup pipe carries the signal to the thread); it
    only replaces the default action, which ends the process at once."""


class SignalThread:
    """Calls ``on_signal(signum)`` in its own thread for the first of ``signals`` received after
    `install`; the signals after it are ignored (the first one's callback ends the process)."""

    def __init__(self, signals: Iterable[signal.Signals], on_signal: Callable[[int], None]) -> None:
        self.signals = tuple(signals)
        self.on_signal = on_signal
        self._previous: dict[int, Any] = {}  # each signal's handler before `install`
        self._previous_wakeup: int | None = None  # the wakeup fd before `install` (None: not set by us)
        self._write_fd = -1

    def install(self) -> bool:
        """Catch the signals from now on (the main thread only); False where they cannot be
        caught here (another thread, a platform without them)."""
        if threading.current_thread() is not threading.main_thread():
            return False
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)  # the C handler must never wait on a full pipe
        try:
            self._previous_wakeup = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
            for sig in self.signals:
                self._previous[sig] = signal.signal(sig, _noted)
        except (ValueError, OSError):
            self._restore()
            os.close(read_fd)
            os.close(write_fd)
            return False
        self._write_fd = write_fd
        threading.Thread(target=self._wait, args=(read_fd,), daemon=True, name="petseg-tui-signals").start()
        return True

    def uninstall(self) -> None:
        """Give the signals back to the handlers they had (the main thread only); the thread ends."""
        if self._write_fd < 0:
            return
        self._restore()
        # closed only now: no handler of ours is left to write into a number reused by another file
        os.close(self._write_fd)
        self._write_fd = -1

    def _restore(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()
        if self._previous_wakeup is not None:
            signal.set_wakeup_fd(self._previous_wakeup)
            self._previous_wakeup = None

    def _wait(self, read_fd: int) -> None:
        """Read the signal numbers the interpreter writes (every caught signal's: a resize's
        SIGWINCH too) until `uninstall` closes the pipe; answer the first of ours."""
        answered = False
        try:
            while chunk := os.read(read_fd, 512):
                if answered:
                    continue
                ours = [n for n in chunk if n in self.signals]
                if ours:
                    answered = True
                    self.on_signal(ours[0])
        finally:
            os.close(read_fd)
