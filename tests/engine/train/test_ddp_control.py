"""Stopping a data-parallel run: the control file pauses, resumes and stops every rank (one-batch
epochs too), a stop asked on another rank is not called the user's, a signal exits 130 as one
process does, a killed launcher's ranks stop cleanly, and under torchrun the agent's summary says
why the ranks stopped."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.runs import request_control
from tests import warm_petseg
from tests.engine.train.ddp_helpers import REPO, torchrun_train

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def _killed_if_left(proc: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """``proc`` (a launcher and its ranks) killed if the test leaves the block before it ended:
    a failed assertion or a time-out never leaves a run training on."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()


def _wait_for_first_epoch(run: Path, proc: subprocess.Popen, seconds: float = 120) -> None:
    """Until the run's events say an epoch ended (the process must still run meanwhile)."""
    import time

    end = time.monotonic() + seconds
    while not ((run / "events.jsonl").exists() and '"epoch_ended"' in (run / "events.jsonl").read_text()):
        assert proc.poll() is None and time.monotonic() < end, "no first epoch"
        time.sleep(0.1)


def _long_two_rank_run(runs: Path, data: str, name: str, warm: bool = True, **popen: object) -> subprocess.Popen:
    """`petseg train --devices 2` on the CPU for 200 tiny epochs (until the test ends it). Its temp
    folders go beside ``runs``: a launcher the test kills cannot remove its agent's folder, and one
    was left in /tmp by every run of the suite. The launcher is warm (tests/warm_petseg.py) unless
    ``warm`` is False; its ranks are fresh interpreters, started by torch's elastic agent."""
    temp = runs.parent / "tmp"
    temp.mkdir(exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(REPO), PETSEG_PLAIN_PROGRESS="1", TMPDIR=str(temp))
    return (warm_petseg if warm else subprocess).Popen([sys.executable, "-m", "engine.cli", "train", "--device", "cpu", "--devices", "2",
                             "--data_path", data, "--epochs", "200", "--image_size", "64", "--width", "4",
                             "--batch_size", "2", "--max_train_images", "16", "--workers", "0", "--compile", "off",
                             "--amp", "off", "--runs", str(runs), "--run_name", name], env=env, cwd=REPO, **popen)


