"""Training throughput: our engine's loop against a naive seed-style loop and the model alone.

    .venv/bin/python bench/train_throughput.py --model unet --width 32 --image-size 128 \\
        --batch-size 16 --steps 20 --warmup 3 --workers 2 [--data PATH] [--device auto] \\
        [--compile off,default,...] [--json results.jsonl]

Three measurements in one process, same model, data, batch size and device:

(a) engine  -- the real Trainer code path: ``Trainer.prepare()`` builds the cached arrays, the
    data path the run would use (on CUDA: the uint8 split on the device, augmented there in
    batches; elsewhere: ``engine.data`` loaders with albumentations in seeded, persistent
    workers), the model (channels_last, AMP as ``--amp`` resolves, cudnn.benchmark on CUDA,
    ``--compile`` mode); each step is ``Training.train_step`` (engine.train.train_loop) plus the same on-device
    loss/metric accumulation and the same host read every 0.2 s as ``Trainer._train_epoch``.
    Validation is not timed.
(b) naive   -- written the way a seed script does it: a Dataset that opens the JPEG and the
    trimap with PIL on every ``__getitem__`` (every epoch), resizes and augments with the same
    albumentations recipe, a plain DataLoader (``--workers``, not persistent, no pinning),
    fp32, default memory format, ``loss.item()`` every step.
(c) model   -- ``Training.train_step`` (engine.train.train_loop) on one synthetic batch already on the device: the
    upper bound for (a), which (a) only reaches if data loading is fully hidden.

Data: ``--data PATH`` (``@generated`` for the generated set), else what training would use
(``$PETSEG_DATA``, else the real sample bundled with petseg). Warm-up steps are run but not
timed (their seconds are printed: with ``--compile`` they include compiling). Peak memory is RSS
on CPU (this process, and its DataLoader workers apart) and ``max_memory_allocated`` on CUDA.

``--batch-size`` and ``--compile`` take comma lists: every combination is measured in turn,
each with a fresh Trainer, and one ``RESULT`` line (and one JSON line with ``--json``) per
combination gives img/s, the (a)/(c) ratio and, on a GPU, MFU (forward FLOPs counted by
torch.utils.flop_counter, x3 for forward + backward, against the card's dense bf16 peak). With
one combination the last line is ``train_vs_naive=R train_vs_model_only=Q`` as before.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _flops import forward_flops, mfu, peak_bf16_flops  # noqa: E402
from _machine import PeakRSS, describe_device, load  # noqa: E402

from engine.events import BATCH_EVENT_MIN_SECONDS as BATCH_EVENT_INTERVAL  # noqa: E402  (trainer loss read-back)


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Memory:
    """Peak memory of one phase: CUDA allocator peak, or sampled RSS on CPU."""

    def __init__(self, device) -> None:
        self.device = device
        self.rss = PeakRSS()

    def __enter__(self) -> "_Memory":
        import torch

        if self.device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
        self.rss.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.rss.__exit__(*exc)

    def text(self) -> str:
        import torch

        if self.device.type == "cuda":
            return f"peak CUDA memory {torch.cuda.max_memory_allocated(self.device) / 2**20:.0f} MiB"
        workers = f", workers' PSS {self.rss.children / 2**20:.0f} MiB" if self.rss.children else ""
        return f"peak RSS {self.rss.main / 2**20:.0f} MiB{workers}"


def _cycle(loader):
    """Batches forever; every pass over the loader is a new epoch (new shuffle, as in training)."""
    while True:
        yield from loader


def _time_steps(step, batches, warmup: int, steps: int, device, images_per_step: int) -> float:
    t0 = time.perf_counter()
    for _ in range(warmup):
        step(*next(batches))
    _sync(device)
    start = time.perf_counter()
    _WARMUP_SECONDS.append(start - t0)
    for _ in range(steps):
        step(*next(batches))
    _sync(device)
    return steps * images_per_step / (time.perf_counter() - start)


_WARMUP_SECONDS: list[float] = []  # of each measurement, in order (compile time shows here)


def bench_engine(t, args) -> tuple[float, str]:
    """(a): the trainer's own loader and step, with its on-device bookkeeping."""
    import torch

    from engine.eval.metrics import SegMetrics

    device = t.device
    t.model.train()
    metrics = SegMetrics()
    loss_sum = torch.zeros((), device=device)
    first_bad = torch.full((), -1, dtype=torch.long, device=device)
    state = {"i": 0, "last": time.monotonic()}

    def step(images, masks):
        state["i"] += 1
        loss, logits, masks_d = t.train_step(images, masks)
        first_bad.masked_fill_((first_bad < 0) & ~torch.isfinite(loss), state["i"])
        loss_sum.add_(loss * images.shape[0])
        metrics.update(logits.float(), masks_d)
        now = time.monotonic()
        if now - state["last"] >= BATCH_EVENT_INTERVAL:  # the trainer's BatchProgress read-back
            state["last"] = now
            if int(first_bad.item()) >= 0:
                raise RuntimeError("loss became NaN/Inf during the benchmark")
            float(loss_sum.item())

    with _Memory(device) as mem:
        ips = _time_steps(step, _cycle(t.train_loader), args.warmup, args.steps, device, args.batch_size)
    return ips, mem.text()


