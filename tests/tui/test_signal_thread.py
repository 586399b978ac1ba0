"""`SignalThread`: a signal answered in a thread of its own, even while the main thread waits in a
lock (as the dashboard's event loop waits in a write to a terminal that stopped reading)."""

from __future__ import annotations

import os
import signal
import threading
import time

from petseg_tui.signals import SignalThread


def test_a_signal_is_answered_in_its_thread_while_the_main_thread_waits_and_only_once() -> None:
    answered: list[tuple[int, str]] = []
    done = threading.Event()

    def on_signal(signum: int) -> None:
        answered.append((signum, threading.current_thread().name))
        done.set()

    before = signal.getsignal(signal.SIGUSR1)
    catcher = SignalThread([signal.SIGUSR1], on_signal)
    assert catcher.install()
    try:
        never = threading.Lock()
        never.acquire()
        threading.Timer(0.1, os.kill, args=(os.getpid(), signal.SIGUSR1)).start()
        threading.Timer(0.2, os.kill, args=(os.getpid(), signal.SIGUSR1)).start()  # a signal may come twice
        # the main thread waits as the blocked event loop does; the callback needs nothing of it
        assert never.acquire(timeout=1.0) is False
        assert done.wait(30)  # bounds a failure only: a loaded machine answers late
        time.sleep(0.2)
    finally:
        catcher.uninstall()
    assert answered == [(signal.SIGUSR1, "petseg-tui-signals")]
    assert signal.getsignal(signal.SIGUSR1) == before  # given back as it was


def test_off_the_main_thread_nothing_is_caught() -> None:
    result: list[bool] = []
    worker = threading.Thread(target=lambda: result.append(SignalThread([signal.SIGUSR1], print).install()))
    worker.start()
    worker.join()
    assert result == [False]
