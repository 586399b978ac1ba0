"""`UnwaitedExecutor`: the threads of the app's thread workers, which quitting waits for only briefly.

Textual runs a ``@work(thread=True)`` worker in its event loop's default executor, and
``asyncio.run`` ends by joining every thread of it: ``q`` while a worker was still at work (an
export, ~90 s for a resnet18_unet; the worst samples being scored; a model loading) gave the
terminal back but not the shell prompt until that worker ended. Such work has nothing to keep
once the app is gone (its files are written atomically; training in this process is stopped and
joined by `petseg_tui.launcher.RunLauncher.stop_all` first), so the app's exit gives the workers
`EXIT_WAIT_S` to end (the followers' polls end at once and tidy up), then leaves them, and the
entry point ends the process without the interpreter's join of their threads
(`engine.process_exit.end_process`). No Textual import here.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

EXIT_WAIT_S = 2.0  # how long the app's exit waits for its workers still at work
# the pool's size: the screens' followers (runs watcher, live poll, system strip, log pane, compare
# and sweeps polls) each hold a thread for as long as their screen is open; with Python's default
# (cores + 4: 6 on a 2-core box) runs -> live -> compare -> live queued the second live screen's
# poll and any export or inference behind them, for as long as those screens stayed open
MAX_WORKERS = 64


class UnwaitedExecutor(ThreadPoolExecutor):
    """A thread pool whose ``shutdown`` drops queued work and waits at most ``exit_wait`` seconds
    for the work already running."""

    def __init__(self, exit_wait: float = EXIT_WAIT_S, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.exit_wait = exit_wait
        self._running: set[Future[Any]] = set()
        self._running_lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future = super().submit(fn, *args, **kwargs)
        with self._running_lock:
            self._running.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future[Any]) -> None:
        with self._running_lock:
            self._running.discard(future)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait=False, cancel_futures=True)
        if wait:
            with self._running_lock:
                running = list(self._running)
            futures.wait(running, timeout=self.exit_wait)


def leave_workers_at_exit(loop: asyncio.AbstractEventLoop) -> None:
    """Run ``loop``'s thread workers in an `UnwaitedExecutor`; call before the first one starts."""
    loop.set_default_executor(UnwaitedExecutor(max_workers=MAX_WORKERS, thread_name_prefix="petseg-tui-worker"))
