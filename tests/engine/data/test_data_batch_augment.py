"""The batched device augmentations against the albumentations pipeline: same parameter
distributions (both read AugmentSpec), same pixels for the same parameters, masks aligned."""

from __future__ import annotations

import math

import albumentations as A
import cv2
import numpy as np
import pytest
import torch

from engine.data.augment_spec import AUGMENT_LEVELS, TRAIN_AUGMENT, AugmentSpec, augment_spec
from engine.data.batch_augment import AugmentParams, BatchAugment
from engine.data.transforms import seed_transform, train_transform

S = 64
DRAWS = 3000


def _albumentations_params(applied: list, size: int) -> dict[str, float]:
    """The `AugmentParams` fields of one albumentations call (save_applied_params=True)."""
    d = dict(hflip_on=0.0, vflip_on=0.0, rot90_on=0.0, rot90_k=0.0, affine_on=0.0, translate_x=0.0,
             translate_y=0.0, scale_x=1.0, scale_y=1.0, rotate=0.0, bc_on=0.0, alpha=1.0, beta=0.0,
             blur_on=0.0, sigma=1.0)
    for name, p in applied:
        if name == "HorizontalFlip":
            d["hflip_on"] = 1.0
        elif name == "VerticalFlip":
            d["vflip_on"] = 1.0
        elif name == "RandomRotate90":
            d["rot90_on"], d["rot90_k"] = 1.0, float(p["factor"])
        elif name == "Affine":
            m = p["matrix"]
            c = np.array([size / 2 - 0.5, size / 2 - 0.5])
            tx, ty = m[:2, 2] - c + m[:2, :2] @ c  # the translation of the centred map
            d.update(affine_on=1.0, rotate=p["rotate"], scale_x=p["scale"]["x"], scale_y=p["scale"]["y"],
                     translate_x=float(tx), translate_y=float(ty))
        elif name == "RandomBrightnessContrast":
            d.update(bc_on=1.0, alpha=p["alpha"], beta=p["beta"])
        elif name == "GaussianBlur":
            k = p["kernel"]  # normalised [w, 1, w] / (1 + 2w), w = exp(-1 / (2 sigma^2))
            d.update(blur_on=1.0, sigma=math.sqrt(-0.5 / math.log(k[0] / k[1])))
    return d


def _as_params(d: dict[str, float]) -> AugmentParams:
    bools = {"hflip_on", "vflip_on", "rot90_on", "affine_on", "bc_on", "blur_on"}
    return AugmentParams(**{k: torch.tensor([bool(v) if k in bools else v]).long() if k == "rot90_k"
                            else torch.tensor([bool(v)]) if k in bools else torch.tensor([float(v)])
                            for k, v in d.items()})


def _photo_like(size: int, seed: int) -> np.ndarray:
    small = np.random.default_rng(seed).integers(0, 256, (6, 6, 3), dtype=np.uint8)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)


@pytest.fixture(scope="module")
def draws() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """DRAWS parameter sets from each pipeline."""
    t = A.Compose(train_transform(S).transforms, save_applied_params=True)
    seed_transform(t, 0)
    image, mask = np.zeros((S, S, 3), np.uint8), np.zeros((S, S), np.uint8)
    rows = [_albumentations_params(t(image=image, mask=mask)["applied_transforms"], S) for _ in range(DRAWS)]
    alb = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    p = BatchAugment(seed=0).sample(DRAWS, S, S)
    ours = {k: getattr(p, k).double().numpy() for k in alb}
    return alb, ours


@pytest.mark.parametrize("name, prob", [
    ("hflip_on", TRAIN_AUGMENT.hflip_p), ("vflip_on", TRAIN_AUGMENT.vflip_p), ("rot90_on", TRAIN_AUGMENT.rot90_p),
    ("affine_on", TRAIN_AUGMENT.affine_p), ("bc_on", TRAIN_AUGMENT.brightness_contrast_p),
    ("blur_on", TRAIN_AUGMENT.blur_p),
])
def test_each_step_fires_as_often_in_both_pipelines(draws, name: str, prob: float) -> None:
    alb, ours = draws
    tol = 4 * math.sqrt(prob * (1 - prob) / DRAWS)  # 4 standard errors: fixed seeds, never flaky
    assert abs(alb[name].mean() - prob) < tol, f"albumentations {name}: {alb[name].mean():.3f}"
    assert abs(ours[name].mean() - prob) < tol, f"batched {name}: {ours[name].mean():.3f}"


def _ks(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov distance."""
    grid = np.union1d(a, b)
    fa = np.searchsorted(np.sort(a), grid, side="right") / len(a)
    fb = np.searchsorted(np.sort(b), grid, side="right") / len(b)
    return float(np.abs(fa - fb).max())


@pytest.mark.parametrize("name, when", [
    ("rot90_k", "rot90_on"), ("translate_x", "affine_on"), ("translate_y", "affine_on"), ("scale_x", "affine_on"),
    ("scale_y", "affine_on"), ("rotate", "affine_on"), ("alpha", "bc_on"), ("beta", "bc_on"), ("sigma", "blur_on"),
])
def test_applied_values_have_the_same_distribution(draws, name: str, when: str) -> None:
    alb, ours = draws
    a, b = alb[name][alb[when] > 0], ours[name][ours[when] > 0]
    critical = 1.95 * math.sqrt((len(a) + len(b)) / (len(a) * len(b)))  # KS at alpha = 0.001
    assert _ks(a, b) < critical, f"{name}: KS {_ks(a, b):.3f} >= {critical:.3f}"
    assert abs(a.min() - b.min()) <= 0.02 * (a.max() - a.min()) + 1e-9  # the same range, not only the shape
    assert abs(a.max() - b.max()) <= 0.02 * (a.max() - a.min()) + 1e-9


def test_the_same_parameters_give_the_same_pixels_as_albumentations() -> None:
    """Geometry conventions (rotation sense, translation, scale axes, quarter-turn direction,
    flips), brightness/contrast and blur: our output for albumentations' own drawn parameters
    is its output up to uint8 rounding, and the mask is the same mask."""
    t = A.Compose(train_transform(S).transforms, save_applied_params=True)
    seed_transform(t, 1)
    aug = BatchAugment()
    mask = np.zeros((S, S), np.uint8)
    mask[10:30, 15:50] = 1
    worst = 0.0
    for i in range(150):
        image = _photo_like(S, i)
        out = t(image=image, mask=mask)
        params = _as_params(_albumentations_params(out["applied_transforms"], S))
        x, m = aug.apply(torch.from_numpy(image)[None], torch.from_numpy(mask)[None], params)
        err = float((x[0] - out["image"]).abs().mean()) * 127.5  # in grey levels
        worst = max(worst, err)
        assert err < 1.5, f"draw {i}: mean difference {err:.2f} grey levels"
        assert (m[0, 0] != out["mask"].float()).float().mean() < 0.005, f"draw {i}: masks differ"
    assert worst > 0  # the comparison saw real differences in rounding, not two identical code paths


def test_masks_stay_aligned_and_binary_over_a_batch() -> None:
    """The image is the mask in white on black: after warping, brightness/contrast and blur,
    the pixels brighter than half-way between the (adjusted) black and white levels must still
    be the mask's pixels."""
    b = 128
    masks = torch.zeros(b, S, S, dtype=torch.uint8)
    masks[:, 18:40, 12:34] = 1  # off-centre, so flips and rotations really move it
    images = (masks * 255).unsqueeze(-1).expand(b, S, S, 3).contiguous()
    aug = BatchAugment(seed=3)
    params = aug.sample(b, S, S)
    x, m = aug.apply(images, masks, params)
    assert x.shape == (b, 3, S, S) and x.dtype == torch.float32 and m.shape == (b, 1, S, S)
    assert set(torch.unique(m).tolist()) <= {0.0, 1.0}
    alpha = torch.where(params.bc_on, params.alpha, torch.ones(b))
    beta = torch.where(params.bc_on, params.beta, torch.zeros(b))
    black, white = beta.clamp(0, 255), (255 * alpha + beta).clamp(0, 255)
    half = ((black + white) / 2 / 127.5 - 1).view(b, 1, 1)  # in normalised units
    bright = x[:, 0] > half
    truth = m[:, 0] > 0.5
    inter = (bright & truth).sum((1, 2)).float()
    union = (bright | truth).sum((1, 2)).float()
    iou = inter / union
    assert (iou > 0.95).all(), f"worst IoU {iou.min():.3f}"
    moved = (truth != masks.bool()).any(dim=(1, 2)).sum()
    assert moved >= b // 2  # P(no geometric change) ~ 0.16


def test_stream_is_reproducible_and_restorable() -> None:
    images = torch.from_numpy(np.stack([_photo_like(S, i) for i in range(4)]))
    masks = torch.zeros(4, S, S, dtype=torch.uint8)
    a, b = BatchAugment(seed=5), BatchAugment(seed=5)
    assert torch.equal(a(images, masks)[0], b(images, masks)[0])
    state = a.get_state()
    first = a(images, masks)[0]
    a.set_state(state)
    assert torch.equal(a(images, masks)[0], first)
    assert not torch.equal(BatchAugment(seed=6)(images, masks)[0], BatchAugment(seed=5)(images, masks)[0])


def test_a_changed_spec_changes_both_pipelines() -> None:
    """One owner: a spec that always flips horizontally and does nothing else makes both
    pipelines return the mirrored, normalised image."""
    spec = AugmentSpec(hflip_p=1.0, vflip_p=0.0, rot90_p=0.0, affine_p=0.0, brightness_contrast_p=0.0, blur_p=0.0)
    image = _photo_like(S, 0)
    mirrored = torch.from_numpy(image[:, ::-1].copy()).permute(2, 0, 1).float() / 127.5 - 1.0
    theirs = train_transform(S, spec)(image=image, mask=np.zeros((S, S), np.uint8))["image"]
    ours, _ = BatchAugment(spec)(torch.from_numpy(image)[None], torch.zeros(1, S, S, dtype=torch.uint8))
    assert torch.allclose(theirs, mirrored, atol=1e-5)
    assert torch.allclose(ours[0], mirrored, atol=1e-3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: host syncs only exist with a device")
def test_device_batches_never_make_the_host_wait_on_cuda() -> None:
    """The whole point of the device path: cutting, augmenting and normalising a batch only
    queues work (bench/sync_check.py checks the full training step the same way)."""
    from engine.data.cache import SplitArrays
    from engine.data.device_batches import DeviceBatches

    rng = np.random.default_rng(0)
    arrays = SplitArrays(rng.integers(0, 256, (24, S, S, 3), dtype=np.uint8),
                         rng.integers(1, 4, (24, S, S), dtype=np.uint8), [str(i) for i in range(24)])
    cuda = torch.device("cuda")
    batches = DeviceBatches(arrays, "pet_border", 8, shuffle=True, device=cuda, seed=0, drop_last=True,
                            augment=BatchAugment(device=cuda, seed=0))
    list(batches)  # first use: constants cached on the device
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(2):
            for x, m in batches:
                assert x.device.type == "cuda" and m.device.type == "cuda"
    finally:
        torch.cuda.set_sync_debug_mode(0)


@pytest.mark.parametrize("strength", AUGMENT_LEVELS)
def test_every_augment_strength_fires_alike_in_both_pipelines(strength: str) -> None:
    """--augment_strength is one `AugmentSpec` handed to both pipelines: each step fires at the
    level's probability, and its values stay within the level's ranges, on both paths."""
    spec, n = augment_spec(strength), 800
    t = A.Compose(train_transform(S, strength).transforms, save_applied_params=True)
    seed_transform(t, 1)
    image, mask = np.zeros((S, S, 3), np.uint8), np.zeros((S, S), np.uint8)
    rows = [_albumentations_params(t(image=image, mask=mask)["applied_transforms"], S) for _ in range(n)]
    alb = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    p = BatchAugment(spec, seed=1).sample(n, S, S)
    ours = {k: getattr(p, k).double().numpy() for k in alb}
    for name, prob in (("hflip_on", spec.hflip_p), ("vflip_on", spec.vflip_p), ("rot90_on", spec.rot90_p),
                       ("affine_on", spec.affine_p), ("bc_on", spec.brightness_contrast_p), ("blur_on", spec.blur_p)):
        tol = 4 * math.sqrt(prob * (1 - prob) / n) + 1e-9  # a step of probability 0 never fires
        for who, got in (("albumentations", alb), ("batched", ours)):
            assert abs(got[name].mean() - prob) <= tol, (strength, who, name, got[name].mean())
    for who, got in (("albumentations", alb), ("batched", ours)):
        on = got["affine_on"] > 0
        assert np.all(np.abs(got["rotate"][on]) <= spec.rotate + 1e-6), (strength, who)
        assert np.all((got["scale_x"][on] >= spec.scale_min - 1e-6) & (got["scale_x"][on] <= spec.scale_max + 1e-6))
        assert np.all(np.abs(got["translate_x"][on]) <= spec.translate * S + 1), (strength, who)


def test_the_device_path_of_a_run_follows_its_augment_strength(generated_data: str, tmp_path) -> None:
    """A run's --augment_strength reaches the device data path: with "off" every training image
    is one of the split's own images, only normalised; with "strong" most are not."""
    from engine.config import TrainConfig
    from engine.train.trainer import Trainer

    def batch_images(strength: str) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = TrainConfig(epochs=1, image_size=64, width=4, batch_size=8, max_train_images=16, workers=0,
                          device="cpu", amp="off", data_path=generated_data, augment_on="device",
                          augment_strength=strength)
        trainer = Trainer(cfg, tmp_path / strength)
        training = trainer.prepare()
        try:
            images, _ = next(iter(training.train_loader))
            split = torch.from_numpy(np.array(training.bundle.train.arrays.images)).permute(0, 3, 1, 2)
            return images.float(), split.float() / 127.5 - 1.0
        finally:
            trainer.close()

    for strength, expect_all in (("off", True), ("strong", False)):
        images, split = batch_images(strength)
        nearest = torch.cdist(images.flatten(1), split.flatten(1)).min(dim=1).values / images[0].numel() ** 0.5
        exact = (nearest < 1e-3).tolist()
        assert all(exact) if expect_all else not all(exact), (strength, nearest)
