"""The lock a sweep process holds while it appends to its study's journal file: an ``flock`` on the
journal itself, which the kernel releases when its process dies.

Optuna's default journal lock is a symlink beside the file, removed on release: a sweep SIGKILLed
(or OOM-killed) while appending left it behind, and the next sweep on that study waited Optuna's
30 s grace period, printing "It is taking longer than 10.0 seconds to acquire the lock file"
three times, before it took the lock by force. Every writer of a petseg journal is a petseg sweep
process, and they all take this lock (readers need none: Optuna reads whole lines only).

What it gives up: an flock is as shared as the file system makes it (an NFS mount with ``nolock``
or ``local_lock=flock`` keeps it to one machine: a journal is for one machine's sweeps, databases
are for several, README), a process stopped mid-append (Ctrl-Z, a few milliseconds' window) holds
the others until it goes on or dies, and an older petseg (or an Optuna script of the user's) on
the same journal takes Optuna's symlink lock, which does not exclude this one.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class JournalFlock:
    """An exclusive ``fcntl.flock`` on ``journal`` for the length of one append (blocking): the
    ``acquire`` / ``release`` pair `optuna.storages.journal.JournalFileBackend` takes as its
    ``lock_obj`` (its base class is private to Optuna)."""

    def __init__(self, journal: str | Path) -> None:
        self._path = str(journal)
        self._fd: int | None = None

    def acquire(self) -> bool:
        fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            raise RuntimeError(f"{self._path}: journal lock released without being held")
        os.close(fd)  # closing the only descriptor drops its flock
