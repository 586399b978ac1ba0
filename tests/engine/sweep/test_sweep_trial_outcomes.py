"""What a sweep says of each trial's end, in its output and in ``--show``, with fake_train.py as each
trial's ``petseg train`` (no torch; the sweep's own code runs): pruned and recorded in config.json,
refused at start, killed, stopped by its user, a long budget's column, one trial said singular, a
sweep kept in a database found without its flag, and real trials with the best tested."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from engine.cli import main
from engine.runs import RunState
from tests.conftest import TINY_TRAIN
from tests.engine.sweep.sweep_cli_helpers import SPACE, _trial_runs


@pytest.mark.slow
def test_sweep_prunes_and_records_trials(tmp_path: Path, fake_trainer: None, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_EPOCH_SECONDS", "0.5")  # the stop lands within an epoch even on a loaded machine
    runs = tmp_path / "runs"
    # seed 25 draws learning rates 0.0074, 0.0038, then four lower ones: whichever trials have
    # ended when a later one reports its second epoch, it trails their median (fake_train's Dice
    # grows with the rate), so a trial is pruned however the two slots interleave
    rc = main(["sweep", "--runs", str(runs), "--name", "lr", *SPACE, "--sampler_seed", "25", "--trials", "6",
               "--parallel", "2", "--epochs", "4"])
    out = capsys.readouterr().out
    assert rc == 0, out
    trials = _trial_runs(runs)
    assert sorted(trials) == list(range(6)) and all(len(v) == 1 for v in trials.values())
    states = Counter(v[0].state for v in trials.values())
    assert states[RunState.PRUNED] >= 1 and states[RunState.FINISHED] >= 2, states
    pruned = next(v[0] for v in trials.values() if v[0].state == RunState.PRUNED)
    assert pruned.epoch < 4 and "pruned by its sweep" in pruned.message
    # its line names the best's epoch, and says when that came after the pruner's decision
    said = re.search(rf"trial {pruned.trial} pruned at epoch (\d+) \(best valid Dice [0-9.]+ at epoch (\d+)"
                     r"(, trained before the stop reached it)?\)", out)
    assert said is not None, out
    assert (said.group(3) is not None) == (int(said.group(2)) > int(said.group(1))), said.group(0)
    config = json.loads((pruned.path / "config.json").read_text())
    assert config["sweep"]["name"] == "lr" and config["sweep"]["trial"] == pruned.trial
    assert config["learning_rate"] == pytest.approx(config["sweep"]["params"]["learning_rate"])
    assert (runs / ".sweeps" / "lr.journal").is_file()
    # the leaderboard: best first, as --show prints it
    assert main(["sweep", "--runs", str(runs), "--show", "lr"]) == 0
    shown = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in shown if line.strip()[:1].isdigit()]
    dice = [float(r[2]) for r in rows]
    assert len(rows) == 6 and dice == sorted(dice, reverse=True)
    assert "pruned" in {r[-1] for r in rows} and any("importances" in line for line in shown)


def test_a_trial_refused_at_start_fails_with_its_own_error(tmp_path: Path, fake_trainer: None,
                                                          capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A trial whose ``petseg train`` refuses to start (its error in its train.log, no config.json)
    fails with that error, in the sweep's output and in --show, not with its folder's missing files."""
    why = "--pretrained /gone.pth: no such file (give a .pth state_dict of the encoder, or imagenet)"
    monkeypatch.setenv("FAKE_REFUSE", why)
    runs = tmp_path / "runs"
    main(["sweep", "--runs", str(runs), "--name", "refused", *SPACE, "--trials", "1", "--epochs", "2"])
    out = capsys.readouterr().out
    assert f"trial 0 failed at start: {why}" in out, out
    assert main(["sweep", "--runs", str(runs), "--show", "refused"]) == 0
    (row,) = [line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("0 ")]
    assert row.endswith(f"failed: {why}"), row


