"""Following one run folder as it is written: `RunFollower`."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from engine.errors import RunStoreError
from engine.events import TrainEvent
from engine.run_schema import config_problems, status_problems
from engine.runs.history import RunHistory, RunSnapshot
from engine.runs.journal import KEEP_BATCHES, EventTail
from engine.runs.layout import CONFIG_FILE, EVENTS_FILE, STATUS_FILE, read_run_json
from engine.runs.state import RunState
from engine.runs.summary import RunSummary


class RunFollower:
    """Keeps a `RunHistory` current by tailing ``events.jsonl`` and re-reading ``status.json``.

    ``poll()`` returns the new events (cheap when nothing changed: one stat per file) and reads
    ``config.json`` again when it was replaced: a run rewrites it once its setup resolved what it
    trains with (its data-parallel processes, precision, workers) and a resume once more. Types are
    checked here, where the files are read (`engine.run_schema`, `engine.events.parse_event`):
    a problem makes ``error`` say which file and field, and the run lists as broken. The
    figures of a file with a problem are not used (a mistyped status.json is replaced by {}).
    ``keep_batches``: batch events kept by a catch-up read (0 for listings).

    It follows the folder at ``path``, whichever that is: when another folder takes the name (the
    run deleted elsewhere and a new run given its name, a move), it starts over on the new one.
    """

    def __init__(self, path: Path, keep_batches: int = KEEP_BATCHES) -> None:
        self.path = Path(path)
        self.keep_batches = keep_batches
        self._start()

    def _start(self) -> None:
        """Read the folder now at ``path`` from scratch."""
        self._folder = _identity(self.path)
        self.history = RunHistory(name=self.path.name, path=self.path)
        self.tail = EventTail(self.path / EVENTS_FILE, keep_batches=self.keep_batches)
        self._status_mtime: float | None = None
        self._errors: dict[str, str] = {}  # file -> problem; config first, it matters most
        self.config_error: RunStoreError | None = None
        """What is wrong with config.json (missing, not JSON, a mistyped field), or None."""
        self._load_config()
        self._reload_status()
        self._created = self.history.status.get("created")  # when the run in the folder was made

    def _load_config(self) -> None:
        """Read config.json (again by `poll` when it was replaced, or while it is not right: a
        folder caught before its writer renamed config.json into place heals by itself)."""
        self._config_stamp = _file_stamp(self.path / CONFIG_FILE)  # before the read: a later write is read again
        self.config_error = None
        self._errors.pop("config", None)
        try:
            config = read_run_json(self.path / CONFIG_FILE)
            problems = config_problems(config)
            if problems:
                self.config_error = RunStoreError(self.path / CONFIG_FILE, "; ".join(problems))
                config = {k: v for k, v in config.items() if not any(p.startswith(f"{k} ") for p in problems)}
            self.history.config = config
        except RunStoreError as exc:
            self.config_error = exc
        if self.config_error is not None:
            self._errors["config"] = str(self.config_error)

    @property
    def error(self) -> str | None:
        """What is wrong with this run folder, or None; a status problem clears once fixed."""
        errors = dict(self._errors)
        if self.tail.invalid:
            errors["events"] = self.tail.invalid
        return "; ".join(errors.values()) or None

    @property
    def bad_lines(self) -> int:
        """Lines of events.jsonl that could not be used: the unreadable ones, and a torn last line
        once no process writes the run any more (while it trains, that line is still being written)."""
        torn = self.tail.torn_tail and not self.history.state.is_active
        return self.tail.bad_lines + int(torn)

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
        folder = _identity(self.path)
        self._reload_status()
        created = self.history.status.get("created")
        if self._created is None:
            self._created = created
        # another run has the name now: another folder, or (its inode reused at once, as ext4 does
        # for a folder just removed) a status.json created at another time
        if (folder is not None and folder != self._folder) or created not in (None, self._created):
            self._start()
        if self.config_error is not None or _file_stamp(self.path / CONFIG_FILE) != self._config_stamp:
            self._load_config()
        events = self.tail.read_new()
        self.history.extend(events)
        return events

    def summary(self) -> RunSummary:
        s = RunSummary.from_history(self.path, self.history)
        if self.error:
            s.state, s.message = RunState.BROKEN, self.error
        return s

    def snapshot(self, *, batches: int | None = None, warnings: int | None = None) -> RunSnapshot:
        """`RunHistory.snapshot`, "broken" with what is wrong when a file has a problem."""
        snap = self.history.snapshot(batches=batches, warnings=warnings)
        error = self.error
        return replace(snap, state=RunState.BROKEN, message=error) if error else snap


def _file_stamp(path: Path) -> tuple[int, int, int] | None:
    """What changes when a file is replaced (atomically: another inode) or written: inode,
    mtime and size; None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _identity(path: Path) -> tuple[int, int] | None:
    """Which folder ``path`` is now (device, inode), or None when there is none: a new run made
    under a deleted run's name is another folder, though its path is the same."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino
