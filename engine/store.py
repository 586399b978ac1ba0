"""The run store: one folder per run, written as training happens, read by the CLI and the TUI.

Layout of ``<runs>/<name>/``::

    config.json      every hyperparameter, data source, versions, seed (written once, atomically)
    events.jsonl     append-only, one JSON event per line, flushed per event
    status.json      {"state", "pid", "host", "heartbeat", "message", ...} rewritten atomically
    checkpoints/     best.pt and last.pt, each written to a temp file then renamed
    writer.lock      held (flock) by the one process writing the run, for its whole lifetime

One writer per run: `RunLock` is an exclusive ``fcntl.flock`` on ``writer.lock``, taken before
a writer touches anything and held until it closes; the kernel drops it when the process dies,
so a crashed run can be resumed at once. Creating a run is ``mkdir`` of its folder (the claim)
plus that lock (a folder made earlier, e.g. for a detached run's train.log, is claimed by
whoever locks it first). Readers learn "running somewhere" from the same lock
(`writer_lock_state`), never from a copy of the rule.

`RunWriter` writes a run; `RunStore` lists and loads runs; `EventTail` follows a growing
``events.jsonl`` (a torn last line is held back until it is complete). No torch import:
the TUI uses this module on its start-up path.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from engine import faults
from engine.atomic import atomic_write, pid_alive, remove_stale_temp_files  # noqa: F401 (re-exported)
from engine.errors import RunStoreError
from engine.run_schema import config_problems, status_problems
from engine.events import (
    CheckpointSaved,
    EpochEnded,
    EpochStarted,
    BatchProgress,
    RunDiverged,
    RunFailed,
    RunFinished,
    RunPaused,
    RunResumed,
    RunStarted,
    RunStopped,
    RunWarning,
    EventFieldError,
    TrainEvent,
    event_to_dict,
    parse_event,
)

CONFIG_FILE = "config.json"
EVENTS_FILE = "events.jsonl"
STATUS_FILE = "status.json"
CHECKPOINT_DIR = "checkpoints"
EVAL_DIR = "eval"  # petseg eval --worst: contact sheets of the worst-scored images
LOCK_FILE = "writer.lock"
LAST_CHECKPOINT = "last.pt"  # every epoch (and on stop), with optimizer/RNG state: what a resume reads

HEARTBEAT_SECONDS = 5.0
STALE_AFTER_SECONDS = 30.0  # a "running" run with no heartbeat for this long is "interrupted"

RUN_STATES = ("running", "paused", "finished", "stopped", "failed", "diverged", "interrupted", "broken")
_NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temp file in the same folder, fsync, then rename over ``path``."""
    text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")), fault_point="json")


def read_run_json(path: Path) -> dict[str, Any]:
    """A run's JSON file as a dict; RunStoreError (one line) if missing, unreadable or not an object."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunStoreError(path, "missing") from None
    except OSError as exc:
        raise RunStoreError(path, f"cannot read ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunStoreError(path, f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise RunStoreError(path, "expected a JSON object")
    return data


def read_run_config(run_path: str | Path) -> dict[str, Any]:
    """A run's config.json (RunStoreError, one line, if it is missing or not a JSON object)."""
    return read_run_json(Path(run_path) / CONFIG_FILE)


