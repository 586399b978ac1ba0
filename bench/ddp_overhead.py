"""What data-parallel training costs per step, as issue 18's GPU rows ask: the DDP wrapper against
the plain model at the same world size, the per-batch agreement a data-parallel run adds, and the
gradient all-reduce alone, for each model.

    python bench/ddp_overhead.py --device cuda --image_size 256 --batch_size 32 --amp bf16     # one GPU
    torchrun --nproc_per_node 8 bench/ddp_overhead.py --device cuda --image_size 256 --batch_size 32 --amp bf16
    python bench/ddp_overhead.py --device cpu --image_size 64 --width 8 --batch_size 4 --steps 3 --rounds 2  # smoke

Started plainly it is a world of one process (gloo on the CPU, NCCL on CUDA, at a free local
port): "ddp" is then the wrapper's own cost (goal <= 3 % over "plain"), and the all-reduce has no
peer to wait for. Under torchrun it is every rank's step at that world size (rank 0 prints).

Per model (``--models``), on one synthetic batch already on the device, each step is the engine's
``train_step`` (forward and loss under autocast, backward, optimiser step):

- plain: the model as a one-process run trains it;
- ddp: the same model wrapped as a data-parallel rank wraps it (``engine.train.setup.data_parallel``);
- ddp+agree: that, plus what a data-parallel run does after every batch (the step's non-finite
  flag read to the host, then ``engine.train.distributed.agree_flags`` on the control group);
- all-reduce: ``dist.all_reduce`` of one flat fp32 tensor of the model's parameter count (the
  bytes DDP moves per step, in one bucket rather than its 25 MB ones), with its bus bandwidth
  (bytes x 2(N-1)/N / time, NCCL's convention).

The three step variants take turns round by round (``--rounds``, ``--steps`` each, after
``--warmup``), so they see the same load; the table gives each one's median ms per step.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.train.distributed import DistContext  # noqa: E402  (after the path insert)


class WrappedContext(DistContext):
    """This rank's context, with the DDP wrapper and the agreement on even at world size 1: their
    own cost is what that row measures (the engine leaves a one-process run unwrapped)."""

    @property
    def enabled(self) -> bool:
        return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def join_world() -> DistContext:
    """This process's rank: torchrun's, else a world of one at a free local port (the variables
    the engine's ``init_process_group`` reads)."""
    if "WORLD_SIZE" not in os.environ:
        os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1",
                          MASTER_PORT=str(_free_port()))
    ctx = DistContext.from_env()
    return WrappedContext(ctx.rank, ctx.local_rank, ctx.world_size)


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(step: Callable[[], Any], steps: int, device: Any) -> float:
    """Seconds per step over ``steps`` steps, the device drained before and after."""
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return (time.perf_counter() - start) / steps


