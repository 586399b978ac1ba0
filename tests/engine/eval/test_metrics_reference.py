"""`SegMetrics` against independent implementations of Dice and IoU.

The engine counts pixels with tensor ops (`overlap_counts`); the references here never touch
it: Python sets of foreground pixel coordinates (Dice = 2|A∩B|/(|A|+|B|), IoU = |A∩B|/|A∪B|)
and SciPy's boolean-vector distances (``1 - dice``, ``1 - jaccard``), on fixed random masks of
several sizes and fill rates, fed to the accumulator in uneven batches.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.eval.metrics import SegMetrics


def _masks(seed: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """(N, 1, H, W) bool prediction and target: blobs of various sizes, some barely touching."""
    rng = np.random.default_rng(seed)
    n, h, w = 11, 17, 23
    yy, xx = np.mgrid[0:h, 0:w]
    pred = np.zeros((n, 1, h, w), bool)
    target = np.zeros((n, 1, h, w), bool)
    for i in range(n):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(2, 9)
        target[i, 0] = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        dy, dx, dr = rng.normal(0, 2, size=3)
        pred[i, 0] = (yy - cy - dy) ** 2 + (xx - cx - dx) ** 2 < (r + dr) ** 2
        pred[i, 0] ^= rng.random((h, w)) < 0.03  # a few stray pixels either way
    target[3] = False  # an image with no pet ...
    pred[3, 0, 5, 5] = True  # ... where one pixel is predicted
    pred[7] = False  # a pet wholly missed
    return pred, target


def _pixels(mask: np.ndarray) -> set[tuple[int, ...]]:
    return {tuple(int(c) for c in idx) for idx in zip(*np.nonzero(mask))}


def _set_scores(pred: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    a, b = _pixels(pred), _pixels(target)
    if not a and not b:
        return 1.0, 1.0  # nothing to find, nothing found (the engine's documented convention)
    return 2 * len(a & b) / (len(a) + len(b)), len(a & b) / len(a | b)


def _engine(pred: np.ndarray, target: np.ndarray, batches: list[int]) -> dict[str, float]:
    logits = torch.from_numpy(np.where(pred, 8.0, -8.0).astype(np.float32))
    t = torch.from_numpy(target.astype(np.float32))
    m = SegMetrics()
    start = 0
    for size in batches:
        m.update(logits[start:start + size], t[start:start + size])
        start += size
    assert start == len(pred)
    return m.compute()


def test_seg_metrics_equal_set_arithmetic() -> None:
    pred, target = _masks()
    got = _engine(pred, target, [4, 1, 6])
    per_image = [_set_scores(p, t) for p, t in zip(pred, target)]
    pooled = _set_scores(pred, target)  # all pixels of all images as one set: the pooled score
    assert got["n_images"] == len(pred)
    assert got["dice"] == pytest.approx(pooled[0], abs=1e-6)
    assert got["iou"] == pytest.approx(pooled[1], abs=1e-6)
    assert got["dice_per_image"] == pytest.approx(np.mean([d for d, _ in per_image]), abs=1e-6)
    assert got["iou_per_image"] == pytest.approx(np.mean([j for _, j in per_image]), abs=1e-6)
    assert 0.2 < pooled[0] < 0.95  # the fixture is neither trivial nor perfect


def test_seg_metrics_equal_scipy_distances() -> None:
    distance = pytest.importorskip("scipy.spatial.distance", reason="SciPy (an albumentations dependency) absent")
    pred, target = _masks(seed=3)
    keep = [i for i in range(len(pred)) if pred[i].any() or target[i].any()]  # SciPy: 0/0 is nan
    pred, target = pred[keep], target[keep]
    got = _engine(pred, target, [len(pred)])
    dice = [1 - distance.dice(p.ravel(), t.ravel()) for p, t in zip(pred, target)]
    iou = [1 - distance.jaccard(p.ravel(), t.ravel()) for p, t in zip(pred, target)]
    assert got["dice_per_image"] == pytest.approx(float(np.mean(dice)), abs=1e-6)
    assert got["iou_per_image"] == pytest.approx(float(np.mean(iou)), abs=1e-6)
    assert got["dice"] == pytest.approx(1 - distance.dice(pred.ravel(), target.ravel()), abs=1e-6)
    assert got["iou"] == pytest.approx(1 - distance.jaccard(pred.ravel(), target.ravel()), abs=1e-6)