def test_under_torchrun_a_stop_is_said_in_the_agents_summary(tmp_path: Path, generated_data: str) -> None:
    """A run of the user's torchrun stopped from the dashboard: torchrun takes the ranks' exit
    130 for a failure, and its summary said "error_file: <N/A>" and "traceback : To enable
    traceback see: https://pytorch.org/docs/stable/elastic/errors.html". Each rank now gives it
    why it stopped."""
    runs = tmp_path / "runs"
    env = dict(os.environ, PYTHONPATH=str(REPO), PETSEG_PLAIN_PROGRESS="1", OMP_NUM_THREADS="1", TMPDIR=str(tmp_path))
    # torch's agent warm (tests/warm_petseg.py), as `petseg train --devices N`'s launcher; the ranks fresh
    proc = warm_petseg.Popen(torchrun_train(2, generated_data, 1000, runs, "halt"), env=env, cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with _killed_if_left(proc):
        _wait_for_first_epoch(runs / "halt", proc)
        request_control(runs / "halt", "stop")
        out = proc.communicate(timeout=120)[0]
    assert proc.returncode != 0
    assert "To enable traceback see" not in out and "<N/A>" not in out, out[-3000:]
    assert "stopped by user" in out, out[-3000:]


def test_pause_resume_and_stop_reach_every_rank(tmp_path: Path, generated_data: str) -> None:
    """The control file (what the dashboard and `petseg` write) pauses both ranks together,
    resumes them, then stops them: the run ends `stopped` with last.pt, no process left."""
    import time

    from engine.runs import request_control

    runs = tmp_path / "runs"
    proc = _long_two_rank_run(runs, generated_data, "ctl", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    run = runs / "ctl"

    def state() -> str:
        try:
            return json.loads((run / "status.json").read_text()).get("state", "")
        except (OSError, ValueError):
            return ""

    def wait(cond, what: str, timeout: float = 120) -> None:
        end = time.monotonic() + timeout
        while not cond():
            assert proc.poll() is None, proc.communicate()[0][-2000:]
            assert time.monotonic() < end, f"timed out waiting for {what}"
            time.sleep(0.1)

    with _killed_if_left(proc):
        wait(lambda: (run / "events.jsonl").exists() and '"epoch_ended"' in (run / "events.jsonl").read_text(),
             "the first epoch")
        request_control(run, "pause")
        wait(lambda: state() == "paused", "paused")
        kinds = lambda: [json.loads(x)["kind"] for x in (run / "events.jsonl").read_text().splitlines()]  # noqa: E731
        time.sleep(1.0)
        before = kinds().count("batch")
        time.sleep(1.5)
        assert kinds().count("batch") == before  # both ranks hold: no batch while paused
        request_control(run, "resume")
        wait(lambda: state() == "running", "running again")
        request_control(run, "stop")
        out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, out[-2000:]
    assert state() == "stopped" and (run / "checkpoints" / "last.pt").exists()
    assert "resumed" in kinds() or "run_resumed" in kinds()


@pytest.mark.slow
def test_a_stop_reaches_ranks_whose_epoch_is_one_batch(tmp_path: Path, generated_data: str) -> None:
    """16 images on 2 ranks at --batch_size 8: each rank's epoch is one batch, the epoch's last,
    after which a stop waited for the next agreement and never came: the run trained on through
    the dashboard's x (and SIGTERM) to its last epoch."""
    from engine.runs import request_control

    runs = tmp_path / "runs"
    env = dict(os.environ, PYTHONPATH=str(REPO), PETSEG_PLAIN_PROGRESS="1")
    proc = warm_petseg.Popen([sys.executable, "-m", "engine.cli", "train", "--device", "cpu", "--devices", "2",
                              "--data_path", generated_data, "--epochs", "2000", "--image_size", "32", "--width", "4",
                              "--batch_size", "8", "--max_train_images", "16", "--workers", "0", "--compile", "off",
                              "--amp", "off", "--runs", str(runs), "--run_name", "one"], env=env, cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    run = runs / "one"
    with _killed_if_left(proc):
        _wait_for_first_epoch(run, proc)
        request_control(run, "stop")
        out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 130, out[-2000:]
    assert json.loads((run / "status.json").read_text())["state"] == "stopped"


@pytest.mark.slow
def test_a_stop_asked_on_another_rank_is_not_called_the_users(tmp_path: Path, generated_data: str) -> None:
    """SIGTERM to rank 1 alone (as when the torchrun of a second node is killed): the run, written
    by rank 0, read "stopped by user", which nobody had asked."""
    import signal

    import psutil

    runs = tmp_path / "runs"
    proc = _long_two_rank_run(runs, generated_data, "r1", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    run = runs / "r1"
    with _killed_if_left(proc):
        _wait_for_first_epoch(run, proc)
        [rank1] = [p for p in psutil.Process(proc.pid).children() if p.environ().get("RANK") == "1"]
        rank1.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=60)[0]
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "stopped", out[-2000:]
    assert status["message"].startswith("stopped by rank 1 of this 2-process run: a signal to it"), status


@pytest.mark.slow
@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_a_signal_that_stops_the_ranks_exits_130_as_one_process_does(tmp_path: Path, generated_data: str,
                                                                       signame: str) -> None:
    """`kill` (or a closed terminal) of `petseg train --devices 2`: the ranks stop and save, as
    `petseg train` alone does, and the exit code says a stop (130) as its does; it was the
    signal's own (143, 129), which a script reads as a run killed. The process ends as soon as
    it has said so: each stopped rank tore down torch's modules first (1.1-1.8 s after the line)."""
    import signal
    import time

    runs = tmp_path / "runs"
    proc = _long_two_rank_run(runs, generated_data, "t", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    run = runs / "t"
    said = None
    with _killed_if_left(proc):
        _wait_for_first_epoch(run, proc)
        proc.send_signal(getattr(signal, signame))
        out = []
        for line in proc.stdout:
            out.append(line)
            if line.startswith("stopped; resume with"):
                said = time.monotonic()
        proc.wait(timeout=60)
        after = time.monotonic() - (said or 0)
    text = "".join(out)[-2000:]
    assert json.loads((run / "status.json").read_text())["state"] == "stopped", text
    assert proc.returncode == 130 and said is not None, text
    assert after < 1.0, f"exited {after:.2f} s after 'stopped; resume with'"


@pytest.mark.slow
def test_ranks_stop_cleanly_when_their_launcher_is_killed(tmp_path: Path, generated_data: str) -> None:
    """SIGKILL of `petseg train --devices 2` (the elastic agent's process): the ranks, which
    trained on orphaned, are stopped gracefully: the run ends `stopped` with last.pt, no rank left."""
    import time

    import psutil

    runs = tmp_path / "runs"
    # a fresh launcher: the test finds it, and its ranks, by their command lines
    proc = _long_two_rank_run(runs, generated_data, "orphans", warm=False, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    run = runs / "orphans"

    def in_session() -> list[psutil.Process]:
        """The launcher and its ranks (each rank has a session of its own: found by its argv)."""
        out = []
        for p in psutil.process_iter():
            try:
                if str(runs) in " ".join(p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE:
                    out.append(p)
            except (OSError, psutil.Error):
                continue
        return out

    try:
        _wait_for_first_epoch(run, proc)
        proc.kill()
        proc.wait(10)
        end = time.monotonic() + 60
        while in_session() and time.monotonic() < end:
            time.sleep(0.2)
        assert not in_session(), "ranks left running after their launcher was killed"
    finally:
        for p in in_session():
            p.kill()
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "stopped" and (run / "checkpoints" / "last.pt").exists()
    # said as what happened: it read "stopped by user"
    assert status["message"] == f"stopped: the process that started it (pid {proc.pid}) ended", status
