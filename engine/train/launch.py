"""Starting a detached ``petseg train`` process that outlives the caller (the TUI, an SSH session).

The child runs in its own session (no controlling terminal, so a dropped SSH link sends it
no SIGHUP) with stdout/stderr in ``<run>/train.log``, the run's console log: what the child
prints before its run folder is settled lands there too, and once it is, the child sees that its
stdout is that file and writes each line once, bounded (`engine.console_log`). The caller
follows the run folder.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from engine.config import TrainConfig
from engine.errors import RunStoreError
from engine.runs.layout import LOG_FILE, open_run_file, validate_run_name
from engine.train.launched import RESUME_FLAGS, RUN_NAME_FLAGS, train_processes


def train_command(config: TrainConfig, runs_dir: Path, run_name: str) -> list[str]:
    """The argv of ``petseg train`` that reproduces ``config`` in ``runs_dir/run_name``: every field
    (`TrainConfig.to_argv`), so a run started from the TUI is the run its form showed."""
    return [sys.executable, "-m", "engine.cli", "train", "--runs", str(runs_dir), "--run_name", run_name,
            *config.to_argv()]


def starting_train(runs_dir: str | Path, run_name: str) -> int | None:
    """The pid of a live ``petseg train`` of the new run ``runs_dir/run_name`` (`train_command`'s,
    or one typed by hand: `engine.train.launched`), None if none: a child that has not written its
    run folder yet (loading torch) shows only there."""
    return next(train_processes(Path(runs_dir) / run_name, RUN_NAME_FLAGS), None)


def spawn_detached(config: TrainConfig, runs_dir: str | Path, run_name: str) -> int:
    """Start training in a new session; returns the child's pid. Output goes to train.log."""
    return start_detached(config, runs_dir, run_name).pid


def start_detached(config: TrainConfig, runs_dir: str | Path, run_name: str,
                   env: Mapping[str, str] | None = None) -> subprocess.Popen:
    """`spawn_detached` for a caller that waits for the child (a sweep): the process, with ``env``
    added to this one's environment (CUDA_VISIBLE_DEVICES, the sweep record)."""
    config.validate()
    validate_run_name(run_name)
    runs_dir = Path(runs_dir).resolve()
    return _spawn(train_command(config, runs_dir, run_name), runs_dir / run_name, env)


def resume_command(runs_dir: Path, run_name: str) -> list[str]:
    """The argv of ``petseg train --resume`` for ``runs_dir/run_name``."""
    return [sys.executable, "-m", "engine.cli", "train", "--runs", str(runs_dir), "--resume", run_name]


RESUME_CLAIM_SECONDS = 60.0  # a cold torch import on a busy machine; past it the child is left to report


def spawn_resume(runs_dir: str | Path, run_name: str, claim_wait: float = RESUME_CLAIM_SECONDS,
                 cancelled: Callable[[], bool] | None = None,
                 spawned: Callable[[int], None] | None = None) -> int:
    """Continue a stopped / failed / interrupted run from its last.pt in a new session; returns
    the child's pid once it holds the run's writer lock (`claim_run`). Its output is appended to
    the same train.log. The run folder must exist (RunStoreError otherwise), and nobody else may
    claim it first (RunBusyError); every other problem is the child's, reported in the run.
    ``cancelled`` (a dashboard quitting) ends the wait early, the child left to go on;
    ``spawned(pid)`` is called as soon as the child exists, before that wait (a dashboard that
    quits meanwhile names the run it leaves resuming)."""
    proc = start_resume(runs_dir, run_name)
    if spawned is not None:
        spawned(proc.pid)
    claim_run(proc, Path(runs_dir).resolve() / Path(run_name).name, claim_wait, cancelled)
    return proc.pid


