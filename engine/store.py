"""The run store: one folder per run, written as training happens, read by the CLI and the TUI.

Layout of ``<runs>/<name>/``::

    config.json      every hyperparameter, data source, versions, seed (written once, atomically)
    events.jsonl     append-only, one JSON event per line, flushed per event
    status.json      {"state", "pid", "host", "heartbeat", "message", ...} rewritten atomically
    checkpoints/     best.pt and last.pt, each written to a temp file then renamed

`RunWriter` writes a run; `RunStore` lists and loads runs; `EventTail` follows a growing
``events.jsonl`` (a torn last line is held back until it is complete). No torch import:
the TUI uses this module on its start-up path.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from engine import faults
from engine.atomic import atomic_write
from engine.errors import RunStoreError
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
    TrainEvent,
    event_from_dict,
    event_to_dict,
)

CONFIG_FILE = "config.json"
EVENTS_FILE = "events.jsonl"
STATUS_FILE = "status.json"
CHECKPOINT_DIR = "checkpoints"
EVAL_DIR = "eval"  # petseg eval --worst: contact sheets of the worst-scored images

HEARTBEAT_SECONDS = 5.0
STALE_AFTER_SECONDS = 30.0  # a "running" run with no heartbeat for this long is "interrupted"

RUN_STATES = ("running", "paused", "finished", "stopped", "failed", "diverged", "interrupted", "broken")
_NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temp file in the same folder, fsync, then rename over ``path``."""
    text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")), fault_point="json")


# .NAME.PID[.THREAD].tmp (ours); NAME non-greedy so the PID is never the thread id
_TEMP_NAME = re.compile(r"^\..+?\.(\d+)(?:\.\d+)?\.tmp$")


def remove_stale_temp_files(folder: Path) -> list[Path]:
    """Delete our temp files (``.NAME.PID[.TID].tmp``) left by a writer that died mid-write.

    Only files whose PID is no longer alive are removed, so a write in progress in another
    process is never touched. They are never read, only in the way (and on the disk).
    """
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for p in entries:
        m = _TEMP_NAME.match(p.name)
        if m and not pid_alive(int(m.group(1))):
            try:
                p.unlink()
                removed.append(p)
            except OSError:
                pass
    return removed


def _read_json(path: Path) -> dict[str, Any]:
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


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, ValueError, TypeError, OverflowError):  # garbage pid in a status file
        return False
    return True


def validate_run_name(name: str) -> str:
    if not _NAME_OK.match(name or ""):
        raise RunStoreError(name, "run names use letters, digits, '.', '_' and '-' (max 100)")
    return name


# --------------------------------------------------------------------------------------------
# Reading events
# --------------------------------------------------------------------------------------------


class EventTail:
    """Reads the events appended to a file since the last call.

    A line without its newline is a write in progress (or a torn write after a crash): it is
    held back, never parsed half-way. Lines that are not valid JSON are counted in
    ``bad_lines`` and skipped. If the file shrinks (replaced), reading starts again.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.offset = 0
        self.bad_lines = 0
        self._partial = b""

    def read_new(self) -> list[TrainEvent]:
        try:
            size = self.path.stat().st_size
        except OSError:
            return []
        if size < self.offset:
            self.offset, self._partial = 0, b""
        if size == self.offset:
            return []
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            chunk = fh.read(size - self.offset)
        self.offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()  # b"" when data ended with a newline
        events: list[TrainEvent] = []
        for raw in lines:
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                self.bad_lines += 1
                continue
            event = event_from_dict(obj) if isinstance(obj, dict) else None
            if event is None:
                self.bad_lines += 1
                continue
            events.append(event)
        return events

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
    epochs: dict[int, EpochEnded] = field(default_factory=dict)
    batches: list[BatchProgress] = field(default_factory=list)  # current epoch only
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

    def apply(self, event: TrainEvent) -> None:
        self.last_event_t = event.t
        if isinstance(event, RunStarted):
            if self.started is None:
                self.started = event.t
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
            self.last_batch = event
        elif isinstance(event, EpochEnded):
            self.epochs[event.epoch] = event
            self.total_epochs = event.total_epochs
        elif isinstance(event, CheckpointSaved):
            self.checkpoints[event.which] = event
        elif isinstance(event, RunPaused):
            self.paused = True
        elif isinstance(event, RunResumed):
            self.paused = False
        elif isinstance(event, RunWarning):
            self.warnings.append(event.message)
        elif isinstance(event, (RunFinished, RunStopped, RunDiverged, RunFailed)):
            self.terminal, self.ended, self.paused = event, event.t, False

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
        """The run's state from status.json, cross-checked with its events and heartbeat."""
        state = str(self.status.get("state") or "")
        if self.terminal is not None and state in ("", "running", "paused"):
            state = self.terminal.kind
        if state in ("running", "paused") and is_stale(self.status):
            return "interrupted"
        return state or ("running" if self.started else "unknown")

    @property
    def duration(self) -> float | None:
        if self.started is None:
            return None
        end = self.ended if self.ended is not None else (self.last_event_t or self.started)
        if self.state in ("running", "paused"):
            end = time.time()
        return max(0.0, end - self.started)

    @property
    def message(self) -> str:
        t = self.terminal
        if isinstance(t, (RunFailed, RunDiverged)):
            return t.message
        if isinstance(t, RunStopped):
            return t.reason
        return str(self.status.get("message") or "")


