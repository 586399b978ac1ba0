"""evaluate_checkpoint on a hand-made 64 px Oxford-layout dataset with constant-output models.

Test trimaps (64×64 = 4096 px each; 1 = pet, 2 = background, 3 = border):
  t1: rows 0-15, cols 0-31 pet                      -> 512 pet px
  t2: rows 0-31 pet, row 32 border                  -> 2112 px under pet_border, 2048 under pet_only
  t3: all background                                -> 0
A UNet whose 1×1 head has zero weights and bias +20 predicts "pet" everywhere, so with T pet
pixels among N: pooled Dice = 2T / (N + T), pooled IoU = T / N. Under pet_border:
  T = 2624, N = 12288: Dice = 5248 / 14912, IoU = 2624 / 12288;
  per image Dice = mean(1024/4608, 4224/6208, 0), IoU = mean(512/4096, 2112/4096, 0).
Bias -20 predicts background everywhere: pooled Dice 0, but t3 (both empty) scores 1,
so per-image Dice = IoU = 1/3.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.errors import ConfigError, DatasetError
from engine.evaluate import evaluate_checkpoint
from engine.models import build_model, model_kwargs

SIZE = 64


def _trimaps() -> dict[str, np.ndarray]:
    t1 = np.full((SIZE, SIZE), 2, np.uint8)
    t1[0:16, 0:32] = 1
    t2 = np.full((SIZE, SIZE), 2, np.uint8)
    t2[0:32] = 1
    t2[32] = 3
    t3 = np.full((SIZE, SIZE), 2, np.uint8)
    return {"t1": t1, "t2": t2, "t3": t3}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pets")
    (root / "images").mkdir()
    (root / "annotations" / "trimaps").mkdir(parents=True)
    trimaps = _trimaps()
    trainval = {f"v{i}": trimaps["t1"] for i in range(4)}
    rng = np.random.default_rng(0)
    for name, tri in {**trimaps, **trainval}.items():
        Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(root / "images" / f"{name}.jpg")
        Image.fromarray(tri).save(root / "annotations" / "trimaps" / f"{name}.png")
    (root / "annotations" / "test.txt").write_text("t1 1 1 1\nt2 1 1 1\nt3 1 1 1\n")
    (root / "annotations" / "trainval.txt").write_text("".join(f"{n} 1 1 1\n" for n in trainval))
    return root


def constant_checkpoint(path: Path, bias: float, mask_rule: str = "pet_border", data_path: str | None = None) -> Path:
    model = build_model("unet", width=4)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.fill_(bias)
    torch.save(
        {
            "format": "petseg-checkpoint/1",
            "arch": {"name": "unet", "kwargs": model_kwargs("unet", 4)},
            "model": model.state_dict(),
            "image_size": SIZE,
            "mask_rule": mask_rule,
            "epoch": 1,
            "best_dice": 0.0,
            "config": {"image_size": SIZE, "cache_dir": str(path.parent / "cache"), "valid_every": 2, "data_path": data_path},
        },
        path,
    )
    return path


def test_all_pet_model_scores_follow_from_the_trimaps(dataset, tmp_path):
    ckpt = constant_checkpoint(tmp_path / "allpet.pt", 20.0)
    r = evaluate_checkpoint(ckpt, str(dataset), batch_size=2, device="cpu")
    assert r["n_images"] == 3 and r["split"] == "test" and r["skipped"] == 0
    assert r["dice"] == pytest.approx(5248 / 14912, rel=1e-6)
    assert r["iou"] == pytest.approx(2624 / 12288, rel=1e-6)
    assert r["dice_per_image"] == pytest.approx((1024 / 4608 + 4224 / 6208) / 3, rel=1e-6)
    assert r["iou_per_image"] == pytest.approx((512 / 4096 + 2112 / 4096) / 3, rel=1e-6)
    assert r["seconds"] > 0 and r["tta"] is False

    with_tta = evaluate_checkpoint(ckpt, str(dataset), batch_size=2, device="cpu", tta=True)
    assert with_tta["dice"] == pytest.approx(r["dice"]) and with_tta["tta"] is True


def test_the_checkpoints_mask_rule_is_used(dataset, tmp_path):
    # pet_only: t2's border row is background, T = 512 + 2048 = 2560.
    ckpt = constant_checkpoint(tmp_path / "petonly.pt", 20.0, mask_rule="pet_only")
    r = evaluate_checkpoint(ckpt, str(dataset), device="cpu")
    assert r["iou"] == pytest.approx(2560 / 12288, rel=1e-6)


def test_all_background_model_only_scores_on_the_empty_image(dataset, tmp_path):
    ckpt = constant_checkpoint(tmp_path / "nopet.pt", -20.0)
    r = evaluate_checkpoint(ckpt, str(dataset), batch_size=8, device="cpu")
    assert r["dice"] == pytest.approx(0.0, abs=1e-6)
    assert r["dice_per_image"] == pytest.approx(1 / 3, rel=1e-6)
    assert r["iou_per_image"] == pytest.approx(1 / 3, rel=1e-6)


def test_valid_split_uses_the_runs_valid_every(dataset, tmp_path):
    ckpt = constant_checkpoint(tmp_path / "allpet.pt", 20.0)
    r = evaluate_checkpoint(ckpt, str(dataset), split="valid", device="cpu")
    assert r["n_images"] == 2  # 4 trainval images, every 2nd is validation
    assert r["iou"] == pytest.approx(512 / 4096, rel=1e-6)


def test_without_data_path_the_runs_own_data_is_used(dataset, tmp_path):
    ckpt = constant_checkpoint(tmp_path / "allpet.pt", 20.0, data_path=str(dataset))
    r = evaluate_checkpoint(ckpt, None, device="cpu")
    assert r["n_images"] == 3 and str(dataset) in r["data"]


def test_unknown_split_is_a_config_error(dataset, tmp_path):
    ckpt = constant_checkpoint(tmp_path / "allpet.pt", 20.0)
    with pytest.raises(ConfigError, match="--split"):
        evaluate_checkpoint(ckpt, str(dataset), split="train", device="cpu")


def test_dataset_without_a_test_split_is_a_dataset_error(tmp_path):
    root = tmp_path / "notest"
    (root / "images").mkdir(parents=True)
    (root / "annotations" / "trimaps").mkdir(parents=True)
    Image.new("RGB", (SIZE, SIZE)).save(root / "images" / "a.jpg")
    Image.fromarray(_trimaps()["t1"]).save(root / "annotations" / "trimaps" / "a.png")
    ckpt = constant_checkpoint(tmp_path / "allpet.pt", 20.0)
    with pytest.raises(DatasetError, match="no test images"):
        evaluate_checkpoint(ckpt, str(root), device="cpu")


@pytest.mark.parametrize("mask_rule", ["pet_border", "pet_only"])
def test_sample_images_all_pet_model_scores_follow_from_their_trimaps(tmp_path, mask_rule):
    # An all-pet prediction on a photo with T pet pixels among N: Dice = 2T / (T + N), IoU = T / N.
    from engine.data.images import load_trimap
    from engine.data.masks import trimap_to_mask
    from engine.data.samples import sample_pairs
    from engine.evaluate import score_sample_images
    from engine.inference import Predictor

    predictor = Predictor.from_checkpoint(constant_checkpoint(tmp_path / "allpet.pt", 20.0, mask_rule), device="cpu")
    scores = score_sample_images(predictor)
    pairs = sample_pairs()
    assert [s.name for s in scores] == [img.name for img, _ in pairs] and len(scores) == 6
    for score, (_, trimap) in zip(scores, pairs):
        truth = trimap_to_mask(load_trimap(trimap), mask_rule)
        t, n = float(truth.sum()), float(truth.size)
        assert score.pet_fraction == 1.0
        assert score.dice == pytest.approx(2 * t / (t + n), rel=1e-6)
        assert score.iou == pytest.approx(t / n, rel=1e-6)
