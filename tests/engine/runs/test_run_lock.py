"""One writer per run: the writer lock (flock on writer.lock) shared by create, resume and the TUI."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
from pathlib import Path

import pytest

from engine.errors import RunStoreError
from engine.runs import RunStore, RunWriter, writer_lock_state

CTX = mp.get_context("fork")  # children inherit the imported engine; nothing here uses threads


def _create_at_once(root: str, barrier, results) -> None:
    barrier.wait()
    w = None
    try:
        w = RunStore(root).create({"model": "unet", "epochs": 2}, "x")
        results.put(("created", os.getpid()))
    except RunStoreError as exc:
        results.put(("refused", str(exc)))
    barrier.wait(30)  # the winner holds the run until every contender has tried
    if w is not None:
        w.close()


@pytest.mark.parametrize("trial", range(3))
def test_two_creates_of_one_name_at_the_same_moment_one_wins(tmp_path: Path, trial: int) -> None:
    n = 4
    barrier, results = CTX.Barrier(n), CTX.Queue()
    procs = [CTX.Process(target=_create_at_once, args=(str(tmp_path), barrier, results)) for _ in range(n)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=30) for _ in range(n)]
    for p in procs:
        p.join(30)
    created = [o for o in outcomes if o[0] == "created"]
    refused = [o[1] for o in outcomes if o[0] == "refused"]
    assert len(created) == 1, outcomes
    assert all("already exists" in r or "being trained by another petseg process" in r for r in refused), refused
    assert json.loads((tmp_path / "x" / "config.json").read_text())["model"] == "unet"


def _hold(run: str, ready, release) -> None:
    w = RunWriter(Path(run))
    ready.set()
    release.wait(60)
    w.close()


@pytest.fixture
def finished_run(tmp_path: Path) -> Path:
    w = RunStore(tmp_path).create({"model": "unet", "epochs": 2}, "r")
    w.set_status("finished", "done")
    w.close()
    return tmp_path / "r"


@pytest.mark.slow
def test_a_second_writer_is_refused_while_another_process_holds_the_run(finished_run: Path, capsys) -> None:
    from engine.cli import main
    from engine.train.launch import spawn_resume

    ready, release = CTX.Event(), CTX.Event()
    holder = CTX.Process(target=_hold, args=(str(finished_run), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        before = {p.name: p.read_bytes() for p in finished_run.iterdir() if p.is_file() and p.name != "writer.lock"}
        assert writer_lock_state(finished_run) is True
        # the store says "running somewhere" although status.json still says finished
        assert RunStore(finished_run.parent).summary("r").state == "running"
        with pytest.raises(RunStoreError, match=rf"being trained by another petseg process \(pid {holder.pid} on "):
            RunStore(finished_run.parent).open_for_resume("r")
        with pytest.raises(RunStoreError, match="being trained by another petseg process"):
            spawn_resume(finished_run.parent, "r")  # the TUI's R: refused before spawning anything
        assert main(["train", "--runs", str(finished_run.parent), "--resume", "r", "--epochs", "4"]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("petseg: error:") and "being trained by another petseg process" in err and "\n" not in err
        after = {p.name: p.read_bytes() for p in finished_run.iterdir() if p.is_file() and p.name != "writer.lock"}
        assert after == before  # nothing written by the refused writers
    finally:
        release.set()
        holder.join(30)
    assert writer_lock_state(finished_run) is False
    assert RunStore(finished_run.parent).summary("r").state == "finished"


def test_a_killed_writer_leaves_no_stale_lock(finished_run: Path) -> None:
    """The kernel drops a flock when its process dies: a crashed run is resumable at once."""
    ready, release = CTX.Event(), CTX.Event()
    holder = CTX.Process(target=_hold, args=(str(finished_run), ready, release))
    holder.start()
    assert ready.wait(30)
    status = json.loads((finished_run / "status.json").read_text())
    status.update(state="running", pid=holder.pid)  # as a trainer that was training says
    (finished_run / "status.json").write_text(json.dumps(status))
    assert RunStore(finished_run.parent).summary("r").state == "running"
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(30)
    assert writer_lock_state(finished_run) is False
    assert RunStore(finished_run.parent).summary("r").state == "interrupted"
    RunStore(finished_run.parent).open_for_resume("r").close()  # not refused


@pytest.mark.slow
def test_resume_is_refused_while_the_run_trains_in_this_process(tmp_path: Path, generated_data: str) -> None:
    from engine.config import TrainConfig
    from engine.train.trainer import Trainer

    cfg = TrainConfig(epochs=50, image_size=64, width=4, batch_size=8, max_train_images=16, workers=0,
                      device="cpu", data_path=generated_data)
    first = Trainer(cfg, tmp_path)
    first.start()
    try:
        with pytest.raises(RunStoreError, match="being trained by another petseg process"):
            Trainer(None, tmp_path, first.run_name, resume=True)
        with pytest.raises(RunStoreError, match="already exists|being trained"):
            Trainer(cfg, tmp_path, first.run_name)
    finally:
        first.stop()
        assert first.join(120)
    assert first.state == "stopped"
    assert writer_lock_state(first.run_path) is False  # released when the run ended


def test_a_resume_still_preparing_shows_its_own_pid_and_no_running_clock(finished_run: Path) -> None:
    """Between `R` and the resumed run's start (data loading: seconds), the new process holds the
    lock while status.json is still the old process's: the run shows the new pid, and its
    training time stays where the last segment ended (not the gap since then)."""
    import time

    from engine.events import RunFinished, RunStarted
    from engine.runs import RunFollower

    t0 = time.time() - 100
    w = RunWriter(finished_run)
    w.append(RunStarted(run="r", total_epochs=2, start_epoch=1, train_size=8, valid_size=2, device="cpu",
                        data="fixture", t=t0))
    w.append(RunFinished(epochs=2, best_dice=0.5, best_epoch=2, seconds=10.0, t=t0 + 10))
    w.set_status("finished", "done")
    w.close()
    ready, release = CTX.Event(), CTX.Event()
    holder = CTX.Process(target=_hold, args=(str(finished_run), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        follower = RunFollower(finished_run)
        follower.poll()
        snap = follower.snapshot()
        assert snap.state == "running" and snap.pid == holder.pid != os.getpid()
        assert snap.duration == pytest.approx(10.0)
    finally:
        release.set()
        holder.join(30)
    after = RunFollower(finished_run)
    after.poll()
    assert after.snapshot().pid == os.getpid() and after.snapshot().state == "finished"  # the status's again


_FORKING_WRITER = """
import os, sys, time
from pathlib import Path
from engine.runs import RunWriter
w = RunWriter(Path(sys.argv[1]))
if os.fork() == 0:  # a DataLoader worker, forked while the run is locked
    time.sleep(60)
    os._exit(0)
