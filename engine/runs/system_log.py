"""A run's system metrics on disk (``system.jsonl``, named in `engine.runs.layout`): the bounded
writer the sampler appends with, and the readers the CLI and the TUI use.

One `SystemSample` a line (`engine.sysmetrics.record`), appended as it is taken, so a finished
run keeps its figures. **Bounded:** when the file reaches `MAX_LINES` lines the writer keeps
every other line (an atomic rewrite) and from then on writes every other sample, so a run of a
week fills at most ~`MAX_LINES` lines (a few MB) at a coarser and coarser step.

Readers tolerate what a crash or another version leaves: a torn last line is held back, a line
that is not JSON or not a sample is skipped, a missing file is no samples. Runs written before
this file existed simply have none. The file is opened as any file of a run folder
(`engine.runs.layout.open_run_file`): a FIFO, a folder or a symlink out of the run in its place is
no samples and one line naming it (`SystemTail.problem`), never a hang nor another file read;
a poll reads at most `MAX_READ` bytes (a file of gigabytes is no file the writer leaves).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from engine.atomic import atomic_write
from engine.errors import RunStoreError
from engine.runs.layout import SYSTEM_FILE, RunFileMissing, open_run_file
from engine.sysmetrics.record import SystemSample

MAX_LINES = 10_000  # at one sample per 2 s: 5.5 hours at full resolution
LAST_BYTES = 8192  # what `last_sample` reads from the end of the file
MAX_READ = 32 << 20  # what a poll reads at most: MAX_LINES samples of 8 GPUs are ~10 MB
MAX_LINE = 1 << 20  # a sample's line is about a KB


def system_path(run_path: str | Path) -> Path:
    return Path(run_path) / SYSTEM_FILE


class SystemLogWriter:
    """Appends samples to a run's ``system.jsonl``; the run's one writer (the sampler thread of
    the process that holds the run). A full disk drops samples, not the run (``error``); a file
    that is not the run's to write (a FIFO, a folder, a symlink out of the run) raises
    RunStoreError from `append`, which the sampler says once before it stops."""

    def __init__(self, run_path: str | Path, max_lines: int = MAX_LINES) -> None:
        self.path = system_path(run_path)
        self.max_lines = max(2, max_lines)
        self.error = ""
        self._lock = threading.Lock()
        self._lines = _count_lines(self.path)
        self._stride, self._skipped = 1, 0
        while self._lines >= self.max_lines:  # a resumed run's file that was already compacted
            self._compact()

    def append(self, sample: SystemSample) -> None:
        with self._lock:
            self._skipped += 1
            if self._skipped < self._stride:
                return
            self._skipped = 0
            try:
                if self._lines >= self.max_lines:
                    self._compact()
                with open_run_file(self.path, mode="ab") as fh:
                    fh.write((json.dumps(sample.to_json(), separators=(",", ":")) + "\n").encode("utf-8"))
                self._lines += 1
            except RunFileMissing as exc:  # the run folder deleted under a run still training
                self.error = str(exc)
            except OSError as exc:
                self.error = f"{self.path}: {exc.strerror or exc}"

    def _compact(self) -> None:
        """Keep every other line (the newest kept), write every other sample from now on."""
        try:
            with open_run_file(self.path) as fh:
                lines = fh.read().splitlines(keepends=True)
        except (OSError, RunStoreError):
            lines = []
        lines = [ln for ln in lines if ln.endswith(b"\n")]  # a torn line is dropped here
        kept = lines[::-1][::2][::-1]
        if kept:
            atomic_write(self.path, lambda fh: fh.write(b"".join(kept)))
        self._lines = len(kept)
        self._stride *= 2


def _count_lines(path: Path) -> int:
    try:
        with open_run_file(path) as fh:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    except (OSError, RunStoreError):  # missing, or not a file (`append` says so)
        return 0


def _parse(line: bytes) -> SystemSample | None:
    try:
        return SystemSample.from_json(json.loads(line))
    except (ValueError, UnicodeDecodeError):
        return None


def read_system(run_path: str | Path) -> list[SystemSample]:
    """Every sample of a run, oldest first ([] for a run without the file)."""
    tail = SystemTail(run_path)
    tail.poll()
    return list(tail.samples)


def last_sample(run_path: str | Path) -> SystemSample | None:
    """The newest sample of a run (reads only the end of the file), or None (none, or no file to
    read: the runs table's GPU column reads it for every running run)."""
    try:
        with open_run_file(system_path(run_path), run_path) as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - LAST_BYTES))
            data = fh.read(LAST_BYTES)
    except (OSError, RunStoreError):
        return None
    for line in reversed(data.split(b"\n")[1 if size > LAST_BYTES else 0:]):
        sample = _parse(line) if line.strip() else None
        if sample is not None:
            return sample
    return None


class SystemTail:
    """Follows a run's ``system.jsonl`` as it grows: `poll` reads only new complete lines, and
    starts again from the top when the file was compacted (a new file or a shorter one).
    ``samples`` keeps the newest ``keep`` samples; ``problem`` is the one line that says why the
    file cannot be read ("…/system.jsonl: is a named pipe (FIFO), not a file"), "" when it can."""

    def __init__(self, run_path: str | Path, keep: int = MAX_LINES) -> None:
        self.run_path = Path(run_path)
        self.path = system_path(run_path)
        self.keep = keep
        self.samples: list[SystemSample] = []
        self.problem = ""
        self._offset = 0
        self._ident: tuple[int, int] | None = None

    def poll(self) -> bool:
        """Read what was appended; True when ``samples`` or ``problem`` changed."""
        try:
            st = self.path.stat()
        except OSError:
            changed = bool(self.samples or self.problem)
            self.samples, self._offset, self._ident, self.problem = [], 0, None, ""
            return changed
        ident = (st.st_dev, st.st_ino)
        restart = ident != self._ident or st.st_size < self._offset
        if not restart and st.st_size == self._offset:
            return False
        if restart:
            self.samples, self._offset, self._ident = [], 0, ident
        try:
            with open_run_file(self.path, self.run_path) as fh:
                size = os.fstat(fh.fileno()).st_size
                start = max(self._offset, size - MAX_READ)
                fh.seek(start)
                data = fh.read(size - start)
        except RunStoreError as exc:  # said once: tried again when the file changes
            changed = str(exc) != self.problem
            self.problem, self._offset = str(exc), st.st_size
            return changed or restart
        except OSError:
            return False
        said, self.problem = bool(self.problem), ""
        if start > self._offset:  # a file far longer than the writer leaves: its end, from a whole line
            cut = data.find(b"\n") + 1
            data, start = data[cut:], start + cut
        self._offset = start
        end = data.rfind(b"\n") + 1  # a torn last line waits for its end,
        if len(data) - end > MAX_LINE:  # unless no sample is that long: garbage, passed over
            end = len(data)
        new = [s for s in (_parse(ln) for ln in data[:end].split(b"\n") if ln.strip()) if s is not None]
        self._offset += end
        if new:
            self.samples = (self.samples + new)[-self.keep:]
        return bool(new) or restart or said
