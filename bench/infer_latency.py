"""Inference latency: one photo file in, its mask (at the photo's own size) out.

    .venv/bin/python bench/infer_latency.py [--checkpoint PATH | --model unet --width 32 \\
        --image-size 128] [--runs 30] [--warmup 3] [--device auto] [--tta]

Times ``Predictor.predict_file(path).mask(0.5)`` (decode, training's eval preprocessing,
forward, bilinear upsampling to the original size, threshold) one image at a time, on the six
real photos in engine/demo_assets (320 px) and on a large generated photo (``--large``,
default 4000x3000 JPEG, written to a temp folder). Prints p50/p95 ms per image and over all
demo photos. Without ``--checkpoint`` the model is freshly initialised: latency does not
depend on the weights' values.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe_device, load  # noqa: E402


def _percentile(values: list[float], q: float) -> float:
    v = sorted(values)
    k = (len(v) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def _large_photo(folder: Path, width: int, height: int) -> Path:
    """A smooth random colour field with a blob, saved as a JPEG (compresses like a photo)."""
    import cv2
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (height // 100 + 2, width // 100 + 2, 3), dtype=np.uint8)
    img = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    cv2.ellipse(img, (width // 2, height // 2), (width // 5, height // 4), 0, 0, 360, (200, 120, 50), -1)
    noise = rng.integers(0, 12, img.shape, dtype=np.uint8)
    path = folder / f"large_{width}x{height}.jpg"
    Image.fromarray(cv2.add(img, noise)).save(path, quality=90)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", type=Path, default=None)
    p.add_argument("--model", default="unet", choices=("unet", "resnet34_unet"))
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--runs", type=int, default=30, help="timed predictions per image")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--device", default="auto")
    p.add_argument("--tta", action="store_true")
    p.add_argument("--large", default="4000x3000", help="WxH of the generated large photo ('' to skip)")
    args = p.parse_args(argv)

    import torch

    from engine.data.samples import sample_image_paths
    from engine.device import resolve_device
    from engine.infer.inference import Predictor
    from engine.models import build_model

    if args.checkpoint is not None:
        predictor = Predictor.from_checkpoint(args.checkpoint, device=args.device)
        what = f"checkpoint {args.checkpoint} ({predictor.arch_name}, {predictor.image_size} px)"
    else:
        torch.manual_seed(0)
        model = build_model(args.model, width=args.width)
        predictor = Predictor(model, image_size=args.image_size, arch_name=args.model,
                              device=resolve_device(args.device))
        what = (f"fresh {args.model}" + (f" width {args.width}" if args.model == "unet" else "")
                + f", {args.image_size} px")

    print(f"device: {describe_device(predictor.device)}")
    print(f"model: {what}; {args.warmup} warm-up + {args.runs} timed runs per image"
          + ("; TTA (hflip)" if args.tta else ""))

    def time_one(path: Path) -> list[float]:
        out = []
        for i in range(args.warmup + args.runs):
            t0 = time.perf_counter()
            mask = predictor.predict_file(path, tta=args.tta).mask(0.5)
            if predictor.device.type == "cuda":
                torch.cuda.synchronize()  # mask() is already on the host; belt and braces
            dt = (time.perf_counter() - t0) * 1000
            if i >= args.warmup:
                out.append(dt)
        assert mask.ndim == 2
        return out

    all_demo: list[float] = []
    with tempfile.TemporaryDirectory(prefix="petseg-infer-") as tmp:
        paths = list(sample_image_paths())
        large = None
        if args.large:
            w, h = (int(v) for v in args.large.lower().split("x"))
            large = _large_photo(Path(tmp), w, h)
        for path in paths + ([large] if large else []):
            from PIL import Image

            with Image.open(path) as im:
                size = f"{im.size[0]}x{im.size[1]}"
            before = load()
            times = time_one(path)
            if path != large:
                all_demo.extend(times)
            print(f"  {path.name:28s} {size:>10s}  p50 {_percentile(times, 0.5):7.1f} ms  "
                  f"p95 {_percentile(times, 0.95):7.1f} ms  [{before}]", flush=True)
    if all_demo:
        print(f"demo photos (all {len(paths)}): p50 {_percentile(all_demo, 0.5):.1f} ms  "
              f"p95 {_percentile(all_demo, 0.95):.1f} ms  [{load()}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
