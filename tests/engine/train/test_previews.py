"""Epoch previews: what the trainer writes every epoch, how it is read back and drawn."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from engine.config import TrainConfig
from engine.errors import RunStoreError
from engine.train.previews import INDEX_FILE, PREVIEWS_DIR, PreviewWriter, read_previews, spread_indices
from engine.train.trainer import Trainer


class Split(SimpleNamespace):
    """What PreviewWriter reads of a PetSegDataset: arrays.images/trimaps, names, len()."""

    def __len__(self) -> int:
        return len(self.names)


def fake_valid_split(n: int = 6, size: int = 32) -> Split:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8)
    trimaps = np.full((n, size, size), 2, np.uint8)
    trimaps[:, 8:24, 8:24] = 1  # a square pet in every image
    return Split(arrays=SimpleNamespace(images=images, trimaps=trimaps), names=[f"img_{i}" for i in range(n)])


class HalfPet(torch.nn.Module):
    """Predicts the left half of every image as pet (logit +10 / -10)."""

    def __init__(self) -> None:
        super().__init__()
        self.bn = torch.nn.BatchNorm2d(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(x)
        out = torch.full_like(x[:, :1], -10.0)
        out[..., : x.shape[-1] // 2] = 10.0
        return out + 0 * x[:, :1]


def test_spread_indices() -> None:
    assert spread_indices(3, 4) == [0, 1, 2]
    idx = spread_indices(100, 4)
    assert len(idx) == 4 and idx == sorted(idx) and idx[0] > 0 and idx[-1] < 100


def test_capture_writes_files_scores_and_draws_no_random_numbers(tmp_path: Path) -> None:
    split = fake_valid_split()
    writer = PreviewWriter(tmp_path, split, image_size=32,
                           mask_rule="pet_border", device=torch.device("cpu"), min_interval_s=3600)
    model = HalfPet().train()
    rng_before = torch.get_rng_state()
    bn_before = model.bn.running_mean.clone()
    assert writer.capture(1, model)
    assert not writer.capture(2, model)  # throttled: the last capture was under min_interval_s ago
    assert writer.capture(3, model, final=True)  # the last epoch always
    writer.close()
    assert model.training  # mode restored
    assert torch.equal(torch.get_rng_state(), rng_before)  # no random number drawn
    assert torch.equal(model.bn.running_mean, bn_before)  # eval mode: BatchNorm statistics untouched

    previews = read_previews(tmp_path)
    assert previews is not None
    assert [e.epoch for e in previews.epochs] == [1, 3]
    assert previews.names == tuple(split.names[i] for i in spread_indices(6, 4))
    # the square pet (8..24) against the predicted left half (0..16): Dice = 2*128 / (256+512)
    assert previews.epochs[0].dice == pytest.approx([2 * 128 / (256 + 512)] * 4, abs=1e-3)
    with Image.open(tmp_path / PREVIEWS_DIR / "epoch_0001.png") as im:
        assert im.size == (4 * 32, 32) and im.mode == "L"
        probs = np.asarray(im)
    assert probs[:, :16].min() > 250 and probs[:, 16:32].max() < 5
    grid = previews.grid(3)
    assert grid.size == (2 * 32 + 2, 2 * 32 + 2)  # 2x2 tiles with a 2 px gap
    row = np.asarray(grid)[4, :32]
    assert row[:16, 0].mean() > row[18:30, 0].mean()  # the predicted half is tinted red
    assert previews.grid(3, columns=4).size == (4 * 32 + 3 * 2, 32)


def test_read_previews_missing_and_garbage(tmp_path: Path) -> None:
    assert read_previews(tmp_path) is None
    (tmp_path / PREVIEWS_DIR).mkdir()
    (tmp_path / PREVIEWS_DIR / INDEX_FILE).write_text("{not json")
    with pytest.raises(RunStoreError, match="not valid JSON"):
        read_previews(tmp_path)
    (tmp_path / PREVIEWS_DIR / INDEX_FILE).write_text(json.dumps({"names": ["a"], "side": 8,
                                                                  "epochs": [{"epoch": 1, "file": "epoch_0001.png"}]}))
    previews = read_previews(tmp_path)
    with pytest.raises(RunStoreError, match="missing"):
        previews.grid(1)
    with pytest.raises(RunStoreError, match="no preview"):
        previews.grid(2)


@pytest.mark.slow
def test_a_training_run_writes_previews_of_its_first_and_last_epoch(tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=2, image_size=64, width=4, batch_size=8, max_train_images=16, workers=0,
                      device="cpu")
    trainer = Trainer(cfg, tmp_path)
    assert trainer.run() == "finished", trainer.error
    previews = read_previews(trainer.run_path)
    assert previews is not None and [e.epoch for e in previews.epochs] == [1, 2]
    assert len(previews.names) == min(4, len(trainer.bundle.valid))
    assert list(previews.names) == [trainer.bundle.valid.names[i] for i in spread_indices(len(trainer.bundle.valid), 4)]
    assert all(0.0 <= d <= 1.0 for e in previews.epochs for d in e.dice)
    assert previews.grid(2).mode == "RGB"
