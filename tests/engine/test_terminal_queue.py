"""`engine.cli.terminal_queue`: ``petseg train``'s terminal written by a thread of its own. A
terminal that keeps up gets every write, in order; one that stops reading never makes a writer
wait, holds a bounded queue (the newest redraw of the bars, the first lines, then a note of how
many were not shown) and is left as it is at the end."""

from __future__ import annotations

import sys
import threading
import time

from engine.cli.streams import SafeStream
from engine.cli.terminal_queue import ERASE_LINE, LINE_UP, TerminalQueue, queued_std_streams, redrawing


def bars(i: int, lines: int = 2, above: int = 2) -> str:
    """A redraw of live bars as Rich writes it: the ``above`` lines of the last picture erased,
    then ``lines`` new ones."""
    erase = ERASE_LINE + (LINE_UP + "\x1b[2K") * (above - 1) if above else ""
    return erase + "\n".join(f"bar {j} at {i}" for j in range(lines))


class Terminal:
    """A text stream that takes writes only while ``reading`` is set (a terminal's full buffer)."""

    def __init__(self, reading: bool = True) -> None:
        self.reading = threading.Event()
        if reading:
            self.reading.set()
        self.text = ""

    def write(self, text: str) -> int:
        self.reading.wait()
        self.text += text
        return len(text)

    def flush(self) -> None:
        self.reading.wait()

    def isatty(self) -> bool:
        return True


def test_a_terminal_that_reads_gets_every_write_in_order() -> None:
    out, err = Terminal(), Terminal()
    both: list[str] = []
    out.write = err.write = lambda text: both.append(text) or len(text)  # type: ignore[method-assign]
    queue = TerminalQueue()
    for i in range(200):
        queue.put(out, f"line {i}\n")
        with redrawing():  # far fewer waiting than LAG_ITEMS at a time: none replaced
            queue.put(out, bars(i), redraw=True)
        queue.put(err, f"warning {i}\n")
        if i % 8 == 7:  # keeping up: at most 24 writes wait, under LAG_ITEMS however slow the machine
            queue.wait_written()  # (a sleep between writes let a starved writer thread fall 32 behind)
    assert queue.close(timeout=30)
    assert both == [t for i in range(200) for t in (f"line {i}\n", bars(i), f"warning {i}\n")]


def test_a_terminal_that_stops_reading_never_makes_a_writer_wait() -> None:
    terminal = Terminal(reading=False)
    queue = TerminalQueue(on_dropped=lambda n: queue.put(terminal, f"… {n} lines not shown\n"),
                          max_lines=5, lag_items=3)
    started = time.monotonic()
    queue.put(terminal, "first\n")  # the writer thread waits in this one
    time.sleep(0.05)
    queue.put(terminal, bars(0, lines=1, above=0), redraw=True)  # the first picture, then a taller one:
    queue.put(terminal, bars(1, lines=2, above=1), redraw=True)  # both kept, or the next erase misses a bar
    for i in range(2, 22):
        queue.put(terminal, bars(i), redraw=True)
        queue.put(terminal, f"line {i}\n")
    assert time.monotonic() - started < 1.0, "a write waited for the terminal"
    terminal.reading.set()  # the terminal reads again
    assert queue.close(timeout=30)
    # the redraws that changed the display's height (kept as lines are), the first lines, how many
    # were not shown, then the newest redraw alone
    assert terminal.text == "".join(["first\n", bars(0, lines=1, above=0), bars(1, lines=2, above=1),
                                     *(f"line {i}\n" for i in range(2, 5)), "… 17 lines not shown\n",
                                     bars(21)]), terminal.text


def test_a_terminal_that_never_reads_is_left_at_the_end() -> None:
    real_out, real_err = SafeStream(Terminal(reading=False)), SafeStream(Terminal(reading=False))
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = real_out, real_err  # type: ignore[assignment]
    try:
        started = time.monotonic()
        with queued_std_streams() as queue:
            print("a line")
            print("a warning", file=sys.stderr)
        seconds = time.monotonic() - started
        print("after the block")  # what the command prints afterwards waits no more
    finally:
        sys.stdout, sys.stderr = saved
    assert queue.stalled
    assert real_out.stalled and real_err.stalled  # the process ends without flushing them
    assert 1.5 < seconds < 4  # DRAIN_SECONDS given to the terminal, no more
