"""Sweep processes (fake_sweep.py: each trial is fake_train.py) sharing one study and surviving a
kill: two processes splitting a study kept in a journal file, sqlite, or PostgreSQL / MySQL when a
server's URL is given (db_servers.py), the one that ends first saying the board is not final,
SIGKILL and re-run (trials adopted or resumed, none twice), and ``--resume NAME``."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from engine.cli import main
from engine.events import RunStarted
from engine.runs import RunState, RunStore, read_events
from tests.engine.sweep.db_servers import fresh_database, server_url
from tests.engine.sweep.sweep_cli_helpers import SPACE, _sweep_proc, _trial_runs, _wait


@contextmanager
def _storage(tmp_path: Path, kind: str, name: str) -> Iterator[tuple[list[str], str]]:
    """(the --storage flags, the sweep's name) for a study kept in ``kind``: the default journal in
    the runs folder ("runs-folder"), a journal file given, sqlite, or an empty database on a
    PostgreSQL / MySQL server (skipped without one)."""
    if kind in ("postgres", "mysql"):
        with fresh_database(server_url(kind)) as (url, suffix):
            yield ["--storage", url], f"{name}-{suffix}"
        return
    if kind == "sqlite":
        yield ["--storage", f"sqlite:///{tmp_path / 'study.db'}"], name
    elif kind == "journal":
        yield ["--storage", str(tmp_path / "study.journal")], name
    else:
        assert kind == "runs-folder", kind
        yield [], name


@pytest.mark.slow
@pytest.mark.parametrize("storage", ["journal", "sqlite", "postgres", "mysql"])
def test_two_sweep_processes_split_one_study(tmp_path: Path, storage: str) -> None:
    runs = tmp_path / "runs"
    with _storage(tmp_path, storage, "shared") as (storage_flags, name):
        flags = ["--name", name, *SPACE, "--trials", "6", "--epochs", "2", "--prune", "none", *storage_flags]
        procs = [_sweep_proc(runs, *flags, epoch_seconds=0.6) for _ in range(2)]  # ~7 s of trials: both get some
        outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    trials = _trial_runs(runs)
    assert sorted(trials) == list(range(6)) and all(len(v) == 1 for v in trials.values())
    started_by = [sum(f"trial {n} started" in out for n in range(6)) for out in outs]
    assert sum(started_by) == 6 and min(started_by) >= 1, outs  # both worked, none twice


@pytest.mark.slow
def test_a_sweep_process_that_ends_first_says_its_board_is_not_the_result_yet(tmp_path: Path) -> None:
    """Two processes on one study: the one that ended while the other's trial still trained printed
    a leaderboard naming a best that the other's trial later beat, and no test Dice, without a
    word. It now says the other trials still run and who scores the best."""
    runs = tmp_path / "runs"
    flags = ["--name", "split", *SPACE, "--trials", "2", "--epochs", "2", "--prune", "none"]
    slow = _sweep_proc(runs, *flags, epoch_seconds=2.0)  # trial 0, ~4 s
    try:
        _wait(lambda: 0 in _trial_runs(runs) if runs.is_dir() else False)
        fast = _sweep_proc(runs, *flags, epoch_seconds=0.1)  # trial 1, the budget's last: done first
        fast_out = fast.communicate(timeout=120)[0]
        slow_out = slow.communicate(timeout=120)[0]
    finally:
        slow.kill()
    assert fast.returncode == 0 and slow.returncode == 0, (fast_out, slow_out)
    assert "1 trial still runs in another sweep process: the best may change" in fast_out, fast_out
    assert "petseg sweep --show split then" in fast_out
    assert "still run" not in slow_out, slow_out


@pytest.mark.slow
@pytest.mark.parametrize("storage", ["runs-folder", "postgres", "mysql"])
@pytest.mark.parametrize("children", ["alive", "killed"])
def test_sigkill_and_rerun_keeps_trials_and_runs_none_twice(tmp_path: Path, children: str, storage: str) -> None:
    """SIGKILL the sweep mid-trial and run the same command: trials still training are adopted,
    trials whose process died too are resumed; no trial runs twice, the budget holds. On a
    database server the killed process's connections die with it, mid-transaction or idle."""
    with _storage(tmp_path, storage, "crash") as (storage_flags, name):
        _sigkill_and_rerun(tmp_path / "runs", children,
                           ["--name", name, *SPACE, "--trials", "3", "--parallel", "2", "--epochs", "4",
                            "--prune", "none", *storage_flags])


def _sigkill_and_rerun(runs: Path, children: str, flags: list[str]) -> None:
    p = _sweep_proc(runs, *flags, epoch_seconds=0.5)
    _wait(lambda: sum(1 for s in RunStore(runs).list_runs() if s.epoch >= 1) >= 2)
    p.send_signal(signal.SIGKILL)
    p.communicate()
    if children == "killed":
        for s in RunStore(runs).list_runs():
            status = json.loads((s.path / "status.json").read_text())
            os.kill(status["pid"], signal.SIGKILL)
        _wait(lambda: all(not s.state.is_active for s in RunStore(runs).list_runs()))
    again = _sweep_proc(runs, *flags, epoch_seconds=0.5)
    out = again.communicate(timeout=120)[0]
    assert again.returncode == 0, out
    trials = _trial_runs(runs)
    assert sorted(trials) == [0, 1, 2] and all(len(v) == 1 for v in trials.values()), out
    assert all(v[0].state == RunState.FINISHED and v[0].epoch == 4 for v in trials.values()), out
    if children == "killed":
        assert out.count("resuming its run") == 2, out
    else:  # followed to its end, or (on a slow machine) already finished when the re-run looked
        assert "resuming" not in out and "trial 0 started" not in out and "trial 1 started" not in out, out
    for n in (0, 1):
        starts = [e for e in read_events(trials[n][0].path / "events.jsonl") if isinstance(e, RunStarted)]
        assert [e.resumed for e in starts] == ([False] if children == "alive" else [False, True])


@pytest.mark.slow
def test_a_sweep_killed_while_its_trial_starts_adopts_that_trial_on_rerun(tmp_path: Path) -> None:
    """SIGKILL the sweep in a trial's first seconds (its child still loading torch: the run folder
    holds train.log alone) and run the same command: the child goes on and writes its run, so
    the re-run follows it; a second child in that folder would fail ("is being trained by
    another petseg process") and the trial with it while the first one trained unobserved."""
    runs = tmp_path / "runs"
    flags = ["--name", "boot", *SPACE, "--trials", "1", "--epochs", "3", "--prune", "none"]
    p = _sweep_proc(runs, *flags, epoch_seconds=1.0, start_seconds=3.0)
    _wait(lambda: (runs / "boot-t000" / "train.log").exists())
    p.send_signal(signal.SIGKILL)
    p.communicate()
    assert not (runs / "boot-t000" / "config.json").exists()  # killed before its child wrote the run
    again = _sweep_proc(runs, *flags, epoch_seconds=1.0, start_seconds=3.0)
    out = again.communicate(timeout=60)[0]
    assert again.returncode == 0 and "trial 0 finished" in out and "failed" not in out, out
    (run,) = RunStore(runs).list_runs()
    assert (run.state, run.epoch) == (RunState.FINISHED, 3)
    assert [e.resumed for e in read_events(run.path / "events.jsonl") if isinstance(e, RunStarted)] == [False]


@pytest.mark.slow
def test_resume_by_name_goes_on_as_the_same_command_would(tmp_path: Path, fake_trainer: None,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """``petseg sweep --resume NAME`` after the sweep and its trial were SIGKILLed: no flag typed
    again, the killed trial resumes from last.pt and the budget left runs, none twice."""
    runs = tmp_path / "runs"
    p = _sweep_proc(runs, "--name", "again", *SPACE, "--trials", "2", "--epochs", "3", "--prune", "none",
                    epoch_seconds=0.3)
    _wait(lambda: any(s.epoch >= 1 for s in RunStore(runs).list_runs()) if runs.is_dir() else False)
    p.send_signal(signal.SIGKILL)
    p.communicate()
    for s in RunStore(runs).list_runs():
        os.kill(json.loads((s.path / "status.json").read_text())["pid"], signal.SIGKILL)
    _wait(lambda: all(not s.state.is_active for s in RunStore(runs).list_runs()))
    assert main(["sweep", "--runs", str(runs), "--resume", "again"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == ("resuming sweep again: its 1 unfinished trial (0) goes on where it stopped and "
                                   "1 of its 2 trials is left to run"), out
    trials = _trial_runs(runs)
    assert sorted(trials) == [0, 1] and all(len(v) == 1 for v in trials.values()), out
    assert all(v[0].state == RunState.FINISHED and v[0].epoch == 3 for v in trials.values()), out
    starts = [e for e in read_events(trials[0][0].path / "events.jsonl") if isinstance(e, RunStarted)]
    assert [e.resumed for e in starts] == [False, True]


@pytest.mark.parametrize("pruned", [False, True], ids=["stopped", "pruned"])
def test_a_rerun_follows_a_trial_whose_resume_the_killed_sweep_left_still_starting(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], pruned: bool) -> None:
    """The sweep resumed a stopped trial and was SIGKILLed while that resume loaded torch (the run
    reads as it ended, its writer lock not taken yet). The re-run took the trial for one to resume
    and started a second ``petseg train --resume``; the first took the run, the second was refused
    on its writer lock, and the trial was told failed while the first trained on unobserved. The
    re-run waits for the resume still starting to take the run, and follows it to its end. A
    trial the killed sweep had pruned (its resume owed the stop, `TrialWatch.stop_owed`, which
    died with that sweep) is asked to stop again, and ends pruned."""
    from optuna.trial import TrialState

    from engine.sweep.study import load_study
    from tests.engine.sweep.fake_sweep import start_fake_resume
    from tests.engine.sweep.stopped_studies import killed_sweep_trial

    name = killed_sweep_trial(tmp_path, epochs=4, pruned=pruned, prune="none")  # its sweep was killed ...
    orphan = start_fake_resume(tmp_path, name, monkeypatch, start_seconds=1.5, epoch_seconds=1.0)  # ... as it resumed
    monkeypatch.setenv("FAKE_START_SECONDS", "2.5")  # the re-run's own children load torch as long
    try:
        assert main(["sweep", "--runs", str(tmp_path), "--resume", "p"]) == 0
        assert orphan.wait(30) == (130 if pruned else 0)
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait()
    out = capsys.readouterr().out
    assert "trial 0: its run p-t000 is still training; following it" in out and "resuming its run" not in out, out
    (told,) = load_study("p", tmp_path).trials
    run = RunStore(tmp_path).load(name)
    if pruned:
        assert told.state == TrialState.PRUNED and "trial 0 pruned at epoch 1" in out, out
        assert str(RunStore(tmp_path).summary(name).state) == "pruned" and max(run.epochs) < 4
    else:
        assert told.state == TrialState.COMPLETE, out
        assert run.state == RunState.FINISHED and sorted(run.epochs) == [1, 2, 3, 4]
    assert [e.resumed for e in read_events(tmp_path / name / "events.jsonl") if isinstance(e, RunStarted)] == [
        False, True]
