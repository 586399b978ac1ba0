"""Where a large photo's time goes outside the forward pass: the part `predict_file` shares between
PyTorch and ONNX Runtime, on one thread (issue 22's 4000x3000 row).

    python bench/large_photo_breakdown.py [--model unet|resnet34_unet] [--large 4000x3000] [--runs 15]

Prints the median ms of: `load_photo` as predict_file calls it (JPEG decoded at the first libjpeg
reduction within DEFAULT_MAX_SIDE), Pillow's decode alone at each libjpeg reduction (1/1 to 1/8:
the entropy decoding of the whole file is paid at any scale), training's preprocessing to the
model's input, the bilinear upsampling of the probabilities to the decoded size, and the
threshold; then the forward pass of a fresh model at ``--image-size`` on PyTorch and on ONNX
Runtime (exported as `bench/infer_latency.py --onnx` exports it), the shared total S, and the
largest S at which ONNX Runtime could still be <= 0.7x PyTorch's time per photo.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _median_ms(fn, runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--large", default="4000x3000", help="WxH of the generated JPEG")
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--model", default="unet", choices=("unet", "resnet34_unet"))
    p.add_argument("--width", type=int, default=32)
    args = p.parse_args(argv)

    import cv2
    import numpy as np
    import torch
    from PIL import Image

    from _machine import load
    from engine.data.images import load_photo
    from engine.infer.inference import DEFAULT_MAX_SIDE, Predictor, preprocess, to_photo_size
    from engine.infer.onnx_model import OnnxPredictor
    from engine.models import build_model
    from infer_latency import _export, _large_photo

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    w, h = (int(v) for v in args.large.split("x"))
    # the photo and the export (~30-100 MB) go with the script's end
    workdir = tempfile.TemporaryDirectory(prefix="petseg-breakdown-")
    folder = Path(workdir.name)
    path = _large_photo(folder, w, h)
    print(f"{path.name}, one thread, median of {args.runs}  [{load()}]")

    image, _ = load_photo(path, DEFAULT_MAX_SIDE, with_trimap=False)
    rows = {f"load_photo (decoded {image.shape[1]}x{image.shape[0]})":
            _median_ms(lambda: load_photo(path, DEFAULT_MAX_SIDE, with_trimap=False), args.runs)}
    for s in (1, 2, 4, 8):
        def decode(s: int = s) -> None:
            with Image.open(path) as im:
                im.draft("RGB", (w // s, h // s))
                im.load()
        rows[f"  Pillow decode alone at 1/{s}"] = _median_ms(decode, args.runs)
    rows[f"preprocess to {args.image_size}x{args.image_size}"] = _median_ms(
        lambda: preprocess(image, args.image_size), args.runs)
    prob = torch.rand(1, 1, args.image_size, args.image_size)
    rows["upsample the probabilities"] = _median_ms(lambda: to_photo_size(prob, image.shape[:2]), args.runs)
    up = to_photo_size(prob, image.shape[:2])[0, 0].numpy()
    rows["threshold"] = _median_ms(lambda: (up > 0.5).astype(np.uint8), args.runs)
    for name, ms in rows.items():
        print(f"  {name:40s} {ms:6.1f} ms")
    shared = sum(ms for name, ms in rows.items() if not name.startswith("  "))

    torch.manual_seed(0)
    predictor = Predictor(build_model(args.model, width=args.width), image_size=args.image_size,
                          arch_name=args.model, device="cpu")
    onnx = OnnxPredictor.from_file(_export(predictor, folder, argparse.Namespace(opset=None, dynamic_size=False)),
                                   "cpu", threads=1)
    x = preprocess(image, args.image_size)
    forward = {name: _median_ms(lambda b=b: b.probabilities(x), args.runs)
               for name, b in (("PyTorch", predictor), ("ONNX Runtime", onnx))}
    pt, ort = forward["PyTorch"], forward["ONNX Runtime"]
    print(f"forward pass of {args.model}" + (f" width {args.width}" if args.model == "unet" else "")
          + f" at {args.image_size} px: PyTorch {pt:.1f} ms, ONNX Runtime {ort:.1f} ms ({ort / pt:.2f}x)")
    # (S + ort) / (S + pt) <= 0.7  <=>  S <= (0.7 pt - ort) / 0.3
    limit = (0.7 * pt - ort) / 0.3
    print(f"per photo: PyTorch {shared + pt:.1f} ms, ONNX Runtime {shared + ort:.1f} ms "
          f"({(shared + ort) / (shared + pt):.2f}x); shared S = {shared:.1f} ms, and 0.7x needs S <= {limit:.1f} ms "
          f"(the smallest decode alone: {rows['  Pillow decode alone at 1/8']:.1f} ms)")
    workdir.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
