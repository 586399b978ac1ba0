"""One writer per run: an exclusive ``fcntl.flock`` on the run's ``writer.lock``.

`RunLock` is taken before a writer touches anything and held until it closes; the kernel drops
it when the process dies, so a crashed run can be resumed at once. Readers learn "running
somewhere" from the same lock (`writer_lock_state`), never from a copy of the rule.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import stat
import time
import weakref
from pathlib import Path

from engine.errors import RunStoreError
from engine.runs.layout import LOCK_FILE, inside_folder, read_run_file

LOCK_WAIT_SECONDS = 1.0  # readers probe the lock for microseconds; a writer retries past them


class RunBusyError(RunStoreError):
    """Another process holds the run's writer lock (``holder``: "pid N on HOST" or "")."""

    def __init__(self, run_path: Path, holder: str, advice: str = "one run has one writer — stop it first "
                                                                  "(or wait for it to end)") -> None:
        self.holder = holder
        super().__init__(run_path, f"is being trained by another petseg process{f' ({holder})' if holder else ''}; "
                                   f"{advice}")


class RunLock:
    """The exclusive writer lock of one run folder (``writer.lock``), held until `release`.

    ``fcntl.flock`` locks belong to the open file, not to a path or a pid: the kernel releases
    them when the holder exits or is killed, so no stale lock survives a crash. The file
    records ``pid host`` of the holder, for messages only.
    """

    def __init__(self, run_path: Path, fd: int) -> None:
        self.run_path = Path(run_path)
        self._fd: int | None = fd
        _HELD.add(self)

    @classmethod
    def acquire(cls, run_path: str | Path, wait: float = LOCK_WAIT_SECONDS) -> "RunLock":
        """Lock ``run_path`` or raise RunStoreError naming the process that holds it."""
        run_path = Path(run_path)
        lock_path = run_path / LOCK_FILE
        try:  # O_NOFOLLOW, O_NONBLOCK: a symlink or a FIFO planted there is refused, never written through
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise RunStoreError(lock_path, "is a symlink; a run's lock file must be its own file") from None
            raise RunStoreError(lock_path, f"cannot create the run's lock file ({exc.strerror or exc})") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise RunStoreError(lock_path, "is not a regular file; a run's lock file must be its own file")
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() >= deadline:
                    os.close(fd)
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise RunStoreError(lock_path, f"cannot lock ({exc.strerror or exc})") from None
                    raise RunBusyError(run_path, lock_holder(run_path)) from None
                time.sleep(0.02)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        except OSError:
            pass  # the record is informative only; the lock itself is held
        return cls(run_path, fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            # LOCK_UN on the open file: released even if a child forked by other means than
            # os.fork (which drops its copy: `_drop_inherited_locks`) still holds the descriptor
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __del__(self) -> None:  # a writer dropped without close() must not keep its run locked
        try:
            self.release()
        except Exception:
            pass


_HELD: "weakref.WeakSet[RunLock]" = weakref.WeakSet()


def _drop_inherited_locks() -> None:
    """In a forked child (a DataLoader worker): close its copies of the parent's lock
    descriptors. A flock belongs to the open file, so a worker holding a copy kept a SIGKILLed
    writer's run locked until the worker noticed its parent was gone (seconds), and the run
    read as running, not interrupted. The child never writes the run itself."""
    for lock in list(_HELD):
        fd, lock._fd = lock._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


os.register_at_fork(after_in_child=_drop_inherited_locks)


def writer_lock_state(run_path: str | Path) -> bool | None:
    """True if a process holds the run's writer lock now, False if nobody does, None if the
    run has no lock file (written by an older petseg, or never opened by a writer)."""
    path = Path(run_path) / LOCK_FILE
    if not inside_folder(path, run_path):  # untrusted folder: a symlink out is no lock of this run
        return None
    try:  # O_NONBLOCK: a FIFO in its place must not hang the reader
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        return exc.errno in (errno.EAGAIN, errno.EACCES)
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def lock_holder_pid(run_path: str | Path) -> tuple[int, str] | None:
    """(pid, host) of the last process that locked the run, or None if its lock file says none."""
    words = lock_holder(run_path).split()
    if len(words) == 4 and words[0] == "pid" and words[1].isdigit() and words[2] == "on":
        return int(words[1]), words[3]
    return None


def lock_holder(run_path: str | Path) -> str:
    """``pid N on HOST`` of the last process that locked the run ("" if unknown)."""
    try:
        text = read_run_file(Path(run_path) / LOCK_FILE, limit=4096, run_path=run_path).decode("utf-8", "replace").strip()
    except RunStoreError:
        return ""
    return text.splitlines()[0][:120] if text else ""
