"""Validate before a run folder exists: TrainConfig.field_errors is the one place for limits;
devices are checked first; a BatchNorm-impossible batch is refused; --workers is capped."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from engine.cli import main
from engine.config import TrainConfig
from engine.runs import RunStore

TINY = ["--image_size", "64", "--width", "4", "--batch_size", "8", "--max_train_images", "16", "--workers", "0",
        "--device", "cpu", "--epochs", "1"]


@pytest.mark.parametrize("field, value, message", [
    ("weight_decay", -1.0, "must be a finite number between 0 and 1"),
    ("weight_decay", math.nan, "must be a finite number between 0 and 1"),
    ("weight_decay", 1e38, "must be a finite number between 0 and 1"),
    ("max_train_images", 0, "must be an integer between 1 and 10000000 (or unset)"),
    ("seed", -1, "must be an integer between 0 and 4294967295"),
    ("seed", 10**23, "must be an integer between 0 and 4294967295"),
    ("bce_weight", math.nan, "must be a finite number between 0 and 1000"),
    ("dice_weight", math.inf, "must be a finite number between 0 and 1000"),
    ("grad_clip", math.nan, "must be a finite number between 0 and 1e6 (0 disables clipping)"),
    ("learning_rate", math.inf, "must be a number in (0, 10)"),
    ("epochs", "10", "must be an integer between 1 and 100000"),
    ("device", 3, "must be one of auto, cpu, cuda, mps or cuda:N"),
])
def test_field_errors_names_each_bad_field(field: str, value, message: str) -> None:
    errors = TrainConfig(**{field: value}).field_errors()
    assert errors == {field: message}


def test_every_bad_field_is_reported_at_once() -> None:
    errors = TrainConfig(weight_decay=-1, seed=-1, bce_weight=math.nan).field_errors()
    assert set(errors) == {"weight_decay", "seed", "bce_weight"}


def test_a_batch_batchnorm_cannot_train_is_refused() -> None:
    errors = TrainConfig(model="resnet34_unet", image_size=32, batch_size=1).field_errors()
    assert errors == {"batch_size": "resnet34_unet at image_size 32 shrinks each image to 1×1 at its bottleneck, "
                                    "where BatchNorm needs more than 1 value per channel: use batch_size >= 2 or "
                                    "image_size >= 64"}
    assert TrainConfig(model="resnet34_unet", image_size=64, batch_size=1).field_errors() == {}
    assert TrainConfig(model="unet", image_size=32, batch_size=1).field_errors() == {}  # 2×2 at its bottleneck


@pytest.mark.parametrize("flags, message", [
    (["--weight_decay", "-1"], "--weight_decay -1.0: must be a finite number between 0 and 1"),
    (["--weight_decay", "nan"], "--weight_decay nan: must be a finite number"),
    (["--max_train_images", "0"], "--max_train_images 0: must be an integer between 1 and 10000000"),
    (["--seed", "-1"], "--seed -1: must be an integer between 0 and 4294967295"),
    (["--seed", str(10**23)], "--seed 100000000000000000000000: must be an integer between 0 and 4294967295"),
    (["--bce_weight", "nan"], "--bce_weight nan: must be a finite number between 0 and 1000"),
    (["--dice_weight", "inf"], "--dice_weight inf: must be a finite number between 0 and 1000"),
    (["--model", "resnet34_unet", "--image_size", "32", "--batch_size", "1"],
     "--batch_size 1: resnet34_unet at image_size 32 shrinks each image to 1×1"),
    (["--pretrained", "/no/such/weights.pth", "--model", "resnet34_unet"],
     "--pretrained /no/such/weights.pth: no such file"),
])
def test_bad_flags_are_refused_before_a_run_folder_exists(tmp_path: Path, capsys, flags: list[str], message: str) -> None:
    runs = tmp_path / "runs"
    assert main(["train", "--runs", str(runs), *TINY[:-6], *flags]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("petseg: error:") and message in err and "\n" not in err, err
    assert not runs.exists() or not any(runs.iterdir())


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_a_missing_device_is_refused_before_a_run_folder_exists(tmp_path: Path, capsys) -> None:
    runs = tmp_path / "runs"
    assert main(["train", "--runs", str(runs), "--device", "cuda", "--epochs", "1"]) == 1
    assert "--device cuda: CUDA is not available on this machine (use auto or cpu)" in capsys.readouterr().err
    assert not runs.exists() or not any(runs.iterdir())


def test_a_one_image_train_split_is_refused_with_the_reason(tmp_path: Path, generated_data: str) -> None:
    from engine.train.trainer import Trainer

    cfg = TrainConfig(model="resnet34_unet", image_size=32, batch_size=4, max_train_images=1, epochs=1,
                      workers=0, device="cpu", data_path=generated_data)
    t = Trainer(cfg, tmp_path)
    assert t.run() == "failed"
    assert "only 1 training image(s) — resnet34_unet at image_size 32 shrinks each image to 1×1" in t.error
    assert "Expected more than 1 value per channel" not in t.error


@pytest.mark.slow
def test_a_last_batch_of_one_is_dropped_not_fatal(tmp_path: Path, generated_data: str) -> None:
    from engine.train.trainer import Trainer

    # a stride-32 encoder at 32 px: a batch of one reaches its bottom BatchNorm as 1x1, which
    # training refuses ("Expected more than 1 value per channel"); ResNet-18 has the same stride
    # and BatchNorms as ResNet-34 at 1.6 CPU-s a run instead of 2.5. amp off: the bf16/fp32 probe
    # would cost more than the run (precision has its own tests)
    cfg = TrainConfig(model="resnet18_unet", image_size=32, batch_size=8, max_train_images=9, epochs=1,
                      workers=0, device="cpu", amp="off", data_path=generated_data)
    t = Trainer(cfg, tmp_path)
    assert t.run() == "finished", t.error


@pytest.mark.slow
def test_workers_above_the_core_count_are_capped_with_a_note(tmp_path: Path, capsys, generated_data: str) -> None:
    from engine.cores import available_cores

    cores = available_cores()
    asked = min(64, cores + 3)
    assert main(["train", "--runs", str(tmp_path), "--run_name", "w", *TINY[:-4], "--workers", str(asked),
                 "--epochs", "1", "--device", "cpu", "--data_path", generated_data]) == 0
    captured = capsys.readouterr()
    note = f"--workers {asked} capped at {cores}, the number of CPU cores available here"
    assert note in captured.out
    assert "UserWarning" not in captured.err and "worker processes in total" not in captured.err
    config = json.loads((tmp_path / "w" / "config.json").read_text())
    assert config["workers"] == asked and config["workers_used"] == cores
    assert note in RunStore(tmp_path).load("w").warnings
