"""When a sweep stops asking for trials, with fake_train.py as each trial's ``petseg train``: its
first trials all failed alike (said in one line, and by ``--show`` until a re-run goes on), its
draws all refused by the config; refused draws drawn again, counted and shown; and a grid sweep
run again after giving up covering every grid point."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main
from tests.engine.sweep.sweep_cli_helpers import SPACE


def test_a_sweep_whose_first_trials_all_fail_at_start_stops(tmp_path: Path, fake_trainer: None,
                                                            capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Every trial would fail as the first ones did (the base flags cannot train): the sweep says so
    in one line and stops asking, instead of spending its budget; a re-run goes on with the study."""
    why = "--device cuda: CUDA is not available"
    monkeypatch.setenv("FAKE_REFUSE", why)
    runs = tmp_path / "runs"
    rc = main(["sweep", "--runs", str(runs), "--name", "dead", *SPACE, "--trials", "6", "--epochs", "2"])
    out = capsys.readouterr().out
    assert rc == 1, out
    assert (f"sweep dead stopped: its first 2 trials failed before an epoch with the same error ({why}); "
            "fix it and run the same command again") in out
    assert "trial 2 started" not in out and "sweep dead: 2 of 6 trials" in out, out


def test_show_says_why_a_sweep_stopped_until_a_rerun_goes_on(tmp_path: Path, fake_trainer: None,
                                                            capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A sweep that stopped because its first trials all failed alike said so in its own output
    (the TUI's sweep log) alone: --show listed two failed trials of "2 of 6" and no word that the
    sweep had given up. It says it last, in the same line; a re-run that goes on clears it."""
    why = "--device cuda: CUDA is not available"
    monkeypatch.setenv("FAKE_REFUSE", why)
    runs = tmp_path / "runs"
    flags = ["sweep", "--runs", str(runs), "--name", "dead", *SPACE, "--epochs", "1"]
    assert main([*flags, "--trials", "6"]) == 1
    capsys.readouterr()
    assert main(["sweep", "--runs", str(runs), "--show", "dead"]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[-1] == (f"sweep dead stopped: its first 2 trials failed before an epoch with the same error ({why}); "
                         "fix it and run the same command again")
    monkeypatch.delenv("FAKE_REFUSE")
    assert main([*flags, "--trials", "3"]) == 0
    capsys.readouterr()
    assert main(["sweep", "--runs", str(runs), "--show", "dead"]) == 0
    assert "stopped" not in capsys.readouterr().out


def test_a_sweep_whose_draws_are_all_refused_stops_in_one_line(
        tmp_path: Path, fake_trainer: None, capsys: pytest.CaptureFixture[str]) -> None:
    """Every combination of the space is one the config refuses (warm-up >= epochs): each draw
    fails before any process starts, is drawn again, and 10 refused in a row stop the sweep in
    one line (exit 1) with nothing trained and no trial counted in the budget. Before, the
    refusals spent the whole budget and the sweep exited 0."""
    runs = tmp_path / "runs"
    rc = main(["sweep", "--runs", str(runs), "--name", "wu", "--param", "warmup_epochs=int:2:3",
               "--param", "epochs=int:1:2", "--sampler", "random", "--sampler_seed", "1", "--eval_best", "no",
               "--trials", "4"])
    captured = capsys.readouterr()
    out = captured.out
    assert rc == 1, out
    assert "sweep wu stopped: its last 10 draws were all refused before they started (--warmup_epochs " in out
    assert captured.err.strip().splitlines()[-1].startswith("petseg: error: sweep wu stopped: its last 10 draws")
    assert "must be fewer than --epochs" in out and "sweep wu: 0 of 4 trials" in out, out
    assert not [p for p in runs.iterdir() if not p.name.startswith(".")]


def test_a_space_partly_refused_still_trains_its_whole_budget(
        tmp_path: Path, fake_trainer: None, capsys: pytest.CaptureFixture[str]) -> None:
    """Half the draws refused (warm-up 2 or 3 against 3 or 4 epochs): the refused ones are drawn
    again, so the budget's 3 trials all train; the first two draws being refused no longer ends
    the sweep by chance."""
    runs = tmp_path / "runs"
    rc = main(["sweep", "--runs", str(runs), "--name", "half", "--param", "warmup_epochs=int:2:5",
               "--param", "epochs=int:3:5", "--sampler", "random", "--sampler_seed", "3", "--eval_best", "no",
               "--trials", "3"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "drawn values refused, nothing started" in out  # this seed draws some refused ones
    assert "sweep half: 3 of 3 trials" in out, out
    rows = [line for line in out.splitlines() if line.strip()[:1].isdigit() and line.endswith("finished")]
    assert len(rows) == 3, out


def test_show_says_how_many_draws_were_refused_and_why(
        tmp_path: Path, fake_trainer: None, capsys: pytest.CaptureFixture[str]) -> None:
    """Refused draws are not trials of the budget, so the leaderboard has no row for them: --show
    listed fewer trials than were drawn and never said why. Now a line under the rows, from the
    study: how many, and the last one's reason."""
    runs = tmp_path / "runs"
    assert main(["sweep", "--runs", str(runs), "--name", "half", "--param", "warmup_epochs=int:2:5",
                 "--param", "epochs=int:3:5", "--sampler", "random", "--sampler_seed", "3", "--eval_best", "no",
                 "--trials", "3"]) == 0
    capsys.readouterr()
    assert main(["sweep", "--runs", str(runs), "--show", "half"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "1 draw refused before it started, not counted in the budget: --warmup_epochs 5: must be fewer " \
           "than --epochs (5)" in lines, lines
    assert len([line for line in lines if line.endswith("finished")]) == 3


def test_a_grid_sweep_run_again_after_giving_up_covers_every_grid_point(
        tmp_path: Path, fake_trainer: None, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The first 2 grid points failed at start (a base flag found bad only then): once the cause
    is fixed, the same command runs every grid point that has no finished trial, not just the
    ones never asked; the budget stays the grid."""
    grid = ["--name", "g", "--sampler", "grid", "--param", "learning_rate=choice:0.001,0.003,0.01", "--eval_best",
            "no", "--epochs", "1"]
    runs = tmp_path / "runs"
    monkeypatch.setenv("FAKE_REFUSE", "--pretrained /gone.pth: no such file")
    assert main(["sweep", "--runs", str(runs), *grid]) == 1
    capsys.readouterr()
    monkeypatch.delenv("FAKE_REFUSE")
    assert main(["sweep", "--runs", str(runs), *grid]) == 0
    out = capsys.readouterr().out
    assert main(["sweep", "--runs", str(runs), "--show", "g"]) == 0
    shown = capsys.readouterr().out.splitlines()
    complete = sorted(float(r.split()[1]) for r in shown if r.strip()[:1].isdigit() and r.endswith("finished"))
    assert complete == [0.001, 0.003, 0.01], (out, shown)
    assert "sweep g: 3 of 3 grid points (5 trials)" in shown, shown
    # a third run has nothing left to do
    assert main(["sweep", "--runs", str(runs), *grid]) == 0
    assert "started" not in capsys.readouterr().out
