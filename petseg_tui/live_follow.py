"""Following one run off the UI thread, for the live-run and compare screens: `LiveFollower`
reads the run folder (events, status, previews, system samples, the log's tail) and produces an
immutable `LiveSnapshot` that a screen draws without touching files.

Nothing here imports torch or Textual.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path

from engine.atomic import pid_alive
from engine.errors import PetsegError
from engine.eval.worst_offer import why_no_worst
from engine.runs import (
    CONFIG_FILE,
    LOG_FILE,
    PREVIEWS_DIR,
    STATUS_FILE,
    ResumeOffer,
    RunFollower,
    RunSnapshot,
    RunState,
    checkpoint_path,
    has_checkpoint,
    remove_refused_launch,
    resume_offer,
    spent_time_budget,
    time_budget_of,
)
from engine.runs.layout import open_run_file
from engine.train.previews import INDEX_FILE, Previews, read_previews
from engine.words import byte_size
from petseg_tui.watch import short_message

RECENT_EPOCHS = 3  # the ETA's pace: the mean of this many newest epochs


@dataclass(frozen=True)
class LiveSnapshot(RunSnapshot):
    """Everything the live-run screen draws: the run's `RunSnapshot` (taken in the poll thread)
    and what only this screen needs (train.log, previews, whether the folder exists yet)."""

    exists: bool = True
    gone: bool = False  # the folder was there and is not any more: nothing on disk to show (log, previews)
    bad_lines: int = 0
    log_tail: str = ""
    resume: ResumeOffer = ResumeOffer("", "")
    has_checkpoint: bool = False  # best.pt or last.pt: the run's model can be used (i, w, E)
    no_worst: str = ""  # why its model has no worst samples (`engine.eval.worst_offer`), "" if it may
    previews: Previews | None = None
    previews_error: str = ""
    # the process this app launched for the run ended without writing it (a resume refused after
    # it locked the run: a corrupt last.pt, ...): said, train.log opened on the reason
    launch_ended: str = ""

    def batch_rate(self) -> float | None:
        """Batches per second in the current epoch."""
        b = self.batches
        span = (b[-1].t - b[0].t - self.paused_in_batches) if len(b) >= 2 else 0.0
        if len(b) >= 2 and span > 0 and b[-1].batch > b[0].batch:
            return (b[-1].batch - b[0].batch) / span
        bs = self.config.get("batch_size")
        if b and b[-1].images_per_s > 0 and isinstance(bs, int) and bs > 0:
            return b[-1].images_per_s / bs
        return None

    def recent_epoch_seconds(self, window: int = RECENT_EPOCHS) -> float | None:
        """Mean seconds of the last ``window`` finished epochs (pauses left out): the pace now.

        The median over the whole run lags when epochs slow down (a cache spills, the machine
        gets busy, validation grows): the ETA of such a run came out ~30 % short."""
        secs = [e.seconds for e in self.epochs[-window:] if isinstance(e.seconds, (int, float)) and e.seconds > 0]
        return sum(secs) / len(secs) if secs else None

    def eta_seconds(self) -> float | None:
        """Seconds left: the rest of this epoch at the batch rate, then the remaining epochs at the
        mean of the last few epochs (`recent_epoch_seconds`); for a ``--time_budget`` run, at most
        what is left of the budget (its --epochs are only an upper bound)."""
        by_epochs = self._eta_by_epochs()
        budget_left = self.budget_left_seconds()
        if budget_left is None:
            return by_epochs
        return budget_left if by_epochs is None else min(by_epochs, budget_left)

    def budget_seconds(self) -> float | None:
        """The run's ``--time_budget`` in seconds; None without one (or an unreadable one)."""
        text = time_budget_of(self.config)
        if text is None:
            return None
        from engine.durations import parse_duration

        try:
            return parse_duration(text)
        except ValueError:
            return None

    def budget_spent_seconds(self) -> float | None:
        """The training time a ``--time_budget`` run has spent of its budget: its finished epochs'
        seconds and, while it trains, this epoch's batches at its rate (a stopped run's unfinished
        epoch is not counted: its resume runs that epoch again); None without a budget."""
        if self.budget_seconds() is None:
            return None
        trained = sum(e.seconds for e in self.epochs if isinstance(e.seconds, (int, float)) and e.seconds > 0)
        rate = self.batch_rate()
        if self.active and self.current_epoch > self.done_epochs and rate:
            trained += self.current_batch / rate
        return trained

    def budget_left_seconds(self) -> float | None:
        """For an active ``--time_budget`` run: the budget less its training time so far
        (`budget_spent_seconds`); None otherwise."""
        budget, spent = self.budget_seconds(), self.budget_spent_seconds()
        if not self.active or budget is None or spent is None:
            return None
        return max(0.0, budget - spent)

    def _eta_by_epochs(self) -> float | None:
        if not self.active or not self.total_epochs:
            return None
        rate = self.batch_rate()
        mean_epoch = self.recent_epoch_seconds()
        in_epoch = self.current_epoch > self.done_epochs and self.current_batches > 0
        left = 0.0
        if in_epoch:
            if rate:
                left += max(0, self.current_batches - self.current_batch) / rate
            elif mean_epoch:
                left += mean_epoch * (1 - self.current_batch / self.current_batches)
            else:
                return None
            remaining_epochs = self.total_epochs - self.current_epoch
        else:
            remaining_epochs = self.total_epochs - self.done_epochs
        if remaining_epochs > 0:
            if mean_epoch is None:
                if not (rate and self.current_batches):
                    return None
                mean_epoch = self.current_batches / rate
            left += remaining_epochs * mean_epoch
        return left


