"""Training-step speed of one model under each memory format x precision, data excluded.

    .venv/bin/python bench/step_variants.py --model unet [--width 32] [--image-size 128] \\
        [--batch-size 16] [--steps 3] [--rounds 2] [--device cpu]

Why the engine turns on channels_last, and when bf16 autocast: this prints images/s of a plain
Adam + BCE-Dice step on one synthetic batch for contiguous/channels_last x fp32/bf16 (best of
``--rounds``, alternating, with the load next to each figure), and images per CPU-second of
this process (all its threads), which stays comparable when the machine is shared. On a CPU it then runs the probe
``--amp auto`` uses (``engine.train.precision``: a few steps, fresh, not from the cache) so
the two can be compared: the probe must pick what the full-size step says is faster.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe_device, load  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="unet", choices=("unet", "resnet34_unet"))
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)

    import torch

    from engine.train.losses import BCEDiceLoss
    from engine.models import build_model

    device = torch.device(args.device)
    print(f"device: {describe_device(device)}")
    s, bs = args.image_size, args.batch_size
    best: dict[tuple[str, str], float] = {}
    best_cpu: dict[tuple[str, str], float] = {}  # images per CPU-second: what a step costs, load or not
    for r in range(1, args.rounds + 1):
        for fmt in (torch.contiguous_format, torch.channels_last):
            for amp in (None, torch.bfloat16):
                torch.manual_seed(0)
                model = build_model(args.model, width=args.width).to(device, memory_format=fmt)
                opt = torch.optim.Adam(model.parameters(), 1e-3)
                crit = BCEDiceLoss()
                x = torch.randn(bs, 3, s, s).to(device, memory_format=fmt)
                y = (torch.rand(bs, 1, s, s) > 0.5).float().to(device)

                def step() -> None:
                    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp is not None):
                        loss = crit(model(x), y)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()

                for _ in range(args.warmup):
                    step()
                if device.type == "cuda":
                    torch.cuda.synchronize()
                c0, t0 = time.process_time(), time.perf_counter()
                for _ in range(args.steps):
                    step()
                if device.type == "cuda":
                    torch.cuda.synchronize()
                ips = args.steps * bs / (time.perf_counter() - t0)
                per_cpu_s = args.steps * bs / max(time.process_time() - c0, 1e-9)
                key = ("channels_last" if fmt == torch.channels_last else "contiguous", "bf16" if amp else "fp32")
                best[key] = max(best.get(key, 0.0), ips)
                best_cpu[key] = max(best_cpu.get(key, 0.0), per_cpu_s)
                print(f"round {r} {args.model} {s} px {key[0]:13s} {key[1]}: {ips:6.1f} images/s, "
                      f"{per_cpu_s:6.2f} images per CPU-second  [{load()}]", flush=True)
    base, base_cpu = best[("contiguous", "fp32")], best_cpu[("contiguous", "fp32")]
    for key, ips in best.items():
        print(f"best {key[0]:13s} {key[1]}: {ips:6.1f} images/s  ({ips / base:.2f}x contiguous fp32); "
              f"{best_cpu[key]:6.2f} images per CPU-second ({best_cpu[key] / base_cpu:.2f}x)")
    if device.type == "cpu":
        from engine.train import precision

        faster = "bf16" if best_cpu[("channels_last", "bf16")] > best_cpu[("channels_last", "fp32")] else "fp32"
        result = precision.probe(lambda: build_model(args.model, width=args.width), s, channels_last=True,
                                 batch_size=bs)
        print(f"--amp auto probe (batch {bs}, channels_last, 1 thread's CPU time per step): fp32 "
              f"{result['fp32_ms']:.0f} ms, bf16 {result['bf16_ms']:.0f} ms -> {result['choice']} (bf16 needs <= "
              f"{precision.BF16_MARGIN:.0%} of fp32); the batch-{bs} channels_last step above costs less CPU "
              f"time in {faster}  [{load()}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