def ensure_folder(path: Path, what: str) -> Path:
    """Create ``path`` (and parents) or raise RunStoreError saying why, in one sentence."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunStoreError(path, f"is a file, not a folder; choose another {what}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunStoreError(path, f"cannot create the {what} ({exc.strerror or exc}); choose a folder you can write to") from None
    return path


def validate_run_name(name: str) -> str:
    if not _NAME_OK.match(name or ""):
        raise RunStoreError(name, "run names use letters, digits, '.', '_' and '-' (max 100)")
    return name


# --------------------------------------------------------------------------------------------
# One writer per run
# --------------------------------------------------------------------------------------------

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

    @classmethod
    def acquire(cls, run_path: str | Path, wait: float = LOCK_WAIT_SECONDS) -> "RunLock":
        """Lock ``run_path`` or raise RunStoreError naming the process that holds it."""
        run_path = Path(run_path)
        lock_path = run_path / LOCK_FILE
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise RunStoreError(lock_path, f"cannot create the run's lock file ({exc.strerror or exc})") from None
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
            # LOCK_UN on the open file: also released for forked children (DataLoader workers)
            # that inherited the descriptor and may outlive this call by a moment
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __del__(self) -> None:  # a writer dropped without close() must not keep its run locked
        try:
            self.release()
        except Exception:
            pass


def writer_lock_state(run_path: str | Path) -> bool | None:
    """True if a process holds the run's writer lock now, False if nobody does, None if the
    run has no lock file (written by an older petseg, or never opened by a writer)."""
    try:
        fd = os.open(Path(run_path) / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        return exc.errno in (errno.EAGAIN, errno.EACCES)
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def lock_holder(run_path: str | Path) -> str:
    """``pid N on HOST`` of the last process that locked the run ("" if unknown)."""
    try:
        text = (Path(run_path) / LOCK_FILE).read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""
    return text.splitlines()[0][:120] if text else ""


# --------------------------------------------------------------------------------------------
# Reading events
# --------------------------------------------------------------------------------------------


# Our writer puts "kind" last (event_to_dict), and JSON escapes quotes inside strings, so these
# byte patterns can only be an event's own kind key: batch lines are recognised without parsing.
_BATCH_LINE_END = b'"kind": "batch"}\n'
_NON_BATCH_KIND = re.compile(rb'"kind": "(?!batch")')
READ_CHUNK = 1 << 20  # bytes read at once: bounds memory whatever the file size
KEEP_BATCHES = 1000  # batch events a catch-up read keeps (the most recent); older ones are skipped


class EventTail:
    """Reads the events appended to a file since the last call.

    A line without its newline is a write in progress (or a torn write after a crash): it is
    held back, never parsed half-way. Lines that are not valid JSON are counted in
    ``bad_lines`` and skipped; a known event with a missing or mistyped field is counted too,
    and the first such problem is kept in ``invalid`` (the run then lists as broken). If the
    file shrinks (replaced), reading starts again.

    Bounded cost on huge logs: the file is read in 1 MiB chunks, batch-progress lines are
    recognised by their bytes and only the last ``keep_batches`` of them are parsed (0: none,
    for listings that show no batch figures). A 200 MB log of 1.5 M batch events is read in
    well under a second with a few MB of memory (bench/large_events_log.py).
    """

    def __init__(self, path: Path, keep_batches: int = KEEP_BATCHES) -> None:
        self.path = Path(path)
        self.offset = 0
        self.bad_lines = 0
        self.lines = 0  # complete lines read so far
        self.invalid: str | None = None
        self.keep_batches = keep_batches
        self._partial = b""

    def read_new(self) -> list[TrainEvent]:
        try:
            size = self.path.stat().st_size
        except OSError:
            return []
        if size < self.offset:
            self.offset, self._partial, self.lines = 0, b"", 0
        if size == self.offset:
            return []
        found: list[tuple[int, TrainEvent]] = []  # (file offset, event) of non-batch events
        begin = self.offset - len(self._partial)  # file offset of the first byte not yet parsed
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                left = size - self.offset
                while left > 0:
                    chunk = fh.read(min(READ_CHUNK, left))
                    if not chunk:
                        break
                    left -= len(chunk)
                    base = self.offset - len(self._partial)  # file offset of data[0]
                    self.offset += len(chunk)
                    data = self._partial + chunk if self._partial else chunk
                    cut = data.rfind(b"\n") + 1
                    self._partial = data[cut:]
                    if cut:
                        self._scan(data, cut, base, found)
                end = self.offset - len(self._partial)  # just after the last complete line
                tail = self._last_batch_lines(fh, begin, end) if self.keep_batches > 0 else []
        except OSError:
            return [e for _, e in found]
        if not tail:
            return [e for _, e in found]
        parsed = []
        for at, raw, number in tail:
            event = self._parse(raw, number)
            if event is not None:
                parsed.append((at, event))
        return [e for _, e in sorted(found + parsed, key=lambda item: item[0])]

    def _last_batch_lines(self, fh: Any, begin: int, end: int) -> list[tuple[int, bytes, int]]:
        """(offset, line, line number) of the newest ``keep_batches`` batch lines between file
        offsets ``begin`` and ``end`` (both at line starts), oldest first: read backwards from
        ``end`` in blocks, so the cost is the size of those lines, not of the file."""
        taken: list[tuple[int, bytes, int]] = []
        number = self.lines - 1
        carry = b""  # the start of a line whose beginning lies in an earlier block
        block_end = end
        while block_end > begin and len(taken) < self.keep_batches:
            block_start = max(begin, block_end - (256 << 10))
            fh.seek(block_start)
            data = fh.read(block_end - block_start) + carry
            cut = data.find(b"\n") + 1 if block_start > begin else 0
            carry, body, body_at = data[:cut], data[cut:], block_start + cut
            e = len(body) - 1  # body ends with a newline
            while e >= 0 and len(taken) < self.keep_batches:
                s = body.rfind(b"\n", 0, e) + 1
                raw = body[s:e]
                if raw.endswith(b'"kind": "batch"}'):
                    taken.append((body_at + s, raw, number))
                e, number = s - 1, number - 1
            block_end = block_start
        taken.reverse()
        return taken

    def _scan(self, data: bytes, cut: int, base: int, found: list) -> None:
        """Parse the non-batch lines of ``data[:cut]`` (whole lines; ``data[0]`` is at file
        offset ``base``). Three C-speed passes over the bytes (count
        newlines, count batch-line ends, a regex for the other kinds); only non-batch lines
        reach Python code. Any line of another shape sends the chunk down the line-by-line path."""
        first_line = self.lines
        n_lines = data.count(b"\n", 0, cut)
        self.lines += n_lines
        n_batch = data.count(_BATCH_LINE_END, 0, cut)
        others = [m.start() for m in _NON_BATCH_KIND.finditer(data, 0, cut)] if n_batch != n_lines else []
        if n_batch + len(others) != n_lines:  # blank, foreign or garbage lines: line by line
            start = 0
            for i in range(n_lines):
                end = data.index(b"\n", start)
                raw = data[start:end]
                if raw.endswith(b'"kind": "batch"}'):
                    pass  # batch lines: only the newest are parsed, at the end of read_new
                elif raw.strip():
                    event = self._parse(raw, first_line + i)
                    if event is not None:
                        found.append((base + start, event))
                start = end + 1
            return
        for pos in others:
            start = data.rfind(b"\n", 0, pos) + 1
            end = data.find(b"\n", pos)
            number = -1  # counted only if this line turns out invalid (rare): see _parse
            event = self._parse(data[start:end], number, lambda s=start: first_line + data.count(b"\n", 0, s))
            if event is not None:
                found.append((base + start, event))

    def _parse(self, raw: bytes, number: int, count_line: Callable[[], int] | None = None) -> TrainEvent | None:
        try:
            obj = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            self.bad_lines += 1
            return None
        if not isinstance(obj, dict):
            self.bad_lines += 1
            return None
        try:
            event = parse_event(obj)
        except EventFieldError as exc:
            self.bad_lines += 1
            if self.invalid is None:
                line = count_line() if count_line is not None else number
                self.invalid = f"{self.path}: line {line + 1}: {exc}"
            return None
        if event is None:  # an unknown kind (a newer writer): skipped
            self.bad_lines += 1
        return event

    @property
    def torn_tail(self) -> bool:
        """True when the file ends in an incomplete line (dropped until completed)."""
        return bool(self._partial.strip())


def read_events(path: Path) -> list[TrainEvent]:
    """All complete, valid events of a file; a torn last line is dropped."""
    return EventTail(path).read_new()


# --------------------------------------------------------------------------------------------
# A run's history, built by applying events in order
# --------------------------------------------------------------------------------------------


@dataclass
class RunHistory:
    """Everything the app shows about a run, folded from its events.

    ``epochs`` maps epoch number to its `EpochEnded`; an epoch repeated after a resume replaces
    the earlier one, so the history has no duplicated epochs.
    """

    name: str
    config: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None  # the run folder, for its writer lock
    epochs: dict[int, EpochEnded] = field(default_factory=dict)
    batches: list[BatchProgress] = field(default_factory=list)  # current epoch only, the latest ≤ 2000
    warnings: list[str] = field(default_factory=list)
    started: float | None = None
    ended: float | None = None
    last_event_t: float | None = None
    total_epochs: int = 0
    current_epoch: int = 0
    current_batch: int = 0
    current_batches: int = 0
    device: str = ""
    data: str = ""
    terminal: TrainEvent | None = None  # finished/stopped/diverged/failed
    paused: bool = False
    checkpoints: dict[str, CheckpointSaved] = field(default_factory=dict)
    last_batch: BatchProgress | None = None
    # Paused intervals (start, end or None while paused), oldest first. Time spent paused, and
    # between a stop and its resume, is not training time: `duration` leaves both out.
    pauses: list[tuple[float, float | None]] = field(default_factory=list)
    _segment_start: float | None = field(default=None, repr=False)  # RunStarted of this process
    _closed_active: float = field(default=0.0, repr=False)  # training seconds of earlier processes

    def apply(self, event: TrainEvent) -> None:
        previous_t = self.last_event_t
        self.last_event_t = event.t
        if isinstance(event, RunStarted):
            if self.started is None:
                self.started = event.t
            if self._segment_start is not None:  # the previous process died without a last word
                self._close_segment(previous_t if previous_t is not None else event.t)
            self._segment_start = event.t
            self.total_epochs = event.total_epochs
            self.device, self.data = event.device, event.data
            self.terminal, self.ended, self.paused = None, None, False
            # a resume restarts from start_epoch: later epochs on disk are superseded
            for ep in [e for e in self.epochs if e >= event.start_epoch]:
                del self.epochs[ep]
        elif isinstance(event, EpochStarted):
            self.current_epoch, self.current_batch = event.epoch, 0
            self.current_batches, self.total_epochs = event.batches, event.total_epochs
            self.batches = []
        elif isinstance(event, BatchProgress):
            self.current_epoch, self.current_batch = event.epoch, event.batch
            self.current_batches = event.batches
            self.batches.append(event)
            if len(self.batches) > 2 * KEEP_BATCHES:  # an epoch of an old, chatty log: bounded
                del self.batches[:KEEP_BATCHES]
            self.last_batch = event
        elif isinstance(event, EpochEnded):
            self.epochs[event.epoch] = event
            self.total_epochs = event.total_epochs
        elif isinstance(event, CheckpointSaved):
            self.checkpoints[event.which] = event
        elif isinstance(event, RunPaused):
            self.paused = True
            if not self.pauses or self.pauses[-1][1] is not None:
                self.pauses.append((event.t, None))
        elif isinstance(event, RunResumed):
            self.paused = False
            self._end_pause(event.t)
        elif isinstance(event, RunWarning):
            self.warnings.append(event.message)
        elif isinstance(event, (RunFinished, RunStopped, RunDiverged, RunFailed)):
            self.terminal, self.ended, self.paused = event, event.t, False
            self._end_pause(event.t)
            if self._segment_start is not None:
                self._close_segment(event.t)

    def _end_pause(self, t: float) -> None:
        if self.pauses and self.pauses[-1][1] is None:
            self.pauses[-1] = (self.pauses[-1][0], max(t, self.pauses[-1][0]))

    def _close_segment(self, end: float) -> None:
        start = self._segment_start
        assert start is not None
        self._end_pause(end)
        self._closed_active += max(0.0, end - start - self.paused_between(start, end))
        self._segment_start = None

    def paused_between(self, t0: float, t1: float, now: float | None = None) -> float:
        """Seconds of [t0, t1] spent paused (an open pause counts up to ``now``, default t1)."""
        total = 0.0
        for start, end in self.pauses:
            stop = end if end is not None else (t1 if now is None else now)
            total += max(0.0, min(stop, t1) - max(start, t0))
        return total

    def extend(self, events: Iterable[TrainEvent]) -> None:
        for event in events:
            self.apply(event)

    # ---- derived figures -------------------------------------------------------------------
    @property
    def epoch_list(self) -> list[EpochEnded]:
        return [self.epochs[k] for k in sorted(self.epochs)]

    @property
    def last_epoch(self) -> EpochEnded | None:
        return self.epochs[max(self.epochs)] if self.epochs else None

    @property
    def best(self) -> EpochEnded | None:
        return max(self.epochs.values(), key=lambda e: e.valid_dice, default=None)

    @property
    def state(self) -> str:
        """The run's state from status.json, cross-checked with its events, its writer lock
        and its heartbeat. A held lock means a process is writing the run now: "running" (or
        "paused"), also while a resume prepares and status.json still says how it ended."""
        state = str(self.status.get("state") or "")
        if self.terminal is not None and state in ("", "running", "paused"):
            state = self.terminal.kind
        lock = writer_lock_state(self.path) if self.path is not None else None
        if lock:
            return "paused" if state == "paused" else "running"
        if state in ("running", "paused") and is_stale(self.status, lock=lock):
            return "interrupted"
        return state or ("running" if self.started else "unknown")

    @property
    def duration(self) -> float | None:
        """Training time: wall time since the first start, less pauses and the gaps between a
        stop (or a crash) and the resume that continued the run."""
        if self.started is None:
            return None
        active = self._closed_active
        start = self._segment_start
        if start is not None:
            end = time.time() if self.state in ("running", "paused") else (self.last_event_t or start)
            end = max(end, start)
            active += max(0.0, end - start - self.paused_between(start, end))
        return active

    @property
    def epoch_seconds(self) -> float | None:
        """Median seconds per epoch (robust to one slow epoch, e.g. the first, which warms caches)."""
        return _median([e.seconds for e in self.epochs.values()])

    @property
    def images_per_s(self) -> float | None:
        """Median training images per second over the epochs (not the last epoch's figure)."""
        return _median([e.images_per_s for e in self.epochs.values()])

    @property
    def message(self) -> str:
        t = self.terminal
        if isinstance(t, (RunFailed, RunDiverged)):
            return t.message
        if isinstance(t, RunStopped):
            return t.reason
        return str(self.status.get("message") or "")


def _median(values: list[float]) -> float | None:
    xs = sorted(v for v in values if isinstance(v, (int, float)) and v == v)
    if not xs:
        return None
    mid = len(xs) // 2
    return float(xs[mid]) if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2


def is_stale(status: dict[str, Any], now: float | None = None, lock: bool | None = None) -> bool:
    """A running run whose writer is gone: its lock is free (written on this host), its pid is
    dead on this host, or no heartbeat for a while. ``lock``: `writer_lock_state` of the run.
    A lock file written on another host is not trusted (network file systems may not share
    flock), so such a run relies on its heartbeat."""
    now = time.time() if now is None else now
    pid, host = status.get("pid"), status.get("host")
    if lock is True:
        return False
    if lock is False and host == socket.gethostname():
        return True
    if isinstance(pid, int) and host == socket.gethostname() and not pid_alive(pid):
        return True
    beat = status.get("heartbeat")
    if not isinstance(beat, (int, float)):
        return True
    return now - float(beat) > STALE_AFTER_SECONDS


@dataclass
class RunSummary:
    """One row of the runs table."""

    name: str
    path: Path
    state: str
    model: str = ""
    epoch: int = 0
    total_epochs: int = 0
    best_dice: float | None = None
    best_epoch: int | None = None
    last_train_loss: float | None = None
    images_per_s: float | None = None  # median over the epochs
    started: float | None = None
    duration: float | None = None  # training time (pauses and stopped gaps left out)
    message: str = ""  # for a broken run: what is wrong
    config: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # config.json
    last_valid_loss: float | None = None
    best_iou: float | None = None  # valid IoU at the best-Dice epoch
    last_lr: float | None = None
    epoch_seconds: float | None = None  # median
    has_last_checkpoint: bool = False  # checkpoints/last.pt exists: a resume continues from it

    @classmethod
    def from_history(cls, path: Path, history: RunHistory) -> "RunSummary":
        last, best = history.last_epoch, history.best
        return cls(
            name=history.name,
            path=path,
            state=history.state,
            model=str(history.config.get("model", "")),
            epoch=last.epoch if last else 0,
            total_epochs=history.total_epochs or int(history.config.get("epochs") or 0),
            best_dice=best.valid_dice if best else None,
            best_epoch=best.epoch if best else None,
            last_train_loss=last.train_loss if last else None,
            images_per_s=history.images_per_s,
            started=history.started or history.status.get("created"),
            duration=history.duration,
            message=history.message,
            config=history.config,
            last_valid_loss=last.valid_loss if last else None,
            best_iou=best.valid_iou if best else None,
            last_lr=last.lr if last else None,
            epoch_seconds=history.epoch_seconds,
            has_last_checkpoint=(path / CHECKPOINT_DIR / LAST_CHECKPOINT).is_file(),
        )

    def resume_offer(self) -> "ResumeOffer":
        return resume_offer(self.name, self.state, self.has_last_checkpoint, self.message)


def run_matches(summary: RunSummary, text: str) -> bool:
    """True if every word of ``text`` occurs in the run's name, model or status (case-insensitive):
    the filter of ``petseg runs --filter`` and of the TUI's runs table."""
    hay = f"{summary.name} {summary.model} {summary.state}".lower()
    return all(word in hay for word in text.lower().split())


RESUMABLE_STATES = ("stopped", "failed", "interrupted")


@dataclass(frozen=True)
class ResumeOffer:
    """What the TUI's R offers for a run: ``action`` "resume" (continue from last.pt), "restart"
    (no epoch ever finished, so no last.pt: train again from epoch 1 with the run's own config),
    or "" when it cannot be resumed; ``reason`` says why, in words for the user. (How a resume
    then proceeds, flags and budget, is `engine.resume.plan_resume`'s.)"""

    action: str
    reason: str


def resume_offer(name: str, state: str, has_last_checkpoint: bool, message: str = "") -> ResumeOffer:
    """The one rule for offering a resume (the TUI's R key and its hints follow it). A run whose
    writer lock is held is "running" (`RunHistory.state`): still training somewhere."""
    if state in RESUMABLE_STATES:
        if has_last_checkpoint:
            return ResumeOffer("resume", f"continues {name} from its last.pt")
        return ResumeOffer("restart", f"{name} has no last.pt (it ended before its first epoch finished): "
                                     "it starts again from epoch 1 with the same settings")
    if state in ("running", "paused"):
        return ResumeOffer("", f"{name} is still training")
    if state == "diverged":
        return ResumeOffer("", f"{name} diverged: resuming repeats the same steps from last.pt and diverges "
                              "again; start a new run with a lower learning rate")
    if state == "finished":
        return ResumeOffer("", f"{name} is finished; to train more epochs: petseg train --resume {name} --epochs N")
    return ResumeOffer("", f"{name} is {state}: {message or 'nothing to resume'}")


# --------------------------------------------------------------------------------------------
# Following one run as it is written
# --------------------------------------------------------------------------------------------


class RunFollower:
    """Keeps a `RunHistory` current by tailing ``events.jsonl`` and re-reading ``status.json``.

    ``poll()`` returns the new events (cheap when nothing changed: one stat per file). Types are
    checked here, where the files are read (`engine.run_schema`, `engine.events.parse_event`):
    a problem makes ``error`` say which file and field, and the run lists as broken. The
    figures of a file with a problem are not used (a mistyped status.json is replaced by {}).
    ``keep_batches``: batch events kept by a catch-up read (0 for listings).
    """

    def __init__(self, path: Path, keep_batches: int = KEEP_BATCHES) -> None:
        self.path = Path(path)
        self.history = RunHistory(name=self.path.name, path=self.path)
        self.tail = EventTail(self.path / EVENTS_FILE, keep_batches=keep_batches)
        self._status_mtime: float | None = None
        self._errors: dict[str, str] = {}  # file -> problem; config first, it matters most
        try:
            config = read_run_json(self.path / CONFIG_FILE)
            problems = config_problems(config)
            if problems:
                self._errors["config"] = f"{self.path / CONFIG_FILE}: {'; '.join(problems)}"
                config = {k: v for k, v in config.items() if not any(p.startswith(f"{k} ") for p in problems)}
            self.history.config = config
        except RunStoreError as exc:
            self._errors["config"] = str(exc)
        self._reload_status()

    @property
    def error(self) -> str | None:
        """What is wrong with this run folder, or None; a status problem clears once fixed."""
        errors = dict(self._errors)
        if self.tail.invalid:
            errors["events"] = self.tail.invalid
        return "; ".join(errors.values()) or None

    def _reload_status(self) -> None:
        p = self.path / STATUS_FILE
        try:
            mtime = p.stat().st_mtime
        except OSError:
            self._errors["status"] = f"{p}: missing"
            self.history.status = {}
            return
        if mtime == self._status_mtime:
            return
        self._status_mtime = mtime
        try:
            status = read_run_json(p)
        except RunStoreError as exc:
            self._errors["status"] = str(exc)
            self.history.status = {}
            return
        problems = status_problems(status)
        if problems:
            self._errors["status"] = f"{p}: {'; '.join(problems)}"
            self.history.status = {}
        else:
            self._errors.pop("status", None)
            self.history.status = status

    def poll(self) -> list[TrainEvent]:
        self._reload_status()
        events = self.tail.read_new()
        self.history.extend(events)
        return events

    def summary(self) -> RunSummary:
        s = RunSummary.from_history(self.path, self.history)
        if self.error:
            s.state, s.message = "broken", self.error
        return s


# --------------------------------------------------------------------------------------------
# Writing one run
# --------------------------------------------------------------------------------------------


class RunWriter:
    """Writes one run folder. Thread-safe: the trainer thread appends, a timer beats.

    Holds the run's `RunLock` from construction to `close` (taken here unless the caller
    already holds it); a second writer of the same run is refused before it writes anything.
    """

    def __init__(self, path: Path, *, pid: int | None = None, lock: RunLock | None = None) -> None:
        self.path = Path(path)
        self.lock = lock if lock is not None else RunLock.acquire(self.path)
        self.events_path = self.path / EVENTS_FILE
        self.status_path = self.path / STATUS_FILE
        self.checkpoint_dir = self.path / CHECKPOINT_DIR
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
            self._fh = open(self.events_path, "a+b")
            self._repair_torn_tail()
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
            self._fh.flush()
            if sync:
                os.fsync(self._fh.fileno())

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
            write_json_atomic(self.status_path, self._status)

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
        with self._lock:
            if not self._fh.closed:
                self._fh.flush()
                try:
                    os.fsync(self._fh.fileno())
                except OSError:
                    pass
                self._fh.close()
        self.lock.release()


# --------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------


def _holds_a_run(path: Path) -> bool:
    """True if a run was written here (config or status exists, or any event)."""
    if (path / CONFIG_FILE).exists() or (path / STATUS_FILE).exists():
        return True
    try:
        return (path / EVENTS_FILE).stat().st_size > 0
    except OSError:
        return False


class RunStore:
    """All runs under one folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def run_dirs(self) -> list[Path]:
        """Sub-folders that look like runs (hold any of our files), newest first by mtime."""
        if not self.root.is_dir():
            return []
        dirs = []
        for p in self.root.iterdir():
            if p.is_dir() and not p.name.startswith("."):
                if any((p / f).exists() for f in (CONFIG_FILE, STATUS_FILE, EVENTS_FILE)):
                    dirs.append(p)
        return sorted(dirs, key=lambda d: d.name)

    def path(self, name: str) -> Path:
        return self.root / name

    def resolve(self, name_or_path: str | Path) -> Path:
        """A run by name under the root, or a run folder given as a path."""
        p = Path(name_or_path)
        for cand in (self.root / str(name_or_path), p):
            if cand.is_dir():
                return cand
        raise RunStoreError(self.root / str(name_or_path), "no such run folder")

    def load(self, name_or_path: str | Path) -> RunHistory:
        """Read a run fully. Raises RunStoreError if config.json is missing or garbage."""
        path = self.resolve(name_or_path)
        follower = RunFollower(path)
        follower.poll()
        if "config" in follower._errors:
            raise RunStoreError(path, follower._errors["config"].split(": ", 1)[-1])
        return follower.history

    def summary(self, name_or_path: str | Path) -> RunSummary:
        follower = RunFollower(self.resolve(name_or_path), keep_batches=0)
        follower.poll()
        return follower.summary()

    def list_runs(self) -> list[RunSummary]:
        out = []
        for d in self.run_dirs():
            try:
                f = RunFollower(d, keep_batches=0)
                f.poll()
                out.append(f.summary())
            except Exception as exc:  # one bad folder must never hide the others
                out.append(RunSummary(name=d.name, path=d, state="broken", message=f"{d}: {exc}"))
        return out

    def follow(self, name_or_path: str | Path) -> RunFollower:
        return RunFollower(self.resolve(name_or_path))

    def new_run_name(self, model: str) -> str:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = f"{model}-{stamp}"
        name, i = base, 1
        while (self.root / name).exists():
            i += 1
            name = f"{base}-{i}"
        return name

    def create(self, config: dict[str, Any], name: str | None = None) -> RunWriter:
        """Make a new run folder with its config.json and a 'running' status.

        Of two processes creating the same name at once exactly one succeeds: the folder's
        mkdir, then its writer lock, decide; the loser gets RunStoreError before writing."""
        ensure_folder(self.root, "runs folder")
        name = validate_run_name(name) if name else self.new_run_name(str(config.get("model", "run")))
        path = self.root / name
        try:
            path.mkdir()
            fresh = True
        except FileExistsError:
            fresh = False
            if not path.is_dir():
                raise RunStoreError(path, "exists and is not a folder; choose another --run_name") from None
        except OSError as exc:
            raise RunStoreError(path, f"cannot create the run folder ({exc.strerror or exc}); "
                                      "choose a --runs folder you can write to") from None
        try:
            lock = RunLock.acquire(path)
        except RunBusyError as exc:  # two creators of one name: the other one got there first
            raise RunBusyError(path, exc.holder, "choose another --run_name") from None
        # a detached launch makes the folder first, for train.log; and a writer killed before
        # config.json was renamed into place leaves only an empty events.jsonl: no clash. The
        # check runs under the lock, so a creator that got here first has written its config.
        if not fresh and _holds_a_run(path):
            lock.release()
            raise RunStoreError(path, "a run with this name already exists (use --resume to continue it)")
        try:
            writer = RunWriter(path, lock=lock)
            writer.write_config(config)
            writer.set_status("running")
        except BaseException:
            lock.release()
            raise
        return writer

    def open_for_resume(self, name_or_path: str | Path) -> RunWriter:
        """A writer for an existing run; RunStoreError if another process is writing it."""
        path = self.resolve(name_or_path)
        return RunWriter(path)

    def checkpoint(self, name_or_path: str | Path, which: str = "best") -> Path:
        path = self.resolve(name_or_path) / CHECKPOINT_DIR / f"{which}.pt"
        if not path.exists():
            raise RunStoreError(path, f"run has no {which} checkpoint yet")
        return path


# --------------------------------------------------------------------------------------------
# Control requests: how the TUI (or another shell) stops / pauses a run in any process
# --------------------------------------------------------------------------------------------

CONTROL_FILE = "control.json"
CONTROL_ACTIONS = ("stop", "pause", "resume")


def request_control(run_path: str | Path, action: str) -> None:
    """Ask the process training ``run_path`` to stop, pause or resume (it polls each batch)."""
    if action not in CONTROL_ACTIONS:
        raise ValueError(f"unknown control action {action!r}")
    write_json_atomic(Path(run_path) / CONTROL_FILE, {"action": action, "t": time.time()})


def read_control(run_path: str | Path) -> str | None:
    """The pending control action, if any (consumed by the trainer with `clear_control`)."""
    p = Path(run_path) / CONTROL_FILE
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    action = data.get("action") if isinstance(data, dict) else None
    return action if action in CONTROL_ACTIONS else None


def clear_control(run_path: str | Path) -> None:
    try:
        (Path(run_path) / CONTROL_FILE).unlink()
    except FileNotFoundError:
        pass