class LiveFollower:
    """Follows one run folder that may not exist yet (a run being started)."""

    def __init__(self, path: Path, pid: int | None = None, unwritten_reason: str = "") -> None:
        self.path = Path(path)
        self.pid = pid
        # why the run never wrote its config.json and status.json, from whoever knows (a sweep's
        # study, for a trial whose petseg train refused to start): said in place of "broken"
        self.unwritten_reason = unwritten_reason
        self._since = time.time()  # status.json older than this was not written by ``pid``
        self.follower: RunFollower | None = None
        self._last: LiveSnapshot | None = None
        self._stamp_seen: tuple | None = None
        self._previews_stamp: tuple | None = None
        self._previews: tuple[Previews | None, str] = (None, "")
        self._refused = False  # the launch ``pid`` was refused before its run began (said from its log)

    def _read_previews(self) -> tuple[Previews | None, str]:
        """The run's epoch previews, re-read only when index.json changed (a stat otherwise)."""
        try:
            st = (self.path / PREVIEWS_DIR / INDEX_FILE).stat()
            stamp: tuple | None = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        if stamp != self._previews_stamp:
            self._previews_stamp = stamp
            try:
                self._previews = (read_previews(self.path), "")
            except PetsegError as exc:
                self._previews = (None, short_message(str(exc), self.path))
        return self._previews

    def _stamp(self) -> tuple:
        out = []
        for name in (CONFIG_FILE, STATUS_FILE):
            try:
                out.append((self.path / name).stat().st_mtime)
            except OSError:
                out.append(None)
        return tuple(out)

    def _ensure(self) -> RunFollower | None:
        """A follower; re-created while the folder is incomplete (config/status still coming)."""
        f = self.follower
        if f is None or (f.error and not f.history.started):
            if not self.path.is_dir():
                return None
            stamp = self._stamp()
            if f is None or stamp != self._stamp_seen:
                self._stamp_seen = stamp
                self.follower = RunFollower(self.path)
        return self.follower

    def _log_tail(self, lines: int = 6) -> str:
        p = self.path / LOG_FILE
        try:  # open_run_file: the folder is untrusted (a FIFO there must not hang the view)
            with open_run_file(p) as fh:
                fh.seek(0, 2)
                size = fh.tell()
                fh.seek(max(0, size - 4000))
                text = fh.read().decode("utf-8", "replace")
        except (OSError, PetsegError):
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def tidy(self) -> bool:
        """Called once the view is left: the folder of a launch refused before its run began (it
        holds only the train.log that said why, which the view has shown) is removed. No listing
        shows such a folder, so they piled up unseen, each keeping its name taken. True when
        removed; a folder holding anything else is left (`remove_refused_launch`)."""
        return self._refused and remove_refused_launch(self.path)

    def _launch_ended(self, run: RunSnapshot, status: dict) -> str:
        """What to say when the process this app launched for the run (``pid``) has ended without
        writing it: its ``status`` (status.json, as the follower just read it) is older than this
        view. A resume holds the run's lock before it checks last.pt, so R's wait
        (`engine.train.launch.claim_run`) is over before it refuses."""
        if self.pid is None or run.active or pid_alive(self.pid):
            return ""
        updated = status.get("updated")
        if not isinstance(updated, (int, float)) or updated >= self._since:
            return ""
        return f"the process started to resume it (pid {self.pid}) ended without resuming the run: see {LOG_FILE}"

    def _gone(self) -> LiveSnapshot:
        """The run folder was there and is not any more (another dashboard's D, an rm, a move):
        the last snapshot's curves with that said, and nothing offered that needs the folder."""
        last = self._last or LiveSnapshot(name=self.path.name, path=self.path)
        return replace(
            last, state=RunState.BROKEN, gone=True, pid=None, paused=False, resume=ResumeOffer("", ""),
            has_checkpoint=False, log_tail="", bad_lines=0, previews=None, previews_error="",
            message=f"{self.path}: the run folder is gone (deleted, moved or renamed by someone else)",
        )

    def snapshot(self) -> LiveSnapshot | None:
        """Poll the files; a new snapshot when anything changed (or time-derived figures moved)."""
        if self.follower is not None and not self.path.is_dir():
            return self._gone_snapshot()
        try:
            return self._read_snapshot()
        except (PetsegError, OSError):
            if self.follower is not None and not self.path.is_dir():
                return self._gone_snapshot()  # deleted while this poll read it: its files went mid-read
            raise

    def _gone_snapshot(self) -> LiveSnapshot | None:
        snap = self._gone()
        if snap == self._last:
            return None
        self._last = snap
        return snap

    def _read_snapshot(self) -> LiveSnapshot | None:
        f = self._ensure()
        # "starting" only for a run this app just launched (pid known): any other folder reads
        # exactly as the runs table reads it (e.g. broken: status.json missing)
        starting = f is None or (
            self.pid is not None and f.error is not None and not f.history.started
            and not (self.path / STATUS_FILE).exists()
        )
        if self.unwritten_reason and not any((self.path / n).exists() for n in (CONFIG_FILE, STATUS_FILE)):
            # exists: nothing is coming (not "waiting for the folder"), even where no folder was made
            snap = LiveSnapshot(name=self.path.name, path=self.path, exists=True, state=RunState.FAILED,
                                message=self.unwritten_reason, log_tail=self._log_tail())
        elif starting and self.pid is not None and not pid_alive(self.pid):
            log_tail = self._log_tail()
            snap = LiveSnapshot(
                name=self.path.name, path=self.path, exists=self.path.is_dir(), state=RunState.FAILED, pid=self.pid,
                message=f"the training process (pid {self.pid}) exited before the run started"
                        + (_logged_reason(self.path) if log_tail else _silent_exit_hint(self.path)),
                log_tail=log_tail,
            )
            self._refused = True
        elif starting:
            snap = LiveSnapshot(name=self.path.name, path=self.path, exists=False, state=RunState.STARTING, pid=self.pid,
                                log_tail=self._log_tail(3))
        else:
            assert f is not None
            f.poll()
            run = f.snapshot(batches=400, warnings=20)
            log_tail = ""
            if run.state.log_may_explain or (f.error and not f.history.started):
                log_tail = self._log_tail()
            previews, previews_error = self._read_previews()
            copied = {k.name: getattr(run, k.name) for k in fields(RunSnapshot)}
            copied.update(name=self.path.name, path=self.path, message=short_message(run.message, self.path),
                          pid=run.pid if run.pid is not None else self.pid)
            if not self.path.is_dir():  # deleted after the check above: what was read is not "broken"
                return self._gone_snapshot()
            usable = has_checkpoint(self.path)  # without last.pt: best.pt, which a restart would replace
            launch_ended = self._launch_ended(run, f.history.status)
            if launch_ended:
                log_tail = self._log_tail()
            snap = LiveSnapshot(
                **copied,
                exists=True,
                bad_lines=f.bad_lines,
                log_tail=log_tail,
                resume=resume_offer(run.name, run.state, checkpoint_path(self.path, "last").is_file(), run.message,
                                    run.best.epoch if run.best and usable else None, run.done_epochs,
                                    run.saved_epoch, time_budget_of(f.history.config),
                                    spent_time_budget(f.history.config), run.saved_trained_seconds),
                has_checkpoint=usable,
                no_worst=why_no_worst(f.history.config) if usable else "",
                previews=previews,
                previews_error=previews_error,
                launch_ended=launch_ended,
            )
        if snap == self._last and not snap.active:
            return None
        if snap.active and self._last is not None and _same_but_time(snap, self._last):
            return None  # only the running clock moved, and not by a whole second
        self._last = snap
        return snap


LOW_DISK_BYTES = 16 << 20  # less free than this under the runs folder: a run cannot even start


def _logged_reason(path: Path) -> str:
    """The one-line error the launch left in its train.log, as ": WHY" ("" if none): the charts'
    message is where the eye goes, and at 80 columns the log pane cuts that line."""
    from engine.console_log import logged_error

    why = logged_error(path)
    return f": {why}" if why else ""


def _silent_exit_hint(path: Path) -> str:
    """Why a launch that died before its run started may have said nothing: with train.log empty,
    the child could not even write its error line, and a full disk is the usual reason."""
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        return ", leaving nothing in its train.log"
    if free < LOW_DISK_BYTES:
        return f", leaving nothing in its train.log: the disk is full ({byte_size(free)} free under {path.parent})"
    return ", leaving nothing in its train.log"


def _same_but_time(a: LiveSnapshot, b: LiveSnapshot) -> bool:
    """``a`` and ``b`` differ at most in their duration, and it shows the same whole second."""
    da, db = a.duration, b.duration
    if (da is None) != (db is None) or (da is not None and int(da) != int(db)):
        return False
    return replace(a, duration=db) == b
