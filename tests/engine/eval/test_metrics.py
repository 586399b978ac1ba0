"""Dice / IoU and the SegMetrics accumulator against values computed on paper.

Fixture masks (each image is 2×2, flattened row by row):
  A: target 1 1 1 1, pred 1 1 1 0 -> I=3, |P|=3, |T|=4: dice 6/7, IoU 3/4
  B: target 1 0 0 0, pred 0 1 0 0 -> I=0, |P|=1, |T|=1: dice 0,   IoU 0
  C: target 0 0 0 0, pred 0 0 0 0 -> both empty:         dice 1,   IoU 1
Pooled A+B: I=3, |P|=4, |T|=5 -> dice 6/9 = 2/3, IoU 3/(4+5-3) = 1/2
Per-image A+B: dice (6/7 + 0)/2 = 3/7, IoU (3/4 + 0)/2 = 3/8
"""

from __future__ import annotations

import pytest
import torch

from engine.eval.metrics import SegMetrics, dice_score, iou_score

A_T, A_P = [1, 1, 1, 1], [1, 1, 1, 0]
B_T, B_P = [1, 0, 0, 0], [0, 1, 0, 0]
C_T, C_P = [0, 0, 0, 0], [0, 0, 0, 0]


def masks(*rows: list[int]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32).view(len(rows), 1, 2, 2)


def logits(*rows: list[int]) -> torch.Tensor:
    return masks(*rows) * 20 - 10  # 1 -> +10, 0 -> -10


def test_dice_and_iou_by_hand():
    assert dice_score(masks(A_P), masks(A_T)) == pytest.approx(6 / 7)
    assert iou_score(masks(A_P), masks(A_T)) == pytest.approx(3 / 4)
    assert dice_score(masks(B_P), masks(B_T)) == pytest.approx(0.0, abs=1e-6)
    assert dice_score(masks(A_P, B_P), masks(A_T, B_T)) == pytest.approx(2 / 3)
    assert iou_score(masks(A_P, B_P), masks(A_T, B_T)) == pytest.approx(1 / 2)


def test_both_empty_scores_one():
    assert dice_score(masks(C_P), masks(C_T)) == 1.0
    assert iou_score(masks(C_P), masks(C_T)) == 1.0


def test_bool_and_uint8_masks_are_accepted():
    p = masks(A_P).bool()
    t = masks(A_T).to(torch.uint8)
    assert dice_score(p, t) == pytest.approx(6 / 7)


def test_accumulator_pooled_and_per_image_differ():
    m = SegMetrics()
    m.update(logits(A_P, B_P), masks(A_T, B_T))
    r = m.compute()
    assert r["dice"] == pytest.approx(2 / 3)
    assert r["iou"] == pytest.approx(1 / 2)
    assert r["dice_per_image"] == pytest.approx(3 / 7)
    assert r["iou_per_image"] == pytest.approx(3 / 8)
    assert r["n_images"] == 2


def test_accumulator_empty_image_counts_as_perfect():
    m = SegMetrics()
    m.update(logits(A_P), masks(A_T))
    m.update(logits(C_P), masks(C_T))  # second batch: accumulates across calls
    r = m.compute()
    assert r["dice_per_image"] == pytest.approx((6 / 7 + 1) / 2)
    assert r["iou_per_image"] == pytest.approx((3 / 4 + 1) / 2)
    assert r["dice"] == pytest.approx(6 / 7)  # C adds nothing to the pooled sums


def test_threshold_applies_to_probabilities():
    # sigmoid(0.3) = 0.574: foreground at threshold 0.5, background at 0.6.
    target = masks([1, 1, 1, 1])
    m = SegMetrics()
    m.update(torch.full_like(target, 0.3), target, threshold=0.5)
    assert m.compute()["dice"] == pytest.approx(1.0)
    m.reset()
    m.update(torch.full_like(target, 0.3), target, threshold=0.6)
    assert m.compute()["dice"] == pytest.approx(0.0, abs=1e-6)


def test_update_never_syncs_with_the_host(monkeypatch):
    def no_item(self):
        raise AssertionError("update must not call .item()")

    monkeypatch.setattr(torch.Tensor, "item", no_item)
    monkeypatch.setattr(torch.Tensor, "tolist", no_item)
    m = SegMetrics()
    m.update(logits(A_P, B_P), masks(A_T, B_T))
    m.update(logits(C_P), masks(C_T))
    monkeypatch.undo()
    assert m.compute()["n_images"] == 3


