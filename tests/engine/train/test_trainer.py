"""Trainer: events in order across threads, stop / pause / control file, divergence, failures."""

from __future__ import annotations

import json
import queue
import threading
import time
from pathlib import Path
from typing import Callable

import pytest
import torch

from engine.checkpoint import load_checkpoint
from engine.config import TrainConfig
from engine.config import GENERATED_DATA
from engine.events import TERMINAL_KINDS, TrainEvent
from engine.runs import RunStore, request_control
from engine.train.trainer import Trainer


@pytest.fixture
def tiny(generated_data: str) -> Callable[..., TrainConfig]:
    """A factory of small CPU configs on the generated set; keywords override."""

    def make(**kw) -> TrainConfig:
        base = dict(epochs=2, image_size=64, width=4, batch_size=8, max_train_images=24, workers=0,
                    device="cpu", learning_rate=1e-3, data_path=generated_data)
        base.update(kw)
        return TrainConfig(**base)

    return make


def drain(q: "queue.Queue[TrainEvent]", timeout: float = 120) -> list[TrainEvent]:
    out = []
    while True:
        ev = q.get(timeout=timeout)
        out.append(ev)
        if ev.kind in TERMINAL_KINDS:
            return out


@pytest.mark.slow
def test_events_arrive_in_order_in_another_thread(tiny, tmp_path: Path) -> None:
    trainer = Trainer(tiny(), tmp_path)
    q = trainer.events()
    received: list[TrainEvent] = []
    consumer = threading.Thread(target=lambda: received.extend(drain(q)))
    consumer.start()
    trainer.start()
    consumer.join(180)
    assert trainer.join(10)
    kinds = [e.kind for e in received]
    assert kinds[0] == "run_started" and kinds[-1] == "finished"
    # per epoch: started, batches..., ended, then checkpoints
    for epoch in (1, 2):
        idx = [i for i, e in enumerate(received) if getattr(e, "epoch", None) == epoch]
        ep_kinds = [received[i].kind for i in idx]
        assert ep_kinds[0] == "epoch_started"
        assert "batch" in ep_kinds
        assert ep_kinds.index("epoch_ended") > max(i for i, k in enumerate(ep_kinds) if k == "batch")
        assert ep_kinds[-1] == "checkpoint"
    assert [e.t for e in received] == sorted(e.t for e in received)
    # the same events are on disk, and the store reads the same history
    on_disk = RunStore(tmp_path).load(trainer.run_name)
    assert sorted(on_disk.epochs) == [1, 2] and on_disk.state == "finished"
    status = json.loads((trainer.run_path / "status.json").read_text())
    assert status["state"] == "finished"
    config = json.loads((trainer.run_path / "config.json").read_text())
    assert config["data_source"]["kind"] == "generated" and config["data_path"] == GENERATED_DATA
    assert config["versions"]["torch"]
    for which in ("best", "last"):
        ck = load_checkpoint(trainer.run_path / "checkpoints" / f"{which}.pt")
        assert ck["arch"]["name"] == "unet" and ck["image_size"] == 64


@pytest.mark.slow
def test_each_epoch_starts_by_recording_the_rate_it_trains_at(tiny, tmp_path: Path) -> None:
    """epoch_started carries the learning rate of its epoch (the live screen's "LR now"), the
    rate epoch_ended then reports for it: a cosine over 3 epochs, 1e-3, 7.5e-4, 2.5e-4."""
    trainer = Trainer(tiny(epochs=3, max_train_images=8, warmup_epochs=0), tmp_path)
    trainer.run()
    lines = [json.loads(line) for line in (trainer.run_path / "events.jsonl").read_text().splitlines()]
    started = {e["epoch"]: e.get("lr") for e in lines if e["kind"] == "epoch_started"}
    ended = {e["epoch"]: e["lr"] for e in lines if e["kind"] == "epoch_ended"}
    assert started == ended, (started, ended)
    assert [round(started[ep], 7) for ep in (1, 2, 3)] == [1e-3, 7.5e-4, 2.5e-4]