def claim_run(proc: subprocess.Popen, path: Path, wait: float = RESUME_CLAIM_SECONDS,
              cancelled: Callable[[], bool] | None = None) -> None:
    """Return once ``proc`` (a resume of the run at ``path``) holds the run's writer lock, or has
    held it (a data-parallel run: its rank 0, a child of ``proc``), or ``wait`` seconds have
    passed, or ``cancelled()`` says to stop waiting. The lock check before the spawn is not
    enough: two dashboards resuming one run within the seconds a child takes to load torch both
    pass it, and only one child gets the lock. Raises RunBusyError naming the holder when ``proc`` ended
    refused because another process writes the run, RunStoreError when it ended without
    opening the run for another reason (that is in train.log, unless the folder was deleted)."""
    from engine.runs import RunBusyError, lock_holder, writer_lock_state
    from engine.runs.lock import lock_holder_pid

    deadline = time.monotonic() + wait
    while True:
        ended = proc.poll() is not None  # asked first: a child that locked and ended at once is no refusal
        holder = lock_holder_pid(path)
        if holder is not None and _started_by(holder, proc.pid):
            return
        if ended:
            if writer_lock_state(path):
                raise RunBusyError(path, lock_holder(path),
                                   "it was resumed there first — open the run to follow it")
            if not path.is_dir():  # deleted meanwhile (another dashboard's D): its train.log with it
                raise RunStoreError(path, "was deleted (by another dashboard or a shell) before its resume "
                                          "could open it")
            raise RunStoreError(path, f"the resume process ended (exit {proc.returncode}) before opening the run; "
                                      f"its reason is in {path / LOG_FILE}")
        if time.monotonic() >= deadline or (cancelled is not None and cancelled()):
            return
        time.sleep(0.05)


def starting_resume(run_path: str | Path) -> int | None:
    """The pid of a resume of the run at ``run_path`` (started by `resume_command`: the dashboard's
    R, a sweep's re-run; or typed by hand, its ``--runs`` relative: `engine.train.launched`) that
    is alive and has not taken the run's writer lock yet (loading torch): until it has, the run
    reads as it ended and takes no control request. None if none is starting (one that has held
    the lock, and may be exiting, is not)."""
    from engine.runs.lock import lock_holder_pid

    path = Path(run_path)
    holder = lock_holder_pid(path)
    for pid in train_processes(path, RESUME_FLAGS):
        if holder is None or not _started_by(holder, pid):
            return pid
    return None


def await_resume(pid: int, run_path: str | Path, wait: float) -> bool:
    """Wait until the resume process ``pid`` (`starting_resume`) holds the run's writer lock: True
    once it does (or has, a data-parallel resume's rank 0 included), False when it ended first or
    ``wait`` seconds passed."""
    from engine.processes import process_ended
    from engine.runs.lock import lock_holder_pid

    path = Path(run_path)
    deadline = time.monotonic() + wait
    while True:
        holder = lock_holder_pid(path)
        if holder is not None and _started_by(holder, pid):
            return True
        if process_ended(pid) or time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _started_by(holder: tuple[int, str], pid: int) -> bool:
    """Whether the lock holder ``(pid, host)`` is process ``pid`` or one it started: a
    data-parallel resume's run is locked by rank 0, a child of the launched process."""
    import psutil

    holder_pid, host = holder
    if holder_pid == pid:
        return True
    if host != socket.gethostname():
        return False
    try:
        return any(p.pid == pid for p in psutil.Process(holder_pid).parents())
    except psutil.Error:
        return False


def start_resume(runs_dir: str | Path, run_name: str, env: Mapping[str, str] | None = None) -> subprocess.Popen:
    """`spawn_resume` returning the process, with ``env`` added (see `start_detached`)."""
    from engine.runs import RunBusyError, RunStore, lock_holder, writer_lock_state

    validate_run_name(run_name)
    runs_dir = Path(runs_dir).resolve()
    path = RunStore(runs_dir).resolve(run_name)
    if writer_lock_state(path):  # the store's one-writer rule, checked here to answer at once
        raise RunBusyError(path, lock_holder(path))
    return _spawn(resume_command(runs_dir, run_name), path, env)


def _spawn(argv: list[str], log_dir: Path, extra_env: Mapping[str, str] | None = None) -> subprocess.Popen:
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **(extra_env or {})}
    env.setdefault("PYTHONUNBUFFERED", "1")
    env["PETSEG_PLAIN_PROGRESS"] = "1"  # a log file, not a terminal: no live progress bars
    # as any file of the run: a FIFO there hung the dashboard's R in open(), a symlink out was written through
    with open_run_file(log_dir / LOG_FILE, log_dir, mode="ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=env,
            cwd=os.getcwd(),
        )
    return proc
