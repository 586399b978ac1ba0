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
so per-image Dice = IoU = 1/3. The dataset is made once per module (``dataset``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.errors import ConfigError
from engine.eval.evaluate import evaluate_checkpoint
from tests.engine.eval.constant_checkpoints import SIZE, _trimaps, constant_checkpoint


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


def test_all_pet_model_scores_follow_from_the_trimaps(dataset, tmp_path):
    ckpt = constant_checkpoint(tmp_path / "allpet.pt", 20.0)
    r = evaluate_checkpoint(ckpt, str(dataset), batch_size=2, device="cpu")
    assert r.n_images == 3 and r.split == "test" and r.skipped == []
    assert r.seconds > 0 and r.tta is False and r.ignore_border is True
    for resolution in ("photo", "train"):  # photos are 64 px, the model's size: both scorings agree
        f = r.figures(resolution, ignore_border=False)
        assert f.dice == pytest.approx(5248 / 14912, rel=1e-6)
        assert f.iou == pytest.approx(2624 / 12288, rel=1e-6)
        assert f.dice_per_image == pytest.approx((1024 / 4608 + 4224 / 6208) / 3, rel=1e-6)
        assert f.iou_per_image == pytest.approx((512 / 4096 + 2112 / 4096) / 3, rel=1e-6)
    # Border ignored: t2's border row (64 px) leaves prediction and truth; T = 2560 of N = 12224.
    h = r.headline
    assert h == r.figures("photo", True)
    assert h.dice == pytest.approx(5120 / 14784, rel=1e-6)
    assert h.iou == pytest.approx(2560 / 12224, rel=1e-6)
    assert h.dice_per_image == pytest.approx((1024 / 4608 + 4096 / 6080) / 3, rel=1e-6)
    assert [x.name for x in r.records] == ["t1", "t2", "t3"]
    assert [x.pet_fraction for x in r.records] == [1.0, 1.0, 1.0]

    summary = r.as_dict()
    assert summary["photo_no_border"]["dice"] == h.dice and summary["train_border"]["iou"] == pytest.approx(2624 / 12288)
    assert summary["n_images"] == 3 and summary["ignore_border"] is True

    with_tta = evaluate_checkpoint(ckpt, str(dataset), batch_size=2, device="cpu", tta=True)
    assert with_tta.headline == h and with_tta.tta is True


def test_the_checkpoints_mask_rule_is_used_unless_the_border_is_ignored(dataset, tmp_path):
    # pet_only: t2's border row is background, T = 512 + 2048 = 2560 of 12288.
    r = evaluate_checkpoint(constant_checkpoint(tmp_path / "petonly.pt", 20.0, mask_rule="pet_only"),
                            str(dataset), device="cpu")
    assert r.mask_rule == "pet_only"
    assert r.figures("photo", False).iou == pytest.approx(2560 / 12288, rel=1e-6)
    # with the band left out both rules score the very same pixels
    border = evaluate_checkpoint(constant_checkpoint(tmp_path / "allpet.pt", 20.0), str(dataset), device="cpu")
    assert r.figures("photo", True) == border.figures("photo", True)
    assert r.figures("train", True) == border.figures("train", True)


def test_all_background_model_only_scores_on_the_empty_image(dataset, tmp_path):
    ckpt = constant_checkpoint(tmp_path / "nopet.pt", -20.0)
    r = evaluate_checkpoint(ckpt, str(dataset), batch_size=8, device="cpu", ignore_border=False)
    assert r.headline.dice == pytest.approx(0.0, abs=1e-6)
    assert r.headline.dice_per_image == pytest.approx(1 / 3, rel=1e-6)
    assert r.headline.iou_per_image == pytest.approx(1 / 3, rel=1e-6)
    ranked = [x.name for x in r.ranked()]
    assert sorted(ranked[:2]) == ["t1", "t2"] and ranked[2] == "t3"  # Dice ~0, ~0, then 1


def test_valid_split_uses_the_runs_valid_every(dataset, tmp_path):
    ckpt = constant_checkpoint(tmp_path / "allpet.pt", 20.0)
    r = evaluate_checkpoint(ckpt, str(dataset), split="valid", device="cpu")
    assert r.n_images == 2  # 4 trainval images, every 2nd is validation
    assert r.headline.iou == pytest.approx(512 / 4096, rel=1e-6)


def test_without_data_path_the_runs_own_data_is_used(dataset, tmp_path):
    ckpt = constant_checkpoint(tmp_path / "allpet.pt", 20.0, data_path=str(dataset))
    r = evaluate_checkpoint(ckpt, None, device="cpu")
    assert r.n_images == 3 and str(dataset) in r.data


def test_unknown_split_is_a_config_error(dataset, tmp_path):
    ckpt = constant_checkpoint(tmp_path / "allpet.pt", 20.0)
    with pytest.raises(ConfigError, match="--split"):
        evaluate_checkpoint(ckpt, str(dataset), split="train", device="cpu")
