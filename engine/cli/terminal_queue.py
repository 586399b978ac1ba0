"""Every ``petseg`` command's terminal written by a thread of its own, so that a terminal that stops
reading never stops training, nor keeps a command from ending on a signal: `queued_std_streams`,
`TerminalQueue`, `redrawing`, `wait_written`.

An SSH link that stalls without dropping, or a user's Ctrl-S (XOFF), leaves the terminal's buffer
full: every write to it then waits until it is read. The training thread printed its progress
lines, Rich's bars and its stderr there itself, so training stopped with the terminal, and a
SIGTERM could not save the run (docs/RELIABILITY.md, "A terminal that stops reading"); the other
commands' main thread, which handles the signals, waited there too: a SIGTERM ended nothing.
`engine.cli.entry` puts the queue around every command; the queue of one that is not training
drops no line, and its end waits for a slow reader (a pager) as long as a direct write would
have, unless a signal or a Ctrl-C (their handlers raise) comes meanwhile.

While `queued_std_streams` is in force, ``sys.stdout`` and ``sys.stderr`` are `QueuedStream`\\ s:
a write is put in one queue, in order, and returns at once; one daemon thread writes the queue to
the real streams. Whoever needs the line kept writes it to train.log first (`engine.console_log`),
so the run folder has every line whatever the terminal does. A queue the terminal does not keep
up with stays bounded while training (``max_lines`` set; elsewhere only redraws are replaced):

* a redraw of the live bars (written inside `redrawing`: Rich's refresh) replaces the redraws
  still waiting once `LAG_ITEMS` writes wait: only the newest picture matters. Only a redraw
  that leaves the display as tall as it found it can be replaced (`keeps_height`): the next
  write erases as many lines as the one before it drew, and one skipped that drew a different
  number would have that write erase a printed line, or leave a stale bar;
* past `MAX_PENDING_LINES` waiting lines, later ones are dropped and counted; where they would
  have been, ``on_dropped(n)`` is called in the writer thread (the CLI prints "… N lines not
  shown; see …/train.log"), what it writes coming next.

On a terminal (or pipe) that keeps up nothing is dropped and the output is the same, byte for
byte and in the same order (stdout and stderr share the queue). At the end of the block the
queue gets `DRAIN_SECONDS` to be written (a command not training: until written, or given up);
a terminal that did not take it by then is left as it is: its streams are marked stalled
(`engine.cli.streams.SafeStream.stall`: later writes dropped, the process ends without flushing
them, ``end_process(flush=False)``).

No rich, no torch import here.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterator

LAG_ITEMS = 32  # writes waiting before redraws are coalesced: a terminal that keeps up never has as many
MAX_PENDING_LINES = 1000  # lines held for a terminal that stopped reading; later ones are counted
DRAIN_SECONDS = 2.0  # what the end of the block waits for the terminal to take the last writes

_local = threading.local()


@contextlib.contextmanager
def redrawing() -> Iterator[None]:
    """This thread's writes in the block redraw a live display: a newer redraw may replace them
    while the terminal does not read (each redraw draws the whole display)."""
    previous = getattr(_local, "redraw", False)
    _local.redraw = True
    try:
        yield
    finally:
        _local.redraw = previous


ERASE_LINE, LINE_UP = "\r\x1b[2K", "\x1b[1A"  # how a live display (Rich's) erases its previous picture


def keeps_height(redraw: str) -> bool:
    """Does this redraw leave the display as many lines tall as it found it? It erases the old
    picture from the bottom up (`ERASE_LINE`, then `LINE_UP` and an erase per line above), then
    draws the new one, its lines separated by newlines; a first picture erases nothing."""
    before = 1 + redraw.count(LINE_UP) if redraw.startswith(ERASE_LINE) else 0
    return before == redraw.count("\n") + 1


@dataclass
class _Write:
    target: Any
    text: str
    redraw: bool


@dataclass
class _Dropped:
    count: int


class TerminalQueue:
    """The queue and its writer thread (started at the first write). Every method returns at once
    except `close`, which waits up to its time-out, and `wait_written`; none is called from a
    signal handler."""

    def __init__(self, on_dropped: Callable[[int], None] | None = None, max_lines: int | None = MAX_PENDING_LINES,
                 lag_items: int = LAG_ITEMS, drain_seconds: float | None = DRAIN_SECONDS) -> None:
        self.on_dropped = on_dropped
        # None: no line is dropped (lines kept nowhere else), and the end waits until all are written
        self.max_lines, self.lag_items = max_lines, lag_items
        self.drain_seconds = drain_seconds  # what `close` waits by default
        # re-entrant: a __del__ run by the garbage collector inside `put` may print (to stderr)
        self._cond = threading.Condition(threading.RLock())
        self._items: deque[_Write | _Dropped] = deque()
        self._lines = 0  # line writes waiting
        self._dropped: _Dropped | None = None  # the note waiting for the lines dropped now
        self._busy = False  # the writer thread is inside a write
        self._front = 0  # where the writer thread's own writes go: next, before what waits
        self._closed = False
        self.stalled = False  # given up: the terminal did not read; every write dropped
        self._thread: threading.Thread | None = None

    def put(self, target: Any, text: str, redraw: bool = False) -> None:
        if not text:
            return
        with self._cond:
            if self.stalled:
                return
            if self._closed:  # a straggler after the block (another thread's): written as before
                direct = True
            else:
                direct = False
                self._queue(_Write(target, text, redraw and keeps_height(text)))
        if direct:
            _write(target, text)

    def _queue(self, item: _Write) -> None:
        if threading.current_thread() is self._thread:  # on_dropped's own note: in the dropped lines' place
            self._front = min(self._front, len(self._items))
            self._items.insert(self._front, item)
            self._front += 1
        elif item.redraw and len(self._items) >= self.lag_items:
            self._items = deque(i for i in self._items if not (isinstance(i, _Write) and i.redraw))
            self._items.append(item)
        elif not item.redraw and self.max_lines is not None and self._lines >= self.max_lines:
            if self._dropped is not None:  # one note for the lines dropped since the queue filled
                self._dropped.count += 1
            else:
                self._dropped = _Dropped(1)
                self._items.append(self._dropped)
            return
        else:
            self._items.append(item)
        if not item.redraw:
            self._lines += 1
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="petseg-terminal", daemon=True)
            self._thread.start()
        self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._items and not self._closed:
                    self._cond.wait()
                if not self._items:
                    return
                item = self._items.popleft()
                if isinstance(item, _Write) and not item.redraw:
                    self._lines -= 1
                if item is self._dropped:  # a line dropped from now on: a new note, after what waits
                    self._dropped = None
                self._busy, self._front = True, 0
            try:
                if isinstance(item, _Dropped):
                    if self.on_dropped is not None:
                        with contextlib.suppress(Exception):  # a note that failed: the lines are in the log
                            self.on_dropped(item.count)
                else:
                    _write(item.target, item.text)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def wait_written(self) -> None:
        """Wait until every write queued so far is written (the queue stays open)."""
        with self._cond:
            self._cond.wait_for(lambda: self.stalled or self._closed or (not self._items and not self._busy))

    def close(self, timeout: float | None = -1.0) -> bool:
        """Wait up to ``timeout`` seconds (default `drain_seconds`; None: until written) for the
        queue to be written, then stop the thread: True. False: the terminal did not take it; the
        queue is let go (`stalled`), the thread left in its write (a daemon: it goes with the
        process). An exception raised by a signal handler meanwhile lets it go the same way."""
        if timeout is not None and timeout < 0:
            timeout = self.drain_seconds
        drained = False
        with self._cond:
            try:
                drained = self._cond.wait_for(lambda: not self._items and not self._busy, timeout)
            finally:
                if drained:
                    self._closed = True
                else:
                    self.stalled = True
                    self._items.clear()
                self._cond.notify_all()
        return drained


def wait_written() -> None:
    """Wait until what the command queued for the terminal is written: before ``input()``, whose
    prompt on a terminal goes straight to it (readline), not through the queue, and must follow
    the lines it asks about. A signal handler's exception ends the wait."""
    queue = getattr(sys.stdout, "queue", None)
    if isinstance(queue, TerminalQueue):
        queue.wait_written()


