"""Photo-size scoring (score_photos) with a model whose output is a fixed probability map: a 2×4
photo worked by hand, the kept photo as scored (upright when its EXIF turns it), TTA's mirror,
the border band ignored on exactly its pixels, unreadable pairs skipped, and the worst kept for
either border setting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image


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