print("ready", flush=True)
time.sleep(60)
"""


def test_a_killed_writers_forked_workers_do_not_keep_its_run_locked(finished_run: Path) -> None:
    """SIGKILL a writer whose forked child (a DataLoader worker) lives on: the run is
    interrupted at once, not 'running' until the worker notices (petseg runs said running ~5 s)."""
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-c", _FORKING_WRITER, str(finished_run)], stdout=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        assert writer_lock_state(finished_run) is True
        proc.kill()
        proc.wait(10)
        time.sleep(0.2)
        assert writer_lock_state(finished_run) is False  # the forked child still runs
    finally:
        os.killpg(proc.pid, signal.SIGKILL)


def test_a_delete_reads_as_a_delete_while_its_lock_is_held(finished_run: Path) -> None:
    """A reader that finds the lock held by a delete shows the run as it ended; a writer holding
    it reads as running; a resume refused by the delete's lock says the run is held, not that
    it trains."""
    from engine.runs import RunLock
    from engine.runs.lock import DELETING

    held = RunLock.acquire(finished_run, wait=0.0, purpose=DELETING)
    try:
        assert (str(RunStore(finished_run.parent).summary(finished_run).state), writer_lock_state(finished_run)) \
            == ("finished", False)
        with pytest.raises(RunStoreError, match=r"is held by another petseg process \(pid \d+ on .*, deleting the run\)"):
            RunWriter(finished_run)
    finally:
        held.release()
    writer = RunWriter(finished_run)  # a resume: from its lock on, the run trains
    try:
        assert (str(RunStore(finished_run.parent).summary(finished_run).state), writer_lock_state(finished_run)) \
            == ("running", True)
    finally:
        writer.close()

def _poll_when_a_lock_is_refused(monkeypatch, run: Path, seen: list, before_attempt=None) -> None:
    """Make each refused exclusive flock first let ``before_attempt`` run (a writer locking at
    that instant), then record what another dashboard reads at the instant of the refusal."""
    import fcntl

    import engine.runs.lock as lock_module

    real_flock = fcntl.flock
    hooks = [before_attempt] if before_attempt else []

    def flock(fd, op):
        if op & fcntl.LOCK_EX and hooks:
            hooks.pop()()
        try:
            real_flock(fd, op)
        except OSError:
            if op & fcntl.LOCK_EX:
                seen.append((str(RunStore(run.parent).summary(run).state), writer_lock_state(run)))
            raise

    monkeypatch.setattr(lock_module.fcntl, "flock", flock)


def test_a_training_run_reads_as_running_while_a_delete_of_it_is_refused(tmp_path: Path, monkeypatch) -> None:
    """A delete confirmed just as the run is resumed elsewhere is refused by the lock; a dashboard
    polling at that instant must still read the run as running (it read "interrupted", its lock
    free, so x and p were ignored), and the holder named afterwards is the writer."""
    from engine.runs import RunLock, lock_holder
    from engine.runs.lock import DELETING, RunBusyError

    writer = RunStore(tmp_path).create({"model": "unet", "epochs": 2}, "r")
    run = tmp_path / "r"
    seen: list = []
    _poll_when_a_lock_is_refused(monkeypatch, run, seen)
    try:
        with pytest.raises(RunBusyError):
            RunLock.acquire(run, wait=0.0, purpose=DELETING)
        assert seen == [("running", True)]
        assert writer_lock_state(run) is True and "deleting" not in lock_holder(run)
    finally:
        writer.close()


def test_a_resume_locking_while_a_delete_tries_is_the_holder_on_record(finished_run: Path, monkeypatch) -> None:
    """A resume takes the lock just before a delete's attempt: the delete is refused, and its
    message and the lock file name the resume's process, never the run's earlier (dead) one."""
    import socket

    from engine.runs import RunLock
    from engine.runs.lock import DELETING, RunBusyError, lock_holder_pid

    (finished_run / "writer.lock").write_text(f"pid 999999 on {socket.gethostname()}\n")  # the exited trainer
    writers: list = []
    seen: list = []
    _poll_when_a_lock_is_refused(monkeypatch, finished_run, seen, lambda: writers.append(RunWriter(finished_run)))
    try:
        with pytest.raises(RunBusyError, match=rf"pid {os.getpid()} on "):
            RunLock.acquire(finished_run, wait=0.0, purpose=DELETING)
        assert seen == [("running", True)]
        assert lock_holder_pid(finished_run) == (os.getpid(), socket.gethostname())
    finally:
        for w in writers:
            w.close()
