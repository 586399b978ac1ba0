"""`petseg stop`, `petseg pause` and `petseg unpause`: the live screen's x and p from a shell, for a
run that trains in another process (detached from the dashboard, a sweep's trial); every rank of
a data-parallel run obeys. A run that is not training is refused and nothing is written to it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.cli import main
from engine.config import TrainConfig
from engine.events import RunStarted
from engine.runs import RunState, RunStore, read_control
from engine.runs.layout import CONTROL_FILE, checkpoint_path
from tests import warm_petseg

REPO = Path(__file__).resolve().parents[2]


def petseg(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _made(root: Path, name: str, state: str) -> tuple[Path, object]:
    """A run folder whose writer says ``state``; its writer (holding the run's lock) is returned open."""
    w = RunStore(root).create(TrainConfig(epochs=1).to_dict(), name)
    w.append(RunStarted(run=name, total_epochs=1, start_epoch=1, train_size=2, valid_size=1, device="cpu",
                        data="test", t=time.time()))
    w.set_status(state, "")
    return root / name, w


def _ended(root: Path, name: str, state: str) -> Path:
    path, w = _made(root, name, state)
    w.close()
    return path


def test_a_run_that_is_not_training_is_refused_and_nothing_is_written(tmp_path: Path, capsys) -> None:
    done = _ended(tmp_path, "done", "finished")
    halted = _ended(tmp_path, "halted", "stopped")
    for command in ("stop", "pause", "unpause"):
        code, out, err = petseg(capsys, command, "--runs", str(tmp_path), "done")
        assert (code, out) == (1, "")
        assert err == f"petseg: error: done: not training: it is finished; nothing to {command}\n"
    # unpause is not train --resume: a stopped run is continued by that, and the line says so
    code, _, err = petseg(capsys, "unpause", "--runs", str(tmp_path), "halted")
    assert code == 1 and err == ("petseg: error: halted: not training: it is stopped (petseg train --resume "
                                 "continues it); nothing to unpause\n")
    assert not (done / CONTROL_FILE).exists() and not (halted / CONTROL_FILE).exists()


def test_a_missing_run_or_a_folder_that_is_no_run_is_one_line(tmp_path: Path, capsys) -> None:
    code, out, err = petseg(capsys, "stop", "--runs", str(tmp_path), "nosuch")
    assert (code, out) == (1, "") and err == f"petseg: error: {tmp_path / 'nosuch'}: no such run folder\n"
    other = tmp_path.parent / f"{tmp_path.name}-project"
    other.mkdir()
    (other / "config.json").write_text("{}")
    code, out, err = petseg(capsys, "pause", "--runs", str(tmp_path), str(other))
    assert (code, out) == (1, "") and err.startswith(f"petseg: error: {other}: not a petseg run folder")
    assert not (other / CONTROL_FILE).exists()


def test_pause_of_a_paused_run_and_unpause_of_a_training_one_are_refused(tmp_path: Path, capsys) -> None:
    paused, w1 = _made(tmp_path, "paused", "paused")
    running, w2 = _made(tmp_path, "running", "running")
    try:
        code, _, err = petseg(capsys, "pause", "--runs", str(tmp_path), "paused")
        assert code == 1 and err == "petseg: error: paused: already paused (petseg unpause trains it again)\n"
        code, _, err = petseg(capsys, "unpause", "--runs", str(tmp_path), "running")
        assert code == 1 and err == "petseg: error: running: not paused: it is training; nothing to unpause\n"
    finally:
        w1.close()
        w2.close()
    assert not (paused / CONTROL_FILE).exists() and not (running / CONTROL_FILE).exists()


def test_a_run_that_does_not_obey_in_time_fails_and_the_request_stands(tmp_path: Path, capsys) -> None:
    """A process that holds the run but reads no request (a long batch, data still loading)."""
    path, w = _made(tmp_path, "slow", "running")
    try:
        t0 = time.monotonic()
        code, out, err = petseg(capsys, "stop", "--runs", str(tmp_path), "slow", "--timeout", "0.5")
        assert time.monotonic() - t0 < 5
        assert (code, out) == (1, "") and err.startswith("petseg: error: slow: did not stop within 0.5 s; the request stands")
        assert read_control(path) == "stop"
        # a pause now would replace the stop on its way, and the run would go on: refused
        code, _, err = petseg(capsys, "pause", "--runs", str(tmp_path), "slow", "--no_wait")
        assert code == 1 and err == "petseg: error: slow: a stop is already on its way to it; not paused\n"
        assert read_control(path) == "stop"
    finally:
        w.close()


def test_a_timeout_that_would_wait_for_good_is_refused(tmp_path: Path, capsys) -> None:
    path, w = _made(tmp_path, "live", "running")
    try:
        for value in ("nan", "inf", "-1"):
            with pytest.raises(SystemExit) as exc:
                main(["stop", "--runs", str(tmp_path), "live", "--timeout", value])
            assert exc.value.code == 2
            assert f"--timeout: '{value}': give seconds, 0 or more" in capsys.readouterr().err
    finally:
        w.close()
    assert not (path / CONTROL_FILE).exists()


def test_no_wait_sends_the_request_and_returns(tmp_path: Path, capsys) -> None:
    path, w = _made(tmp_path, "live", "running")
    try:
        code, out, err = petseg(capsys, "pause", "--runs", str(tmp_path), "live", "--no_wait")
    finally:
        w.close()
    assert (code, out, err) == (0, "live: pause asked (it acts after the current batch)\n", "")
    assert read_control(path) == "pause"


def test_a_timeout_of_0_waits_not_at_all_as_no_wait(tmp_path: Path, capsys) -> None:
    """``--timeout 0`` wrote the request, then failed (exit 1, "did not stop within 0 s"): at most
    0 s is no wait; it says and exits as ``--no_wait`` does, for stop, pause and unpause alike."""
    for command, state, action in (("stop", "running", "stop"), ("pause", "running", "pause"),
                                   ("unpause", "paused", "resume")):
        path, w = _made(tmp_path, command, state)
        try:
            said = petseg(capsys, command, "--runs", str(tmp_path), command, "--timeout", "0")
            assert read_control(path) == action
            (path / CONTROL_FILE).unlink()
            assert said == petseg(capsys, command, "--runs", str(tmp_path), command, "--no_wait")
        finally:
            w.close()
        assert said == (0, f"{command}: {command} asked (it acts after the current batch)\n", "")


def _train(root: Path, name: str, generated_data: str, *extra: str) -> subprocess.Popen:
    """A detached-like ``petseg train`` that runs long enough to be paused and stopped (the
    command stops it; its 2000 epochs are never reached). Warm (tests/warm_petseg.py): the
    commands find it by its run folder, not by its command line."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return warm_petseg.Popen(
        [sys.executable, "-m", "engine.cli", "train", "--runs", str(root), "--run_name", name,
         "--data_path", generated_data, "--epochs", "2000", "--image_size", "64", "--width", "8",
         "--max_train_images", "16", "--workers", "0", "--device", "cpu", *extra],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _wait_training(root: Path, name: str, proc: subprocess.Popen, seconds: float = 120) -> None:
    """Until the run has trained an epoch (torch imported, data made, the loop going)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, "petseg train ended before it was paused"
        if (root / name).is_dir():
            s = RunStore(root).summary(name)
            if s.state == RunState.RUNNING and s.epoch >= 1:
                return
        time.sleep(0.2)
    raise AssertionError(f"{name} did not start training in {seconds} s")


def _pause_unpause_stop(root: Path, name: str, proc: subprocess.Popen, capsys) -> dict[str, float]:
    """Pause, unpause and stop the run from the CLI; each line and state checked; the seconds each took."""
    store, took = RunStore(root), {}
    for command in ("pause", "unpause", "stop"):
        t0 = time.monotonic()
        code, out, err = petseg(capsys, command, "--runs", str(root), name)
        took[command] = time.monotonic() - t0
        assert (code, err) == (0, ""), err
        state = store.summary(name).state
        if command == "pause":
            assert out.startswith(f"{name}: paused ") and out.endswith("; last.pt saved\n")
            assert state == RunState.PAUSED
            epoch = store.summary(name).epoch
            time.sleep(1.0)  # paused: no epoch ends meanwhile
            assert store.summary(name).epoch == epoch
        elif command == "unpause":
            assert out.startswith(f"{name}: training again ") and state == RunState.RUNNING
            deadline = time.monotonic() + 60
            while store.summary(name).epoch <= epoch and time.monotonic() < deadline:
                time.sleep(0.1)
            assert store.summary(name).epoch > epoch  # it trains again
        else:
            assert out.startswith(f"{name}: stopped ") and out.endswith("; last.pt saved\n")
            assert proc.wait(60) is not None
            assert store.summary(name).state == RunState.STOPPED and checkpoint_path(root / name, "last").is_file()
    # stopped now: nothing more to stop, and nothing written to it
    code, _, err = petseg(capsys, "stop", "--runs", str(root), name)
    assert code == 1 and err == f"petseg: error: {name}: not training: it is stopped; nothing to stop\n"
    assert not (root / name / CONTROL_FILE).exists()
    return took


@pytest.mark.slow
def test_a_run_training_in_another_process_is_paused_unpaused_and_stopped(tmp_path: Path, capsys,
                                                                          generated_data: str) -> None:
    proc = _train(tmp_path, "r", generated_data)
    try:
        _wait_training(tmp_path, "r", proc)
        took = _pause_unpause_stop(tmp_path, "r", proc, capsys)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert all(seconds < 10 for seconds in took.values()), took


@pytest.mark.slow
def test_every_rank_of_a_data_parallel_run_obeys(tmp_path: Path, capsys, generated_data: str) -> None:
    """Two CPU processes: a pause holds both (no epoch ends), the stop ends both, and the launch exits."""
    proc = _train(tmp_path, "dp", generated_data, "--devices", "2")
    try:
        _wait_training(tmp_path, "dp", proc)
        took = _pause_unpause_stop(tmp_path, "dp", proc, capsys)
        assert proc.returncode is not None  # the launcher, which waits for both ranks, has exited
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()
    assert all(seconds < 10 for seconds in took.values()), took


def test_a_second_filter_is_refused_not_put_in_place_of_the_first(tmp_path: Path, capsys) -> None:
    """`petseg pause --filter d1 --filter a1` paused a1's runs only, d1's left training without a
    word; a repeated --filter is refused before anything is written."""
    one, w1 = _made(tmp_path, "one", "running")
    two, w2 = _made(tmp_path, "two", "running")
    try:
        with pytest.raises(SystemExit) as exc:
            main(["pause", "--runs", str(tmp_path), "--no_wait", "--filter", "one", "--filter", "two"])
        assert exc.value.code == 2
        assert "--filter: given twice ('one', 'two')" in capsys.readouterr().err
    finally:
        w1.close()
        w2.close()
    assert read_control(one) is None and read_control(two) is None


def test_a_filter_on_a_runs_folder_that_does_not_exist_says_so(tmp_path: Path, capsys) -> None:
    """With --runs forgotten (or mistyped) `petseg stop --filter X` said only "matches no run in
    runs", as if the filter were wrong; a named run's line says the folder does not exist."""
    gone = tmp_path / "nosuch"
    code, out, err = petseg(capsys, "stop", "--runs", str(gone), "--filter", "sweep:lr")
    assert (code, out) == (1, "")
    assert err == (f"petseg: error: --filter 'sweep:lr' matches no run in {gone} (it does not exist: "
                   "give --runs the folder the runs are in)\n")


def test_unpause_takes_back_a_pause_not_obeyed_yet(tmp_path: Path, capsys) -> None:
    """`petseg pause --no_wait` then `petseg unpause` before the run read the pause (a run loading
    its data) was refused "not paused: it is training", and the run paused anyway; the pause is
    now replaced by a resume (a no-op to a run that never paused) and the run trains on."""
    path, w = _made(tmp_path, "live", "running")
    try:
        assert petseg(capsys, "pause", "--runs", str(tmp_path), "live", "--no_wait")[0] == 0
        code, out, err = petseg(capsys, "unpause", "--runs", str(tmp_path), "live")
    finally:
        w.close()
    assert (code, out, err) == (0, "live: the pause asked had not reached it yet; taken back, it trains on\n", "")
    assert read_control(path) == "resume"


def test_pause_takes_back_an_unpause_not_obeyed_yet(tmp_path: Path, capsys) -> None:
    """`petseg unpause --no_wait` then `petseg pause` before the run read the unpause was refused
    "already paused", and the run then trained on; the unpause is now replaced by a pause."""
    path, w = _made(tmp_path, "held", "paused")
    try:
        assert petseg(capsys, "unpause", "--runs", str(tmp_path), "held", "--no_wait")[0] == 0
        code, out, err = petseg(capsys, "pause", "--runs", str(tmp_path), "held")
    finally:
        w.close()
    assert (code, out, err) == (0, "held: the unpause asked had not reached it yet; taken back, it stays paused\n", "")
    assert read_control(path) == "pause"


def _stopped_run(root: Path, generated_data: str) -> Path:
    """A real run ``r`` of 50 epochs stopped in its first (last.pt saved): what R resumes."""
    from engine.runs import request_control
    from engine.train.trainer import Trainer

    config = TrainConfig(epochs=50, image_size=64, width=4, batch_size=8, max_train_images=16, workers=0,
                         device="cpu", data_path=generated_data)
    trainer = Trainer(config, root, "r")
    assert request_control(trainer.run_path, "stop")
    assert trainer.run() == "stopped" and checkpoint_path(trainer.run_path, "last").is_file()
    return trainer.run_path



def stop_while_its_resume_starts(capsys, runs: Path, resume: subprocess.Popen, timeout: int, wait: int) -> str:
    """``petseg stop r --timeout TIMEOUT`` while ``resume`` (a resume of r) starts: it says it waits,
    the resume exits as stopped within ``wait`` s after, and the command succeeds; returns its
    "r: stopped ..." line."""
    from engine.cli.common import EXIT_STOPPED

    try:
        code, out, err = petseg(capsys, "stop", "--runs", str(runs), "r", "--timeout", str(timeout))
        assert resume.wait(wait) == EXIT_STOPPED
    finally:
        if resume.poll() is None:
            resume.kill()
            resume.wait()
    assert (code, err) == (0, ""), err
    waited, stopped = out.splitlines()
    assert waited == f"r: being resumed by pid {resume.pid}, still starting; the stop waits for it to take the run"
    assert stopped.startswith("r: stopped ")
    return stopped


def test_stop_waits_for_a_resume_still_starting_and_stops_it(tmp_path: Path, capsys, generated_data: str) -> None:
    """The dashboard's R starts ``petseg train --resume r`` detached; it loads torch for seconds
    before it takes the run, and meanwhile the run reads stopped. ``petseg stop r`` then said
    "not training: it is stopped; nothing to stop" (exit 1) and the resume trained on. It waits
    for the resume to take the run, and stops it."""
    from engine.train.launch import start_resume

    run = _stopped_run(tmp_path, generated_data)
    resume = start_resume(tmp_path, "r")  # as R: `python -m engine.cli train --runs RUNS --resume r`
    stopped = stop_while_its_resume_starts(capsys, tmp_path, resume, timeout=120, wait=120)
    assert stopped.endswith("; last.pt saved")
    history = RunStore(tmp_path).load("r")
    assert history.state == RunState.STOPPED and max(history.epochs, default=0) < 50
    assert not (run / CONTROL_FILE).exists()


def test_stop_no_wait_on_a_resume_still_starting_says_to_ask_again(tmp_path: Path, capsys,
                                                                    monkeypatch) -> None:
    """--no_wait cannot wait for the resume to take the run: it says so, and what to do, in one
    line (was: "not training: it is stopped; nothing to stop", while the resume went on to train)."""
    from tests.engine.sweep.fake_sweep import start_fake_resume, stopped_trial_run

    run = stopped_trial_run(tmp_path, "r")
    resume = start_fake_resume(tmp_path, "r", monkeypatch, start_seconds=30)
    try:
        code, out, err = petseg(capsys, "stop", "--runs", str(tmp_path), "r", "--no_wait")
    finally:
        resume.kill()
        resume.wait()
    assert (code, out) == (1, "")
    assert err == (f"petseg: error: r: being resumed by pid {resume.pid}, still starting, which takes no stop yet; "
                   "nothing asked: run petseg stop again in a moment (without --no_wait it waits for that)\n")
    assert not (run / CONTROL_FILE).exists()


def test_stop_waits_for_a_resume_typed_by_hand_with_a_relative_runs_folder(tmp_path: Path, capsys) -> None:
    """``cd /data && petseg train --runs runs --resume r``: its argv names ``runs``, not the folder
    R and a sweep write absolute, so `starting_resume` did not see it, and ``petseg stop r`` said
    "not training: it is stopped; nothing to stop" while it went on to train. Its ``--runs`` is read
    against its own working directory: the stop waits for it to take the run, and stops it."""
    from tests.engine.sweep.fake_sweep import FAKE, stopped_trial_run

    stopped_trial_run(tmp_path / "runs", "r")
    env = {**os.environ, "PYTHONPATH": str(REPO), "FAKE_START_SECONDS": "2", "FAKE_EPOCH_SECONDS": "0.2"}
    resume = subprocess.Popen([sys.executable, str(FAKE), "train", "--runs", "runs", "--resume", "r"],
                              cwd=tmp_path, env=env)
    stop_while_its_resume_starts(capsys, tmp_path / "runs", resume, timeout=60, wait=30)
    history = RunStore(tmp_path / "runs").load("r")
    assert history.state == RunState.STOPPED and max(history.epochs) < 20
