"""What the data-parallel tests share: the repository (the ranks' PYTHONPATH and working
folder), the gloo worker script ddp_worker.py, the flags of a tiny deterministic CPU run, and
that run trained under the user's own torchrun."""

from __future__ import annotations

import sys
from pathlib import Path


REPO = Path(__file__).resolve().parents[3]


WORKER = Path(__file__).with_name("ddp_worker.py")


DDP_TRAIN = ["--device", "cpu", "--image_size", "64", "--width", "4", "--batch_size", "4",
             "--max_train_images", "16", "--workers", "0", "--compile", "off", "--amp", "off",
             "--scheduler", "none", "--checkpoint_interval", "0"]


def torchrun_train(processes: int, data: str, epochs: int, runs: Path, name: str) -> list[str]:
    """The argv of `petseg train` (the DDP_TRAIN run) under the user's own torchrun: ``processes``
    ranks on this machine, no petseg launcher between them and torch's agent."""
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes), "-m", "engine.cli",
            "train", "--data_path", data, *DDP_TRAIN, "--epochs", str(epochs), "--runs", str(runs),
            "--run_name", name]