def test_reset_and_empty_compute():
    m = SegMetrics()
    m.update(logits(B_P), masks(B_T))
    m.reset()
    assert m.compute() == {"dice": 0.0, "iou": 0.0, "dice_per_image": 0.0, "iou_per_image": 0.0, "n_images": 0}


def test_label_confusion_and_overlaps_by_hand():
    from engine.eval.metrics import label_confusion
    from engine.eval.scores import overlap_from_confusion

    # labels (one image, 2×3): 1 1 3 / 2 2 3; prediction: 1 0 1 / 1 0 0
    labels = torch.tensor([[[1, 1, 3], [2, 2, 3]]], dtype=torch.uint8)
    pred = torch.tensor([[[1, 0, 1], [1, 0, 0]]], dtype=torch.bool)
    conf = label_confusion(pred, labels, 4)
    assert conf.tolist() == [[[0, 1, 1, 1], [0, 1, 1, 1]]]  # [background row, foreground row][label]
    # the same through the batched (int64) path, next to a second image: all label 2, prediction
    # 0 1 0 / 0 1 1 -> three of label 2 predicted background, three foreground
    both = label_confusion(torch.cat([pred, ~pred]), torch.cat([labels, torch.full_like(labels, 2)]), 4)
    assert both[0].tolist() == conf[0].tolist() and both[1].tolist() == [[0, 0, 3, 0], [0, 0, 3, 0]]
    # target {1, 3}: T = 4, P = 3, I = 2
    assert overlap_from_confusion(conf[0].tolist(), [False, True, False, True]) == (2, 3, 4)
    # target {1}, label 3 not scored: pixels 0, 1, 3, 4 remain: P = 2, T = 2, I = 1
    assert overlap_from_confusion(conf[0].tolist(), [False, True, False, False], [True, True, True, False]) == (1, 2, 2)


def test_overlap_counts_leave_invalid_pixels_out():
    from engine.eval.metrics import overlap_counts

    p, t = masks(A_P), masks(A_T)
    valid = masks([1, 1, 0, 1])
    assert overlap_counts(p, t).tolist() == [[3, 3, 4]]
    assert overlap_counts(p, t, valid).tolist() == [[2, 2, 3]]


def test_label_confusion_counts_each_label_under_each_prediction():
    # checked against a plain count per (image, predicted, label): the many-image path, the
    # one-byte path of a single photo, scores with a threshold and a boolean mask
    from engine.eval.metrics import label_confusion

    gen = torch.Generator().manual_seed(0)
    scores = torch.rand(3, 37, 53, generator=gen)
    labels = torch.randint(1, 4, (3, 37, 53), generator=gen, dtype=torch.uint8)

    def counted(fg: torch.Tensor, lab: torch.Tensor) -> list:
        return [[[int(((fg[i] == bool(p)) & (lab[i] == v)).sum()) for v in range(4)] for p in (0, 1)]
                for i in range(fg.shape[0])]

    for n in (1, 3):
        got = label_confusion(scores[:n], labels[:n], 4, 0.5)
        assert got.dtype == torch.int64 and got.tolist() == counted(scores[:n] > 0.5, labels[:n])
        assert got.sum().item() == n * 37 * 53
        mask = scores[:n] > 0.3
        assert label_confusion(mask, labels[:n], 4, None).tolist() == counted(mask, labels[:n])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the GPU path needs a CUDA device")
def test_label_confusion_is_the_same_on_the_gpu():
    from engine.eval.metrics import label_confusion

    gen = torch.Generator().manual_seed(0)
    scores = torch.rand(3, 37, 53, generator=gen)
    labels = torch.randint(1, 4, (3, 37, 53), generator=gen, dtype=torch.uint8)
    for n in (1, 3):
        on_gpu = label_confusion(scores[:n].cuda(), labels[:n].cuda(), 4, 0.5)
        assert on_gpu.device.type == "cuda"
        assert on_gpu.cpu().tolist() == label_confusion(scores[:n], labels[:n], 4, 0.5).tolist()
