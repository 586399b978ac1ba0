"""``petseg sweep`` with each trial's ``petseg train`` replaced by fake_train.py (no torch): the
sweep's own code (spec, study, scheduler, pruning, recovery) is what runs. Imported by the
tests (``use_fake_trainer``) and run as a script for the tests that need sweep processes:
``python fake_sweep.py <petseg sweep flags>``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FAKE = Path(__file__).with_name("fake_train.py")


def use_fake_trainer() -> None:
    from engine.train import launch

    launch.train_command = lambda config, runs_dir, run_name: [
        sys.executable, str(FAKE), "train", "--runs", str(runs_dir), "--run_name", run_name, *config.to_argv()]
    launch.resume_command = lambda runs_dir, run_name: [
        sys.executable, str(FAKE), "train", "--runs", str(runs_dir), "--resume", run_name]


def start_fake_resume(runs_dir: Path, run_name: str, monkeypatch, start_seconds: float = 1.5,
                      epoch_seconds: float = 0.2) -> subprocess.Popen:
    """A trial's ``petseg train --resume`` as the sweep starts it (`engine.train.launch.start_resume`),
    fake_train.py in its place: ``start_seconds`` pass before it takes the run's writer lock (a real
    one loads torch meanwhile), then an epoch every ``epoch_seconds``."""
    from engine.train import launch

    monkeypatch.setattr(launch, "resume_command", lambda runs_dir, run_name: [
        sys.executable, str(FAKE), "train", "--runs", str(runs_dir), "--resume", run_name])
    return launch.start_resume(runs_dir, run_name, env={"FAKE_START_SECONDS": str(start_seconds),
                                                        "FAKE_EPOCH_SECONDS": str(epoch_seconds)})


def stopped_trial_run(runs: Path, name: str, total: int = 20):
    """The run of a trial stopped after epoch 1 of ``total`` (valid Dice 0.1; an earlier Ctrl-C's
    stop, say), written by the run store's own writer and closed."""
    from engine.config import TrainConfig
    from engine.events import EpochEnded, RunStarted, RunStopped
    from engine.runs import RunState, RunStore

    writer = RunStore(runs).create(TrainConfig(epochs=total).to_dict(), name)
    writer.append(RunStarted(run=name, total_epochs=total, start_epoch=1, train_size=16, valid_size=4,
                             device="cpu", data="fake", resumed=False), sync=True)
    writer.append(EpochEnded(epoch=1, total_epochs=total, train_loss=0.5, train_dice=0.1, valid_loss=0.5,
                             valid_dice=0.1, valid_iou=0.1, valid_dice_per_image=0.1, valid_iou_per_image=0.1,
                             lr=1e-3, seconds=1.0, images_per_s=16.0, best_dice=0.1, best_epoch=1), sync=True)
    writer.append(RunStopped(epoch=1), sync=True)
    writer.set_status(RunState.STOPPED, "stopped by user")
    writer.close()
    return writer.path


if __name__ == "__main__":
    use_fake_trainer()
    from engine.cli import main

    sys.exit(main(["sweep", *sys.argv[1:]]))
