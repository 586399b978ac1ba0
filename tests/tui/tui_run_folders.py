"""Run folders for the TUI tests, written with the real RunStore/RunWriter: finished, stopped,
failed, running and interrupted runs, curves that diverge or start with an outlier, epoch
previews, GPU samples, a CPU run's system.jsonl, a finished sweep's trials; many small finished runs written directly
(`write_small_runs`); `BackgroundWriter` appends a detached run's epochs from a thread."""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path
from typing import Any

from engine.config import TrainConfig
from engine.events import (
    BatchProgress,
    EpochEnded,
    EpochStarted,
    RunFailed,
    RunFinished,
    RunStarted,
    RunStopped,
    event_to_dict,
)
from engine.runs import RunStore, RunWriter, write_json_atomic
from engine.sysmetrics.record import GpuSample, SystemSample


T0 = 1_767_000_000.0  # fixed wall-clock base for deterministic tables and snapshots


def epoch_event(epoch: int, total: int, t: float, *, loss0: float = 0.9, dice0: float = 0.5, lr: float = 1e-3) -> EpochEnded:
    train_loss = loss0 / (1 + 0.5 * epoch)
    valid_dice = min(0.95, dice0 + 0.04 * epoch)
    return EpochEnded(
        epoch=epoch,
        total_epochs=total,
        train_loss=train_loss,
        train_dice=valid_dice + 0.02,
        valid_loss=train_loss * 1.1,
        valid_dice=valid_dice,
        valid_iou=valid_dice * 0.85,
        valid_dice_per_image=valid_dice - 0.01,
        valid_iou_per_image=valid_dice * 0.84,
        lr=lr * (0.9 ** (epoch - 1)),
        seconds=30.0,
        images_per_s=120.0 + epoch,
        best_dice=valid_dice,
        best_epoch=epoch,
        t=t,
    )


def unreadable_checkpoint(run: Path) -> Path:
    """A best.pt that is not a checkpoint: the run offers i/w/E, and using its model fails at once."""
    ckpt = run / "checkpoints" / "best.pt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    ckpt.write_bytes(b"not a checkpoint")
    return ckpt


def make_run(
    root: Path,
    name: str,
    *,
    epochs_done: int = 3,
    total: int = 5,
    state: str = "finished",
    t0: float = T0,
    close: bool = True,
    record: dict[str, Any] | None = None,
    data: str = "generated (fixture)",
    **config: Any,
) -> RunWriter:
    """A run folder with ``epochs_done`` epochs; ``state`` finished/stopped/failed/running.
    ``record``: more keys of its config.json (a sweep's), there from the start, as a trial's are;
    ``data``: how its start describes the data (the real sample's takes three rows at 80x24)."""
    cfg = {**TrainConfig(epochs=total, **config).to_dict(), **(record or {})}
    writer = RunStore(root).create(cfg, name)
    writer.append(RunStarted(run=name, total_epochs=total, start_epoch=1, train_size=100, valid_size=10,
                             device="cpu", data=data, t=t0))
    t = t0
    for ep in range(1, epochs_done + 1):
        writer.append(EpochStarted(epoch=ep, total_epochs=total, batches=10, t=t))
        t += 30
        writer.append(epoch_event(ep, total, t, loss0=0.9 + 0.01 * len(name), lr=cfg["learning_rate"]))
    if state == "finished":
        writer.append(RunFinished(epochs=total, best_dice=0.6, best_epoch=epochs_done, seconds=t - t0, t=t + 1))
        writer.set_status("finished", "done")
    elif state == "stopped":
        writer.append(RunStopped(epoch=epochs_done, t=t + 1))
        writer.set_status("stopped", "stopped by user")
    elif state == "failed":
        writer.append(RunFailed(message="CUDA out of memory", t=t + 1))
        writer.set_status("failed", "CUDA out of memory")
    elif state == "running":
        writer.set_status("running")
    if close:
        writer.close()
    return writer


def gpu_sample(gpus: int, mem_used: int = 31 << 30) -> SystemSample:
    """A system sample as the sampler writes it: ``gpus`` GPUs at 87% with 31 GiB (``mem_used``)
    used, or none ("no GPU": a run on the CPU)."""
    return SystemSample(t=time.time(), gpus=tuple(GpuSample(index=i, util=87.0, mem_used=mem_used, mem_total=80 << 30)
                                                  for i in range(gpus)),
                        gpu_note="" if gpus else "no GPU", cpu_percent=90.0, rss=1 << 30, disk_free=1 << 30)