@pytest.mark.slow
def test_stop_mid_run_saves_and_marks_stopped(tiny, tmp_path: Path) -> None:
    trainer = Trainer(tiny(epochs=50, max_train_images=48), tmp_path)
    first_batch = threading.Event()
    trainer.subscribe(lambda e: first_batch.set() if e.kind == "batch" else None)
    trainer.start()
    assert first_batch.wait(120)
    trainer.stop()
    assert trainer.join(60)
    assert trainer.state == "stopped"
    h = RunStore(tmp_path).load(trainer.run_name)
    assert h.state == "stopped" and h.terminal.kind == "stopped"
    assert len(h.epochs) < 50
    ck = load_checkpoint(trainer.run_path / "checkpoints" / "last.pt")
    assert ck["epoch"] == len(h.epochs)  # the interrupted epoch is not counted


@pytest.mark.slow
def test_pause_and_resume_from_control_file(tiny, tmp_path: Path) -> None:
    trainer = Trainer(tiny(epochs=3), tmp_path)
    q = trainer.events()
    paused = threading.Event()
    trainer.subscribe(lambda e: paused.set() if e.kind == "paused" else None)
    # another process asks through the run folder: the trainer polls between batches
    saved_while_paused = threading.Event()
    trainer.subscribe(lambda e: saved_while_paused.set()
                      if e.kind == "checkpoint" and e.which == "last" and paused.is_set() else None)
    request_control(trainer.run_path, "pause")
    trainer.start()
    assert paused.wait(120)
    status = json.loads((trainer.run_path / "status.json").read_text())
    assert status["state"] == "paused" and trainer.is_alive()
    # a paused run keeps what it has learned: last.pt is written while it waits
    assert saved_while_paused.wait(60) and (trainer.run_path / "checkpoints" / "last.pt").exists()
    request_control(trainer.run_path, "resume")
    kinds = [e.kind for e in drain(q)]
    assert kinds.index("paused") < kinds.index("resumed") < kinds.index("finished")


def test_a_stop_that_comes_after_the_last_batch_is_not_left_for_a_later_resume(tiny, tmp_path: Path) -> None:
    """x pressed during the last batch: the run has nothing left to stop and finishes; the
    request must not stay in the run folder, where a resume with more epochs would obey it."""
    from engine.runs import CONTROL_FILE

    trainer = Trainer(tiny(epochs=1), tmp_path)
    trainer.subscribe(lambda e: request_control(trainer.run_path, "stop") if e.kind == "epoch_ended" else None)
    assert trainer.run() == "finished"
    assert not (trainer.run_path / CONTROL_FILE).exists()


