"""Studies as a stopped sweep leaves them, made without training: for the tests of resuming a
sweep from its record (test_sweep_resume.py) and of ``petseg sweep --resume`` (test_sweep_resume_cli.py)."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.sweep.spec_build import build_spec
from engine.sweep.study import OWNER_ATTR, ask_within_budget, open_study


def dead_pid() -> int:
    """The pid of a process that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@contextmanager
def sweep_process(runs: Path, name: str) -> Iterator[int]:
    """A harmless process recorded as running sweep ``name`` (its pid file, "sweep" in its command
    line as a petseg sweep's), for as long as the block lasts; its pid."""
    from engine.runs.layout import sweep_pid_file, write_json_atomic

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "sweep"])
    try:
        sweep_pid_file(runs, name).parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(sweep_pid_file(runs, name), {"pid": proc.pid, "host": socket.gethostname()})
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def stopped_sweep(runs: Path, settings: dict, asked: int, completed: int) -> None:
    """What a sweep process stopped by x (SIGTERM, --on_interrupt stop) leaves in its study:
    ``completed`` trials told, the others of the ``asked`` still running, owned by a process that
    has ended."""
    spec = build_spec(settings)
    study = open_study(spec, runs)
    gone = dead_pid()
    for i in range(asked):
        trial = ask_within_budget(study, spec, "cpu")
        if i < completed:
            study.tell(trial, 0.5)
        else:
            trial.set_user_attr(OWNER_ATTR, gone)
