"""Cost of producing one augmented training sample, cached vs naive, in this process.

    .venv/bin/python bench/data_per_sample.py [--image-size 128] [--samples 200] [--data PATH]

Times ``__getitem__`` of the engine's train dataset (memory-mapped cached array + augmentation)
and of train_throughput.py's naive dataset (PIL decode of the JPEG and trimap + the same
augmentation), single-threaded, on the data training would use. Prints ms per sample.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import load  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--data", default=None)
    args = p.parse_args(argv)

    from engine.config import TrainConfig
    from engine.data.loaders import build_datasets
    from train_throughput import _naive_dataset

    bundle = build_datasets(TrainConfig(image_size=args.image_size, data_path=args.data), log=lambda m: None)
    naive = _naive_dataset(bundle.source.layout, bundle.train_names, args.image_size, "pet_border")
    print(f"data: {bundle.source.kind}: {bundle.source.path} ({len(bundle.train)} train images), "
          f"{args.image_size} px")
    for name, ds in (("cached (engine)", bundle.train), ("naive (PIL decode)", naive)):
        for i in range(5):
            ds[i]
        t0 = time.perf_counter()
        for i in range(args.samples):
            ds[i % len(ds)]
        ms = (time.perf_counter() - t0) / args.samples * 1000
        print(f"{name:20s} {ms:6.2f} ms/sample  [{load()}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