@pytest.mark.slow
def test_nan_loss_marks_run_diverged(tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.train import losses

    real_forward = losses.BCEDiceLoss.forward
    calls = {"n": 0}

    def poisoned(self, logits, target):
        calls["n"] += 1
        loss = real_forward(self, logits, target)
        return loss * float("nan") if calls["n"] == 2 else loss

    monkeypatch.setattr(losses.BCEDiceLoss, "forward", poisoned)
    trainer = Trainer(tiny(), tmp_path)
    trainer.start()
    assert trainer.join(120)
    assert trainer.state == "diverged"
    assert "epoch 1, batch 2" in trainer.error and "\n" not in trainer.error
    h = RunStore(tmp_path).load(trainer.run_name)
    assert h.state == "diverged"
    assert not (trainer.run_path / "checkpoints" / "last.pt").exists()  # NaN weights never saved


def test_missing_dataset_fails_with_one_line(tiny, tmp_path: Path) -> None:
    from engine.errors import ConfigError

    with pytest.raises(ConfigError, match="dataset folder does not exist"):  # refused before a run folder
        Trainer(tiny(data_path=str(tmp_path / "nope")), tmp_path / "runs")
    assert not (tmp_path / "runs").exists()
    # a folder that goes away between the start and the data loading: the run fails, in one line
    data = tmp_path / "nope"
    (data / "images").mkdir(parents=True)
    (data / "annotations" / "trimaps").mkdir(parents=True)
    from PIL import Image

    for name in ("a", "b"):  # one to train on, one to validate: accepted at the start
        Image.new("RGB", (8, 8)).save(data / "images" / f"{name}.jpg")
        Image.new("L", (8, 8), 1).save(data / "annotations" / "trimaps" / f"{name}.png")
    trainer = Trainer(tiny(data_path=str(data)), tmp_path / "runs")
    import shutil

    shutil.rmtree(data)
    trainer.start()
    assert trainer.join(60)
    assert trainer.state == "failed"
    assert str(tmp_path / "nope") in trainer.error and "\n" not in trainer.error
    assert RunStore(tmp_path / "runs").load(trainer.run_name).state == "failed"


@pytest.mark.slow
def test_resume_continues_without_duplicated_epochs(tiny, tmp_path: Path) -> None:
    trainer = Trainer(tiny(epochs=2), tmp_path)
    trainer.run()
    assert trainer.state == "finished"
    more = Trainer(tiny(epochs=3), tmp_path, trainer.run_name, resume=True)
    more.run()
    assert more.state == "finished"
    h = RunStore(tmp_path).load(trainer.run_name)
    assert sorted(h.epochs) == [1, 2, 3]
    assert load_checkpoint(trainer.run_path / "checkpoints" / "last.pt")["epoch"] == 3


@pytest.mark.slow
def test_corrupt_training_images_are_skipped_with_a_warning(tiny, tmp_path: Path) -> None:
    from engine.data.synthetic import generate_pet_dataset

    data = generate_pet_dataset(tmp_path / "data", n_trainval=30, n_test=5, size=64, seed=3)
    images = sorted((data / "images").glob("*.jpg"))
    images[0].write_bytes(b"not a jpeg")
    images[1].write_bytes(images[2].read_bytes()[:100])  # truncated
    trainer = Trainer(tiny(epochs=1, data_path=str(data), max_train_images=None,
                           cache_dir=str(tmp_path / "cache")), tmp_path / "runs")
    trainer.run()
    assert trainer.state == "finished", trainer.error
    h = RunStore(tmp_path / "runs").load(trainer.run_name)
    assert len(h.warnings) == 1 and h.warnings[0].startswith("skipped 2 unreadable image(s)")
    assert images[0].stem in h.warnings[0] or images[1].stem in h.warnings[0]


@pytest.mark.slow
@pytest.mark.parametrize("recipe, augment_on", [
    ({}, "cpu"),
    ({}, "device"),
    ({"ema_decay": 0.9, "warmup_epochs": 1, "augment_strength": "strong"}, "device"),
], ids=["default-cpu", "default-device", "ema-warmup-strong-device"])
def test_crash_after_an_epoch_then_resume_repeats_the_uninterrupted_run(tiny, tmp_path: Path, one_thread, recipe,
                                                                         augment_on) -> None:
    """3 epochs straight vs. the disk state right after epoch 2's last.pt (what a crash there
    leaves) resumed to 3: identical weights. Fails without the saved shuffling-generator and
    augmentation state (measured: max weight difference 0.023). With EMA, both the averaged
    weights ("model") and the training weights must match, and the warm-up schedule's rates.
    last.pt is written every epoch here (checkpoint_interval 0); with the default 60 s budget
    the last saved epoch is simply an earlier one, and the same holds from it. Both data paths:
    albumentations in the loader ("cpu") and batched augmentation on the device (here on CPU
    tensors), whose shuffling and augmentation generators the checkpoint holds too."""
    import shutil

    cfg = dict(epochs=3, batch_size=4, max_train_images=16, checkpoint_interval=0, augment_on=augment_on, **recipe)
    full = Trainer(tiny(**cfg), tmp_path / "runs", "full")
    crash_copy = tmp_path / "crash" / "cut"

    def snapshot(ev: TrainEvent) -> None:
        if ev.kind == "checkpoint" and ev.which == "last" and ev.epoch == 2:
            shutil.copytree(full.run_path, crash_copy)  # subscribers run after the event is on disk

    full.subscribe(snapshot)
    assert full.run() == "finished"
    shutil.copytree(crash_copy, tmp_path / "runs" / "cut")
    resumed = Trainer(None, tmp_path / "runs", "cut", resume=True)
    assert resumed.run() == "finished", resumed.error
    a = load_checkpoint(full.run_path / "checkpoints" / "last.pt")
    b = load_checkpoint(resumed.run_path / "checkpoints" / "last.pt")
    assert a["epoch"] == b["epoch"] == 3
    for weights in ("model", "train_model") if recipe else ("model",):
        for key, tensor in a[weights].items():
            assert torch.equal(tensor, b[weights][key]), (weights, key)
    assert a.get("ema_updates") == b.get("ema_updates")
    h = RunStore(tmp_path / "runs").load("cut")
    assert sorted(h.epochs) == [1, 2, 3] and h.state == "finished"
    full_h = RunStore(tmp_path / "runs").load("full")
    assert h.epochs[3].valid_dice == full_h.epochs[3].valid_dice
    assert [h.epochs[e].lr for e in (1, 2, 3)] == [full_h.epochs[e].lr for e in (1, 2, 3)]
    assert json.loads((resumed.run_path / "config.json").read_text())["augment_on_resolved"] == augment_on


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Callable[[TrainConfig], Path]:
    """``uninterrupted(config)``: the folder of a run of ``config`` trained to its end without a
    stop, trained once per module for each config (read only: the stop and pause cases of one
    data path compare against the same reference)."""
    done: dict[str, Path] = {}

    def run(config: TrainConfig) -> Path:
        key = json.dumps(config.to_dict(), sort_keys=True)
        if key not in done:
            full = Trainer(config, tmp_path_factory.mktemp("uninterrupted"), "full")
            assert full.run() == "finished", full.error
            done[key] = full.run_path
        return done[key]

    return run


@pytest.mark.slow
@pytest.mark.parametrize("how, augment_on", [("stop", "cpu"), ("pause", "device"), ("stop-at-epoch-start", "cpu")])
def test_a_stop_or_pause_inside_an_epoch_then_resume_repeats_the_uninterrupted_run(tiny, tmp_path: Path, one_thread,
                                                                                    uninterrupted, monkeypatch, how,
                                                                                    augment_on) -> None:
    """A stop (x, Ctrl-C) or a pause (whose last.pt a kill then leaves) in the middle of epoch 2,
    then a resume: the same weights, EMA and optimiser steps as 3 uninterrupted epochs. The
    batches trained before the stop are not trained again (they were: 14 Adam steps instead of
    12 here), and the resumed epoch draws the same shuffle and augmentations (a stop before the
    epoch's first batch, once its shuffle was drawn, left weights 0.07 apart)."""
    import shutil

    from engine import faults

    cfg = dict(epochs=3, batch_size=4, max_train_images=16, checkpoint_interval=0, augment_on=augment_on,
               ema_decay=0.9, dropout=0.1)
    full_path = uninterrupted(tiny(**cfg))  # (one thread: trained inside the test, as the cut run)
    cut_at = 4 if how == "stop-at-epoch-start" else 6  # batch hooks: 4 batches an epoch
    cut = Trainer(tiny(**cfg), tmp_path / "runs", "cut")
    arrivals = {"n": 0}

    def at_batch(point: str) -> None:  # the engine's test-only hook, reached before each batch
        if point == "batch":
            arrivals["n"] += 1
            if arrivals["n"] == cut_at:
                cut.stop() if how.startswith("stop") else cut.pause()

    monkeypatch.setattr(faults, "maybe_kill", at_batch)
    killed_copy = tmp_path / "killed" / "cut"
    if how == "pause":  # the state a kill leaves while paused: last.pt of the pause
        def on_saved(ev: TrainEvent) -> None:
            if ev.kind == "checkpoint" and ev.which == "last" and cut.paused:
                shutil.copytree(cut.run_path, killed_copy)
                cut.resume()

        cut.subscribe(on_saved)
    cut.run()
    monkeypatch.undo()
    if how == "pause":
        shutil.rmtree(cut.run_path)
        shutil.copytree(killed_copy, cut.run_path)
    saved = load_checkpoint(cut.run_path / "checkpoints" / "last.pt")
    assert saved["epoch"] == 1
    resumed = Trainer(None, tmp_path / "runs", "cut", resume=True)
    assert resumed.run() == "finished", resumed.error
    a = load_checkpoint(full_path / "checkpoints" / "last.pt")
    b = load_checkpoint(resumed.run_path / "checkpoints" / "last.pt")
    assert a["epoch"] == b["epoch"] == 3
    assert a["ema_updates"] == b["ema_updates"] == 12
    assert a["optimizer"]["state"][0]["step"] == b["optimizer"]["state"][0]["step"]
    for weights in ("model", "train_model"):
        for key, tensor in a[weights].items():
            assert torch.equal(tensor, b[weights][key]), (weights, key)


@pytest.mark.slow
def test_resume_of_a_run_that_never_finished_an_epoch_restarts_it(tiny, tmp_path: Path, one_thread) -> None:
    first = Trainer(tiny(epochs=1), tmp_path, "early")
    (first.run_path / "checkpoints").mkdir(exist_ok=True)
    first.writer.close()  # as if killed before epoch 1 ended: config and status, no last.pt
    again = Trainer(None, tmp_path, "early", resume=True)
    assert again.run() == "finished", again.error
    h = RunStore(tmp_path).load("early")
    assert sorted(h.epochs) == [1]
    assert load_checkpoint(again.run_path / "checkpoints" / "last.pt")["epoch"] == 1


def test_absurd_weight_decay_is_refused_before_a_run_folder_exists(tiny, tmp_path: Path) -> None:
    """weight_decay 1e38 used to be the one flag that really diverged (the decayed gradient
    overflowed to inf, Adam's inf/inf made NaN weights). It is now outside the limits and
    refused before anything is written; within the limits (lr 9.99, weight_decay 1, loss
    weights 1000) this model was measured to finish, so divergence is tested with a patched
    loss (test_nan_loss_marks_run_diverged)."""
    from engine.errors import ConfigError

    with pytest.raises(ConfigError, match="--weight_decay 1e[+]38: must be a finite number between 0 and 1"):
        Trainer(tiny(learning_rate=9.99, weight_decay=1e38), tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_with_ema_validation_scores_the_averaged_weights_that_checkpoints_keep(tiny, tmp_path: Path, one_thread) -> None:
    """--ema_decay: last.pt's "model" (what eval and infer load) is the average, not the
    training weights, and scoring it on the valid split gives the Dice the run recorded."""
    from engine.checkpoint import build_model_from_checkpoint
    from engine.data.loaders import build_datasets
    from engine.eval.metrics import SegMetrics

    trainer = Trainer(tiny(epochs=2, ema_decay=0.9, amp="off", batch_size=4, max_train_images=16), tmp_path)
    assert trainer.run() == "finished", trainer.error
    last = load_checkpoint(trainer.run_path / "checkpoints" / "last.pt")
    assert any(not torch.equal(last["model"][k], last["train_model"][k]) for k in last["model"])
    assert json.loads((trainer.run_path / "config.json").read_text())["ema_decay"] == 0.9

    valid = build_datasets(trainer.config, log=lambda m: None).valid
    x = torch.stack([valid[i][0] for i in range(len(valid))])
    y = torch.stack([valid[i][1] for i in range(len(valid))])
    recorded = RunStore(tmp_path).load(trainer.run_name).epochs[2].valid_dice

    def dice_of(weights: str) -> float:
        model = build_model_from_checkpoint({**last, "model": last[weights]})
        metrics = SegMetrics()
        with torch.inference_mode():
            metrics.update(model(x), y)
        return float(metrics.compute()["dice"])

    ema_dice, train_dice = dice_of("model"), dice_of("train_model")
    assert ema_dice == pytest.approx(recorded, abs=1e-4)
    assert abs(ema_dice - recorded) < abs(train_dice - recorded), (ema_dice, train_dice, recorded)


@pytest.mark.slow
def test_paused_time_is_not_training_time(tiny, tmp_path: Path) -> None:
    """Paused ~2 s in epoch 1: the epoch's seconds, its images/s and the run's duration leave the
    pause out (before, images/s fell and the stored epoch time grew by it)."""
    trainer = Trainer(tiny(epochs=1, batch_size=4, max_train_images=16), tmp_path)
    q = trainer.events()

    def pause_once(event: TrainEvent) -> None:
        # asked as the epoch starts: the trainer pauses before its first batch (batch events are
        # throttled, so "the first batch event" may come too late in a 4-batch epoch)
        if event.kind == "epoch_started" and not getattr(pause_once, "done", False):
            pause_once.done = True
            trainer.pause()
            threading.Timer(2.0, trainer.resume).start()

    trainer.subscribe(pause_once)
    t_start = time.time()
    trainer.start()
    events = drain(q)
    by_kind = {e.kind: e for e in events}
    paused_for = by_kind["resumed"].t - by_kind["paused"].t
    assert paused_for >= 1.0  # 2 s from the request, less the first batch's loading before the pause
    wall = by_kind["epoch_ended"].t - by_kind["epoch_started"].t
    ended = by_kind["epoch_ended"]
    # what the epoch reports is its wall time less the pause (fsyncs of the two events aside)
    assert abs((wall - ended.seconds) - paused_for) < 0.5, (wall, ended.seconds, paused_for)
    seen = 16
    assert ended.images_per_s > seen / (wall - paused_for + 0.5)
    run_wall = by_kind["finished"].t - by_kind["run_started"].t
    h = RunStore(tmp_path).load(trainer.run_name)
    assert h.duration == pytest.approx(run_wall - paused_for, abs=0.05)
    assert by_kind["finished"].seconds < by_kind["finished"].t - t_start - paused_for + 0.5


@pytest.mark.slow
@pytest.mark.parametrize("interval, saves", [(3600.0, [1, 3]), (0.0, [1, 2, 3])])
def test_last_pt_is_written_on_its_time_budget_and_at_the_end(tiny, tmp_path: Path, interval: float, saves) -> None:
    """last.pt at most every checkpoint_interval seconds (0: every epoch), always at the end and
    at the first epoch's end (a run killed after a short first epoch had no last.pt, and its
    resume started again from epoch 1);
    each save reports how long the trainer spent on it (snapshot) and the writer (in the
    background), and every epoch where its time went."""
    trainer = Trainer(tiny(epochs=3, checkpoint_interval=interval), tmp_path)
    q = trainer.events()
    assert trainer.run() == "finished"
    events = drain(q)
    last = [e for e in events if e.kind == "checkpoint" and e.which == "last"]
    assert [e.epoch for e in last] == saves
    assert load_checkpoint(trainer.run_path / "checkpoints" / "last.pt")["epoch"] == 3
    assert all(e.snapshot_seconds >= 0 and e.write_seconds > 0 for e in events if e.kind == "checkpoint")
    for e in (e for e in events if e.kind == "epoch_ended"):
        assert 0 < e.train_seconds <= e.seconds and 0 < e.valid_seconds < e.seconds
        assert e.first_batch_t <= e.t


@pytest.mark.slow
def test_breakdown_of_wall_time_from_the_run_events(finished_tiny_run: Path) -> None:
    """The session's finished 2-epoch run (read only): its events give the breakdown."""
    from engine.train.run_timing import run_time_breakdown

    b = run_time_breakdown(finished_tiny_run)
    assert b is not None and b.epochs == 2
    assert 0 < b.train < b.wall and 0 < b.valid < b.wall and 0 < b.train_share < 1
    assert b.other >= 0


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:'pin_memory' argument is set as true but no accelerator")
def test_run_end_leaves_no_worker_process_and_no_thread(tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the terminal event arrives the run has already stopped its DataLoader workers (and
    the pin-memory thread: pinning is requested here, though torch only pins where there is an
    accelerator), its checkpoint writer and its heartbeat: a process may exit at once."""
    import multiprocessing

    from engine.data import loaders

    real = loaders.make_loader
    monkeypatch.setattr(loaders, "make_loader", lambda *a, **kw: real(*a, **{**kw, "pin_memory": True}))
    before = set(threading.enumerate())
    seen: dict[str, object] = {}

    def at_the_end(event: TrainEvent) -> None:
        if event.kind == "epoch_ended":
            seen.setdefault("workers_during_run", len(multiprocessing.active_children()))
        if event.kind in TERMINAL_KINDS:
            seen["kind"] = event.kind
            seen["workers"] = [p.name for p in multiprocessing.active_children()]
            seen["threads"] = [t.name for t in set(threading.enumerate()) - before - {threading.current_thread()}]

    for kind, config in (("finished", tiny(workers=2)), ("stopped", tiny(workers=2, epochs=50))):
        seen.clear()
        trainer = Trainer(config, tmp_path / kind)
        trainer.subscribe(at_the_end)
        if kind == "stopped":
            trainer.subscribe(lambda e, t=trainer: t.stop() if e.kind == "epoch_ended" else None)
        trainer.start()
        assert trainer.join(180)
        assert seen["kind"] == kind and seen["workers_during_run"] == 4  # 2 per loader: the check sees them
        assert seen["workers"] == [] and seen["threads"] == [], seen


@pytest.mark.slow
def test_a_resume_keeps_the_resolved_precision_unless_amp_is_given(tiny, tmp_path: Path, one_thread) -> None:
    """A resumed run repeats its numerics (config.json's amp_resolved), but --amp given with
    --resume is a runtime flag (engine.train.resume) and wins over the recorded precision."""
    first = Trainer(tiny(epochs=1, amp="bf16"), tmp_path, "amp")
    assert first.run() == "finished"

    def resumed_precision(overrides: dict) -> str:
        again = Trainer(None, tmp_path, "amp", resume=True, overrides=overrides)
        assert again.run() == "finished", again.error
        return json.loads((again.run_path / "config.json").read_text())["amp_resolved"]

    assert resumed_precision({"epochs": 2}) == "bfloat16"
    assert resumed_precision({"epochs": 3, "amp": "off"}) == "fp32"


@pytest.mark.slow
@pytest.mark.parametrize("ends", ["finished", "failed"])
def test_an_in_process_run_gives_the_process_its_cudnn_benchmark_back(tiny, tmp_path: Path, monkeypatch,
                                                                        ends: str) -> None:
    """A CUDA run turns cuDNN's autotuner on for training; a run in the TUI's own process left it
    on in the dashboard once it ended (finished, or failed after its setup). The setup's switch is
    done here as a CUDA setup does it: the flag is settable on a CPU-only build."""
    import engine.train.trainer as trainer_mod

    real_setup = trainer_mod.setup_training

    def cuda_like_setup(*args, **kwargs):
        torch.backends.cudnn.benchmark = True
        if ends == "failed":
            raise RuntimeError("the GPU went away")
        return real_setup(*args, **kwargs)

    monkeypatch.setattr(trainer_mod, "setup_training", cuda_like_setup)
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = False
    try:
        trainer = Trainer(tiny(epochs=1, max_train_images=8), tmp_path)
        trainer.start()  # as the TUI's launcher does: in a thread of this process
        assert trainer.join(120)
        assert trainer.state == ends
        assert torch.backends.cudnn.benchmark is False
    finally:
        torch.backends.cudnn.benchmark = before
