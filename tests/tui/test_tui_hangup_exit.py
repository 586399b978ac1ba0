"""``petseg-tui`` ends promptly when its terminal goes away (``tmux kill-session``, an SSH link
dropped): the pane's master side is closed and the session gets SIGHUP. With runs listed, the
app's own exit then waited on writes to the gone terminal until its 3 s watchdog ended it.

A real process on a pseudo-terminal: the test waits for the runs table, closes the terminal,
sends SIGHUP as the kernel does and measures the time to the exit."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time
from pathlib import Path

import pytest
from tui_helpers import make_run

REPO = Path(__file__).resolve().parents[2]
EXIT_SECONDS = 2.0  # the bound `petseg`'s own commands keep from a signal to the exit
# on a terminal that stopped reading: the app waits 1 s for its blocked event loop (1.0 s measured);
# the rest is room for a loaded machine
STALLED_EXIT_SECONDS = 4.0


def _dashboard_on_a_pty(runs_dir: Path) -> tuple[int, int]:
    """Start ``petseg-tui`` on a 100x30 pseudo-terminal and wait for its runs table; (pid, the
    terminal's master fd)."""
    env = dict(os.environ, PYTHONPATH=str(REPO), TERM="xterm-256color", COLUMNS="100", LINES="30")
    env.pop("TMUX", None)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the dashboard on the pseudo-terminal
        os.chdir(REPO)
        os.execve(sys.executable, [sys.executable, "-m", "petseg_tui", "--runs", str(runs_dir)], env)
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        screen, deadline = b"", time.monotonic() + 120
        while b"run-00" not in screen:  # the table is drawn
            assert time.monotonic() < deadline, screen[-500:]
            if select.select([fd], [], [], 0.2)[0]:
                screen += os.read(fd, 65536)
    except BaseException:
        _end(pid, fd)
        raise
    time.sleep(0.5)
    return pid, fd


def _end(pid: int, fd: int) -> None:
    """Close the terminal (when still open) and make sure the dashboard is gone."""
    if fd >= 0:
        os.close(fd)
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


@pytest.mark.slow
def test_a_closed_terminal_ends_the_dashboard_promptly(runs_dir: Path) -> None:
    for i in range(30):  # a table taller than the screen: with it, the old exit hung on most tries
        make_run(runs_dir, f"run-{i:02d}")
    pid, fd = _dashboard_on_a_pty(runs_dir)
    try:
        sent = time.monotonic()
        os.close(fd)
        fd = -1
        os.killpg(pid, signal.SIGHUP)
        while not (status := os.waitpid(pid, os.WNOHANG))[0]:
            assert time.monotonic() - sent < 30, "still running 30 s after its terminal closed"
            time.sleep(0.02)
        seconds = time.monotonic() - sent
    finally:
        _end(pid, fd)
    assert seconds < EXIT_SECONDS, f"ended {seconds:.2f} s after its terminal closed"
    assert os.waitstatus_to_exitcode(status[1]) == 128 + signal.SIGHUP  # as `petseg` ends on SIGHUP


@pytest.mark.slow
def test_a_hangup_signal_with_the_terminal_still_there_restores_it(runs_dir: Path) -> None:
    """``kill -HUP`` from another shell, the terminal still open: the dashboard ended at once as if
    its terminal were gone, and left it on the dashboard's screen (the alternate screen, raw mode,
    mouse reporting): the shell's prompt came up over the old table. It ends as quit does, the
    terminal given back."""
    make_run(runs_dir, "run-00")
    pid, fd = _dashboard_on_a_pty(runs_dir)
    deadline = time.monotonic() + 120
    try:
        os.kill(pid, signal.SIGHUP)
        after = b""
        while not (status := os.waitpid(pid, os.WNOHANG))[0]:
            assert time.monotonic() < deadline, after[-500:]
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    after += os.read(fd, 65536)
                except OSError:  # the child's side closed
                    break
        if not status[0]:
            status = os.waitpid(pid, 0)
        while select.select([fd], [], [], 0.2)[0]:  # what it wrote as it ended
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            after += chunk
    finally:
        _end(pid, fd)
    assert b"\x1b[?1049l" in after, after[-300:]  # off the alternate screen: the shell's own is back
    # SIGHUP's code, as with the terminal gone (it ended 0, a quit's), and no word of a crash
    assert os.waitstatus_to_exitcode(status[1]) == 128 + signal.SIGHUP
    assert b"stopped on an error" not in after


@pytest.mark.slow
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_a_signal_ends_the_dashboard_on_a_terminal_that_stopped_reading(runs_dir: Path, sig: str) -> None:
    """A terminal that stops reading (an SSH link stalled, without tmux): arrow keys come in, the
    screen is redrawn, nothing is read, Textual's writer queue fills and its event loop waits in a
    write. The signal's handler ran in that loop, so ``kill`` left the dashboard running until the
    output was read (15 s and more). It ends within seconds now, its output still unread."""
    for i in range(30):  # a table taller than the screen: each key redraws part of it
        make_run(runs_dir, f"run-{i:02d}")
    pid, fd = _dashboard_on_a_pty(runs_dir)
    try:
        while select.select([fd], [], [], 0.2)[0]:  # what it drew so far, then no more reading
            os.read(fd, 65536)
        for i in range(300):  # down and up the table, 20 rows at a time: far more than 30 writes
            os.write(fd, b"\x1b[B" if (i // 20) % 2 == 0 else b"\x1b[A")
            time.sleep(0.005)
        time.sleep(1.0)  # its writes pile up in the terminal (full: 4095 bytes unread)
        sent = time.monotonic()
        os.kill(pid, getattr(signal, sig))
        while not (status := os.waitpid(pid, os.WNOHANG))[0]:
            if time.monotonic() - sent > STALLED_EXIT_SECONDS:
                break
            time.sleep(0.02)
        seconds = time.monotonic() - sent
    finally:
        _end(pid, fd)
    assert status[0], f"still running {seconds:.1f} s after {sig}, its terminal not read"
    assert os.waitstatus_to_exitcode(status[1]) == 128 + getattr(signal, sig)
