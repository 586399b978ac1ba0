"""`whole_write`: files written as a whole, which the process's end waits for.

The dashboard ends its process ~2 s after ``q`` without waiting for its thread workers still at
work (`petseg_tui.unwaited`, then `engine.process_exit.end_process`: the exit handlers, then
``os._exit``). A worker writing files then was cut where it stood: a temp file ``.NAME.PID.TID.tmp``
left beside its target, or one file of a pair without the other (an export's model without its
``export.json``, a saved overlay without its mask). A block of writes under `whole_write` is
waited for by the process's end (an exit handler, up to `EXIT_WAIT_S`), and one that had not
begun by then never begins: its thread waits there until the process is gone.

The work before the writes (loading a model, scoring, drawing the pictures) is no part of the
block: an end meanwhile leaves nothing, and the writer makes its folder inside the block
(`engine.made_folders`), so no empty folder is left either. That wait (a huge photo's overlay:
seconds) kept the shell prompt away with nothing said: `announce_exit_wait` lets a process say
so, once, when the end finds a write under way. No torch, no Textual.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import Callable, Iterator

EXIT_WAIT_S = 30.0  # how long the process's end waits for the writes under way (a big model on a slow disk)

_state = threading.Condition()
_writing = 0  # `whole_write` blocks under way, in all threads (a nested one counts once)
_ending_in: int | None = None  # the thread ending the process, once it does: its own writes go on
_depth = threading.local()  # this thread's nesting of `whole_write` blocks
_notice: Callable[[], None] | None = None  # called by the end before it waits for a write (`announce_exit_wait`)


@contextlib.contextmanager
def whole_write() -> Iterator[None]:
    """The block's writes, finished before the process ends: `_wait_for_writes` waits for them.
    Once the end has begun, a block of another thread does not start (it waits for ``os._exit``).
    A block inside another one of the same thread is part of it."""
    global _writing
    outer = getattr(_depth, "n", 0) == 0
    if outer:
        with _state:
            while _ending_in is not None and _ending_in != threading.get_ident():
                _state.wait()  # the process is ending: this write never starts
            _writing += 1
    _depth.n = getattr(_depth, "n", 0) + 1
    try:
        yield
    finally:
        _depth.n -= 1
        if outer:
            with _state:
                _writing -= 1
                _state.notify_all()


def announce_exit_wait(notice: Callable[[], None] | None) -> None:
    """Have the process's end call ``notice`` (None: nothing) before it waits for the writes under
    way, only when there is one then: the dashboard, its terminal restored, says why the prompt
    is not back yet. Set only where saying it is safe (not on a terminal that hung up)."""
    global _notice
    _notice = notice


def _wait_for_writes(timeout: float | None = None) -> None:
    """At the process's end (an exit handler): let no other `whole_write` start, and wait for the
    ones under way, up to ``timeout`` (`EXIT_WAIT_S`); the calling thread's own is not waited for.
    With one to wait for, the `announce_exit_wait` notice first."""
    global _ending_in
    own = 1 if getattr(_depth, "n", 0) else 0
    with _state:
        _ending_in = threading.get_ident()  # from here writes only end: the notice is not stale
        waiting = _writing > own
    if waiting and _notice is not None:
        _notice()  # outside the lock: a write ending meanwhile is not held up by it
    with _state:
        _state.wait_for(lambda: _writing <= own, EXIT_WAIT_S if timeout is None else timeout)


atexit.register(_wait_for_writes)
