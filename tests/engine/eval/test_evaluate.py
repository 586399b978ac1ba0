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

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.errors import ConfigError, DatasetError
from engine.eval.evaluate import evaluate_checkpoint
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


def constant_checkpoint(path: Path, bias: float, mask_rule: str = "pet_border", data_path: str | None = None,
                        valid_every: int = 2, trained_on: Path | None = None) -> Path:
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
            "config": {"image_size": SIZE, "cache_dir": str(path.parent / "cache"), "valid_every": valid_every,
                       "data_path": data_path,
                       **({"data_source": {"path": str(trained_on), "kind": "real"}} if trained_on else {})},
        },
        path,
    )
    return path


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


def test_valid_split_of_a_folder_smaller_than_valid_every_is_the_photo_training_validated_on(tmp_path):
    """With fewer photos than valid_every, training validates on its last train photo; eval
    --split valid said "no valid images to evaluate on" (e.g. oxford-pet-mini: 6 photos, no lists)."""
    from engine.config import TrainConfig
    from engine.data.loaders import build_datasets

    root = tmp_path / "mini"
    (root / "images").mkdir(parents=True)
    (root / "annotations" / "trimaps").mkdir(parents=True)
    for name in ("a", "b", "c"):
        Image.new("RGB", (SIZE, SIZE)).save(root / "images" / f"{name}.jpg")
        Image.fromarray(_trimaps()["t1"]).save(root / "annotations" / "trimaps" / f"{name}.png")
    config = TrainConfig(data_path=str(root), image_size=SIZE, valid_every=10, cache_dir=str(tmp_path / "cache"))
    trained = build_datasets(config, log=lambda _line: None)
    assert trained.valid_names == ["c"] and trained.train_names == ["a", "b"]

    ckpt = constant_checkpoint(tmp_path / "allpet.pt", 20.0, data_path=str(root), valid_every=10)
    r = evaluate_checkpoint(ckpt, None, split="valid", device="cpu")
    assert [x.name for x in r.records] == trained.valid_names


def test_without_data_path_the_runs_own_data_is_used(dataset, tmp_path):
    ckpt = constant_checkpoint(tmp_path / "allpet.pt", 20.0, data_path=str(dataset))
    r = evaluate_checkpoint(ckpt, None, device="cpu")
    assert r.n_images == 3 and str(dataset) in r.data


def test_unknown_split_is_a_config_error(dataset, tmp_path):
    ckpt = constant_checkpoint(tmp_path / "allpet.pt", 20.0)
    with pytest.raises(ConfigError, match="--split"):
        evaluate_checkpoint(ckpt, str(dataset), split="train", device="cpu")


def _own_photos(root: Path, names: tuple[str, ...] = ("a", "b")) -> Path:
    """A user's own photos and trimaps in the Oxford layout, without any split list."""
    (root / "images").mkdir(parents=True)
    (root / "annotations" / "trimaps").mkdir(parents=True)
    for name in names:
        Image.new("RGB", (SIZE, SIZE)).save(root / "images" / f"{name}.jpg")
        Image.fromarray(_trimaps()["t1"]).save(root / "annotations" / "trimaps" / f"{name}.png")
    return root


def test_own_photos_without_split_lists_are_all_scored_and_it_is_said(tmp_path):
    """A folder of the user's own photos and trimaps (images/, annotations/trimaps/) with no
    trainval.txt or test.txt was refused ("test.txt is missing"): every photo with a trimap is
    its test split, and the data description says so. It said "3 trainval, 0 test images (… using
    every image that has a trimap)", contradicting a warning that said so too; the warning repeated
    the data: line word for word and is gone."""
    root = _own_photos(tmp_path / "mine", ("a", "b", "c"))
    ckpt = constant_checkpoint(tmp_path / "allpet.pt", 20.0)
    r = evaluate_checkpoint(ckpt, str(root), device="cpu")
    assert r.n_images == 3
    note = "no annotations/test.txt or trainval.txt: scoring every image with a trimap as the test split"
    assert r.warnings == []
    assert r.data == f"Oxford-IIIT Pet at {root}: 0 trainval, 3 test images ({note})"


