"""What a new run records of its data (engine/train/run_folder.settle_config)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.config import GENERATED_DATA, TrainConfig
from engine.train.run_folder import settle_config


def tiny_layout(root: Path) -> Path:
    """Two photos and their trimaps in the Oxford layout (one to train on, one to validate):
    enough for data_path_problem."""
    (root / "images").mkdir(parents=True)
    (root / "annotations" / "trimaps").mkdir(parents=True)
    for name in ("a", "b"):
        Image.new("RGB", (8, 8)).save(root / "images" / f"{name}.jpg")
        Image.fromarray(np.full((8, 8), 2, np.uint8)).save(root / "annotations" / "trimaps" / f"{name}.png")
    return root


def test_a_data_path_named_relative_is_recorded_absolute(tmp_path: Path, monkeypatch) -> None:
    """config.json is read again from other directories (petseg eval --run, --resume, the TUI):
    'pets' recorded as given named another folder, or none ('pets: dataset folder does not exist'),
    once the user had changed directory."""
    tiny_layout(tmp_path / "work" / "pets")
    monkeypatch.chdir(tmp_path / "work")
    config = settle_config(TrainConfig(data_path="pets", device="cpu"), log=lambda _line: None)
    assert config.data_path == str(tmp_path / "work" / "pets")

    monkeypatch.setenv("HOME", str(tmp_path / "work"))
    config = settle_config(TrainConfig(data_path="~/pets", device="cpu"), log=lambda _line: None)
    assert config.data_path == str(tmp_path / "work" / "pets")


@pytest.mark.parametrize("data_path", [None, GENERATED_DATA])
def test_the_bundled_sample_and_the_generated_set_are_recorded_as_named(data_path: str | None) -> None:
    config = settle_config(TrainConfig(data_path=data_path, device="cpu"), log=lambda _line: None)
    assert config.data_path == data_path


def test_imagenet_weights_that_cannot_be_fetched_are_refused_before_the_run_folder(tmp_path: Path, monkeypatch) -> None:
    """Offline, ``--pretrained imagenet`` failed only once the data was decoded and the amp timed,
    leaving a failed run folder behind; a missing .pth file was refused before any folder."""
    import torch

    from engine.models import pretrained as pretrained_mod
    from engine.runs import RunStore
    from engine.train.run_folder import create_run

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty-hub"))

    def offline(*_a, **_k):
        raise OSError("no network here")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    runs = tmp_path / "runs"
    config = TrainConfig(model="resnet34_unet", pretrained="imagenet", device="cpu")
    with pytest.raises(Exception) as info:
        create_run(RunStore(runs), config, "r34", log=lambda _line: None)
    assert str(info.value) == pretrained_mod.IMAGENET_FAIL
    assert not (runs / "r34").exists()


def test_a_field_the_model_ignores_is_said_when_the_run_is_set_up() -> None:
    """``--model resnet34_unet --width 16`` trained the full ResNet-34 without a word, and its
    config.json read width 16 as if it had been used."""
    lines: list[str] = []
    settle_config(TrainConfig(model="resnet34_unet", width=16, device="cpu"), log=lines.append)
    assert "warning: --width 16 is ignored: resnet34_unet does not use it" in lines

    lines.clear()
    settle_config(TrainConfig(model="resnet34_unet", device="cpu"), log=lines.append)  # the default: nothing to say
    settle_config(TrainConfig(model="unet", width=16, device="cpu"), log=lines.append)
    assert not [line for line in lines if "ignored" in line]