def _naive_dataset(layout, names, size, mask_rule):
    import albumentations as A
    import numpy as np
    from PIL import Image
    from torch.utils.data import Dataset

    from engine.data.masks import trimap_to_mask
    from engine.data.transforms import train_transform

    # The same augmentations as training, behind a Resize so they run at S x S, not full size.
    transform = A.Compose([A.Resize(size, size), *train_transform(size).transforms])

    class NaivePets(Dataset):
        def __len__(self):
            return len(names)

        def __getitem__(self, i):
            image = np.array(Image.open(layout.image_path(names[i])).convert("RGB"))
            trimap = np.array(Image.open(layout.trimap_path(names[i])))
            out = transform(image=image, mask=trimap_to_mask(trimap, mask_rule))
            return out["image"].float(), out["mask"].float().unsqueeze(0)

    return NaivePets()


def bench_naive(t, args) -> tuple[float, str]:
    """(b): decode + augment per sample every epoch, fp32, default memory format."""
    import torch
    from torch.utils.data import DataLoader

    from engine.train.losses import BCEDiceLoss
    from engine.models import build_model

    device = t.device
    bundle = t.bundle
    layout = bundle.source.layout
    dataset = _naive_dataset(layout, bundle.train_names, args.image_size, args.mask_rule)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, num_workers=args.workers,
                        drop_last=len(dataset) > args.batch_size)
    torch.manual_seed(0)
    model = build_model(args.model, width=args.width).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = BCEDiceLoss()
    model.train()
    running = {"loss": 0.0}

    def step(images, masks):
        images, masks = images.to(device), masks.to(device)
        optimizer.zero_grad()
        loss = criterion(model(images), masks)
        loss.backward()
        optimizer.step()
        running["loss"] += loss.item()  # the usual running-loss line: one host sync per step

    with _Memory(device) as mem:
        ips = _time_steps(step, _cycle(loader), args.warmup, args.steps, device, args.batch_size)
    return ips, mem.text()


def bench_model_only(t, args) -> tuple[float, str]:
    """(c): ``Training.train_step`` on one batch already on the device (no data loading)."""
    import torch

    device = t.device
    g = torch.Generator().manual_seed(0)
    s = args.image_size
    images = torch.randn(args.batch_size, 3, s, s, generator=g).to(device, memory_format=t.memory_format)
    masks = (torch.rand(args.batch_size, 1, s, s, generator=g) > 0.5).float().to(device)
    t.model.train()

    def batches():
        while True:
            yield images, masks

    with _Memory(device) as mem:
        ips = _time_steps(lambda x, y: t.train_step(x, y), batches(), args.warmup, args.steps, device,
                          args.batch_size)
    return ips, mem.text()


def _list(text: str, cast=str) -> list:
    return [cast(v.strip()) for v in str(text).split(",") if v.strip()]


