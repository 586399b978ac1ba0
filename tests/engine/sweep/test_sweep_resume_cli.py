"""``petseg sweep --resume NAME``: what it says it resumes and when it refuses, in one line with
nothing started (studies made here without training, as test_sweep_resume.py does). The run
itself, end to end: test_sweep_processes.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main
from engine.runs.layout import sweep_journal
from engine.sweep.launch import sweep_running
from engine.sweep.spec import RERUN_CHANGES
from engine.sweep.study import load_study
from engine.sweep.where import record_storage
from tests.engine.sweep.stopped_studies import stopped_sweep

SPACE = {"name": "sw", "params": ["learning_rate=log:1e-4:1e-2"], "trials": 4, "sampler": "random",
         "eval_best": "no", "base": {"epochs": 2, "image_size": 64}}




def _refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["sweep", *argv]) == 1
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1, (out, err)  # one line, nothing started
    return err.strip()


def test_an_unknown_sweep_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _refused(capsys, "--runs", str(tmp_path), "--resume", "nosuch")
    assert err.startswith("petseg: error: sweep nosuch cannot be resumed from here: ") and "no sweep named 'nosuch'" in err
    assert not sweep_journal(tmp_path, "nosuch").exists()


def test_search_and_train_flags_are_the_studys_and_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stopped_sweep(tmp_path, SPACE, asked=1, completed=1)
    for flags, first in ((["--param", "width=choice:8,16"], "--param"), (["--epochs", "5"], "--epochs"),
                         (["--spec", str(tmp_path / "x.toml")], "--spec"), (["--name", "other"], "--name"),
                         (["--devices_per_trial", "2"], "--devices_per_trial")):
        err = _refused(capsys, "--runs", str(tmp_path), "--resume", "sw", *flags)
        assert err.startswith(f"petseg: error: {first}: --resume sw runs the sweep as its study recorded it"), err
    assert len(load_study("sw", tmp_path).trials) == 1  # no trial asked


def test_a_sweep_with_nothing_left_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stopped_sweep(tmp_path, {**SPACE, "trials": 2}, asked=2, completed=2)
    err = _refused(capsys, "--runs", str(tmp_path), "--resume", "sw")
    assert err == ("petseg: error: sweep sw: nothing is left to run: its 2 trials have ended (petseg sweep --show sw: "
                   "its leaderboard; --resume sw --trials N with a larger N runs more)")


def test_a_sweep_still_running_is_not_resumed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stopped_sweep(tmp_path, SPACE, asked=1, completed=0)
    code = (f"from engine.sweep.launch import claim_sweep; claim_sweep({str(tmp_path)!r}, 'sw'); "
            "print('claimed', flush=True); import time; time.sleep(60)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")])}
    # "sweep" in its command line, as a petseg sweep process's
    proc = subprocess.Popen([sys.executable, "-c", code, "sweep"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "claimed"
        assert sweep_running(tmp_path, "sw")
        err = _refused(capsys, "--runs", str(tmp_path), "--resume", "sw")
        assert err.startswith(f"petseg: error: sweep sw is running (process {proc.pid}): nothing to resume"), err
    finally:
        proc.kill()
        proc.wait()


def test_another_storage_than_the_recorded_one_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    stopped_sweep(tmp_path, {**SPACE, "storage": url}, asked=1, completed=0)
    record_storage(tmp_path, "sw", url)
    err = _refused(capsys, "--runs", str(tmp_path), "--resume", "sw", "--storage", f"sqlite:///{tmp_path / 'b.db'}")
    assert err.startswith(f"petseg: error: --storage sqlite:///{tmp_path / 'b.db'}: sweep sw is kept in {url}"), err
    assert not (tmp_path / "b.db").exists()


def test_a_bad_slot_flag_is_said_as_the_flags_own_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stopped_sweep(tmp_path, SPACE, asked=1, completed=1)
    err = _refused(capsys, "--runs", str(tmp_path), "--resume", "sw", "--per_device", "2")
    assert err == "petseg: error: --per_device: needs --devices (on a CPU use --parallel N)"


def test_help_names_resume(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    assert "--resume NAME" in capsys.readouterr().out


def test_resume_says_what_it_resumes_first(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The line before the sweep's own; the scheduler itself is the sweep's (not run here)."""
    from engine.errors import ConfigError
    from engine.sweep import scheduler

    def stop(*args: object, **kwargs: object) -> None:
        raise ConfigError("the test stops here")

    monkeypatch.setattr(scheduler.Scheduler, "run", stop)
    stopped_sweep(tmp_path, SPACE, asked=2, completed=1)
    assert main(["sweep", "--runs", str(tmp_path), "--resume", "sw", "--trials", "6", "--parallel", "2"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("resuming sweep sw: its 1 unfinished trial (1) goes on where it stopped and 4 of its 6 "
                        "trials are left to run")
    assert lines[1].startswith("sweep sw: 6 trials (2 already in the study), random sampler, pruning median, 2 at once")


# a value for each flag a re-run may change (a flag added to RERUN_CHANGES needs one here)
RERUN_VALUES = {"trials": "6", "sampler": "tpe", "sampler_seed": "3", "prune": "none", "prune_warmup": "2",
                "devices": "0", "per_device": "2", "parallel": "2", "eval_best": "no"}


def test_every_flag_a_rerun_may_change_is_named_in_the_refusal_and_taken_with_resume(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The refusal's list of flags was typed by hand, in its own order: it is `RERUN_CHANGES`
    (then --storage), and every one of them goes with --resume as far as the sweep's start."""
    from engine.errors import ConfigError
    from engine.sweep import scheduler, slots

    def stop(*args: object, **kwargs: object) -> None:
        raise ConfigError("the test stops here")

    monkeypatch.setattr(scheduler.Scheduler, "run", stop)
    monkeypatch.setattr(slots, "visible_gpu_count", lambda: 1)  # --devices 0 names a GPU this box has
    stopped_sweep(tmp_path, SPACE, asked=2, completed=1)
    err = _refused(capsys, "--runs", str(tmp_path), "--resume", "sw", "--epochs", "5")
    assert err.split("; with it give only ")[1].split(", ") == [f"--{key}" for key in (*RERUN_CHANGES, "storage")]
    assert set(RERUN_VALUES) == set(RERUN_CHANGES)
    for left_out in ({"parallel"}, {"devices", "per_device"}):  # a CPU's slots, then a GPU's: one or the other
        flags = [text for key in RERUN_CHANGES if key not in left_out for text in (f"--{key}", RERUN_VALUES[key])]
        assert main(["sweep", "--runs", str(tmp_path), "--resume", "sw", *flags]) == 1
        out, err = capsys.readouterr()
        assert out.startswith("resuming sweep sw: ") and err == "petseg: error: the test stops here\n", (flags, out, err)
        assert "sweep sw: 6 trials (2 already in the study), tpe sampler, pruning none, " in out  # taken, not only let by


def test_a_bare_name_of_a_known_sweep_points_at_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stopped_sweep(tmp_path, SPACE, asked=1, completed=0)
    err = _refused(capsys, "--runs", str(tmp_path), "--name", "sw")
    assert err == ("petseg: error: --param: a sweep searches at least one field; to go on with sweep sw as its "
                   "study recorded it: petseg sweep --resume sw")
    err = _refused(capsys, "--runs", str(tmp_path), "--name", "new")  # no such sweep: as before
    assert err.startswith("petseg: error: --param: a sweep searches at least one field (e.g.")
