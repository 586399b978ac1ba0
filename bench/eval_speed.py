"""How long `petseg eval` takes on a split, and where the time goes.

    .venv/bin/python bench/eval_speed.py --checkpoint runs/NAME/checkpoints/best.pt \\
        [--data-path ../shared/data/oxford-pet-sample] [--split test] [--batch-size 8 16 32] [--tta]

For each batch size: the whole ``evaluate_checkpoint`` (decode every photo at full size, resize,
forward, resize back, count at both sizes), then the parts on their own: decoding and resizing
alone (``decode_pair`` + ``square_pair`` on the same threads), and the forward passes alone on
the same batches; eval overlaps the two, and scoring (resize back, counting) is the rest. Every figure is followed by the load average: on a
shared machine figures are only comparable at a similar load.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe_device, load  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--data-path", default=None)
    ap.add_argument("--split", default="test", choices=("test", "valid"))
    ap.add_argument("--batch-size", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--tta", action="store_true")
    args = ap.parse_args()

    import torch

    from engine.data.cache import decode_pair, square_pair
    from engine.data.layout import PetLayout
    from engine.data.source import resolve_data_source
    from engine.eval.evaluate import evaluate_checkpoint
    from engine.infer.inference import Predictor, preprocess

    predictor = Predictor.from_checkpoint(args.checkpoint, device=args.device)
    print(f"device: {describe_device(predictor.device)}, torch threads {torch.get_num_threads()}")
    source = resolve_data_source(args.data_path or predictor.config.get("data_path"))
    layout = source.layout or PetLayout(source.path)
    size = predictor.image_size
    threads = min(4, os.cpu_count() or 1)

    warm = evaluate_checkpoint(args.checkpoint, args.data_path, split=args.split, predictor=predictor)
    names = [r.name for r in warm.records]
    for bs in args.batch_size:
        t = time.perf_counter()
        ev = evaluate_checkpoint(args.checkpoint, args.data_path, split=args.split, batch_size=bs,
                                 tta=args.tta, predictor=predictor)
        total = time.perf_counter() - t
        print(f"batch {bs:3d}: eval {total:6.2f} s for {ev.n_images} images "
              f"({ev.n_images / total:.1f} img/s), headline Dice {ev.headline.dice:.4f}  [{load()}]")

        t = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            small = list(pool.map(lambda n: square_pair(*decode_pair(layout.image_path(n), layout.trimap_path(n)),
                                                        size)[0], names))
        decode = time.perf_counter() - t
        x = torch.cat([preprocess(im, size) for im in small])
        t = time.perf_counter()
        for i in range(0, len(x), bs):
            predictor.probabilities(x[i : i + bs], args.tta)
        if predictor.device.type == "cuda":
            torch.cuda.synchronize()
        forward = time.perf_counter() - t
        # eval decodes on threads while the model runs, so its total can be below the sum
        print(f"           alone: decode+resize {decode:6.2f} s, forward {forward:6.2f} s  [{load()}]")


if __name__ == "__main__":
    main()
