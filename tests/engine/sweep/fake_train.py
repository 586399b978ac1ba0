"""A stand-in for ``petseg train`` in the sweep tests: the same argv, the same run folder through
the run store's own writer (config.json with the sweep record, events, status, the control file),
but no torch: an epoch is FAKE_EPOCH_SECONDS of sleep and its valid Dice a fixed function of the
learning rate (``min(1, 100 * lr) * epoch / epochs``), so the tests know which trial wins and
which ones the median pruner stops. Also ``--resume RUN``. Start-up is a fraction of a second
(FAKE_START_SECONDS more before it writes the run, as a real child loading torch).
With FAKE_REFUSE set it refuses to start as ``petseg train`` refuses a bad flag: that one
``petseg: error:`` line on stderr (the trial's train.log), no run folder files. With
FAKE_SIGKILL_AFTER=N it kills itself (SIGKILL) once epoch N is written; with FAKE_STOP_AFTER=N
it asks itself to stop there, as the dashboard's x."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from engine.config import TrainConfig, config_fields
from engine.events import EpochEnded, EpochStarted, RunFinished, RunStarted, RunStopped
from engine.runs import (
    RunFollower,
    RunState,
    RunStore,
    clear_control,
    read_control,
    request_control,
    take_run,
)
from engine.sweep.record import SWEEP_KEY, record_from_env


def parse(argv: list[str]) -> tuple[Path, str, bool, dict]:
    runs, name, resume, values = None, None, False, {}
    fields = {f.name: f for f in config_fields()}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--runs", "--run_name", "--resume"):
            v = argv[i + 1]
            i += 2
            if a == "--runs":
                runs = Path(v)
            else:
                name, resume = v, resume or a == "--resume"
            continue
        key, _, v = a[2:].partition("=")
        values[key] = fields[key].parse_value(v)
        i += 1
    return runs, name, resume, values


def main() -> int:
    runs, name, resume, values = parse(sys.argv[2:])
    if os.environ.get("FAKE_REFUSE"):
        print(f"petseg: error: {os.environ['FAKE_REFUSE']}", file=sys.stderr)
        return 1
    time.sleep(float(os.environ.get("FAKE_START_SECONDS", "0")))  # a real child loads torch first
    store = RunStore(runs)
    seconds = float(os.environ.get("FAKE_EPOCH_SECONDS", "0.2"))
    if resume:
        follower = RunFollower(store.path(name), keep_batches=0)
        follower.poll()
        config = TrainConfig.from_dict(follower.history.config)
        start = max(follower.history.epochs, default=0) + 1
        writer, _ = take_run(store.path(name), lambda: store.open_for_resume(name))  # as the trainer's resume
        writer.set_status(RunState.RUNNING)
    else:
        config = TrainConfig(**values)
        # the GPUs this child was given, for the tests of the sweep's slots
        record = {**config.to_dict(), "argv": sys.argv, "visible_gpus": os.environ.get("CUDA_VISIBLE_DEVICES")}
        sweep = record_from_env()
        if sweep:
            record[SWEEP_KEY] = sweep
        writer = store.create(record, name)
        start = 1
    writer.append(RunStarted(run=name, total_epochs=config.epochs, start_epoch=start, train_size=16, valid_size=4,
                             device="cpu", data="fake", resumed=resume), sync=True)
    best, best_epoch = 0.0, 0
    for epoch in range(start, config.epochs + 1):
        writer.append(EpochStarted(epoch=epoch, total_epochs=config.epochs, batches=1))
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(0.02)
            if read_control(writer.path) == "stop":
                clear_control(writer.path)
                writer.append(RunStopped(epoch=epoch - 1), sync=True)
                writer.set_status(RunState.STOPPED, "stopped by user")
                writer.close()
                return 130
        dice = min(1.0, 100 * config.learning_rate) * epoch / config.epochs
        if dice > best:
            best, best_epoch = dice, epoch
        writer.append(EpochEnded(epoch=epoch, total_epochs=config.epochs, train_loss=1 - dice, train_dice=dice,
                                 valid_loss=1 - dice, valid_dice=dice, valid_iou=dice, valid_dice_per_image=dice,
                                 valid_iou_per_image=dice, lr=config.learning_rate, seconds=seconds,
                                 images_per_s=16 / seconds, best_dice=best, best_epoch=best_epoch), sync=True)
        if os.environ.get("FAKE_STOP_AFTER") == str(epoch):  # the dashboard's x on this run
            request_control(writer.path, "stop")
        if os.environ.get("FAKE_SIGKILL_AFTER") == str(epoch):  # the out-of-memory killer, a kill -9
            os.kill(os.getpid(), signal.SIGKILL)
    writer.append(RunFinished(epochs=config.epochs, best_dice=best, best_epoch=best_epoch, seconds=1.0), sync=True)
    writer.set_status(RunState.FINISHED)
    writer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
