"""Inference latency: one photo file in, its mask (at the photo's own size) out.

    .venv/bin/python bench/infer_latency.py [--checkpoint PATH | --model unet --width 32 \\
        --image-size 128] [--runs 30] [--warmup 3] [--device auto] [--tta]

Times ``Predictor.predict_file(path).mask(0.5)`` (decode, training's eval preprocessing,
forward, bilinear upsampling to the original size, threshold) one image at a time, on the six
real photos in engine/demo_assets (320 px) and on a large generated photo (``--large``,
default 4000x3000 JPEG, written to a temp folder). Prints p50/p95 ms per image and over all
demo photos. Without ``--checkpoint`` the model is freshly initialised: latency does not
depend on the weights' values.

``--onnx`` adds ONNX Runtime rows beside PyTorch's (issue 22): the model is exported with
``petseg export``'s exporter (`engine.export.onnx_export`, fixed size unless
``--dynamic-size``) and run by `engine.infer.onnx_model.OnnxPredictor`, the same
``predict_file`` path (decode, preprocessing and upsampling are shared code); ``--threads 1,2``
times each backend with that many intra-op threads (torch.set_num_threads / ORT's
intra_op_num_threads), and the last lines give ORT's p50 as a fraction of PyTorch's.
``--ort-opt`` sets ORT's graph optimisation level (all, extended, basic, disable) and
``--opset`` the exported opset, to try the usual levers.
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


def _export(predictor, folder: Path, args) -> Path:
    """``predictor``'s model as petseg exports it (metadata included), written to ``folder``."""
    from engine.data.augment_spec import MEAN, STD
    from engine.export.metadata import ExportMetadata
    from engine.export.model import LoadedModel, ProbabilityModel, model_stride
    from engine.export.onnx_export import DEFAULT_OPSET, export_onnx

    meta = ExportMetadata(model=predictor.arch_name, input_size=predictor.image_size, mean=MEAN, std=STD,
                          threshold=0.5, mask_rule=predictor.mask_rule, stride=model_stride(predictor.arch_name),
                          dynamic_size=args.dynamic_size)
    loaded = LoadedModel(ProbabilityModel(predictor.model.cpu()).eval(), meta, Path("bench"), [])
    t0 = time.perf_counter()
    data = export_onnx(loaded, opset=args.opset or DEFAULT_OPSET, dynamic_size=args.dynamic_size)
    path = folder / "model.onnx"
    path.write_bytes(data)
    print(f"exported to ONNX opset {args.opset or DEFAULT_OPSET}{', dynamic size' if args.dynamic_size else ''} "
          f"in {time.perf_counter() - t0:.1f} s ({len(data) / 1e6:.1f} MB)")
    return path


def _time_photos(backends: list[tuple[str, object]], paths: list[Path], large: Path | None, args
                 ) -> dict[str, tuple[list[float], list[float]]]:
    """Per-photo times (ms) of each backend: the demo photos (pooled) and the large photo. The
    backends take turns photo by photo and run by run, so on a shared machine both see the same
    load; prints a row per photo and backend."""
    import torch
    from PIL import Image

    def time_one(predictor, path: Path) -> float:
        t0 = time.perf_counter()
        mask = predictor.predict_file(path, tta=args.tta).mask(0.5)
        if predictor.device.type == "cuda":
            torch.cuda.synchronize()  # mask() is already on the host; belt and braces
        assert mask.ndim == 2
        return (time.perf_counter() - t0) * 1000

    out: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name, _ in backends}
    for path in paths + ([large] if large else []):
        with Image.open(path) as im:
            size = f"{im.size[0]}x{im.size[1]}"
        before = load()
        times: dict[str, list[float]] = {name: [] for name, _ in backends}
        for i in range(args.warmup + args.runs):
            for name, predictor in backends:
                dt = time_one(predictor, path)
                if i >= args.warmup:
                    times[name].append(dt)
        for name, _ in backends:
            out[name][1 if path == large else 0].extend(times[name])
            print(f"  {name:11s} {path.name:28s} {size:>10s}  p50 {_percentile(times[name], 0.5):7.1f} ms  "
                  f"p95 {_percentile(times[name], 0.95):7.1f} ms  [{before}]", flush=True)
    for name, (demo, _) in out.items():
        if demo:
            print(f"  {name:11s} demo photos (all {len(paths)}): p50 {_percentile(demo, 0.5):.1f} ms  "
                  f"p95 {_percentile(demo, 0.95):.1f} ms  [{load()}]", flush=True)
    return out


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
    p.add_argument("--onnx", action="store_true", help="also time ONNX Runtime on the same model")
    p.add_argument("--threads", default="", help="comma-separated intra-op thread counts, e.g. 1,2 (default: as is)")
    p.add_argument("--ort-opt", default="all", choices=("all", "extended", "basic", "disable"))
    p.add_argument("--opset", type=int, default=None)
    p.add_argument("--dynamic-size", action="store_true", help="export with symbolic H/W")
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

    with tempfile.TemporaryDirectory(prefix="petseg-infer-") as tmp:
        paths = list(sample_image_paths())
        large = None
        if args.large:
            w, h = (int(v) for v in args.large.lower().split("x"))
            large = _large_photo(Path(tmp), w, h)
        onnx_file = _export(predictor, Path(tmp), args) if args.onnx else None
        threads = [int(t) for t in args.threads.split(",") if t.strip()] or [None]
        p50: dict[tuple[str, int | None, str], float] = {}
        for n in threads:
            if n is not None:
                torch.set_num_threads(n)
            backends = [("pytorch", predictor)]
            if onnx_file is not None:
                from engine.infer.onnx_model import OnnxPredictor

                backends.append(("onnxruntime", OnnxPredictor.from_file(onnx_file, "cpu", threads=n, ort_opt=args.ort_opt)))
            print(f"{n or 'default'} intra-op thread(s)"
                  + (f"; ORT graph optimisation {args.ort_opt}" if onnx_file is not None else "") + ":")
            for name, (demo, big) in _time_photos(backends, paths, large, args).items():
                p50[(name, n, "demo")] = _percentile(demo, 0.5) if demo else float("nan")
                p50[(name, n, "large")] = _percentile(big, 0.5) if big else float("nan")
        if onnx_file is not None:
            for n in threads:
                for kind in ("demo", "large"):
                    ort_ms, pt_ms = p50[("onnxruntime", n, kind)], p50[("pytorch", n, kind)]
                    print(f"ratio ORT/PyTorch p50, {n or 'default'} thread(s), {kind}: {ort_ms:.1f} / {pt_ms:.1f} ms "
                          f"= {ort_ms / pt_ms:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