def test_a_trial_whose_process_was_killed_reads_failed_in_the_runs_table_too(
        tmp_path: Path, fake_trainer: None, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A trial's child SIGKILLed mid-run (kill -9, the out-of-memory killer) is a failed trial in
    the study: ``petseg runs`` called its run ``interrupted``, so ``--filter status:failed`` missed
    what ``petseg sweep --show`` listed as failed, and neither said it was killed. The sweep's own
    line then still said "trial 0 failed (interrupted)": it reads as its --show row does."""
    monkeypatch.setenv("FAKE_SIGKILL_AFTER", "1")
    runs = tmp_path / "runs"
    main(["sweep", "--runs", str(runs), "--name", "killed", *SPACE, "--trials", "1", "--epochs", "3"])
    said = [line for line in capsys.readouterr().out.splitlines() if line.startswith("trial 0 failed")]
    assert len(said) == 1 and said[0].startswith("trial 0 failed: its process was killed by SIGKILL"), said
    assert "interrupted" not in said[0]
    assert main(["runs", "--runs", str(runs), "--filter", "status:failed"]) == 0
    listed = capsys.readouterr().out
    assert "killed-t000" in listed and "failed" in listed, listed
    assert main(["sweep", "--runs", str(runs), "--show", "killed"]) == 0
    (row,) = [line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("0 ")]
    assert "failed: its process was killed by SIGKILL" in row and "after epoch 1" in row, row


def test_a_trial_its_user_stopped_reads_stopped_in_the_sweeps_table_as_in_the_runs_table(
        tmp_path: Path, fake_trainer: None, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A trial's run stopped from the dashboard (x) is listed "stopped" by petseg runs (and its
    status:stopped filter); petseg sweep --show said "failed: stopped by user"."""
    monkeypatch.setenv("FAKE_STOP_AFTER", "1")
    runs = tmp_path / "runs"
    main(["sweep", "--runs", str(runs), "--name", "halted", *SPACE, "--trials", "1", "--epochs", "3"])
    capsys.readouterr()
    assert main(["runs", "--runs", str(runs), "--filter", "status:stopped"]) == 0
    assert "halted-t000" in capsys.readouterr().out
    assert main(["sweep", "--runs", str(runs), "--show", "halted"]) == 0
    (row,) = [line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("0 ")]
    assert row.endswith("stopped: stopped by user"), row


def test_show_keeps_its_status_column_straight_past_999_epochs(
        tmp_path: Path, fake_trainer: None, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A trial at "286/2000" (a long budget): the 7-wide epoch column put its status one column
    right of the header's (and of a "34/2000" row's)."""
    monkeypatch.setenv("FAKE_STOP_AFTER", "1")
    runs = tmp_path / "runs"
    main(["sweep", "--runs", str(runs), "--name", "long", *SPACE, "--trials", "1", "--epochs", "100000"])
    capsys.readouterr()
    assert main(["sweep", "--runs", str(runs), "--show", "long"]) == 0
    lines = capsys.readouterr().out.splitlines()
    head = next(line for line in lines if line.strip().startswith("trial"))
    (row,) = [line for line in lines if line.strip().startswith("0 ")]
    assert "1/100000" in row and row.index("stopped") == head.index("status"), lines


def test_a_one_trial_sweep_says_trial_not_trials(tmp_path: Path, fake_trainer: None,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    assert main(["sweep", "--runs", str(runs), "--name", "one", *SPACE, "--trials", "1", "--epochs", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("sweep one: 1 trial (0 already in the study), random sampler"), lines
    assert "sweep one: 1 of 1 trial" in lines, lines


@pytest.mark.slow
def test_real_trials_record_their_sweep_and_the_best_is_tested(tmp_path: Path, generated_data: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Real ``petseg train`` children (the detached launch's argv): config.json records the trial,
    and the best trial is scored on the test split at the end."""
    runs = tmp_path / "runs"
    # the search is a field TINY_TRAIN leaves free: one both searched and fixed is refused
    rc = main(["sweep", "--runs", str(runs), "--name", "real", "--param", "learning_rate=choice:0.002", "--trials", "1",
               "--epochs", "1", *TINY_TRAIN, "--data_path", generated_data])
    cap = capsys.readouterr()
    out = cap.out
    assert rc == 0, out + cap.err
    trials = _trial_runs(runs)
    assert sorted(trials) == [0]
    record = json.loads((trials[0][0].path / "config.json").read_text())["sweep"]
    assert record == {"name": "real", "trial": 0, "params": {"learning_rate": 0.002}}
    best = next(line for line in out.splitlines() if line.startswith("best trial"))
    assert "test Dice" in best and "test images at photo size" in best


def test_show_finds_a_sweep_kept_in_a_database_without_its_storage_flag(
        tmp_path: Path, fake_trainer: None, capsys: pytest.CaptureFixture[str]) -> None:
    """`--show NAME` said "no sweep named" for a sweep run with --storage: the sweep records its
    storage in the runs folder (without a password), which --show now reads, as the dashboard does."""
    runs = tmp_path / "runs"
    assert main(["sweep", "--runs", str(runs), "--name", "db", "--storage", f"sqlite:///{tmp_path / 's.db'}",
                 "--param", "learning_rate=log:1e-3:1e-2", "--sampler", "random", "--eval_best", "no",
                 "--epochs", "1", "--trials", "1"]) == 0
    capsys.readouterr()
    assert main(["sweep", "--runs", str(runs), "--show", "db"]) == 0
    out = capsys.readouterr().out
    assert "sweep db: 1 of 1 trial" in out and "finished" in out, out
