"""Polling the run store off the UI thread.

`RunsWatcher` keeps one `RunFollower` per run folder and, on each `poll()`, returns only the
rows that changed. It is driven by a thread worker; the UI receives the changed rows in a
message and updates only those cells (`HeldRows` keeps them while the table cannot take them).
One run, for the live-run screen: `petseg_tui.live_follow`.

Nothing here imports torch or Textual.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from engine.runs import (
    EVENTS_FILE,
    LABELS_FILE,
    LOCK_FILE,
    NO_LABELS,
    STATUS_FILE,
    ResumeOffer,
    RunFollower,
    RunLabels,
    RunState,
    RunStore,
    RunSummary,
    read_labels,
)
from engine.eval.worst_offer import why_no_worst
from engine.runs.layout import EXPORT_DIR
from engine.runs.system_log import last_sample
from engine.sysmetrics.record import SystemSample
from petseg_tui.exporting import export_note


def short_message(message: str, run_path: Path) -> str:
    """A store message without the run folder's absolute path in front of each file name."""
    prefix = str(run_path).rstrip("/") + "/"
    return message.replace(prefix, "")


@dataclass(frozen=True)
class RunRow:
    """What the runs table shows for one run (a summary plus what the table's detail line needs)."""

    summary: RunSummary
    bad_lines: int = 0
    device: str = ""
    data: str = ""
    resume: ResumeOffer = ResumeOffer("", "")
    system: SystemSample | None = None  # the newest system sample of a running run (its GPU column)
    labels: RunLabels = NO_LABELS  # the user's tags, note, archived (labels.json)
    export: str = ""  # its export/export.json in a line, as its screen words it (`exporting.export_note`)
    no_worst: str = ""  # why its model has no worst samples (`engine.eval.worst_offer`), "" if it may

    @property
    def name(self) -> str:
        return self.summary.name

    @property
    def path(self) -> Path:
        return self.summary.path

    @property
    def state(self) -> RunState:
        return self.summary.state

    @property
    def active(self) -> bool:
        """A process is training the run (running or paused)."""
        return self.summary.state.is_active


def _row(follower: RunFollower) -> RunRow:
    summary = follower.summary()
    summary.message = short_message(summary.message or "", follower.path)
    h = follower.history
    system = last_sample(follower.path) if summary.state.is_active else None  # the GPU column's
    summary.gpu_util = system.gpu_util if system is not None else None
    return RunRow(summary=summary, bad_lines=follower.bad_lines, device=h.device, data=h.data,
                  resume=summary.resume_offer(), system=system, labels=read_labels(follower.path),
                  # read here, off the UI thread: a file changed since is told by its SHA-256
                  export=export_note(follower.path, brief=True),
                  no_worst=why_no_worst(summary.config) if summary.has_checkpoint else "")


def _export_stamp(path: Path) -> tuple[tuple[str, int, int], ...]:
    """What changes when a run's export does: each file in its export/ folder (name, size,
    mtime), export.json and the exported models, made, replaced or deleted by any process."""
    try:
        with os.scandir(path / EXPORT_DIR) as entries:
            files = [(e.name, e.stat()) for e in entries if e.is_file()]
    except OSError:
        return ()
    return tuple(sorted((name, st.st_size, st.st_mtime_ns) for name, st in files))


def _safe_follower(path: Path) -> tuple[RunFollower | None, RunRow]:
    try:
        f = RunFollower(path, keep_batches=0)  # the table shows no batch figures
        f.poll()
        return f, _row(f)
    except Exception as exc:  # one bad folder must never hide the others
        return None, RunRow(RunSummary(name=path.name, path=path, state=RunState.BROKEN, message=f"cannot read: {exc}"))


