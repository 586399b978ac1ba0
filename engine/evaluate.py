"""Scoring a checkpoint on a labelled split (Oxford-IIIT Pet test set by default), and on the
six real photos bundled in ``engine/demo_assets``.

``evaluate_checkpoint``: images go through the same cache, resize and normalisation as
validation during training, so the numbers are comparable with a run's ``best_dice``; only the
split differs. ``score_sample_images``: each real photo goes through the Predictor like
``petseg infer`` and is scored against its trimap (used by ``petseg demo`` and docs/RESULTS.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from engine.errors import ConfigError, DatasetError

SPLITS = ("test", "valid")


def evaluate_checkpoint(
    checkpoint_path: str | Path,
    data_path: str | None,
    split: str = "test",
    batch_size: int = 8,
    device: str = "auto",
    tta: bool = False,
    workers: int = 0,
) -> dict[str, Any]:
    """Dice/IoU of ``checkpoint_path`` on ``split`` of the dataset at ``data_path``.

    ``data_path`` None uses the run's own data folder (from the checkpoint's config), or, if
    that was automatic too, picks the data the same way training does. ``split`` "valid" is the
    validation part of trainval under the run's own ``valid_every``. Returns ``dice``, ``iou``
    (pooled over all pixels), ``dice_per_image``, ``iou_per_image``, ``n_images``,
    ``seconds``, plus ``split``, ``tta``, ``skipped`` (unreadable images left out) and ``data``
    (a description of the source). Raises CheckpointError/DatasetError/ConfigError (one line).
    """
    from engine.data.cache import load_split_arrays
    from engine.data.dataset import PetSegDataset
    from engine.data.layout import PetLayout, resolve_data_source
    from engine.data.loaders import make_loader
    from engine.data.transforms import eval_transform
    from engine.inference import Predictor, flip_tta
    from engine.metrics import SegMetrics

    if split not in SPLITS:
        raise ConfigError(f"--split {split}: must be one of {', '.join(SPLITS)}")
    if batch_size < 1:
        raise ConfigError(f"--batch-size {batch_size}: must be >= 1")
    start = time.perf_counter()
    predictor = Predictor.from_checkpoint(checkpoint_path, device=device)
    config = predictor.config

    if data_path is None:
        data_path = config.get("data_path")
    source = resolve_data_source(data_path)
    layout = source.layout or PetLayout(source.path)
    names = layout.test_names() if split == "test" else _valid_names(layout, config)
    if not names:
        raise DatasetError(source.path, f"no {split} images to evaluate on")
    size = predictor.image_size
    arrays = load_split_arrays(layout, names, size, cache_dir=config.get("cache_dir"))
    dataset = PetSegDataset(arrays, eval_transform(size), predictor.mask_rule)
    if len(dataset) == 0:
        raise DatasetError(source.path, f"none of the {len(names)} {split} images could be read")
    loader = make_loader(
        dataset, batch_size, shuffle=False, workers=workers, device_type=predictor.device.type, seed=0
    )

    model = predictor.model
    metrics = SegMetrics()
    with torch.inference_mode():
        for images, masks in loader:
            images = images.to(predictor.device, non_blocking=True)
            masks = masks.to(predictor.device, non_blocking=True)
            if tta:
                # SegMetrics thresholds sigmoid(logits); logit(p) round-trips the TTA probability.
                logits = torch.logit(flip_tta(model, images), eps=1e-6)
            else:
                logits = model(images)
            metrics.update(logits, masks)
    result: dict[str, Any] = metrics.compute()
    result.update(
        seconds=time.perf_counter() - start,
        split=split,
        tta=tta,
        skipped=len(arrays.skipped),
        data=source.description,
    )
    return result


def _valid_names(layout: Any, config: dict[str, Any]) -> list[str]:
    from engine.data.splits import split_trainval

    _, valid = split_trainval(layout.trainval_names(), int(config.get("valid_every") or 10))
    return valid


@dataclass
class SampleScore:
    """One bundled real photo scored against its trimap (``score_sample_images``)."""

    name: str
    dice: float
    iou: float
    pet_fraction: float  # share of pixels predicted as pet
    prediction: Any  # the engine.inference.Prediction (image, probabilities), for overlays


def score_sample_images(predictor: Any, *, tta: bool = False, threshold: float = 0.5) -> list[SampleScore]:
    """Predict the six real photos in ``engine/demo_assets`` and score each against its trimap.

    Photos go through ``predictor.predict_file`` exactly as ``petseg infer`` does (original
    size in, mask at that size out); the trimap becomes a mask under the checkpoint's own mask
    rule. Dice/IoU follow ``engine.metrics`` (both masks empty scores 1.0).
    """
    import numpy as np

    from engine.data.images import load_trimap
    from engine.data.masks import trimap_to_mask
    from engine.data.samples import sample_pairs

    eps = 1e-7
    scores = []
    for image_path, trimap_path in sample_pairs():
        pred = predictor.predict_file(image_path, tta=tta)
        mask = pred.mask(threshold).astype(bool)
        truth = trimap_to_mask(load_trimap(trimap_path), predictor.mask_rule)
        if truth.shape != mask.shape:  # only if a photo carried an EXIF rotation its trimap lacks
            from PIL import Image

            truth = np.asarray(Image.fromarray(truth).resize(mask.shape[::-1], Image.NEAREST))
        truth = truth.astype(bool)
        inter = float((mask & truth).sum())
        total = float(mask.sum() + truth.sum())
        scores.append(SampleScore(
            name=image_path.name,
            dice=(2 * inter + eps) / (total + eps),
            iou=(inter + eps) / (total - inter + eps),
            pet_fraction=float(mask.mean()),
            prediction=pred,
        ))
    return scores
