"""A sweep process killed while it appends to its study's journal leaves no lock behind: the next
sweep on that study goes on at once (Optuna's own symlink lock made it wait 30 s, warning)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from engine.sweep.study import storage_for

REPO = Path(__file__).resolve().parents[3]

# a sweep process that dies inside an append: its fsync never returns, and it is SIGKILLed there
_DIES_MID_APPEND = """
import os, sys, time
from pathlib import Path
import optuna
from engine.sweep.study import storage_for

storage = storage_for(None, Path(sys.argv[1]), "s")
optuna.create_study(study_name="s", storage=storage, direction="maximize")

def fsync_forever(fd):
    print("appending", flush=True)
    time.sleep(600)

os.fsync = fsync_forever
optuna.load_study(study_name="s", storage=storage).ask()
"""


@pytest.mark.slow
def test_a_sweep_killed_mid_append_leaves_the_journal_usable_at_once(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    child = subprocess.Popen([sys.executable, "-c", _DIES_MID_APPEND, str(runs)], cwd=REPO,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "appending\n"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    start = time.monotonic()
    study = optuna.load_study(study_name="s", storage=storage_for(None, runs, "s", create=False))
    trial = study.ask()  # an append: it needs the lock the killed process held
    study.tell(trial, 0.5)
    assert time.monotonic() - start < 5
    assert [t.value for t in study.get_trials()] == [None, 0.5]  # the killed process's trial was whole
