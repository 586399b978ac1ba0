"""``petseg sweep`` with each trial's ``petseg train`` replaced by fake_train.py (no torch): the
sweep's own code (spec, study, scheduler, pruning, recovery) is what runs. Imported by the
tests (``use_fake_trainer``) and run as a script for the tests that need sweep processes:
``python fake_sweep.py <petseg sweep flags>``."""

from __future__ import annotations

import sys
from pathlib import Path

FAKE = Path(__file__).with_name("fake_train.py")


def use_fake_trainer() -> None:
    from engine.train import launch

    launch.train_command = lambda config, runs_dir, run_name: [
        sys.executable, str(FAKE), "train", "--runs", str(runs_dir), "--run_name", run_name, *config.to_argv()]
    launch.resume_command = lambda runs_dir, run_name: [
        sys.executable, str(FAKE), "train", "--runs", str(runs_dir), "--resume", run_name]


if __name__ == "__main__":
    use_fake_trainer()
    from engine.cli import main

    sys.exit(main(["sweep", *sys.argv[1:]]))