def measure_model(name: str, args: argparse.Namespace, ctx: DistContext, group: Any, device: Any) -> dict[str, Any]:
    """The three step variants and the all-reduce for one model; the row rank 0 prints."""
    import torch
    import torch.distributed as dist

    from engine.config import TrainConfig
    from engine.device import resolve_amp
    from engine.models import build_model, count_parameters
    from engine.train.distributed import agree_flags
    from engine.train.losses import BCEDiceLoss
    from engine.train.setup import build_optimizer, data_parallel
    from engine.train.train_loop import train_step

    cfg = TrainConfig(model=name, width=args.width, image_size=args.image_size, batch_size=args.batch_size)
    # --amp auto on a CPU is petseg's timed probe (engine.train.precision): fp32 here, as the table says
    amp_dtype = resolve_amp("off" if device.type == "cpu" and args.amp == "auto" else args.amp, device)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    torch.manual_seed(0)
    plain = build_model(name, width=args.width).to(device, memory_format=memory_format)
    twin = copy.deepcopy(plain)
    wrapped = data_parallel(twin, device, ctx)
    g = torch.Generator().manual_seed(ctx.rank)
    s = args.image_size
    images = torch.randn(args.batch_size, 3, s, s, generator=g).to(device, memory_format=memory_format)
    masks = (torch.rand(args.batch_size, 1, s, s, generator=g) > 0.5).float().to(device)
    criterion = BCEDiceLoss(cfg.bce_weight, cfg.dice_weight)

    def stepper(module: torch.nn.Module, forward: Callable, agree: bool) -> Callable[[], Any]:
        optimizer = build_optimizer(module, cfg)
        scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)

        def step() -> Any:
            loss, _, _ = train_step(forward, module, criterion, optimizer, scaler, images, masks, device=device,
                                    memory_format=memory_format, amp_dtype=amp_dtype)
            if agree:  # what batch_gate does after each batch of a data-parallel run
                bad = int((~torch.isfinite(loss)).item())
                agree_flags([0, 0, -1 if not bad else 1, 0], group, ctx)
            return loss
        return step

    variants = {"plain": stepper(plain, plain, False), "ddp": stepper(twin, wrapped, False),
                "ddp+agree": stepper(twin, wrapped, True)}
    for step in variants.values():
        _timed(step, args.warmup, device)
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.rounds):
        for key, step in variants.items():
            times[key].append(_timed(step, args.steps, device))
    ms = {k: 1000 * statistics.median(v) for k, v in times.items()}

    params = count_parameters(plain)
    flat = torch.zeros(params, dtype=torch.float32, device=device)
    reduce = lambda: dist.all_reduce(flat)  # noqa: E731
    _timed(reduce, args.warmup, device)
    reduce_s = statistics.median(_timed(reduce, args.steps, device) for _ in range(args.rounds))
    n = ctx.world_size
    bus = 4 * params * (2 * (n - 1) / n) / reduce_s if n > 1 else 0.0
    return {"model": name if name != "unet" else f"unet w{args.width}", "world_size": n, "batch": args.batch_size,
            "amp": str(amp_dtype).replace("torch.", "") if amp_dtype else "fp32",
            "plain_ms": ms["plain"], "ddp_ms": ms["ddp"], "agree_ms": ms["ddp+agree"],
            "ddp_overhead": ms["ddp"] / ms["plain"] - 1, "agree_overhead": ms["ddp+agree"] / ms["plain"] - 1,
            "params": params, "allreduce_ms": 1000 * reduce_s, "bus_gb_s": bus / 1e9}


def table(rows: list[dict[str, Any]], head: str) -> str:
    lines = [head, "",
             "| model | world | batch/process | amp | plain ms | ddp ms | ddp+agree ms | ddp vs plain | ddp+agree vs plain "
             "| gradient MB | all-reduce ms | bus GB/s |",
             "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        bus = f"{r['bus_gb_s']:.1f}" if r["world_size"] > 1 else "- (1 process)"
        lines.append(f"| {r['model']} | {r['world_size']} | {r['batch']} | {r['amp']} | {r['plain_ms']:.1f} | {r['ddp_ms']:.1f} "
                     f"| {r['agree_ms']:.1f} | {100 * r['ddp_overhead']:+.1f} % | {100 * r['agree_overhead']:+.1f} % "
                     f"| {4 * r['params'] / 1e6:.0f} | {r['allreduce_ms']:.2f} | {bus} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto")
    p.add_argument("--models", default="unet,resnet34_unet", help="comma list of engine model names")
    p.add_argument("--width", type=int, default=64, help="UNet base width (the encoder models ignore it)")
    p.add_argument("--image_size", type=int, default=256)
    p.add_argument("--batch_size", type=int, default=32, help="per process")
    p.add_argument("--amp", default="auto", help="as petseg train's --amp")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--steps", type=int, default=10, help="steps a round, per variant")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--json", type=Path, help="also write the rows here (rank 0)")
    args = p.parse_args(argv)

    from engine.device import resolve_device
    from engine.train.distributed import destroy_process_group, init_process_group, rank_device

    ctx = join_world()
    device = rank_device(resolve_device(args.device), ctx)
    group = init_process_group(ctx, device.type)
    try:
        rows = [measure_model(name.strip(), args, ctx, group, device) for name in args.models.split(",") if name.strip()]
    finally:
        destroy_process_group(ctx)
    if ctx.rank == 0:
        import torch

        where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
        print(table(rows, f"{where}; torch {torch.__version__}; {args.image_size} px, "
                          f"{args.rounds} rounds x {args.steps} steps, medians"))
        if args.json:
            args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
