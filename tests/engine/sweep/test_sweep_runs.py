"""Sweeps end to end with fake_train.py as each trial's ``petseg train`` (no torch; the sweep's own
code runs): pruning and the ``pruned`` state, the trial record in config.json, the leaderboard,
two sweep processes sharing one study (journal file, sqlite, and PostgreSQL / MySQL when a
server's URL is given: db_servers.py), SIGKILL and re-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from engine.cli import main
from engine.events import RunStarted
from engine.runs import RunState, RunStore, read_events
from tests.conftest import TINY_TRAIN
from tests.engine.sweep.db_servers import fresh_database, server_url

HERE = Path(__file__).parent
FAKE_SWEEP = HERE / "fake_sweep.py"
SPACE = ["--param", "learning_rate=log:1e-3:1e-2", "--sampler", "random", "--eval_best", "no"]


@pytest.fixture
def fake_trainer(monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(HERE))
    try:
        from fake_sweep import use_fake_trainer
    finally:
        sys.path.remove(str(HERE))
    from engine.train import launch

    monkeypatch.setattr(launch, "train_command", launch.train_command)
    monkeypatch.setattr(launch, "resume_command", launch.resume_command)
    use_fake_trainer()
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")]))


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


def test_a_one_trial_sweep_says_trial_not_trials(tmp_path: Path, fake_trainer: None,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    assert main(["sweep", "--runs", str(runs), "--name", "one", *SPACE, "--trials", "1", "--epochs", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("sweep one: 1 trial (0 already in the study), random sampler"), lines
    assert "sweep one: 1 of 1 trial" in lines, lines


@pytest.mark.slow
def test_gpu_slots_give_each_trial_its_gpus(tmp_path: Path, fake_trainer: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """--devices 0,1,2,3 --devices_per_trial 2: two trials at once, each seeing its own pair of GPUs
    (a GPU box faked at the library boundary: the GPU count, and a trainer that records its env)."""
    import engine.sweep.slots as slots

    monkeypatch.setattr(slots, "visible_gpu_count", lambda: 4)
    runs = tmp_path / "runs"
    assert main(["sweep", "--runs", str(runs), "--name", "gpu", *SPACE, "--trials", "4", "--devices", "0,1,2,3",
                 "--devices_per_trial", "2", "--epochs", "2", "--prune", "none"]) == 0
    configs = [json.loads((s.path / "config.json").read_text()) for s in RunStore(runs).list_runs()]
    assert sorted(c["visible_gpus"] for c in configs) == ["0,1", "0,1", "2,3", "2,3"]
    assert {c["devices"] for c in configs} == {"2"}  # each trial a 2-process data-parallel run


def test_slots_per_gpu_group() -> None:
    from engine.sweep.slots import make_slots
    from engine.sweep.spec_build import build_spec

    spec = build_spec({"name": "s", "params": ["width=choice:16"], "devices": "0,1,2,3", "per_device": 2,
                       "devices_per_trial": 2}, gpu_count=lambda: 4)
    assert [(s.label, s.env["CUDA_VISIBLE_DEVICES"]) for s in make_slots(spec)] == [
        ("gpu0,1#0", "0,1"), ("gpu2,3#0", "2,3"), ("gpu0,1#1", "0,1"), ("gpu2,3#1", "2,3")]


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


def _wait(cond, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


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
def test_ctrl_c_without_a_terminal_stops_the_trials_and_a_rerun_resumes_them(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    flags = ["--name", "intr", *SPACE, "--trials", "2", "--parallel", "2", "--epochs", "4", "--prune", "none"]
    p = _sweep_proc(runs, *flags, epoch_seconds=0.5)
    _wait(lambda: sum(1 for s in RunStore(runs).list_runs() if s.epoch >= 1) >= 2)
    p.send_signal(signal.SIGINT)
    out = p.communicate(timeout=60)[0]
    assert p.returncode == 130, out
    assert "stopped 2 running trials; petseg sweep --resume intr (or the same command) resumes them" in out, out
    assert {s.state for s in RunStore(runs).list_runs()} == {RunState.STOPPED}
    again = _sweep_proc(runs, *flags, epoch_seconds=0.2)
    out = again.communicate(timeout=60)[0]
    assert again.returncode == 0 and out.count("resuming its run") == 2, out
    assert {(s.state, s.epoch) for s in RunStore(runs).list_runs()} == {(RunState.FINISHED, 4)}


def test_the_tuis_stop_ends_the_sweep_process_and_its_trials(tmp_path: Path) -> None:
    """`stop_sweep` (the sweeps screen's x) finds the sweep process through runs/.sweeps/NAME.pid
    and sends it SIGTERM: the running trials stop (resumable), the process ends, the file goes."""
    from engine.runs.layout import sweep_pid_file
    from engine.sweep.launch import stop_sweep

    runs = tmp_path / "runs"
    assert stop_sweep(runs, "halt") == "sweep halt is not running here (no readable halt.pid)"
    p = _sweep_proc(runs, "--name", "halt", *SPACE, "--trials", "4", "--parallel", "2", "--epochs", "6",
                    "--prune", "none", epoch_seconds=0.5)
    _wait(lambda: sum(1 for s in RunStore(runs).list_runs() if s.epoch >= 1) >= 2)
    assert json.loads(sweep_pid_file(runs, "halt").read_text())["pid"] == p.pid
    said = stop_sweep(runs, "halt")
    assert said.startswith(f"sweep halt: asked process {p.pid} to stop"), said
    out = p.communicate(timeout=60)[0]
    assert p.returncode != 0 and "stopped 2 running trials" in out, out
    assert {s.state for s in RunStore(runs).list_runs()} == {RunState.STOPPED}
    assert not sweep_pid_file(runs, "halt").exists()
    assert "is not running" in stop_sweep(runs, "halt")


def _claiming_stand_in(runs: Path, name: str) -> subprocess.Popen:
    """A process that claims sweep ``name`` as ``petseg sweep`` does (its command line names a
    sweep), then idles until killed."""
    code = ("import sys, time; from engine.sweep.launch import claim_sweep; "
            "claim_sweep(sys.argv[1], sys.argv[2]); print('claimed', flush=True); time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(runs), name, "sweep"], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "claimed"
    return proc


def test_two_sweep_processes_on_one_study_and_the_later_one_killed_the_first_is_still_found(tmp_path: Path) -> None:
    """Two shells run one sweep; the second is SIGKILLed. The pid file named only the second, so
    the dashboard said "not running: nothing to stop" while the first went on starting trials."""
    from engine.sweep.launch import stop_sweep, sweep_running

    runs = tmp_path / "runs"
    first = _claiming_stand_in(runs, "both")
    second = _claiming_stand_in(runs, "both")
    try:
        second.kill()
        second.wait()
        assert sweep_running(runs, "both")
        said = stop_sweep(runs, "both")
        assert said.startswith(f"sweep both: asked process {first.pid} to stop"), said
        assert first.wait(timeout=10) == -signal.SIGTERM
        assert not sweep_running(runs, "both")
    finally:
        for p in (first, second):
            p.kill()
            p.wait()


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


@pytest.mark.parametrize("content", ["fifo", "{not json", '{"pid": 1, "host": "elsewhere"}'])
def test_a_sweep_pid_file_from_elsewhere_is_read_as_untrusted(tmp_path: Path, content: str) -> None:
    """runs/.sweeps/NAME.pid may come with a copied runs folder: a FIFO or junk never hangs the
    stop, and another host's process is never signalled."""
    from engine.runs.layout import sweep_pid_file
    from engine.sweep.launch import stop_sweep

    path = sweep_pid_file(tmp_path, "odd")
    path.parent.mkdir(parents=True)
    if content == "fifo":
        os.mkfifo(path)
    else:
        path.write_text(content)
    said = stop_sweep(tmp_path, "odd")
    assert said == ("sweep odd runs on elsewhere: stop it there (Ctrl-C or kill 1)" if "elsewhere" in content
                    else "sweep odd is not running here (no readable odd.pid)")


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


def test_slots_follow_the_gpus_this_shell_sees(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under CUDA_VISIBLE_DEVICES=4,5,6,7 a sweep's --devices 0,1,2,3 are those four GPUs, not
    the machine's first four (that others may be using)."""
    from engine.sweep.slots import make_slots
    from engine.sweep.spec_build import build_spec

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6,7")
    spec = build_spec({"name": "s", "params": ["width=choice:16"], "devices": "0,1,2,3", "per_device": 1,
                       "devices_per_trial": 2}, gpu_count=lambda: 4)
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in make_slots(spec)] == ["4,5", "6,7"]


@pytest.mark.parametrize("parallel, warned", [(3, True), (2, False)])
def test_more_cpu_trials_at_once_than_cores_is_said(tmp_path: Path, fake_trainer: None,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch, parallel: int,
                                                     warned: bool) -> None:
    """``--parallel 99`` on a 2-core CPU was accepted without a word: every trial time-slices the
    same cores and trains slowly."""
    import engine.cores
    import engine.sweep.slots

    monkeypatch.setattr(engine.cores, "available_cores", lambda: 2)
    monkeypatch.setattr(engine.sweep.slots, "visible_gpu_count", lambda: 0)
    main(["sweep", "--runs", str(tmp_path / "runs"), "--name", "many", *SPACE, "--trials", "3",
          "--parallel", str(parallel), "--epochs", "1"])
    said = [line for line in capsys.readouterr().err.splitlines() if "CPU cores" in line]
    expected = ("petseg: warning: --parallel 3: 3 training processes at once on the 2 CPU cores available here "
                "time-slice them, so every trial trains slowly; --parallel 2 gives each one a core")
    assert said == ([expected] if warned else [])


def test_trials_on_gpus_are_not_warned_about_the_cpu_cores() -> None:
    """--devices places trials on GPUs (and without it, a GPU seen here is a trial's auto device):
    the CPU's cores do not bound how many train at once."""
    from engine.sweep.slots import cpu_slots_warning
    from engine.sweep.spec_build import build_spec

    space = {"name": "g", "params": ["learning_rate=log:1e-4:1e-3"]}
    on_gpus = build_spec({**space, "devices": "0,1", "per_device": 8}, gpu_count=lambda: 2)
    assert cpu_slots_warning(on_gpus, cores=2, gpus=2) == ""
    auto = build_spec({**space, "parallel": 8})
    assert cpu_slots_warning(auto, cores=2, gpus=1) == ""
    assert "8 training processes" in cpu_slots_warning(auto, cores=2, gpus=0)
    on_cpu = build_spec({**space, "parallel": 8, "base": {"device": "cpu"}})
    assert "8 training processes" in cpu_slots_warning(on_cpu, cores=2, gpus=1)
    few = build_spec({**space, "parallel": 8, "trials": 2})  # never more at once than the trials
    assert cpu_slots_warning(few, cores=2, gpus=0) == ""


def test_the_warning_is_read_from_a_draft_of_the_settings_as_the_form_has_them() -> None:
    """The sweep form warns as its fields are typed, its name maybe still blank: the same rule and
    words as `cpu_slots_warning`, nothing while a number does not read, nothing for GPU trials."""
    from engine.sweep.slots import cpu_slots_warning, draft_slots_warning
    from engine.sweep.spec_build import build_spec

    settings = {"name": "", "params": [], "parallel": 8, "base": {"device": "cpu"}}
    full = build_spec({**settings, "name": "s", "params": ["learning_rate=log:1e-4:1e-3"]})
    assert draft_slots_warning(settings, cores=2, gpus=0) == cpu_slots_warning(full, cores=2, gpus=0) != ""
    assert draft_slots_warning({**settings, "trials": 2}, cores=2, gpus=0) == ""  # never more at once than trials
    assert draft_slots_warning({**settings, "parallel": 0}, cores=2, gpus=0) == ""  # refused at start instead
    assert draft_slots_warning({**settings, "devices": "0"}, cores=2, gpus=1) == ""


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
