"""Folder inference throughput: the engine's batched, threaded pipeline against a one-by-one loop.

    .venv/bin/python bench/infer_folder.py [--checkpoint best.pt | --model unet --width 32 --image-size 256] \\
        [--folder DIR] [--limit N] [--device auto] [--batch-sizes 1,8] [--workers 1,2] [--rounds 2]

``--folder`` defaults to the bundled training sample's photos (496 JPEGs, 256 px). For each
(batch size, workers) the engine's ``segment_folder`` writes a mask PNG per photo into a
temporary folder; the baseline decodes, predicts and saves each photo in turn with
``Predictor.predict_file`` (what ``petseg infer`` does for one file). Prints photos/s with the
load beside each figure; best of ``--rounds``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe_device, load  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--model", default="unet", choices=("unet", "resnet34_unet"))
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--image-size", type=int, default=256)
    p.add_argument("--folder", type=Path, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-sizes", default="1,8")
    p.add_argument("--workers", default="1,2")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--limit", type=int, default=None, help="only the first N photos of the folder")
    args = p.parse_args(argv)

    import torch

    from engine.data.samples import training_sample_dir
    from engine.device import resolve_device
    from engine.infer.infer_folder import plan_folder, segment_folder
    from engine.infer.inference import Predictor, original_size, output_picture, save_png
    from engine.models import build_model

    device = resolve_device(args.device)
    if args.checkpoint:
        predictor = Predictor.from_checkpoint(args.checkpoint, device=str(device))
    else:
        torch.manual_seed(0)
        predictor = Predictor(build_model(args.model, width=args.width), image_size=args.image_size,
                              arch_name=args.model, device=device)
    folder = args.folder or training_sample_dir() / "images"
    print(f"device: {describe_device(device)}; {predictor.arch_name} at {predictor.image_size} px; "
          f"torch threads {torch.get_num_threads()}; folder {folder}")

    def one_by_one(out: Path, items: list[tuple[Path, Path]]) -> None:
        for src, dst in items:
            pred = predictor.predict_file(src)
            save_png(output_picture(pred.image, pred.prob, 0.5, False, original_size(src)), dst)

    variants: list[tuple[str, object]] = [("one by one (predict_file + save)", None)]
    for b in (int(v) for v in args.batch_sizes.split(",")):
        for w in (int(v) for v in args.workers.split(",")):
            variants.append((f"segment_folder batch {b:3d} workers {w}", (b, w)))
    best: dict[str, float] = {}
    for r in range(1, args.rounds + 1):
        for label, setting in variants:
            with tempfile.TemporaryDirectory(prefix="petseg-bench-") as tmp:
                plan = plan_folder(folder, Path(tmp))
                plan.items = plan.items[: args.limit]
                start = time.perf_counter()
                if setting is None:
                    one_by_one(Path(tmp), plan.items)
                else:
                    b, w = setting
                    segment_folder(predictor, plan.items, lambda res: None, batch_size=b, workers=w)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                rate = len(plan.items) / (time.perf_counter() - start)
            best[label] = max(best.get(label, 0.0), rate)
            print(f"round {r} {label}: {rate:7.1f} photos/s  [{load()}]", flush=True)
    base = best[variants[0][0]]
    for label, _ in variants:
        print(f"best {label}: {best[label]:7.1f} photos/s ({best[label] / base:.2f}x one by one)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
