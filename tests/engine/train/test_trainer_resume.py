"""Trainer's resume and what its checkpoints keep: a resume adds epochs without repeating any,
one after a crash, a stop or a pause repeats the uninterrupted run bit for bit (weights, EMA,
optimiser steps; the ``uninterrupted`` references trained once per module), a run killed before
its first epoch starts again, the resolved precision is kept, and EMA weights are what is scored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest
import torch

from engine.checkpoint import load_checkpoint
from engine.config import TrainConfig
from engine.events import TrainEvent
from engine.runs import RunStore
from engine.train.trainer import Trainer


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
