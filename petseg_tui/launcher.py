"""`RunLauncher`: starts, resumes, reaps and stops the runs this app launched; `TrainerLike` says
what it needs of an in-process trainer.

A run starts in one of two ways: detached (a child process, `engine.train.launch.spawn_detached`,
reaped here so it does not linger as a zombie that looks alive to the store's pid check) or in
this process (an `engine.train.trainer.Trainer` in its own thread, stopped and joined here when
the app quits). Nothing here imports Textual or, at module import, torch: `start` and `resume`
block (the in-process trainer imports torch), so the app calls them from a thread worker and
shows what they return or raise.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    from engine.config import TrainConfig


@runtime_checkable
class TrainerLike(Protocol):
    """What the app needs of a run training in this process (`engine.train.trainer.Trainer`, or
    a test's stand-in): its name and folder, known before it starts, and thread-safe control."""

    run_name: str
    run_path: Path

    def start(self) -> None:
        """Train in a background thread."""

    def stop(self, reason: str = "") -> None:
        """Finish the current batch, save last.pt, mark the run stopped (``reason``: why, if not its user)."""

    def pause(self) -> None:
        """Wait between batches until `resume`."""

    def resume(self) -> None:
        """Go on after `pause`."""

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the training thread; True once it has ended."""

    def is_alive(self) -> bool:
        """True while the training thread runs."""


# (config, runs_dir, run_name or None) -> a trainer that has created its run folder, not started
TrainerFactory = Callable[["TrainConfig", Path, "str | None"], TrainerLike]


def engine_trainer(config: TrainConfig, runs_dir: Path, run_name: str | None) -> TrainerLike:
    """The engine's Trainer (imports torch: call from a worker thread only), its progress lines
    kept in the run's train.log as a detached run's are."""
    from engine.cli.progress import log_progress_to_run
    from engine.train.trainer import Trainer

    trainer = Trainer(config, runs_dir, run_name=run_name)
    log_progress_to_run(trainer)
    return trainer


class RunLauncher:
    """The runs started from this app: in-process trainers by run path, and pids of detached
    children by run path until they are reaped."""

    def __init__(self, runs_dir: Path, make_trainer: TrainerFactory = engine_trainer) -> None:
        self.runs_dir = Path(runs_dir)
        self.make_trainer = make_trainer
        self.trainers: dict[Path, TrainerLike] = {}  # run path -> trainer (in-process runs)
        self.spawned: dict[Path, int] = {}  # run path -> pid of detached runs started here
        # in-process starts under way (importing torch, setting up: seconds), and whether the app
        # is stopping its runs: a start that ends after `stop_all` began is stopped at once
        self._starting: list[str] = []
        # detached starts under way (the child being spawned: a moment): a quit waits for them,
        # so its message names the runs they leave training
        self._spawning: list[str] = []
        self._stopping = False
        self._changed = threading.Condition()

    # ---- starting (blocking: call from a worker thread) ---------------------------------------
    def expect(self, config: TrainConfig, run_name: str | None, detached: bool = False) -> str:
        """Count a start as under way from now (the app's thread, as it is asked for it), before
        the thread that will `start` it runs; returns the label to hand `start`. A quit in between
        found nothing starting and ended the app at once: an in-process run then began training
        in a thread that died with the process (left `running`, no last.pt), a detached one
        trained on unnamed by the quit's message."""
        return self._under_way(run_name or f"a new {config.model} run", detached)

    def start(self, config: TrainConfig, run_name: str | None, detached: bool,
              expected: str | None = None) -> tuple[Path, int | None]:
        """Start a run; return its folder and, when detached, its pid. Raises `PetsegError` with
        the one-line reason when the engine refuses it. ``expected``: the label `expect` returned
        for this start (it is then counted as under way already)."""
        label = expected if expected is not None else self.expect(config, run_name, detached)
        if detached:
            from engine.runs import RunStore
            from engine.train.launch import spawn_detached

            try:
                name = run_name or RunStore(self.runs_dir).new_run_name(config.model)
                pid = spawn_detached(config, self.runs_dir, name)
                path = self.runs_dir / name
                self.spawned[path] = pid
            finally:
                self._spawn_done(label)
            return path, pid
        try:
            from engine.device import leave_a_core_for_the_ui  # imports torch: seconds

            leave_a_core_for_the_ui()
            trainer = self.make_trainer(config, self.runs_dir, run_name or None)
            path = Path(trainer.run_path)
            self.trainers[path] = trainer
            trainer.start()
            if self._stopping:  # the app quit while this run got ready: it ends as the others do
                trainer.stop()
        finally:
            with self._changed:
                self._starting.remove(label)
                self._changed.notify_all()
        return path, None

    def starting(self) -> list[str]:
        """The in-process runs being started now (their names, or what they will be), not training yet."""
        with self._changed:
            return list(self._starting)

    def spawning(self) -> list[str]:
        """The detached runs being started now (their child process being spawned)."""
        with self._changed:
            return list(self._spawning)

    def detached(self) -> list[Path]:
        """The detached runs started here that still run (ended ones reaped first)."""
        self.reap()
        return list(self.spawned)

    def expect_resume(self, path: Path) -> str:
        """`expect` for a resume of the run at ``path``: counted as a detached start under way from
        the moment it is asked for (the app's thread), so a quit meanwhile waits for its process
        to exist and names the run; returns the label to hand `resume`."""
        return self._under_way(f"{Path(path).name} (resuming)", detached=True)

    def _under_way(self, label: str, detached: bool) -> str:
        """Count the start ``label`` as under way (a detached one: until its child exists, see
        `_spawn_done`; an in-process one: until `start` has it training); returns ``label``."""
        with self._changed:
            (self._spawning if detached else self._starting).append(label)
        return label

    def resume(self, path: Path, cancelled: Callable[[], bool] | None = None,
               expected: str | None = None) -> int:
        """Resume (or start again) a run in a detached process; return its pid once that process
        holds the run (seconds: it loads torch first), or at once when ``cancelled()`` (the app
        quits: the process goes on by itself). Raises `PetsegError` or `OSError` when it
        cannot, `RunBusyError` when another process (another dashboard's R) got the run first.
        ``expected``: the label `expect_resume` returned (counted as under way already)."""
        from engine.train.launch import spawn_resume  # imports the config module, not torch

        path = Path(path)
        label = expected if expected is not None else self.expect_resume(path)

        def spawned(pid: int) -> None:  # the child exists: a quit from now on names it (reaped as any)
            self.spawned[path] = pid
            self._spawn_done(label)

        try:
            pid = spawn_resume(self.runs_dir, path.name, cancelled=cancelled, spawned=spawned)
        finally:
            self._spawn_done(label)
        self.spawned[path] = pid  # reaped like any detached run
        return pid

    def _spawn_done(self, label: str) -> None:
        """A detached start counted by `expect` / `expect_resume` is no longer under way."""
        with self._changed:
            if label in self._spawning:
                self._spawning.remove(label)
                self._changed.notify_all()

    # ---- following ----------------------------------------------------------------------------
    def reap(self) -> None:
        """Collect detached runs that ended while we watched (else they linger as zombies and
        look alive to the store's pid check)."""
        for path, pid in list(self.spawned.items()):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            except OSError:
                continue
            if done:
                del self.spawned[path]

    def trainer_for(self, path: Path) -> TrainerLike | None:
        """The trainer of the run at ``path`` while it trains in this process, else None."""
        t = self.trainers.get(Path(path))
        return t if t is not None and t.is_alive() else None

    def running(self) -> list[TrainerLike]:
        """The trainers still training in this process."""
        # a copy first: a worker's `start` may add a run while the UI thread asks each one
        return [t for t in list(self.trainers.values()) if t.is_alive()]

    # ---- stopping (blocking) ------------------------------------------------------------------
    def stop_all(self, timeout: float = 20) -> None:
        """Stop every in-process run (each finishes its batch and saves last.pt) and wait for them.
        A run still starting is waited for, then stopped: left alone, it began training after the
        app had quit, in a thread that died with the process (the run stayed `running`, no last.pt)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            self._stopping = True
            # a detached start is waited for too (a moment): the quit then names its run
            while (self._starting or self._spawning) and self._changed.wait(max(0.0, deadline - time.monotonic())):
                pass
        for t in self.running():
            t.stop()
        for t in list(self.trainers.values()):
            t.join(timeout=timeout)