def test_petseg_eval_says_a_folder_without_lists_is_all_test_once(tmp_path, capsys):
    """`petseg eval --data_path oxford-pet-mini` (six photos and trimaps, no split list) printed
    "no annotations/test.txt or trainval.txt: scoring every image…" twice: as a warning on stderr
    and again in the data: line. It is said once, in the data: line beside the counts it explains."""
    from engine.cli import main

    root = _own_photos(tmp_path / "mine", ("a", "b", "c"))
    ckpt = constant_checkpoint(tmp_path / "allpet.pt", 20.0)
    assert main(["eval", "--checkpoint", str(ckpt), "--data_path", str(root), "--device", "cpu"]) == 0
    out, err = capsys.readouterr()
    note = "no annotations/test.txt or trainval.txt: scoring every image with a trimap as the test split"
    assert [line for line in (out + err).splitlines() if "scoring every image" in line] == [
        f"data: Oxford-IIIT Pet at {root}: 0 trainval, 3 test images ({note})"], out + err


def test_a_folder_with_a_split_or_the_models_own_photos_still_needs_its_test_list(tmp_path):
    """"no test images to evaluate on" left the user guessing (oxford-pet-mini: six labelled photos,
    no lists): the line says the list is missing, or that it names none of the photos there. A
    folder with trainval.txt has its split: its photos are not all test photos; and a folder with
    no lists that the model trained on is its training data, not a test."""
    root = _own_photos(tmp_path / "notest", ("a",))
    listed = root / "annotations" / "test.txt"
    trained = constant_checkpoint(tmp_path / "trained.pt", 20.0, trained_on=root)
    with pytest.raises(DatasetError) as own:
        evaluate_checkpoint(trained, str(root), device="cpu")
    assert str(own.value) == (f"{root}: no test images to evaluate on ({listed} is missing, and this model "
                              "trained on the folder's photos: --split valid scores the ones it held out)")
    older = constant_checkpoint(tmp_path / "older.pt", 20.0, data_path=str(root))  # no data_source recorded
    with pytest.raises(DatasetError, match="this model trained on the folder's photos"):
        evaluate_checkpoint(older, str(root), device="cpu")
    with pytest.raises(DatasetError, match="this model trained on the folder's photos"):
        evaluate_checkpoint(older, None, device="cpu")  # its own data: never all of it as a test
    (root / "annotations" / "trainval.txt").write_text("a 1 1 1\n")
    ckpt = constant_checkpoint(tmp_path / "allpet.pt", 20.0)
    with pytest.raises(DatasetError) as missing:
        evaluate_checkpoint(ckpt, str(root), device="cpu")
    assert str(missing.value) == (f"{root}: no test images to evaluate on ({listed} is missing: it lists the "
                                  "photos to score, one name per line)")
    listed.write_text("# an empty list\n")
    with pytest.raises(DatasetError) as unmatched:
        evaluate_checkpoint(ckpt, str(root), device="cpu")
    assert str(unmatched.value) == f"{root}: no test images to evaluate on ({listed} names no photo)"


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


# ---------------------------------------------------------------------------------------------
# Photo-size scoring with a model whose output is a fixed probability map
# ---------------------------------------------------------------------------------------------


