"""Starting a detached ``petseg train`` process that outlives the caller (the TUI, an SSH session).

The child runs in its own session (no controlling terminal, so a dropped SSH link sends it
no SIGHUP) with stdout/stderr in ``<run>/train.log``, the run's console log: what the child
prints before its run folder is settled lands there too, and once it is, the child sees that its
stdout is that file and writes each line once, bounded (`engine.console_log`). The caller
follows the run folder.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from engine.config import TrainConfig
from engine.runs.layout import LOG_FILE, validate_run_name

def train_command(config: TrainConfig, runs_dir: Path, run_name: str) -> list[str]:
    """The argv of ``petseg train`` that reproduces ``config`` in ``runs_dir/run_name``: every field
    (`TrainConfig.to_argv`), so a run started from the TUI is the run its form showed."""
    return [sys.executable, "-m", "engine.cli", "train", "--runs", str(runs_dir), "--run_name", run_name,
            *config.to_argv()]


def starting_train(runs_dir: str | Path, run_name: str) -> int | None:
    """The pid of a live process started by `train_command` for ``runs_dir/run_name`` (its argv
    names both), None if none: a child that has not written its run folder yet (loading torch)
    shows only there."""
    import psutil

    want = [("--runs", str(Path(runs_dir).resolve())), ("--run_name", run_name)]
    for proc in psutil.process_iter(["pid", "cmdline"]):
        argv = proc.info.get("cmdline") or []
        pairs = set(itertools.pairwise(argv))
        if all(pair in pairs for pair in want):
            return int(proc.info["pid"])
    return None


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


def spawn_resume(runs_dir: str | Path, run_name: str) -> int:
    """Continue a stopped / failed / interrupted run from its last.pt in a new session; returns
    the child's pid. Its output is appended to the same train.log. The run folder must exist
    (RunStoreError otherwise); every other problem is the child's, reported in the run."""
    return start_resume(runs_dir, run_name).pid


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
    with open(log_dir / LOG_FILE, "ab") as log:
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
