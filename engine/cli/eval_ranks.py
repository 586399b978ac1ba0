"""``petseg eval --devices N``: the same elastic launch as ``petseg train --devices N``
(`engine.train.ddp_launch.run_ranks`), each rank running ``petseg eval`` with the user's own
flags; and, inside a rank (ours or the user's own torchrun), its process group, its device and
its share of the split (`engine.eval.ranks.RankShare`). Rank 0 alone prints and writes."""

from __future__ import annotations

import argparse
import atexit
from pathlib import Path
from typing import Any

from engine.errors import ConfigError


def data_parallel_eval(args: argparse.Namespace, checkpoint: Path) -> Any:
    """None for a one-process eval; the ranks' exit code in the process that launched them; in a
    rank, its `RankShare` (``args.device`` set to the rank's own GPU on CUDA)."""
    from engine.train.distributed import DistContext

    ctx = DistContext.from_env()
    if ctx.enabled:
        from engine.train.devices_request import torchrun_devices_problem

        problem = torchrun_devices_problem(None if str(args.devices).strip() == "1" else args.devices)
        if problem:
            raise ConfigError(problem)
        return _join(args, ctx)
    if str(args.devices).strip() == "1":
        return None
    request = _requested(args)
    if request.count == 1 and request.indices is None:
        return None
    from engine.cli.common import console as new_console
    from engine.train.ddp_launch import RankFailed, run_ranks

    _preflight(args, checkpoint)
    console = new_console()
    try:
        return run_ranks(["-m", "engine.cli", *args.argv], request, lambda m: console.print(m, markup=False),
                         "eval")
    except RankFailed as exc:
        raise ConfigError(f"eval: {exc}") from None


def _preflight(args: argparse.Namespace, checkpoint: Path) -> None:
    """What every rank would refuse, said once before they start: the checkpoint, the batch size,
    the data folder and a split with no photo (and the generated set is made here once, not by
    every rank at the same time)."""
    from engine.eval.evaluate import split_names
    from engine.infer.inference import load_predictor

    if args.batch_size < 1:
        raise ConfigError(f"--batch_size {args.batch_size}: must be >= 1")
    # the model file as the ranks will load it (a checkpoint, or an ONNX export: read as a torch
    # checkpoint it was "corrupt or truncated"), here on the CPU: this process trains nothing
    config = load_predictor(checkpoint, "cpu", image_size=args.image_size).config or {}
    split_names(args.data_path, config, args.split)


def _requested(args: argparse.Namespace) -> Any:
    """--devices checked against the GPUs torch sees (any count of gloo processes off CUDA)."""
    from engine.device import resolve_device
    from engine.train.devices_request import parse_devices

    if resolve_device(args.device).type != "cuda":
        return parse_devices(args.devices, None)
    import torch

    return parse_devices(args.devices, torch.cuda.device_count())


def _join(args: argparse.Namespace, ctx: Any) -> Any:
    from engine.device import resolve_device
    from engine.eval.ranks import RankShare
    from engine.train.distributed import destroy_process_group, init_process_group, rank_device

    device = rank_device(resolve_device(args.device), ctx)
    share = RankShare(ctx, init_process_group(ctx, device.type))
    # at exit, after rank 0 has printed: ranks that gave their scores leave together, a failed one at once
    atexit.register(lambda: destroy_process_group(ctx, wait=share.gathered))
    args.device = str(device)
    return share
