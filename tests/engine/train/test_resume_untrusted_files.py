"""``petseg train --resume`` of a run folder with a FIFO or a symlink out of the run where one of
its files should be (run folders are untrusted: they come from other boxes and other users).
Four files were still opened with a plain open() by the resumed run, each a hang for good before
or in its first epoch: train.log (its console), system.jsonl (its system metrics), previews/
index.json (the previews of its earlier epochs) and control.json (a stop or pause request). A
real process (warm: tests/warm_petseg.py), under a time-out: the old code fails the test instead
of hanging the suite."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.runs.layout import CONTROL_FILE, LOG_FILE, PREVIEWS_DIR, SYSTEM_FILE
from engine.train.previews import INDEX_FILE
from tests import warm_petseg
from tests.engine.train.ddp_helpers import REPO

RESUME_S = 120  # a tiny run's resume takes seconds; the old code never ended


def _resume(runs: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PETSEG_PLAIN_PROGRESS": "1"}
    try:
        return warm_petseg.run([sys.executable, "-m", "engine.cli", "train", "--runs", str(runs), "--resume", "r",
                               "--epochs", "3"], cwd=runs, env=env, capture_output=True, text=True, timeout=RESUME_S)
    except subprocess.TimeoutExpired as exc:  # its output so far as bytes, whatever text= said
        said = exc.stdout.decode("utf-8", "replace") if isinstance(exc.stdout, bytes) else exc.stdout
        raise AssertionError(f"the resume still ran after {RESUME_S} s (waiting on a FIFO?); it said: {said!r}") \
            from None


@pytest.fixture
def runs(finished_tiny_run: Path, tmp_path: Path) -> Path:
    shutil.copytree(finished_tiny_run, tmp_path / "runs" / "r", symlinks=True)
    return tmp_path / "runs"


# what the resume says of the FIFO: the file it cannot use, named ("" where it needs to say nothing:
# the previews index and a control request are replaced by the next one written)
SAID = {LOG_FILE: "warning: {path}: is a named pipe (FIFO), not a file; not written; this run's console is "
                  "not kept there",
        SYSTEM_FILE: "warning: system metrics stopped: {path}: is a named pipe (FIFO), not a file; not written",
        f"{PREVIEWS_DIR}/{INDEX_FILE}": "", CONTROL_FILE: ""}


@pytest.mark.parametrize("name", list(SAID))
def test_a_fifo_in_the_run_never_hangs_its_resume(runs: Path, name: str) -> None:
    path = runs / "r" / name
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    done = _resume(runs)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "finished: best valid Dice" in done.stdout
    if SAID[name]:
        assert SAID[name].format(path=path) in done.stdout.splitlines(), done.stdout


def test_a_resume_writes_nothing_through_a_symlink_out_of_the_run(runs: Path) -> None:
    """train.log and system.jsonl were appended to wherever their symlinks led; now the run trains
    on without them, each said once."""
    run = runs / "r"
    kept = {}
    for name in (LOG_FILE, SYSTEM_FILE):
        elsewhere = runs.parent / f"elsewhere-{name}"
        elsewhere.write_text("kept\n")
        (run / name).unlink(missing_ok=True)
        (run / name).symlink_to(elsewhere)
        kept[name] = elsewhere
    done = _resume(runs)
    assert done.returncode == 0, done.stdout + done.stderr
    assert all(path.read_text() == "kept\n" for path in kept.values())
    assert f"warning: {run / LOG_FILE}: leads outside the run folder" in done.stdout
    assert f"warning: system metrics stopped: {run / SYSTEM_FILE}: leads outside the run folder" in done.stdout
