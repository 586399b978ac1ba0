"""The test processes' ``os.fsync``: the descriptor checked, the wait for the disk skipped.

What fsync buys, the bytes on the disk when the power goes, is nothing a test can observe, and
each call waits for the disk: 0.4-0.6 ms on this machine's disk when quiet, 3-4 ms while other
work writes to it (docs/PERFORMANCE.md), and the run folders, checkpoints and atomic writes the
suite makes call it ~13 000 times. The engine's
calls stay where they are; the xdist workers and the warm petseg zygote (tests/warm_petseg.py)
skip the wait. ``os.fstat`` keeps the one failure a caller could meet without a disk fault, a
closed descriptor's EBADF; the tests of a failing fsync (a full disk reported only there, a
write held in it) patch ``os.fsync`` themselves, over this.
"""

from __future__ import annotations

import os


def _fsync_without_the_wait(fd: int) -> None:
    os.fstat(fd if isinstance(fd, int) else fd.fileno())


def skip_fsync_waits() -> None:
    """Replace ``os.fsync`` in this process (the engine looks it up at each call)."""
    os.fsync = _fsync_without_the_wait