def _write(target: Any, text: str) -> None:
    """One write, flushed (Rich flushed each of its writes itself; stdout and stderr keep their order)."""
    try:
        target.write(text)
        target.flush()
    except (OSError, ValueError, AttributeError):  # a closed stream; `SafeStream` drops these itself
        pass


class QueuedStream:
    """A text stream whose writes go to a `TerminalQueue` for ``target``; the rest is ``target``'s."""

    def __init__(self, queue: TerminalQueue, target: Any) -> None:
        self.queue, self.target = queue, target

    def __getattr__(self, name: str) -> Any:  # encoding, fileno, … of the real stream
        return getattr(self.target, name)

    def write(self, text: str) -> int:
        self.queue.put(self.target, text, getattr(_local, "redraw", False))
        return len(text)

    def flush(self) -> None:
        """Nothing to do: the writer thread flushes each write once written."""

    def isatty(self) -> bool:
        try:
            return bool(self.target.isatty())
        except (OSError, ValueError, AttributeError):
            return False


@contextlib.contextmanager
def queued_std_streams(on_dropped: Callable[[int], None] | None = None, max_lines: int | None = MAX_PENDING_LINES,
                       drain_seconds: float | None = DRAIN_SECONDS) -> Iterator[TerminalQueue]:
    """``sys.stdout`` and ``sys.stderr`` written by one thread for the block (module docstring).
    ``max_lines`` None: lines kept nowhere else (a listing, eval's scores), none dropped; the
    end then waits ``drain_seconds`` (None: as long as a slow reader, a pager, needs).
    Nested, the outer block's queue serves, with this block's ``on_dropped`` and ``max_lines``
    while it lasts (training's lines are in train.log: a bounded queue may drop them)."""
    saved = sys.stdout, sys.stderr
    if isinstance(saved[0], QueuedStream):
        outer = saved[0].queue
        previous = outer.on_dropped, outer.max_lines
        outer.on_dropped, outer.max_lines = on_dropped or previous[0], max_lines
        try:
            yield outer
        finally:
            outer.on_dropped, outer.max_lines = previous
        return
    queue = TerminalQueue(on_dropped, max_lines=max_lines, drain_seconds=drain_seconds)
    ours = QueuedStream(queue, saved[0]), QueuedStream(queue, saved[1])
    sys.stdout, sys.stderr = ours  # type: ignore[assignment]
    drained = False
    try:
        yield queue
    finally:
        try:
            drained = queue.close()
        finally:
            for name, mine, real in (("stdout", ours[0], saved[0]), ("stderr", ours[1], saved[1])):
                if getattr(sys, name) is mine:
                    setattr(sys, name, real)
                if not drained and callable(getattr(real, "stall", None)):
                    real.stall()
