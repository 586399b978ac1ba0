"""The CLI's progress display: Rich bars on a terminal, plain lines in a log file, for training
(`ProgressReporter`, an engine-event subscriber; `log_progress_to_run`, the same lines in the
train.log of a trainer with no terminal), folder inference (`progress_bar`) and eval's
scoring (`scoring_progress`)."""

from __future__ import annotations

import contextlib
import os
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Iterator

from engine.cli.terminal_queue import redrawing
from engine.console_log import escape_markup

PLAIN_STEPS = 4  # a plain log gets a scoring line at each quarter, not one per batch


def plain_progress(console: Any) -> bool:
    """Plain lines instead of bars: output is a log file, or PETSEG_PLAIN_PROGRESS is set."""
    return bool(os.environ.get("PETSEG_PLAIN_PROGRESS")) or not console.is_terminal


def new_progress(console: Any) -> Any:
    """The Rich progress display of training and folder inference (tasks carry an ``info`` field)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.text import Text

    class ActiveElapsedColumn(TimeElapsedColumn):
        """Elapsed time without the run's pauses (README: paused time is not training time): a
        task's ``paused_s`` field (pauses that ended) and ``paused_since`` (the clock at a pause
        still going on), kept by `ProgressReporter`."""

        def render(self, task: Any) -> Text:
            elapsed = task.finished_time if task.finished else task.elapsed
            if elapsed is None:
                return super().render(task)
            since = task.fields.get("paused_since")
            if since is not None and task.start_time is not None:
                elapsed = min(elapsed, since - task.start_time)
            return Text(str(timedelta(seconds=max(0, int(elapsed - task.fields.get("paused_s", 0.0))))),
                        style="progress.elapsed")

    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"), ActiveElapsedColumn(), TimeRemainingColumn(),
        console=console, transient=False,
    )
    # a refresh redraws the whole display: on a terminal that stopped reading, only the newest
    # of those waiting is written (`engine.cli.terminal_queue`); every refresh, its own thread's
    # and add_task's, goes through this attribute
    refresh = progress.live.refresh

    def redraw() -> None:
        with redrawing():
            refresh()

    progress.live.refresh = redraw  # type: ignore[method-assign]
    return progress


@contextlib.contextmanager
def progress_bar(console: Any) -> Iterator[Any]:
    """A live `new_progress` on a terminal, None when progress is plain."""
    if plain_progress(console):
        yield None
        return
    with new_progress(console) as progress:
        yield progress


def stopped_words(epoch: int, batch: int, batches: int, saved: bool) -> str:
    """How `petseg train` and `petseg stop` say where a run stopped (a `RunStopped`'s ``epoch``
    and ``batch``; ``batches``: its epoch's, 0 if unknown) and whether last.pt holds it."""
    # inside an epoch: how far, as the resume will say it goes on ("after batch 1")
    of = f" of {batches}" if batches else ""
    when = (f"in epoch {epoch + 1} after batch {batch}{of}" if batch
            else f"after epoch {epoch}" if epoch else "during epoch 1")
    return f"stopped {when}; " + ("last.pt saved" if saved else "nothing trained yet, no last.pt")


class ProgressReporter:
    """Turns trainer events into Rich progress bars (terminal) or plain lines (log file)."""

    def __init__(self, console: Any, plain: bool, run_path: Path | None = None) -> None:
        from engine.runs.layout import checkpoint_path

        self.console, self.plain, self.run_path = console, plain, run_path
        self.last_pt = checkpoint_path(run_path, "last") if run_path is not None else None
        self.resumed = False
        self.progress = None
        self.epoch_task = self.batch_task = None
        self.batches = 0  # of the epoch training now

    def __enter__(self) -> "ProgressReporter":
        if not self.plain:
            self.progress = new_progress(getattr(self.console, "inner", self.console))  # a CapturedConsole's own
            self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def _print(self, text: str, markup: bool = False) -> None:
        # the same console as the bars' (a CapturedConsole also logs it); text as written unless
        # the line asks for markup (its paths escaped)
        if markup:
            self.console.print(text, markup=True)
        else:
            self.console.print(text)

    def __call__(self, ev: Any) -> None:
        from engine import events as E

        p = self.progress
        if isinstance(ev, E.RunStarted):
            self.resumed = ev.resumed
            # the data line itself was logged while the data was loaded
            self._print(f"device: {ev.device}  train: {ev.train_size}  valid: {ev.valid_size}"
                        + (f"  (resuming at epoch {ev.start_epoch})" if ev.resumed else ""))
            if p is not None:
                self.epoch_task = p.add_task("epochs", total=ev.total_epochs or None, completed=ev.start_epoch - 1, info="")
        elif isinstance(ev, E.EpochStarted):
            self.batches = ev.batches
            if p is not None:
                if self.batch_task is not None:
                    p.remove_task(self.batch_task)
                self.batch_task = p.add_task(f"epoch {ev.epoch}", total=ev.batches, info="")
        elif isinstance(ev, E.BatchProgress):
            if p is not None and self.batch_task is not None:
                p.update(self.batch_task, completed=ev.batch, info=f"loss {ev.loss:.4f} {ev.images_per_s:.1f} img/s")
        elif isinstance(ev, E.EpochEnded):
            of = f"/{ev.total_epochs}" if ev.total_epochs else ""  # 0: no epoch bound (a time budget alone)
            line = (f"epoch {ev.epoch}{of}  train loss {ev.train_loss:.4f}  dice {ev.train_dice:.4f}  "
                    f"valid loss {ev.valid_loss:.4f}  dice {ev.valid_dice:.4f}  iou {ev.valid_iou:.4f}  "
                    f"lr {ev.lr:.2e}  {ev.images_per_s:.1f} img/s  {ev.seconds:.1f}s")
            self._print(line)
            if p is not None and self.epoch_task is not None:
                p.update(self.epoch_task, completed=ev.epoch, info=f"best {ev.best_dice:.4f} @ {ev.best_epoch}")
        elif isinstance(ev, E.RunWarning):
            self._print(f"[yellow]warning:[/] {escape_markup(ev.message)}", markup=True)
        elif isinstance(ev, E.RunFinished):
            self._print(f"finished: best valid Dice {ev.best_dice:.4f} at epoch {ev.best_epoch} ({self._times(ev)})")
        elif isinstance(ev, E.RunStopped):
            saved = self.last_pt is None or self.last_pt.exists()  # nothing to save before the data was ready
            self._print(stopped_words(ev.epoch, ev.batch, self.batches, saved))
            if ev.reason and ev.reason != E.STOPPED_BY_USER:  # a signal, a lost launcher, another rank: say which
                self._print(ev.reason)
            if ev.batch and p is not None and self.batch_task is not None:  # batch events are throttled
                p.update(self.batch_task, completed=ev.batch)
        elif isinstance(ev, E.RunPaused):
            self._print("paused")
            self._pause_bars(paused=True)
        elif isinstance(ev, E.RunResumed):
            self._print("resumed")
            self._pause_bars(paused=False)

    def _pause_bars(self, paused: bool) -> None:
        """Stop the bars' elapsed clocks at a pause, and leave its length out of them at the resume."""
        p = self.progress
        if p is None:
            return
        now = p.get_time()
        for task in p.tasks:
            if task.id not in (self.epoch_task, self.batch_task):
                continue
            since = task.fields.get("paused_since")
            if paused and since is None:
                p.update(task.id, paused_since=now)
            elif not paused and since is not None:
                p.update(task.id, paused_since=None, paused_s=task.fields.get("paused_s", 0.0) + now - since)

    def _times(self, ev: Any) -> str:
        """The finished run's wall time (setup included: data cache, model build, precision probe)
        beside its training time as the runs table counts it (`RunSummary.duration`, read from the
        run's files), so that the two figures never look like one disagreeing with the other."""
        from engine.durations import format_duration

        wall = format_duration(ev.seconds)
        training = run_training_seconds(self.run_path) if self.run_path is not None else None
        if training is None:
            return f"{wall} in all"
        if self.resumed:  # the table adds up every session of the run; this process is only the last
            return f"{wall} this session, {format_duration(training)} training over all sessions"
        return f"{wall} in all, {format_duration(training)} training"


def run_training_seconds(run_path: Path) -> float | None:
    """A run's training time as the runs table counts it (`RunSummary.duration`, read from its
    folder: its last event is on disk before subscribers hear it), or None when it cannot be read."""
    from engine.errors import RunStoreError
    from engine.runs.follower import RunFollower

    try:
        follower = RunFollower(run_path, keep_batches=0)
        follower.poll()
        return follower.summary().duration
    except (OSError, RunStoreError):
        return None


def log_progress_to_run(trainer: Any) -> None:
    """A trainer with no terminal (started in the TUI's own process) keeps the same progress lines
    in its train.log as ``petseg train`` prints: the run, each epoch, pause, resume, the end."""
    from engine.console_log import RunLogConsole
    from engine.events import TERMINAL_KINDS

    console = RunLogConsole(trainer.run_path)
    console.print(f"run {trainer.run_name} -> {trainer.run_path}")
    reporter = ProgressReporter(console, plain=True, run_path=trainer.run_path)

    def on_event(ev: Any) -> None:
        reporter(ev)
        if ev.kind in ("failed", "diverged"):  # the CLI prints these as its error line
            console.print(f"error: {ev.message}")
        if ev.kind in TERMINAL_KINDS:
            console.close()

    trainer.subscribe(on_event)


@contextlib.contextmanager
def scoring_progress(console: Any, label: str, shown: bool = True) -> Iterator[Callable[[int, int], None] | None]:
    """An ``on_progress(done, total)`` for scoring photos: a bar on a terminal, a line at the first
    batch and at each quarter in a log (so a long eval is visibly alive); None when not ``shown``."""
    if not shown:
        yield None
        return
    if plain_progress(console):
        printed = [-1]

        def plain(done: int, total: int) -> None:
            step = done * PLAIN_STEPS // max(total, 1)
            if step > printed[0]:
                printed[0] = step
                console.print(f"scoring {label}: {done}/{total} photos")

        yield plain
        return
    with new_progress(console) as progress:
        task = progress.add_task(f"scoring {label}", total=None, info="")

        def bar(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield bar