def is_stale(status: dict[str, Any], now: float | None = None) -> bool:
    """A running run whose writer is gone: dead pid on this host, or no heartbeat for a while."""
    now = time.time() if now is None else now
    pid, host = status.get("pid"), status.get("host")
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
    images_per_s: float | None = None
    started: float | None = None
    duration: float | None = None
    message: str = ""  # for a broken run: what is wrong

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
            images_per_s=last.images_per_s if last else None,
            started=history.started or history.status.get("created"),
            duration=history.duration,
            message=history.message,
        )


# --------------------------------------------------------------------------------------------
# Following one run as it is written
# --------------------------------------------------------------------------------------------


class RunFollower:
    """Keeps a `RunHistory` current by tailing ``events.jsonl`` and re-reading ``status.json``.

    ``poll()`` returns the new events (cheap when nothing changed: one stat per file).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.history = RunHistory(name=self.path.name)
        self.tail = EventTail(self.path / EVENTS_FILE)
        self._status_mtime: float | None = None
        self._errors: dict[str, str] = {}  # file -> problem; config first, it matters most
        try:
            self.history.config = _read_json(self.path / CONFIG_FILE)
        except RunStoreError as exc:
            self._errors["config"] = str(exc)
        self._reload_status()

    @property
    def error(self) -> str | None:
        """What is wrong with this run folder, or None; a status problem clears once fixed."""
        return "; ".join(self._errors.values()) or None

    def _reload_status(self) -> None:
        p = self.path / STATUS_FILE
        try:
            mtime = p.stat().st_mtime
        except OSError:
            self._errors["status"] = f"{p}: missing"
            return
        if mtime == self._status_mtime:
            return
        self._status_mtime = mtime
        try:
            self.history.status = _read_json(p)
            self._errors.pop("status", None)
        except RunStoreError as exc:
            self._errors["status"] = str(exc)

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
    """Writes one run folder. Thread-safe: the trainer thread appends, a timer beats."""

    def __init__(self, path: Path, *, pid: int | None = None) -> None:
        self.path = Path(path)
        self.events_path = self.path / EVENTS_FILE
        self.status_path = self.path / STATUS_FILE
        self.checkpoint_dir = self.path / CHECKPOINT_DIR
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        for folder in (self.path, self.checkpoint_dir):  # debris of a writer killed mid-write
            remove_stale_temp_files(folder)
        self._lock = threading.Lock()
        self._status: dict[str, Any] = {}
        if self.status_path.exists():
            try:
                self._status = _read_json(self.status_path)
            except RunStoreError:
                self._status = {}
        self._status.setdefault("created", time.time())
        self._pid = os.getpid() if pid is None else pid
        self._fh = open(self.events_path, "a+b")
        self._repair_torn_tail()
        self._beat_stop = threading.Event()
        self._beat_thread: threading.Thread | None = None

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
            if not self._status:
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

    def close(self) -> None:
        self._beat_stop.set()
        if self._beat_thread is not None:
            self._beat_thread.join(timeout=2)
        with self._lock:
            if not self._fh.closed:
                self._fh.flush()
                try:
                    os.fsync(self._fh.fileno())
                except OSError:
                    pass
                self._fh.close()


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
        follower = RunFollower(self.resolve(name_or_path))
        follower.poll()
        return follower.summary()

    def list_runs(self) -> list[RunSummary]:
        out = []
        for d in self.run_dirs():
            try:
                f = RunFollower(d)
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
        """Make a new run folder with its config.json and a 'running' status."""
        self.root.mkdir(parents=True, exist_ok=True)
        name = validate_run_name(name) if name else self.new_run_name(str(config.get("model", "run")))
        path = self.root / name
        try:
            path.mkdir()
        except FileExistsError:
            # a detached launch makes the folder first, for train.log; and a writer killed before
            # config.json was renamed into place leaves only an empty events.jsonl: no clash
            if _holds_a_run(path):
                raise RunStoreError(path, "a run with this name already exists (use --resume to continue it)") from None
        writer = RunWriter(path)
        writer.write_config(config)
        writer.set_status("running")
        return writer

    def open_for_resume(self, name_or_path: str | Path) -> RunWriter:
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