class RunsWatcher:
    """All runs under one folder, polled incrementally.

    * ``poll(discover=True)`` lists the folder (new / removed runs) and re-checks inactive runs
      (a cheap stat of status.json and events.jsonl); broken runs are re-read from scratch so a
      folder caught half-created heals itself.
    * ``poll(discover=False)`` only polls active (running/paused) runs: their duration and
      heartbeat-derived state change every second even without new events.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.store = RunStore(self.root)
        self.followers: dict[str, RunFollower | None] = {}
        self.rows: dict[str, RunRow] = {}
        self._stamps: dict[str, tuple[float, ...]] = {}

    def _stamp(self, path: Path) -> tuple[object, ...]:
        """What changes when a run changes: status.json's mtime, events.jsonl's size and
        writer.lock's mtime (a writer rewrites it when it takes the run, e.g. a resume that is
        still loading data while status.json says how the run ended); labels.json's mtime (tags,
        note, archived); its export's files (the detail line's export note)."""
        out = []
        for name in (STATUS_FILE, EVENTS_FILE, LOCK_FILE, LABELS_FILE):
            try:
                st = (path / name).stat()
                out.append((st.st_mtime, st.st_size))
            except OSError:
                out.append((0.0, -1))
        return (out[0][0], out[1][1], out[2][0], out[3][0], _export_stamp(path))

    def _forget(self, name: str, removed: list[str]) -> None:
        """Drop a run whose folder is gone, and say so once (``removed``)."""
        known = self.followers.pop(name, False) is not False
        self._stamps.pop(name, None)
        if (self.rows.pop(name, None) is not None or known) and name not in removed:
            removed.append(name)

    def poll(self, discover: bool = True) -> tuple[list[RunRow], list[str]]:
        changed: list[RunRow] = []
        removed: list[str] = []
        fresh: set[str] = set()
        if discover:
            try:
                dirs = {d.name: d for d in self.store.run_dirs()}
            except OSError:
                dirs = {}
            for name in list(self.followers):
                if name not in dirs:
                    self._forget(name, removed)
            for name, path in dirs.items():
                f = self.followers.get(name, False)
                if f is False or f is None or f.error:
                    stamp = self._stamp(path)
                    if f is not False and self._stamps.get(name) == stamp and name in self.rows:
                        continue  # broken and unchanged: nothing to re-read
                    follower, row = _safe_follower(path)
                    if not path.is_dir():  # deleted since the listing: gone, not broken
                        self._forget(name, removed)
                        continue
                    self.followers[name] = follower
                    self._stamps[name] = stamp
                    fresh.add(name)
                    if self.rows.get(name) != row:
                        self.rows[name] = row
                        changed.append(row)
        for name, f in list(self.followers.items()):
            if f is None or name in fresh or f.error:
                continue
            row = self.rows.get(name)
            status_state = RunState.parse(str(f.history.status.get("state") or ""))
            # active: status says so, or the row shows a writer holding the run (its lock)
            active = (status_state.is_active and f.history.terminal is None) or (
                row is not None and row.state.is_active)
            if not active and not discover:
                continue
            if not active:
                stamp = self._stamp(f.path)
                if self._stamps.get(name) == stamp:
                    continue
                self._stamps[name] = stamp
            try:
                f.poll()
                new = _row(f)
            except Exception as exc:
                new = RunRow(RunSummary(name=name, path=f.path, state=RunState.BROKEN, message=f"cannot read: {exc}"))
            if not f.path.is_dir():  # deleted (another dashboard's D) since the listing: its files
                self._forget(name, removed)  # were missing as it was read, which is no damage
                continue
            if new != row:
                self.rows[name] = new
                changed.append(new)
        return changed, removed


class HeldRows:
    """Run rows changed or removed since they were last shown, the newest of each kept."""

    def __init__(self) -> None:
        self.changed: dict[str, RunRow] = {}
        self.removed: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self.changed or self.removed)

    def add(self, changed: list[RunRow], removed: list[str]) -> None:
        for name in removed:
            self.changed.pop(name, None)
            self.removed.add(name)
        for row in changed:
            self.removed.discard(row.name)
            self.changed[row.name] = row

    def take(self) -> tuple[list[RunRow], list[str]]:
        out = list(self.changed.values()), sorted(self.removed)
        self.changed, self.removed = {}, set()
        return out