def measure(args, mode: str, batch_size: int, runs: str, skip: set[str]) -> dict:
    """(a), (b), (c) for one compile mode and batch size; returns the JSON record."""
    from engine.config import TrainConfig
    from engine.train.trainer import Trainer

    args = argparse.Namespace(**{**vars(args), "batch_size": batch_size})
    config = TrainConfig(model=args.model, width=args.width, image_size=args.image_size,
                         batch_size=batch_size, workers=args.workers, device=args.device,
                         data_path=args.data, amp=args.amp, compile=mode, augment_on=args.augment_on, epochs=1)
    args.mask_rule = config.mask_rule
    trainer = Trainer(config, runs, run_name=f"bench-{mode}-{batch_size}", log=lambda m: print(f"  {m}"))
    try:
        t0 = time.perf_counter()
        t = trainer.prepare()
        setup_s = time.perf_counter() - t0
        device = t.device
        amp = str(t.amp_dtype).replace("torch.", "") if t.amp_dtype else "fp32"
        fmt = "channels_last" if t.memory_format is not None and "channels_last" in str(t.memory_format) else "contiguous"
        print(f"device: {describe_device(device)}")
        print(f"data: {t.bundle.source.kind}: {t.bundle.source.path} "
              f"({len(t.bundle.train)} train images)")
        print(f"config: model {args.model}" + (f" width {args.width}" if args.model == "unet" else "")
              + f", {args.image_size} px, batch {batch_size}, workers {args.workers}, "
              f"{args.warmup} warm-up + {args.steps} timed steps per measurement")
        print(f"engine setup (cache/loaders/model): {setup_s:.1f} s; engine uses {amp}, {fmt}, "
              f"augmentations on {t.augment_on}, compile {t.compile_mode}")

        rounds: dict[str, list[float]] = {}
        warmups: dict[str, float] = {}
        phases = [("a", "engine (cached arrays + engine data path + Training.train_step)", bench_engine),
                  ("b", "naive (PIL decode + albumentations per sample, fp32, contiguous)", bench_naive),
                  ("c", "model only (Training.train_step on a batch already on the device)", bench_model_only)]
        for r in range(1, args.rounds + 1):
            for key, label, fn in phases:
                if key in skip:
                    continue
                before = load()
                ips, mem = fn(t, args)
                warmups.setdefault(key, _WARMUP_SECONDS[-1])
                rounds.setdefault(key, []).append(ips)
                tag = f" round {r}" if args.rounds > 1 else ""
                print(f"({key}){tag} {label}: {ips:.2f} images/s  {mem}  warm-up {_WARMUP_SECONDS[-1]:.1f} s  "
                      f"[{before} -> {load()}]", flush=True)
        results = {key: max(values) for key, values in rounds.items()}
        for key, values in rounds.items():
            if len(values) > 1:
                print(f"({key}) best of {len(values)}: {results[key]:.2f} images/s "
                      f"(all: {', '.join(f'{v:.2f}' for v in values)})")
        flops = forward_flops(args.model, args.width, args.image_size)
        peak = peak_bf16_flops(describe_device(device)) if device.type == "cuda" and amp == "bfloat16" else None
        record = {
            "model": args.model, "width": args.width if args.model == "unet" else None, "image_size": args.image_size,
            "batch_size": batch_size, "compile": mode, "compile_resolved": t.compile_mode, "amp": amp,
            "augment_on": t.augment_on, "device": describe_device(device),
            "engine": results.get("a"), "naive": results.get("b"), "model_only": results.get("c"),
            "engine_vs_model_only": results["a"] / results["c"] if "a" in results and "c" in results else None,
            "engine_vs_naive": results["a"] / results["b"] if "a" in results and "b" in results else None,
            "warmup_s": max(warmups.values()) if warmups else None,  # the first phase compiles
            "fwd_gflop_per_image": flops / 1e9,
            "mfu_engine": mfu(results["a"], flops, peak) if "a" in results else None,
            "mfu_model_only": mfu(results["c"], flops, peak) if "c" in results else None,
            "load": load(),
        }
        print("RESULT " + " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                   for k, v in record.items() if k not in ("device", "load")), flush=True)
        return record
    finally:
        trainer.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="unet", choices=("unet", "resnet34_unet"))
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--batch-size", default="16", help="a batch size or a comma list of them")
    p.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps before each measurement")
    p.add_argument("--data", default=None, help="dataset folder (default: what training would pick)")
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--amp", default="auto", help="the engine's --amp for (a) and (c); (b) is always fp32")
    p.add_argument("--compile", default="off",
                   help="the engine's --compile mode for (a) and (c), or a comma list of modes")
    p.add_argument("--augment-on", default="auto", help="the engine's --augment_on for (a)")
    p.add_argument("--skip", default="", help="comma list of a,b,c to leave out")
    p.add_argument("--rounds", type=int, default=1,
                   help="repeat a, b, c in turn this many times and keep each one's best round "
                        "(on a shared machine the best round is the least disturbed one)")
    p.add_argument("--json", type=Path, default=None, help="append one JSON line per combination")
    args = p.parse_args(argv)
    skip = set(_list(args.skip))
    modes, sizes = _list(args.compile), _list(args.batch_size, int)

    records = []
    with tempfile.TemporaryDirectory(prefix="petseg-bench-") as runs:
        for mode in modes:
            for batch_size in sizes:
                record = measure(args, mode, batch_size, runs, skip)
                records.append(record)
                if args.json is not None:
                    with open(args.json, "a") as fh:
                        fh.write(json.dumps(record) + "\n")
    if len(records) == 1:
        r = records[0]
        ab = r["engine_vs_naive"] if r["engine_vs_naive"] is not None else float("nan")
        ac = r["engine_vs_model_only"] if r["engine_vs_model_only"] is not None else float("nan")
        print(f"ratios: (a)/(b) = {ab:.2f}   (a)/(c) = {ac:.2f}")
        print(f"train_vs_naive={ab:.2f} train_vs_model_only={ac:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
