"""Scoring real photos with an all-pet model against numpy, by their trimaps: the six bundled
sample images, and ten photos of the real sample (made once per module, ``real_subset``; skipped,
with the reason, where it is not on the machine), scored on what `petseg infer` predicts and as
training's validation scores them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.eval.evaluate import evaluate_checkpoint
from engine.models import build_model, model_kwargs
from tests.engine.eval.constant_checkpoints import SIZE, constant_checkpoint


@pytest.mark.parametrize("mask_rule", ["pet_border", "pet_only"])
def test_sample_images_all_pet_model_scores_follow_from_their_trimaps(tmp_path, mask_rule):
    # An all-pet prediction on a photo with T pet pixels among N: Dice = 2T / (T + N), IoU = T / N;
    # with the border band (B pixels) ignored, N - B pixels are scored.
    from engine.data.images import load_trimap
    from engine.data.masks import trimap_to_mask
    from engine.data.samples import sample_pairs
    from engine.eval.evaluate import score_sample_images
    from engine.infer.inference import Predictor

    predictor = Predictor.from_checkpoint(constant_checkpoint(tmp_path / "allpet.pt", 20.0, mask_rule), device="cpu")
    scores = score_sample_images(predictor)
    pairs = sample_pairs()
    assert [s.name for s in scores.records] == [img.name for img, _ in pairs] and len(scores.records) == 6
    assert sorted(p.record.name for p in scores.worst) == [img.name for img, _ in pairs]
    for score, (_, trimap_path) in zip(scores.records, pairs):
        trimap = load_trimap(trimap_path)
        t, n = float(trimap_to_mask(trimap, mask_rule).sum()), float(trimap.size)
        assert score.pet_fraction == 1.0
        assert score.dice("photo", False) == pytest.approx(2 * t / (t + n), rel=1e-6)
        assert score.iou("photo", False) == pytest.approx(t / n, rel=1e-6)
        pet, b = float((trimap == 1).sum()), float((trimap == 3).sum())
        assert score.dice("photo", True) == pytest.approx(2 * pet / (pet + n - b), rel=1e-6)


REAL_SAMPLE = Path(os.environ.get("PETSEG_TEST_SAMPLE")
                   or Path(__file__).resolve().parents[3].parent / "shared" / "data" / "oxford-pet-sample")


@pytest.fixture(scope="module")
def real_subset(tmp_path_factory) -> Path:
    """Ten real test photos (all three breeds) in a folder of their own, via symlinks."""
    if not (REAL_SAMPLE / "annotations" / "test.txt").is_file():
        pytest.skip(f"real sample not on this machine: {REAL_SAMPLE} (set PETSEG_TEST_SAMPLE)")
    from engine.data.layout import PetLayout

    layout = PetLayout(REAL_SAMPLE)
    names = layout.test_names()[:: max(1, len(layout.test_names()) // 10)][:10]
    root = tmp_path_factory.mktemp("real")
    (root / "images").mkdir()
    (root / "annotations" / "trimaps").mkdir(parents=True)
    for n in names:
        (root / "images" / f"{n}.jpg").symlink_to(layout.image_path(n))
        (root / "annotations" / "trimaps" / f"{n}.png").symlink_to(layout.trimap_path(n))
    (root / "annotations" / "test.txt").write_text("".join(f"{n} 1 1 1\n" for n in names))
    (root / "annotations" / "trainval.txt").write_text("")
    return root


def random_checkpoint(path: Path) -> Path:
    torch.manual_seed(0)
    model = build_model("unet", width=4)
    torch.save({"format": "petseg-checkpoint/1", "arch": {"name": "unet", "kwargs": model_kwargs("unet", 4)},
                "model": model.state_dict(), "image_size": SIZE, "mask_rule": "pet_border", "epoch": 1,
                "best_dice": 0.0, "config": {"image_size": SIZE, "cache_dir": str(path.parent / "cache")}}, path)
    return path


def test_real_photos_all_pet_scores_match_numpy(real_subset, tmp_path):
    from engine.data.images import load_trimap

    ev = evaluate_checkpoint(constant_checkpoint(tmp_path / "allpet.pt", 20.0), str(real_subset), device="cpu")
    assert ev.n_images == 10 and not ev.skipped
    for r in ev.records:
        trimap = load_trimap(real_subset / "annotations" / "trimaps" / f"{r.name}.png")
        assert (r.height, r.width) == trimap.shape and trimap.size > SIZE * SIZE  # really at photo size
        n, t, pet, band = trimap.size, (trimap != 2).sum(), (trimap == 1).sum(), (trimap == 3).sum()
        assert r.dice("photo", False) == pytest.approx(2 * t / (t + n), rel=1e-9)
        assert r.dice("photo", True) == pytest.approx(2 * pet / (pet + n - band), rel=1e-9)


def test_real_photos_are_scored_on_what_infer_predicts_and_like_validation(real_subset, tmp_path):
    """Photo size: the probabilities `petseg infer` computes for the photo. Training size: the
    figure training's validation (cached S×S arrays, SegMetrics) gives: the same pixels, so
    the same Dice."""
    from engine.data.cache import decode_pair, load_split_arrays
    from engine.data.dataset import PetSegDataset
    from engine.data.layout import PetLayout
    from engine.data.transforms import eval_transform
    from engine.infer.inference import Predictor
    from engine.eval.metrics import SegMetrics

    predictor = Predictor.from_checkpoint(random_checkpoint(tmp_path / "random.pt"), device="cpu")
    ev = evaluate_checkpoint(predictor.checkpoint_path, str(real_subset), predictor=predictor, keep_worst=3,
                             batch_size=4)
    assert len(ev.worst) == 3
    assert [p.record.name for p in ev.worst] == [r.name for r in ev.ranked()[:3]]
    for kept in ev.worst:
        image, _ = decode_pair(kept.source, real_subset / "annotations" / "trimaps" / f"{kept.record.name}.png")
        np.testing.assert_allclose(kept.prob, predictor.predict_array(image), atol=1e-5)

    layout = PetLayout(real_subset)
    arrays = load_split_arrays(layout, layout.test_names(), SIZE, cache_dir=tmp_path / "cache")
    metrics = SegMetrics()
    data = PetSegDataset(arrays, eval_transform(SIZE))
    x = torch.stack([data[i][0] for i in range(len(data))])
    y = torch.stack([data[i][1] for i in range(len(data))])
    with torch.inference_mode():
        metrics.update(predictor.model(x), y)
    assert ev.figures("train", False).dice == pytest.approx(metrics.compute()["dice"], abs=1e-6)
