"""Atomic file replacement: write a temp file beside the target, fsync, rename over it.

Used for every file a crash must never leave half-written (checkpoints, status/config JSON,
saved PNGs). Temp names are ``.NAME.PID.TID.tmp`` so `remove_stale_temp_files` can tell a
dead writer's leftovers from a write in progress: an exception or a signal turned into one
(the CLI does that for SIGTERM/SIGHUP) removes the temp file at once; after a SIGKILL the next
write into the same folder sweeps it (`atomic_write` sweeps each folder once per process).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from engine import faults

# .NAME.PID[.THREAD].tmp (ours); NAME non-greedy so the PID is never the thread id
_TEMP_NAME = re.compile(r"^\..+?\.(\d+)(?:\.\d+)?\.tmp$")
# what atomic_write itself names them (a thread id has many digits): safe to sweep in a folder
# of the user's, where a dotfile like ".notes.2.tmp" must never be taken for ours
_ATOMIC_TEMP_NAME = re.compile(r"^\..+?\.(\d+)\.\d{5,}\.tmp$")
_swept: set[str] = set()
_swept_lock = threading.Lock()


@contextlib.contextmanager
def folder_lock(folder: Path, wait: float = 2.0) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``folder`` itself while a file in it is read, changed and
    written back: two processes doing it at once (two dashboards labelling one run, an export in
    a shell and one from the dashboard) both keep their change, where the later write dropped
    the other's. No file is made for it; where the folder cannot be locked (a network file
    system, a folder not there yet), or while another holder keeps it past ``wait`` seconds (a
    ``petseg export`` stopped with Ctrl-Z mid-record: the dashboard's label change, on its UI
    thread, would wait for as long), it goes on unlocked, as before."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        yield
        return
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.01)
            except OSError:
                break
        yield
    finally:
        os.close(fd)  # the lock goes with the descriptor


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists (on this host); False for garbage pids."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, ValueError, TypeError, OverflowError):  # garbage pid in a status file
        return False
    return True


def remove_stale_temp_files(folder: Path, pattern: "re.Pattern[str]" = _TEMP_NAME) -> list[Path]:
    """Delete temp files (``pattern``'s group 1 is the writer's pid) left by writers that died.

    Only files whose pid is no longer alive are removed, so a write in progress in another
    process is never touched. They are never read, only in the way (and on the disk).
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for e in entries:
        m = pattern.match(e.name)
        if m and not pid_alive(int(m.group(1))):
            try:
                os.unlink(e.path)
                removed.append(Path(e.path))
            except OSError:
                pass
    return removed


def _sweep_once(folder: Path) -> None:
    key = os.path.abspath(folder)
    with _swept_lock:
        if key in _swept:
            return
        _swept.add(key)
    remove_stale_temp_files(folder, _ATOMIC_TEMP_NAME)


def atomic_write(path: Path, write: Callable[[BinaryIO], object], *, fault_point: str | None = None) -> None:
    """Call ``write(fh)`` on a temp file, then replace ``path`` with it in one rename.

    On any error the temp file is removed and the exception propagates (an OSError naming
    ``path`` when the OS named no file); ``path`` keeps its previous content. ``fault_point`` names the TEST-ONLY kill point between write and rename.
    """
    _sweep_once(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if fault_point:
            faults.maybe_kill(fault_point)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        if isinstance(exc, OSError) and (exc.filename is None or str(exc.filename) == str(tmp)):
            # a full disk shows when the buffered bytes are flushed at close: an OSError with no
            # file, which the CLI could only print as "unexpected OSError: [Errno 28] ..."; a
            # read-only folder refuses the temp file, whose name means nothing to the user
            raise type(exc)(exc.errno, exc.strerror, str(path)) from exc
        raise
