"""What the data-parallel tests share: the repository (the ranks' PYTHONPATH and working
folder), the gloo worker script ddp_worker.py, and the flags of a tiny deterministic CPU run."""

from __future__ import annotations

from pathlib import Path


REPO = Path(__file__).resolve().parents[3]


WORKER = Path(__file__).with_name("ddp_worker.py")


DDP_TRAIN = ["--device", "cpu", "--image_size", "64", "--width", "4", "--batch_size", "4",
             "--max_train_images", "16", "--workers", "0", "--compile", "off", "--amp", "off",
             "--scheduler", "none", "--checkpoint_interval", "0"]
