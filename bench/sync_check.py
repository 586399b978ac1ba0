"""Does a training step on CUDA wait for the GPU anywhere? (It must not: the host has to stay ahead.)

    python bench/sync_check.py [--data PATH] [--model unet --width 16 --image-size 128 --batch-size 8]

Builds a Trainer as a run would (device data path, channels_last, AMP), runs two warm-up steps,
then several more with ``torch.cuda.set_sync_debug_mode("error")``: every operation that makes
the host wait for the device (``.item()``, a copy from pageable memory, a data-dependent shape,
``torch.linalg.inv``'s error check...) raises, naming itself. Each step is exactly what
``Trainer._train_epoch`` does between its 0.2 s progress read-backs: next batch of the train
loader (gather + augmentation on the GPU), ``Training.train_step`` (engine.train.train_loop), the non-finite check and the
loss/metric accumulation. Without CUDA it says so and exits 0.
"""

from __future__ import annotations

import argparse
import sys
import tempfile


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=None)
    p.add_argument("--model", default="unet", choices=("unet", "resnet34_unet"))
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--steps", type=int, default=6)
    args = p.parse_args(argv)

    import torch

    if not torch.cuda.is_available():
        print("sync check: skipped (no CUDA device)")
        return 0
    from engine.config import TrainConfig
    from engine.eval.metrics import SegMetrics
    from engine.train.trainer import Trainer

    config = TrainConfig(model=args.model, width=args.width, image_size=args.image_size, batch_size=args.batch_size,
                         data_path=args.data, device="cuda", epochs=1, compile="off")
    with tempfile.TemporaryDirectory(prefix="petseg-sync-") as runs:
        trainer = Trainer(config, runs, run_name="sync", log=lambda m: None)
        t = trainer.prepare()
        try:
            print(f"sync check: {args.model}, {args.image_size} px, batch {args.batch_size}, augmentations on "
                  f"{t.augment_on} ({getattr(t.train_loader, 'placement', 'DataLoader')}), "
                  f"amp {t.amp_dtype}")
            metrics = SegMetrics()
            loss_sum = torch.zeros((), device=t.device)
            first_bad = torch.full((), -1, dtype=torch.long, device=t.device)

            def batches():
                while True:
                    yield from t.train_loader

            source = batches()
            for i in range(2 + args.steps):
                if i == 2:
                    torch.cuda.synchronize()
                    torch.cuda.set_sync_debug_mode("error")
                images, masks = next(source)
                loss, logits, masks_d = t.train_step(images, masks)
                first_bad.masked_fill_((first_bad < 0) & ~torch.isfinite(loss), i)
                loss_sum += loss * images.shape[0]
                metrics.update(logits.float(), masks_d)
            torch.cuda.set_sync_debug_mode(0)
            torch.cuda.synchronize()
        except RuntimeError as exc:
            torch.cuda.set_sync_debug_mode(0)
            print(f"sync check: FAILED, the host waited for the GPU: {str(exc).splitlines()[0]}")
            return 1
        finally:
            trainer.close()
    print(f"sync check: passed, {args.steps} steps (batch, augmentation, step, bookkeeping) without a host sync")
    return 0


if __name__ == "__main__":
    sys.exit(main())
