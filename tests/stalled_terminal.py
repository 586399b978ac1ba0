"""A terminal that stops reading (a stalled SSH link, Ctrl-S), for tests that run a real command
on it: `full_terminal`, `handles` and `writing_to_terminal`."""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import termios
import time


def full_terminal() -> tuple[int, int]:
    """A 100x30 pseudo-terminal whose buffer is full (nothing reads it): (master, slave)."""
    master, slave = os.openpty()
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.OPOST  # bytes in, bytes out: the buffer's size is what is written
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    flags = fcntl.fcntl(slave, fcntl.F_GETFL)
    fcntl.fcntl(slave, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    # then byte by byte, again once the kernel has moved what it buffered on (it frees room a
    # moment after the first "full"): not even a short line fits
    for chunk in (b"x" * 1024, b"x", b"x", b"x"):
        try:
            while True:
                os.write(slave, chunk)
        except BlockingIOError:
            time.sleep(0.05)
    fcntl.fcntl(slave, fcntl.F_SETFL, flags)  # the command's writes wait, as on a real terminal
    return master, slave


def handles(pid: int, sig: signal.Signals) -> bool:
    """Has process ``pid`` a handler of its own for ``sig`` (Linux: /proc's SigCgt)? A command
    signalled before it installed its handler would end by the default action, which proves nothing."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            caught = next(int(line.split()[1], 16) for line in fh if line.startswith("SigCgt:"))
    except (OSError, StopIteration, ValueError):
        return False
    return bool(caught >> (sig.value - 1) & 1)


WRITE_SYSCALL = {"x86_64": 1, "aarch64": 64}.get(os.uname().machine)  # None: unknown here


def writing_to_terminal(pid: int) -> bool:
    """Is a thread of process ``pid`` waiting in a write to its stdout or stderr (Linux: /proc's
    syscall; `WRITE_SYSCALL` must be known)? Then the terminal holds it."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/syscall") as fh:
                fields = fh.read().split()
        except OSError:
            continue
        if len(fields) > 1 and fields[0] == str(WRITE_SYSCALL) and int(fields[1], 16) in (1, 2):
            return True
    return False
