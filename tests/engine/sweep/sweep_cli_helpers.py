"""Helpers of the end-to-end sweep tests: the search space they share, a ``petseg sweep`` process
whose trials are fake_train.py (fake_sweep.py), each trial's runs by number, and a wait on a
condition. The ``fake_trainer`` fixture that fakes the trials in-process is in conftest.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from engine.runs import RunStore


HERE = Path(__file__).parent


FAKE_SWEEP = HERE / "fake_sweep.py"


SPACE = ["--param", "learning_rate=log:1e-3:1e-2", "--sampler", "random", "--eval_best", "no"]


def _sweep_proc(runs: Path, *flags: str, epoch_seconds: float = 0.2, start_seconds: float = 0.0) -> subprocess.Popen:
    env = {**os.environ, "FAKE_EPOCH_SECONDS": str(epoch_seconds), "FAKE_START_SECONDS": str(start_seconds),
           "PYTHONPATH": os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")])}
    # SIGINT as a terminal's Ctrl-C delivers it, even when pytest itself runs in the background
    # (a background job inherits SIGINT ignored, and Python then leaves it ignored)
    return subprocess.Popen([sys.executable, str(FAKE_SWEEP), "--runs", str(runs), *flags], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _trial_runs(runs: Path) -> dict[int, list]:
    out: dict[int, list] = {}
    for s in RunStore(runs).list_runs():
        if s.sweep:
            out.setdefault(s.trial, []).append(s)
    return out


def _wait(cond, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)
