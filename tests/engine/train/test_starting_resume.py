"""`engine.train.launch.starting_resume` finds a resume still starting however its ``petseg train``
was typed: its runs folder is the one that process reads (``--runs DIR``, ``--runs=DIR``,
``$PETSEG_RUNS``, ``./runs``), a relative one against that process's working directory. The
process here only sleeps under such an argv: the scan reads its argv, cwd and environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from engine.train.launch import starting_resume
from tests.engine.sweep.fake_sweep import stopped_trial_run


@contextmanager
def _sleeping(cwd: Path, *words: str, env: dict[str, str] | None = None) -> Iterator[int]:
    """A process whose argv reads ``python -c ... train WORDS``, in ``cwd``, with ``$PETSEG_RUNS``
    only as ``env`` gives it; its pid, for as long as the block lasts."""
    base = {k: v for k, v in os.environ.items() if k != "PETSEG_RUNS"}
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "train", *words],
                            cwd=cwd, env={**base, **(env or {})})
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize(("words", "env"), [
    (("--runs", "runs", "--resume", "r"), None),
    (("--runs=runs", "--resume=r"), None),
    (("--resume", "r"), {"PETSEG_RUNS": "runs"}),
    (("--resume", "r"), None),  # ./runs, the default
    (("--resume", "runs/r"), {"PETSEG_RUNS": "elsewhere"}),  # the run given as a path, as RunStore.resolve takes it
], ids=["runs-space", "runs-equals", "petseg-runs", "default", "run-path"])
def test_a_resume_typed_with_a_relative_runs_folder_is_found(tmp_path: Path, words: tuple[str, ...],
                                                              env: dict[str, str] | None) -> None:
    run = stopped_trial_run(tmp_path / "runs", "r")
    assert starting_resume(run) is None
    with _sleeping(tmp_path, *words, env=env) as pid:
        assert starting_resume(run) == pid


def test_a_run_given_with_its_runs_folder_is_that_run_as_the_resume_reads_it(tmp_path: Path) -> None:
    """``petseg train --runs runs --resume runs/r`` resumes ``runs/r`` (`RunStore.resolve`: a
    path under the runs folder is that run), also beside a folder ``runs/runs/r``; the scan read
    it as ``runs/runs/r`` there, and missed the resume."""
    run = stopped_trial_run(tmp_path / "runs", "r")
    (tmp_path / "runs" / "runs" / "r").mkdir(parents=True)
    with _sleeping(tmp_path, "--runs", "runs", "--resume", "runs/r") as pid:
        assert starting_resume(run) == pid


def test_a_relative_runs_folder_is_read_against_that_processs_folder_not_ours(tmp_path: Path) -> None:
    """A resume of another folder's run of the same name (``runs/r`` from another directory) is
    not this run's; nor is a command other than ``train`` naming the run: ``petseg sweep --runs
    RUNS --resume r`` resumes a sweep named r, and was taken for a resume of the run r."""
    run = stopped_trial_run(tmp_path / "here" / "runs", "r")
    stopped_trial_run(tmp_path / "there" / "runs", "r")
    with _sleeping(tmp_path / "there", "--runs", "runs", "--resume", "r"):
        assert starting_resume(run) is None
    sweep = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "sweep", "--runs",
                              str(tmp_path / "here" / "runs"), "--resume", "r"], cwd=tmp_path)
    try:
        assert starting_resume(run) is None
    finally:
        sweep.kill()
        sweep.wait()


@pytest.mark.parametrize("words", [
    ("--runs", "R", "--run_name", "N"), ("--runs=R", "--run-name", "N"), ("--run-name=N", "--runs", "R"),
    ("--runs", "R", "--resume", "N"), ("--resume=N", "--runs=R"),
])
def test_the_scan_reads_each_spelling_petseg_train_takes(words: tuple[str, ...]) -> None:
    """The run's name and runs folder a ``petseg train`` argv gives, as the scan reads them
    (`flag_value` of `RUN_NAME_FLAGS`, `RESUME_FLAGS`, `RUNS_FLAGS`), are what its parser takes:
    a new run typed ``--run-name`` by hand is found starting as ``--run_name`` is."""
    import argparse

    from engine.cli import train
    from engine.train.launched import RESUME_FLAGS, RUN_NAME_FLAGS, RUNS_FLAGS, flag_value

    parser = argparse.ArgumentParser()
    train.add_arguments(parser)
    args = parser.parse_args(list(words))
    assert flag_value(words, RUNS_FLAGS) == str(args.runs) == "R"
    assert flag_value(words, RUN_NAME_FLAGS) == args.run_name
    assert flag_value(words, RESUME_FLAGS) == args.resume
    assert "N" in (args.run_name, args.resume)
