"""Writing one run folder: `RunWriter` (events, status, config) and its heartbeat."""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine import faults
from engine.atomic import remove_stale_temp_files
from engine.errors import RunStoreError
from engine.events import TERMINAL_KINDS, TrainEvent, event_to_dict
from engine.run_schema import status_problems
from engine.runs.layout import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    EVENTS_FILE,
    RESERVE_FILE,
    STATUS_FILE,
    open_run_file,
    read_run_json,
    write_json_atomic,
)
from engine.runs.lock import RunLock
from engine.runs.state import RunState

HEARTBEAT_SECONDS = 5.0  # how often a training process rewrites status.json's heartbeat
# room for the run's end on a full disk: status.json's temp file and the last events, a page or two each
RESERVE_BYTES = 64 * 1024
# a full disk, or the user's quota on it spent (shared GPU boxes): the reserve counts in both
FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class RunWriter:
    """Writes one run folder. Thread-safe: the trainer thread appends, a timer beats.

    Holds the run's `RunLock` from construction to `close` (taken here unless the caller
    already holds it); a second writer of the same run is refused before it writes anything.
    Holds `RESERVE_BYTES` of disk too (``space.reserve``), given back only to record how the run
    ended when the disk is full: without it a run stopped by a full disk could not write its
    failed status, and read as interrupted with no reason.
    """

    def __init__(self, path: Path, *, pid: int | None = None, lock: RunLock | None = None) -> None:
        self.path = Path(path)
        self.lock = lock if lock is not None else RunLock.acquire(self.path)
        self.events_path = self.path / EVENTS_FILE
        self.status_path = self.path / STATUS_FILE
        self.checkpoint_dir = self.path / CHECKPOINT_DIR
        self.reserve_path = self.path / RESERVE_FILE
        self._reserve_held = False  # space.reserve is this writer's regular file, its blocks taken
        self._lock = threading.Lock()
        self._beat_stop = threading.Event()
        self._beat_thread: threading.Thread | None = None
        self._pid = os.getpid() if pid is None else pid
        self._status_written = False
        try:
            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            for folder in (self.path, self.checkpoint_dir):  # debris of a writer killed mid-write
                remove_stale_temp_files(folder)
            self._status: dict[str, Any] = {}
            if self.status_path.exists():
                try:
                    self._status = read_run_json(self.status_path)
                except RunStoreError:
                    self._status = {}
                if status_problems(self._status):  # hand-edited garbage is not carried forward
                    self._status = {}
            self._status.setdefault("created", time.time())
            # a FIFO planted there is refused, not written into until its buffer fills and the run
            # stops for good; a symlink out of the run is not written through
            self._fh = open_run_file(self.events_path, self.path, mode="a+b")
            self._repair_torn_tail()
            self._hold_reserve()
        except OSError as exc:
            self.lock.release()
            raise RunStoreError(getattr(exc, "filename", None) or self.path,
                                f"cannot write the run folder ({exc.strerror or exc})") from None
        except BaseException:
            self.lock.release()
            raise

    @property
    def name(self) -> str:
        return self.path.name

    def _repair_torn_tail(self) -> None:
        """A crash mid-append leaves a line without newline: end it so the next event parses."""
        self._fh.seek(0, os.SEEK_END)
        if self._fh.tell() == 0:
            return
        self._fh.seek(-1, os.SEEK_END)
        if self._fh.read(1) != b"\n":
            self._fh.seek(0, os.SEEK_END)
            self._fh.write(b"\n")
            self._fh.flush()

    def _hold_reserve(self) -> None:
        """Take `RESERVE_BYTES` of the disk in ``space.reserve`` (written, not sparse, so the
        blocks are really taken); a disk already too full runs without it, and so does a run
        folder with something else under that name (the folder is untrusted)."""
        try:  # O_NOFOLLOW, O_NONBLOCK: a symlink or a FIFO planted there is never written through nor waited on
            fd = os.open(self.reserve_path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
        except OSError:
            return
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return
            self._reserve_held = True
            os.ftruncate(fd, 0)
            os.write(fd, bytes(RESERVE_BYTES))
            os.fsync(fd)
        except OSError:
            self._give_back_reserve()
        finally:
            os.close(fd)

    def _give_back_reserve(self) -> bool:
        """Remove the ``space.reserve`` this writer holds; True if there was one to free."""
        if not self._reserve_held:
            return False
        self._reserve_held = False
        try:
            self.reserve_path.unlink()
        except OSError:
            return False
        return True

    def _write_the_end(self, write: Callable[[], None], ending: bool, again: Callable[[], None] | None = None) -> None:
        """``write()``; if it fails because the disk (or the quota) is full and it records the
        run's end (``ending``), give back the reserve and ``again()`` (``write`` itself unless
        said otherwise) once."""
        try:
            write()
        except OSError as exc:
            if not (ending and exc.errno in FULL_ERRNOS and self._give_back_reserve()):
                raise
            (again or write)()

    def write_config(self, config: dict[str, Any]) -> None:
        write_json_atomic(self.path / CONFIG_FILE, config)

    def append(self, event: TrainEvent, *, sync: bool = False) -> None:
        line = json.dumps(event_to_dict(event), default=str).encode("utf-8") + b"\n"
        with self._lock:
            self._fh.seek(0, os.SEEK_END)
            if faults.reached("event"):  # TEST-ONLY hook: a torn line, as a crash mid-write leaves
                self._fh.write(line[: len(line) // 2])
                self._fh.flush()
                faults.kill_now()
            self._fh.write(line)
            ending = event.kind in TERMINAL_KINDS
            # a failed flush keeps the line in the file's buffer (with any older line a full disk held back)
            self._write_the_end(self._fh.flush, ending)
            if sync:
                self._sync(line, ending=ending)

    def _sync(self, line: bytes, *, ending: bool) -> None:
        """fsync events.jsonl, whose last bytes are ``line``. A full disk may be reported only
        here (NFS writes back at fsync): the run's end is then written again once the reserve is
        given back, for the kernel may have dropped the pages it could not write back and a
        second fsync would succeed without them."""
        fd = self._fh.fileno()

        def append_again() -> None:
            os.ftruncate(fd, max(0, os.fstat(fd).st_size - len(line)))  # O_APPEND: cut, then append again
            self._fh.write(line)
            self._fh.flush()
            os.fsync(fd)

        self._write_the_end(lambda: os.fsync(fd), ending, append_again)

    def set_status(self, state: str, message: str = "", **extra: Any) -> None:
        with self._lock:
            self._status_written = True
            self._status.update(
                state=state,
                message=message,
                pid=self._pid,
                host=socket.gethostname(),
                heartbeat=time.time(),
                updated=time.time(),
                **extra,
            )
            self._write_the_end(lambda: write_json_atomic(self.status_path, self._status),
                                not RunState.parse(state).is_active)

    def beat(self) -> None:
        with self._lock:
            if not self._status_written:  # e.g. a resume still preparing: status.json stays as it was
                return
            self._status["heartbeat"] = time.time()
            write_json_atomic(self.status_path, self._status)

    def start_heartbeat(self, every: float = HEARTBEAT_SECONDS) -> None:
        def loop() -> None:
            while not self._beat_stop.wait(every):
                try:
                    self.beat()
                except OSError:
                    pass  # a full disk must not kill training; the next beat retries

        self._beat_thread = threading.Thread(target=loop, name=f"heartbeat-{self.name}", daemon=True)
        self._beat_thread.start()

    def stop_heartbeat(self) -> None:
        """Stop the heartbeat thread (a run about to report its end needs no more beats)."""
        self._beat_stop.set()
        if self._beat_thread is not None:
            self._beat_thread.join(timeout=2)
            self._beat_thread = None

    def close(self) -> None:
        """Flush and close events.jsonl, then release the run's writer lock (last)."""
        self.stop_heartbeat()
        try:
            with self._lock:
                if not self._fh.closed:
                    try:
                        self._fh.flush()
                        os.fsync(self._fh.fileno())
                    except OSError:
                        pass  # a full disk: each append that failed was reported as it happened
                    try:
                        self._fh.close()  # closes the file even when its last flush fails
                    except OSError:
                        pass
        finally:
            self._give_back_reserve()
            self.lock.release()