def write_cpu_system_log(run: Path, t0: float, t1: float, every: float = 10.0) -> None:
    """A CPU run's system.jsonl from ``t0`` to ``t1``, a sample every ``every`` seconds as the
    sampler writes them ("no GPU"; CPU, PSS, host RAM, data wait and free disk that drift a
    little), every figure fixed: the strip's averages and sparklines are the same on every run."""
    from engine.runs.system_log import SystemLogWriter

    writer = SystemLogWriter(run)
    for k in range(int((t1 - t0) // every) + 1):
        wave = 0.5 + 0.5 * math.sin(2 * math.pi * k / 30)  # 0..1 over 30 samples: a shape each sparkline shows
        writer.append(SystemSample(t=t0 + k * every, gpu_note="no GPU", cpu_percent=150.0 + 40 * wave,
                                   rss=(14 << 30) // 10, pss=(12 << 30) // 10, ram_used=(9 << 30) + k * (8 << 20),
                                   ram_total=32 << 30, data_wait=0.05 + 0.2 * wave, disk_free=(120 << 30) - k * (50 << 20)))


def make_interrupted_run(root: Path, name: str, **kwargs: Any) -> None:
    """A run whose status.json says running, from a process long gone (no such pid, an hour-old
    heartbeat): the store reads it as interrupted."""
    make_run(root, name, state="running", **kwargs)
    status_path = root / name / "status.json"
    status = json.loads(status_path.read_text())
    status["pid"], status["heartbeat"] = 999_999_999, time.time() - 3600
    status_path.write_text(json.dumps(status))


def make_curve_run(root: Path, name: str, train_losses: list[float], dices: list[float], *, total: int | None = None,
                   t0: float = T0, diverged: bool = False, **config: Any) -> None:
    """A finished (or, with ``diverged``, diverged after the last epoch) run with these curves,
    and a best.pt as such a run has (`unreadable_checkpoint`: the keys using its model shown)."""
    from engine.events import RunDiverged

    total = total or len(train_losses)
    cfg = TrainConfig(epochs=total, **config).to_dict()
    writer = RunStore(root).create(cfg, name)
    writer.append(RunStarted(run=name, total_epochs=total, start_epoch=1, train_size=268, valid_size=29,
                             device="cpu (bfloat16)", data="Oxford-IIIT Pet (fixture)", t=t0))
    t = t0
    for ep, (loss, dice) in enumerate(zip(train_losses, dices), start=1):
        writer.append(EpochStarted(epoch=ep, total_epochs=total, batches=17, t=t))
        t += 30
        writer.append(EpochEnded(epoch=ep, total_epochs=total, train_loss=loss, train_dice=min(0.99, dice + 0.02),
                                 valid_loss=loss * 1.1, valid_dice=dice, valid_iou=dice / (2 - dice),
                                 valid_dice_per_image=dice, valid_iou_per_image=dice / (2 - dice),
                                 lr=cfg["learning_rate"], seconds=30.0, images_per_s=8.9, best_dice=max(dices[:ep]),
                                 best_epoch=dices.index(max(dices[:ep])) + 1, t=t))
    if diverged:
        message = f"loss is NaN/Inf at epoch {len(train_losses) + 1}, batch 3 — training diverged"
        writer.append(RunDiverged(epoch=len(train_losses) + 1, batch=3, message=message, t=t + 5))
        writer.set_status("diverged", message)
    else:
        writer.append(RunFinished(epochs=total, best_dice=max(dices), best_epoch=dices.index(max(dices)) + 1,
                                  seconds=t - t0, t=t + 1))
        writer.set_status("finished", "done")
    writer.close()
    unreadable_checkpoint(writer.path)


OUTLIER_LOSSES = [3.81] + [round(0.6 * 0.93**i + 0.15, 4) for i in range(29)]


OUTLIER_DICES = [0.1] + [round(0.9 - 0.5 * 0.85**i, 4) for i in range(29)]


DIVERGED_LOSSES = [0.9, 0.7, 0.65, 3.2, 412.0, 17211663743894.1]


DIVERGED_DICES = [0.5, 0.6, 0.62, 0.3, 0.0, 0.0]


def write_previews(run_path: Path, epochs: int) -> None:
    """Previews of ``epochs`` epochs through the engine's writer (a model whose mask grows)."""
    import numpy as np
    import torch
    from types import SimpleNamespace

    from engine.train.previews import PreviewWriter

    class Split(SimpleNamespace):
        def __len__(self) -> int:
            return len(self.names)

    n, size = 6, 32
    images = np.random.default_rng(0).integers(0, 255, (n, size, size, 3), dtype=np.uint8)
    trimaps = np.full((n, size, size), 2, np.uint8)
    trimaps[:, 8:24, 8:24] = 1
    split = Split(arrays=SimpleNamespace(images=images, trimaps=trimaps), names=[f"img_{i}" for i in range(n)])

    class Grow(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.epoch = 1

        def forward(self, x):
            out = torch.full_like(x[:, :1], -10.0)
            out[..., : 8 * self.epoch] = 10.0
            return out

    writer = PreviewWriter(run_path, split, image_size=size, mask_rule="pet_border", device=torch.device("cpu"),
                           min_interval_s=0)
    model = Grow()
    for epoch in range(1, epochs + 1):
        model.epoch = epoch
        writer.capture(epoch, model)
    writer.close()


SWEEP_TRIALS = [  # trial, learning rate, width, Dice curve, pruned
    (0, 3e-4, 32, [0.55, 0.62, 0.66, 0.70], False),
    (1, 2e-3, 64, [0.60, 0.71, 0.78, 0.81], False),
    (2, 1e-4, 32, [0.40, 0.45], True),
    (3, 1e-3, 64, [0.58, 0.69, 0.75, 0.79], False),
    (4, 6e-4, 32, [0.50, 0.57], True),
]


def make_sweep_runs(root: Path, name: str = "lr-width", trials: list | None = None) -> None:
    """Five trials of a finished sweep as its run folders record them (two pruned at epoch 2), or
    ``trials`` given as `SWEEP_TRIALS` lists them."""
    for trial, lr, width, dices, pruned in SWEEP_TRIALS if trials is None else trials:
        run = f"{name}-t{trial:03d}"
        make_curve_run(root, run, [1 - d for d in dices], dices, total=4, t0=T0 + 600 * trial,
                       learning_rate=lr, width=width)
        config = RunStore(root).load(run).config
        config["sweep"] = {"name": name, "trial": trial, "params": {"learning_rate": lr, "width": width}}
        write_json_atomic(root / run / "config.json", config)
        if pruned:
            status = root / run / "status.json"
            data = json.loads(status.read_text())
            data.update(state="pruned", message="pruned by its sweep at epoch 2")
            status.write_text(json.dumps(data))


def write_small_runs(root: Path, n: int) -> None:
    """n run folders written directly (RunWriter fsyncs; 500 of those are slow on a shared disk)."""
    for i in range(n):
        d = root / f"run-{i:03d}"
        d.mkdir()
        (d / "config.json").write_text(json.dumps({"model": "unet" if i % 3 else "resnet34_unet", "epochs": 2,
                                                   "learning_rate": 1e-3 * (1 + i % 5)}))
        (d / "status.json").write_text(json.dumps({"state": "finished", "created": T0 + i}))
        events = [RunStarted(run=d.name, total_epochs=2, start_epoch=1, train_size=10, valid_size=2,
                             device="cpu", data="x", t=T0 + i)]
        events += [epoch_event(ep, 2, T0 + i + ep * 10) for ep in (1, 2)]
        events.append(RunFinished(epochs=2, best_dice=0.5, best_epoch=2, seconds=20, t=T0 + i + 21))
        (d / "events.jsonl").write_text("".join(json.dumps(event_to_dict(e)) + "\n" for e in events))


class BackgroundWriter:
    """Appends epochs of a 'detached' run (another process, as far as the app knows)."""

    def __init__(self, root: Path, name: str) -> None:
        self.writer = make_run(root, name, epochs_done=0, total=6, state="running", t0=time.time(), close=False)
        self.writer.start_heartbeat(0.5)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        for ep in range(1, 7):
            self.writer.append(EpochStarted(epoch=ep, total_epochs=6, batches=10))
            for b in range(1, 11):
                if self.stop.wait(0.04):
                    return
                self.writer.append(BatchProgress(epoch=ep, batch=b, batches=10, loss=1 / (ep + b / 10),
                                                 images_per_s=200.0))
            self.writer.append(epoch_event(ep, 6, time.time()))
            if self.stop.wait(0.3):
                return

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.writer.close()
