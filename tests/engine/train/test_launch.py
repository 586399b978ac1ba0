"""engine.train.launch: a detached `petseg train --resume` really continues the run and logs to train.log."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.config import TrainConfig
from engine.errors import RunStoreError
from engine.train.launch import spawn_resume, train_command
from engine.runs import RunStore
from engine.train.trainer import Trainer

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_spawn_resume_finishes_a_stopped_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             generated_data: str, one_thread: None) -> None:
    trainer = Trainer(TrainConfig(epochs=2, image_size=64, width=4, batch_size=4, max_train_images=8,
                                  workers=0, device="cpu", data_path=generated_data,
                                  checkpoint_interval=0), tmp_path, "half")
    # stop once epoch 1 has ended (an event of the trainer's own thread): its checkpoint event comes when
    # the saver thread has written last.pt, which on a loaded machine was after the tiny epoch 2 had ended
    trainer.subscribe(lambda e: trainer.stop() if e.kind == "epoch_ended" and e.epoch == 1 else None)
    assert trainer.run() == "stopped"
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    pid = spawn_resume(tmp_path, "half")
    _, status = os.waitpid(pid, 0)
    log = (tmp_path / "half" / "train.log").read_text()
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, log
    assert log.count("resuming at epoch 2") == 1  # the child's stdout is the log: each line once
    assert log.count("data: train:") == 2  # the first part (a trainer with no console) logged there too
    h = RunStore(tmp_path).load("half")
    assert h.state == "finished" and sorted(h.epochs) == [1, 2]


def test_spawn_resume_of_a_missing_run_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(RunStoreError, match="no such run folder"):
        spawn_resume(tmp_path, "nope")


def test_train_command_carries_the_recipe_knobs(tmp_path: Path) -> None:
    """The TUI launches runs through train_command: every recipe field must reach the child."""
    from engine.cli import build_parser

    config = TrainConfig(epochs=5, warmup_epochs=2, ema_decay=0.99, augment_strength="strong", weight_decay=1e-4)
    argv = train_command(config, tmp_path, "r")
    args = build_parser().parse_args(argv[argv.index("train"):])
    for name in ("warmup_epochs", "ema_decay", "augment_strength", "weight_decay", "epochs"):
        assert getattr(args, name) == getattr(config, name), name


@pytest.mark.slow
def test_spawn_resume_that_loses_the_run_to_another_process_says_so(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Two dashboards press R on one run within a second: both pass the lock check before either
    child has loaded torch, and only one child gets the lock. The other's spawn_resume must say
    the run is trained elsewhere (naming the holder), not hand back a pid as if it had resumed."""
    from engine.train import launch
    from engine.runs import RunBusyError, RunLock

    w = RunStore(tmp_path).create({"model": "unet", "epochs": 2}, "r")
    w.set_status("stopped", "stopped by user")
    w.close()
    held: list[RunLock] = []
    real_spawn = launch._spawn

    def other_dashboard_first(*args, **kwargs):  # the other child locks the run between our check and ours
        held.append(RunLock.acquire(tmp_path / "r"))
        return real_spawn(*args, **kwargs)

    monkeypatch.setattr(launch, "_spawn", other_dashboard_first)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    try:
        with pytest.raises(RunBusyError, match=rf"being trained by another petseg process \(pid {os.getpid()} on "):
            spawn_resume(tmp_path, "r")
    finally:
        for lock in held:
            lock.release()
    assert RunStore(tmp_path).summary("r").state == "stopped"  # the refused child wrote nothing


# a data-parallel resume: the launched process starts the ranks, and rank 0 (its child) locks the run
_RANK0_LOCKS = """
import subprocess, sys
subprocess.run([sys.executable, "-c", "import sys, time; from engine.runs import RunLock; "
                "lock = RunLock.acquire(sys.argv[1]); print('locked', flush=True); time.sleep(30)", sys.argv[1]])
"""


@pytest.mark.slow
def test_claim_run_of_a_data_parallel_resume_returns_once_rank_0_holds_the_run(tmp_path: Path) -> None:
    """R on a --devices N run: rank 0, a child of the resume process, locks the run, never the
    resume process itself; the dashboard waited the whole minute before saying 'resumed'."""
    import subprocess
    import sys
    import time

    from engine.runs import writer_lock_state
    from engine.train.launch import claim_run

    w = RunStore(tmp_path).create({"model": "unet", "epochs": 2}, "ddp")
    w.set_status("stopped", "stopped by user")
    w.close()
    proc = subprocess.Popen([sys.executable, "-c", _RANK0_LOCKS, str(tmp_path / "ddp")], cwd=REPO,
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
        start = time.monotonic()
        claim_run(proc, tmp_path / "ddp", wait=20)
        assert time.monotonic() - start < 5
        assert writer_lock_state(tmp_path / "ddp")
    finally:
        os.killpg(proc.pid, 9)
        proc.wait(10)


def test_a_resume_whose_run_was_deleted_meanwhile_says_so(tmp_path: Path) -> None:
    """R in one dashboard, D in another while the resume loads torch: the resume ended refused
    and the dashboard said its reason was in <run>/train.log, a file gone with the folder."""
    import shutil
    import subprocess
    import sys

    from engine.errors import RunStoreError
    from engine.train.launch import claim_run

    w = RunStore(tmp_path).create({"model": "unet", "epochs": 2}, "r")
    w.set_status("stopped", "stopped by user")
    w.close()
    shutil.rmtree(tmp_path / "r")  # deleted before the resume took the run
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(2)"])
    with pytest.raises(RunStoreError) as refused:
        claim_run(proc, tmp_path / "r", wait=20)
    assert "was deleted" in str(refused.value) and "train.log" not in str(refused.value)
