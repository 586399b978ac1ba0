"""One writer per run: an exclusive ``fcntl.flock`` on the run's ``writer.lock``.

`RunLock` is taken before a writer touches anything and held until it closes; the kernel drops
it when the process dies, so a crashed run can be resumed at once. Readers learn "running
somewhere" from the same lock (`writer_lock_state`), never from a copy of the rule.

A process may also take the lock only to keep writers out for a moment: a delete (until its
rename hides the folder), a sweep rewriting a stopped trial's status. Such a holder records
its purpose in the lock file, so a reader that finds the lock held reads why and shows the run
as it was rather than "running" (two dashboards: one deletes, the other must not see the
finished run flicker to running). Every holder writes its record only once it holds the lock:
the file is the holder's alone, and a refused acquirer never touches it (one that wrote its
purpose first made a training run read as not running, and put back stale records). Left: in the
microseconds between a holder's flock and its record, a reader reads the previous record.
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

from engine.atomic import pid_alive
from engine.errors import RunStoreError
from engine.runs.layout import LOCK_FILE, inside_folder, read_run_file

LOCK_WAIT_SECONDS = 1.0  # readers probe the lock for microseconds; a writer retries past them
DELETING = "deleting the run"  # `RunLock.acquire` purposes: holders that write no training
REWRITING_STATUS = "rewriting its status"


class RunBusyError(RunStoreError):
    """Another process holds the run's writer lock (``holder``: "pid N on HOST" or "")."""

    def __init__(self, run_path: Path, holder: str, advice: str = "one run has one writer — stop it first "
                                                                  "(or wait for it to end)") -> None:
        self.holder = holder
        doing = "held" if holder_purpose(holder) else "being trained"
        super().__init__(run_path, f"is {doing} by another petseg process{f' ({holder})' if holder else ''}; "
                                   f"{advice}")


class RunLock:
    """The exclusive writer lock of one run folder (``writer.lock``), held until `release`.

    ``fcntl.flock`` locks belong to the open file, not to a path or a pid: the kernel releases
    them when the holder exits or is killed, so no stale lock survives a crash. The file
    records ``pid host`` of the holder, for messages only.
    """

    def __init__(self, run_path: Path, fd: int, purpose: str = "") -> None:
        self.run_path = Path(run_path)
        self._fd: int | None = fd
        self.purpose = purpose
        _HELD.add(self)

    @classmethod
    def acquire(cls, run_path: str | Path, wait: float = LOCK_WAIT_SECONDS, purpose: str = "") -> "RunLock":
        """Lock ``run_path`` or raise RunStoreError naming the process that holds it.

        ``purpose``: "" for a writer (it trains the run); `DELETING` or `REWRITING_STATUS` for a
        holder that only keeps writers out, which readers do not take for a run that trains."""
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
            same = os.path.samestat(os.fstat(fd), os.stat(lock_path, follow_symlinks=False))
        except OSError:
            same = False
        if not same:  # the folder was deleted (or renamed) while this waited: its lock guards nothing here
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise RunStoreError(run_path, "was deleted (or moved) while this process waited for its lock; "
                                          "nothing was written")
        # the record is written only once the lock is ours: one written before it (so as to be on
        # record the instant the lock is held) would, on a refusal, have stood meanwhile for the
        # holder's own, and put back a record another acquirer had replaced in between
        _write_record(fd, _record(purpose))
        return cls(run_path, fd, purpose)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if self.purpose:  # a writer that locks next must not read as a delete before its own record
            _write_record(fd, _record(""))
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


def _record(purpose: str) -> bytes:
    """This process's holder record: ``pid N on HOST``, then ``, PURPOSE`` for a non-writer."""
    return f"pid {os.getpid()} on {socket.gethostname()}{f', {purpose}' if purpose else ''}\n".encode()


def _write_record(fd: int, record: bytes) -> None:
    """Write ``record`` as the lock file's holder record (by its holder only)."""
    try:  # written over the old one, then cut to length: a reader never finds the file empty
        os.pwrite(fd, record, 0)
        os.ftruncate(fd, len(record))
    except OSError:
        pass  # the record is informative only; the lock itself is what counts


def holder_purpose(record: str) -> str:
    """The purpose a holder record names ("" for a writer): what follows ``pid N on HOST, ``."""
    first = record.strip().splitlines()[0] if record.strip() else ""
    return first.split(", ", 1)[1] if ", " in first else ""


def _only_keeps_writers_out(record: str) -> bool:
    """Whether the record is that of a holder which trains nothing (a delete, a status rewrite)
    and which is still alive, so that it holds the lock now; on another host it is trusted."""
    if not holder_purpose(record):
        return False
    held = _holder_pid(record)
    return held is None or held[1] != socket.gethostname() or pid_alive(held[0])


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
    """True if a process holds the run's writer lock now to write the run (train or resume it),
    False if nobody does or its holder only keeps writers out (a delete before its rename, a
    status rewrite: the run reads as it was), None if the run has no lock file (written by an
    older petseg, or never opened by a writer)."""
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
        if exc.errno not in (errno.EAGAIN, errno.EACCES):
            return False
        try:  # held: its holder's record says whether it trains
            record = os.pread(fd, 4096, 0).decode("utf-8", "replace")
        except OSError:
            return True
        return not _only_keeps_writers_out(record)
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def lock_holder_pid(run_path: str | Path) -> tuple[int, str] | None:
    """(pid, host) of the last process that locked the run, or None if its lock file says none."""
    return _holder_pid(lock_holder(run_path))


def _holder_pid(record: str) -> tuple[int, str] | None:
    words = record.strip().split(", ", 1)[0].split()
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
