"""Cost of the training augmentations per image: albumentations per sample, our batched
`BatchAugment`, and kornia.augmentation's nearest equivalent (if kornia is importable).

    .venv/bin/python bench/augment_speed.py [--device cpu|cuda] [--batch-size 32] [--image-size 256]

Every pipeline gets uint8 (B, S, S, 3) images and 0/1 masks and returns normalised float
images and masks (the batched ones on ``--device``). kornia is not a dependency: to compare,
put an unpacked kornia wheel on PYTHONPATH (it was measured that way for docs/PERFORMANCE.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe_device, load  # noqa: E402


def _kornia_pipeline(device):
    """kornia's closest match to AugmentSpec; brightness/contrast as kornia defines them (its
    ColorJiggle draws the two separately), which albumentations' joint draw is not."""
    import kornia.augmentation as K

    from engine.data.augment_spec import MEAN, STD, TRAIN_AUGMENT as s

    return K.AugmentationSequential(
        K.RandomHorizontalFlip(p=s.hflip_p),
        K.RandomVerticalFlip(p=s.vflip_p),
        K.RandomRotation90(times=(0, 3), p=s.rot90_p),
        K.RandomAffine(degrees=s.rotate, translate=(s.translate, s.translate),
                       scale=(s.scale_min, s.scale_max, s.scale_min, s.scale_max), padding_mode="zeros", p=s.affine_p),
        K.ColorJiggle(brightness=s.brightness, contrast=s.contrast, p=s.brightness_contrast_p),
        K.RandomGaussianBlur(kernel_size=(s.blur_kernel, s.blur_kernel), sigma=(s.blur_sigma_min, s.blur_sigma_max),
                             p=s.blur_p),
        K.Normalize(mean=list(MEAN), std=list(STD)),
        data_keys=["input", "mask"],
    ).to(device)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--image-size", type=int, default=256)
    p.add_argument("--batches", type=int, default=10)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args(argv)

    import numpy as np
    import torch

    from engine.data.batch_augment import BatchAugment
    from engine.data.transforms import seed_transform, train_transform

    device = torch.device(args.device)
    b, s = args.batch_size, args.image_size
    rng = np.random.default_rng(0)
    images_np = rng.integers(0, 256, (b, s, s, 3), dtype=np.uint8)
    masks_np = (rng.random((b, s, s)) > 0.5).astype(np.uint8)
    images, masks = torch.from_numpy(images_np).to(device), torch.from_numpy(masks_np).to(device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    alb = train_transform(s)
    seed_transform(alb, 0)
    ours = BatchAugment(device=device, seed=0)

    def run_albumentations() -> None:
        for i in range(b):
            alb(image=images_np[i], mask=masks_np[i])

    def run_ours() -> None:
        ours(images, masks)

    runners = {"albumentations, per sample, 1 process": run_albumentations, "BatchAugment (ours), batched": run_ours}
    try:
        kornia_aug = _kornia_pipeline(device)

        def run_kornia() -> None:
            x = images.permute(0, 3, 1, 2).float() / 255.0
            kornia_aug(x, masks.unsqueeze(1).float())

        runners["kornia AugmentationSequential, batched"] = run_kornia
    except ImportError:
        print("kornia: not importable, not measured")

    print(f"device: {describe_device(device)}; batch {b} x {s} px, {args.batches} batches, best of {args.rounds}")
    for name, fn in runners.items():
        fn()  # warm-up
        best = float("inf")
        for _ in range(args.rounds):
            sync()
            t0 = time.perf_counter()
            for _ in range(args.batches):
                fn()
            sync()
            best = min(best, (time.perf_counter() - t0) / (args.batches * b))
        print(f"{name:42s} {best * 1e3:8.3f} ms/image  ({1 / best:9.0f} images/s)  [{load()}]", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