class FixedProbabilities(torch.nn.Module):
    """Outputs the logits of ``probs`` ((S, S), the same for every input image)."""

    def __init__(self, probs: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("logits", torch.logit(torch.tensor(probs, dtype=torch.float64)).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(x.shape[0], 1, *self.logits.shape)


def fixed_predictor(probs, mask_rule: str = "pet_border"):
    from engine.infer.inference import Predictor

    probs = np.asarray(probs, dtype=np.float64)
    return Predictor(FixedProbabilities(probs), image_size=probs.shape[0], arch_name="fixed", mask_rule=mask_rule)


def write_pair(folder: Path, name: str, trimap: np.ndarray) -> tuple[str, Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    h, w = trimap.shape
    image = folder / f"{name}.png"
    tri = folder / f"{name}-trimap.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(image)
    Image.fromarray(trimap.astype(np.uint8)).save(tri)
    return name, image, tri


# A 2×4 photo (H×W), model size 2. Trimap rows: [1 3 2 2] and [1 1 3 2].
# Model probabilities (2×2): row 0 [0.6 0.1], row 1 [0.9 0.1]. Bilinear to width 4 (half-pixel
# centres, edges clamped): [p0, .75 p0 + .25 p1, .25 p0 + .75 p1, p1]
#   row 0: [0.6, 0.475, 0.225, 0.1] -> pred [1 0 0 0]   (thresholding first, then nearest, would give [1 1 0 0])
#   row 1: [0.9, 0.7, 0.3, 0.1]     -> pred [1 1 0 0]
# pet_border truth [1 1 0 0 / 1 1 1 0]: I = 3, P = 3, T = 5 -> Dice 6/8, IoU 3/5.
# Border ignored (pixels (0,1), (1,2) out): P = 3, T = 3, I = 3 -> Dice 1, IoU 1; the same for pet_only.
# pet_only truth [1 0 0 0 / 1 1 0 0]: I = 3, P = 3, T = 3 -> Dice 1.
# Training size: the trimap nearest-resized to 2×2 takes columns 1 and 3: [3 2 / 1 2]; prediction
# [1 0 / 1 0]. pet_border: I = 2, P = 2, T = 2 -> 1. pet_only: truth [0 0 / 1 0]: I = 1, P = 2,
# T = 1 -> Dice 2/3, IoU 1/2. Border ignored ((0,0) out): I = 1, P = 1, T = 1 -> 1.
HAND_TRIMAP = np.array([[1, 3, 2, 2], [1, 1, 3, 2]])
HAND_PROBS = [[0.6, 0.1], [0.9, 0.1]]


def test_photo_size_scores_match_a_hand_computation(tmp_path):
    from engine.eval.evaluate import score_photos

    item = write_pair(tmp_path, "hand", HAND_TRIMAP)
    r = score_photos(fixed_predictor(HAND_PROBS), [item], keep_worst=1).records[0]
    assert (r.height, r.width) == (2, 4) and r.pet_fraction == pytest.approx(3 / 8)
    assert r.dice("photo", False) == pytest.approx(6 / 8) and r.iou("photo", False) == pytest.approx(3 / 5)
    assert r.dice("photo", True) == pytest.approx(1.0) and r.iou("photo", True) == pytest.approx(1.0)
    assert r.dice("train", False) == pytest.approx(1.0) and r.dice("train", True) == pytest.approx(1.0)

    only = score_photos(fixed_predictor(HAND_PROBS, "pet_only"), [item]).records[0]
    assert only.dice("photo", False) == pytest.approx(1.0)
    assert only.dice("train", False) == pytest.approx(2 / 3) and only.iou("train", False) == pytest.approx(1 / 2)
    assert only.dice("train", True) == pytest.approx(1.0)


def test_the_kept_photo_is_what_was_scored(tmp_path):
    from engine.eval.evaluate import score_photos

    item = write_pair(tmp_path, "hand", HAND_TRIMAP)
    ev = score_photos(fixed_predictor(HAND_PROBS), [item], keep_worst=3)
    (kept,) = ev.worst
    np.testing.assert_allclose(kept.prob, [[0.6, 0.475, 0.225, 0.1], [0.9, 0.7, 0.3, 0.1]], atol=1e-6)
    np.testing.assert_array_equal(kept.mask(), [[1, 0, 0, 0], [1, 1, 0, 0]])
    np.testing.assert_array_equal(kept.trimap, HAND_TRIMAP)
    assert kept.image.shape == (2, 4, 3) and kept.record is ev.records[0]


def test_a_sideways_photo_is_scored_as_stored_and_kept_as_shown(tmp_path):
    """A photo with EXIF orientation 6 is scored on its stored pixels, those its trimap is drawn on
    (the hand figures above: the same Dice); the kept photo, its prediction and trimap are turned
    together as viewers show it, so the worst-cases screen and sheet show it upright, not sideways."""
    from engine.eval.evaluate import score_photos

    name, _, tri = write_pair(tmp_path, "hand", HAND_TRIMAP)
    image = tmp_path / "hand.jpg"
    picture = Image.fromarray(np.random.default_rng(1).integers(0, 256, (2, 4, 3), dtype=np.uint8))
    exif = picture.getexif()
    exif[0x0112] = 6
    picture.save(image, exif=exif.tobytes())
    ev = score_photos(fixed_predictor(HAND_PROBS), [(name, image, tri)], keep_worst=1)
    r = ev.records[0]
    assert (r.height, r.width) == (2, 4) and r.dice("photo", False) == pytest.approx(6 / 8)
    (kept,) = ev.worst
    assert kept.image.shape == (4, 2, 3)
    np.testing.assert_array_equal(kept.trimap, np.rot90(HAND_TRIMAP, -1))
    np.testing.assert_array_equal(kept.mask(), np.rot90([[1, 0, 0, 0], [1, 1, 0, 0]], -1))


def test_tta_averages_with_the_mirror_before_scoring(tmp_path):
    from engine.eval.evaluate import score_photos

    # mirrored average: row 0 [0.35 0.35], row 1 [0.5 0.5] -> nothing above 0.5
    item = write_pair(tmp_path, "hand", HAND_TRIMAP)
    r = score_photos(fixed_predictor(HAND_PROBS), [item], tta=True).records[0]
    assert r.pet_fraction == 0.0 and r.dice("photo", False) == pytest.approx(0.0, abs=1e-6)


def test_ignoring_the_border_changes_exactly_the_border_pixels(tmp_path):
    """Two models that differ only inside the border band score the same with the band
    ignored, and differently with it counted; the ignored score equals Dice on the non-border
    pixels computed with numpy; without border pixels the setting changes nothing."""
    from engine.eval.evaluate import score_photos

    rng = np.random.default_rng(7)
    trimap = rng.choice([1, 2, 3], size=(16, 16), p=[0.4, 0.4, 0.2])
    probs = rng.uniform(0.05, 0.95, size=(16, 16))  # photo 16×16 = model size: no resizing
    flipped = np.where(trimap == 3, 1.0 - probs, probs)
    item = write_pair(tmp_path, "rand", trimap)
    a = score_photos(fixed_predictor(probs), [item]).records[0]
    b = score_photos(fixed_predictor(flipped), [item]).records[0]
    assert a.overlap("photo", True) == b.overlap("photo", True)
    assert a.overlap("train", True) == b.overlap("train", True)
    assert a.overlap("photo", False) != b.overlap("photo", False)

    keep = trimap != 3
    pred, truth = probs[keep] > 0.5, trimap[keep] == 1
    expected = 2 * (pred & truth).sum() / (pred.sum() + truth.sum())
    assert a.dice("photo", True) == pytest.approx(expected, rel=1e-6)

    no_band = np.where(trimap == 3, 2, trimap)
    c = score_photos(fixed_predictor(probs), [write_pair(tmp_path, "noband", no_band)]).records[0]
    assert c.overlap("photo", True) == c.overlap("photo", False)


def test_unreadable_pairs_are_skipped_with_a_reason(tmp_path):
    from engine.eval.evaluate import score_photos

    good = write_pair(tmp_path, "good", HAND_TRIMAP)
    bad = ("bad", tmp_path / "bad.jpg", good[2])
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    small = write_pair(tmp_path, "small", HAND_TRIMAP[:, :2])  # its photo written 2x2
    mismatched = ("mismatch", small[1], good[2])
    ev = score_photos(fixed_predictor(HAND_PROBS), [bad, good, mismatched])
    assert [r.name for r in ev.records] == ["good"]
    reasons = dict(ev.skipped)
    assert "bad.jpg" in reasons["bad"] and "must match" in reasons["mismatch"]


# ---------------------------------------------------------------------------------------------
# The real sample (skipped, with the reason, where it is not on the machine)
# ---------------------------------------------------------------------------------------------

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


def test_the_worst_are_kept_for_both_border_settings(tmp_path):
    from engine.eval.evaluate import score_photos

    rng = np.random.default_rng(11)
    probs = rng.uniform(0.05, 0.95, size=(12, 12))
    items = [write_pair(tmp_path, f"p{i}", rng.choice([1, 2, 3], size=(12, 12), p=[0.3, 0.4, 0.3]))
             for i in range(8)]
    ignored = score_photos(fixed_predictor(probs), items, keep_worst=3, ignore_border=True, batch_size=3)
    counted = score_photos(fixed_predictor(probs), items, keep_worst=3, ignore_border=False, batch_size=3)
    for ev in (ignored, counted):
        assert [p.record.name for p in ev.worst] == [r.name for r in ev.ranked()[:3]]
    flipped = ignored.with_border(False)
    assert [p.record.name for p in flipped.worst] == [p.record.name for p in counted.worst]
    assert flipped.headline == counted.headline and flipped.label() == counted.label()
    assert [p.record.name for p in ignored.worst] != [p.record.name for p in counted.worst]  # the setting matters here


def test_a_split_of_unreadable_photos_is_one_dataset_error(tmp_path):
    root = tmp_path / "broken"
    (root / "images").mkdir(parents=True)
    (root / "annotations" / "trimaps").mkdir(parents=True)
    for name in ("a", "b"):
        (root / "images" / f"{name}.jpg").write_bytes(b"\xff\xd8 truncated")
        Image.fromarray(_trimaps()["t1"]).save(root / "annotations" / "trimaps" / f"{name}.png")
    (root / "annotations" / "test.txt").write_text("a 1 1 1\nb 1 1 1\n")
    (root / "annotations" / "trainval.txt").write_text("")
    ckpt = constant_checkpoint(tmp_path / "allpet.pt", 20.0)
    with pytest.raises(DatasetError, match=r"none of the 2 test images could be read \(first: a: .*a\.jpg"):
        evaluate_checkpoint(ckpt, str(root), device="cpu")
