"""Run as ``python ddp_worker.py MODE RANK WORLD STORE OUT [CHECKPOINT]``: one gloo rank of a
data-parallel check (tests/engine/train/test_ddp_equivalence.py), writing what it measured to OUT as JSON.
MODE ``all`` does ``validate``, ``steps``, ``epoch`` and (given CHECKPOINT) ``eval`` in one process group,
so the checks share one start of the processes; the functions also run in the test's own
process (a plain `DistContext`) for the one-process reference.

MODE ``validate``: a random-weights UNet scored on the generated set's validation split by
`engine.train.train_loop.evaluate`, each rank on its shard, sums reduced over the ranks; the
ranks' BatchNorm statistics differ (as after training), and evaluate scores rank 0's on all.
MODE ``steps``: a BatchNorm-free network trained for a few steps through `train_step` and the
DistributedDataParallel wrapper of `engine.train.setup`, each rank on its shard of each batch.
MODE ``epoch``: `engine.train.train_loop.train_one_epoch` on fixed batches, each rank its shard,
the epoch's train loss and Dice reduced over the ranks.
MODE ``padded_epoch``: `train_one_epoch` through `make_loader`'s padded training shards of an
uneven set, the figures reduced over the ranks: each image counted once.
MODE ``pids``: `engine.train.distributed.local_rank_pids`, what rank 0's system metrics read.
MODE ``sync_bn_steps`` (CUDA, NCCL): a real BatchNorm network with SyncBatchNorm, as ``steps``.
MODE ``eval``: `engine.eval.evaluate.evaluate_checkpoint` of CHECKPOINT on the valid split, each
rank on its block (`engine.eval.ranks.RankShare`); rank 0 reports the joined figures.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from engine.config import GENERATED_DATA, TrainConfig
from engine.train.distributed import DistContext, all_reduce_sum, buffers_from_main, shard_indices


def validate(ctx: DistContext) -> dict:
    from engine.data.loaders import build_datasets, make_loader
    from engine.models import build_model
    from engine.train.losses import BCEDiceLoss
    from engine.train.train_loop import evaluate

    cfg = TrainConfig(data_path=GENERATED_DATA, image_size=64, width=4, valid_every=8)
    bundle = build_datasets(cfg, log=lambda _: None)
    torch.manual_seed(0)
    model = build_model("unet", width=4)
    # the running statistics as trained: each rank's a local step apart from rank 0's (the ones saved)
    with torch.no_grad():
        for name, buffer in model.named_buffers():
            if name.endswith("running_mean"):
                buffer.add_(0.1 * ctx.rank)
    loader = make_loader(bundle.valid, 5, shuffle=False, workers=0, device_type="cpu", seed=0, shard=ctx)
    out = evaluate(model, BCEDiceLoss(), loader, torch.device("cpu"), amp_dtype=None,
                   memory_format=torch.contiguous_format,
                   reduce=(lambda t: all_reduce_sum(t, ctx)) if ctx.enabled else None,
                   share_buffers=(lambda m: buffers_from_main(m, ctx)) if ctx.enabled else None)
    return {**out, "valid_size": len(bundle.valid)}


def steps(ctx: DistContext, global_batch: int = 8, n_steps: int = 4) -> dict:
    from engine.train.losses import BCEDiceLoss
    from engine.train.setup import data_parallel
    from engine.train.train_loop import train_step

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 1, 1))
    forward = data_parallel(model, torch.device("cpu"), ctx)
    # SGD: the update is the gradient itself, so a difference in the averaged gradients shows as
    # it is (Adam divides tiny gradients by their own size and turns rounding into sign flips)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    criterion = BCEDiceLoss(1.0, 0.0)  # BCE: a mean over pixels, so averaging the ranks' gradients is exact
    data = torch.Generator().manual_seed(1)
    images = torch.randn(n_steps, global_batch, 3, 16, 16, generator=data)
    masks = (torch.rand(n_steps, global_batch, 1, 16, 16, generator=data) > 0.5).float()
    mine = shard_indices(global_batch, ctx, pad=False)
    for s in range(n_steps):
        train_step(forward, model, criterion, optimizer, scaler, images[s, mine], masks[s, mine],
                   device=torch.device("cpu"), memory_format=torch.contiguous_format, amp_dtype=None)
    return {"params": [p.detach().flatten().tolist() for p in model.parameters()]}


def epoch(ctx: DistContext, global_batch: int = 8, n_batches: int = 3) -> dict:
    """`train_one_epoch` over a fixed set (no augmentation, a step that scores without updating),
    each rank on its shard of each batch, the figures reduced over the ranks: the epoch's train
    loss and Dice must be those of the whole set, as one process computes them."""
    from engine.train.losses import BCEDiceLoss
    from engine.train.train_loop import train_one_epoch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 1, 1))
    criterion = BCEDiceLoss(1.0, 0.0)  # BCE: a mean over pixels, so a batch's loss x its images adds up

    def step(images: torch.Tensor, masks: torch.Tensor):
        with torch.no_grad():
            logits = model(images)
            return criterion(logits, masks), logits, masks

    data = torch.Generator().manual_seed(2)
    images = torch.randn(n_batches, global_batch, 3, 16, 16, generator=data)
    masks = (torch.rand(n_batches, global_batch, 1, 16, 16, generator=data) > 0.5).float()
    mine = shard_indices(global_batch, ctx, pad=False)
    batches = [(images[b, mine], masks[b, mine]) for b in range(n_batches)]
    trained = train_one_epoch(step, model, batches, torch.device("cpu"), 1, between_batches=lambda *_: None,
                              report=lambda _: None, paused_seconds=lambda: 0.0,
                              reduce=(lambda t: all_reduce_sum(t, ctx)) if ctx.enabled else None)
    return {"loss": trained.loss, "dice": trained.dice, "images": trained.images}


def padded_epoch(ctx: DistContext, n: int = 10) -> dict:
    """`train_one_epoch` over ``n`` images through `make_loader`'s padded training shards (as
    DistributedSampler's: 10 images on 3 ranks are 12 draws), with batches of 1 (the loss exact)
    and of 2 (a batch mixing a real image and a padded repeat): the figures must count each
    image once, as one process does."""
    from engine.data.loaders import counted_images, make_loader
    from engine.train.losses import BCEDiceLoss
    from engine.train.train_loop import train_one_epoch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 1, 1))
    criterion = BCEDiceLoss(1.0, 0.0)

    def step(images: torch.Tensor, masks: torch.Tensor):
        with torch.no_grad():
            logits = model(images)
            return criterion(logits, masks), logits, masks

    data = torch.Generator().manual_seed(3)
    dataset = torch.utils.data.TensorDataset(torch.randn(n, 3, 16, 16, generator=data),
                                             (torch.rand(n, 1, 16, 16, generator=data) > 0.5).float())
    out = {}
    for batch in (1, 2):
        loader = make_loader(dataset, batch, shuffle=True, workers=0, device_type="cpu", seed=0, shard=ctx)
        trained = train_one_epoch(step, model, loader, torch.device("cpu"), 1, between_batches=lambda *_: None,
                                  report=lambda _: None, paused_seconds=lambda: 0.0,
                                  reduce=(lambda t: all_reduce_sum(t, ctx)) if ctx.enabled else None,
                                  counted=counted_images(loader))
        out[f"batch{batch}"] = {"loss": trained.loss, "dice": trained.dice, "images": trained.images,
                                "drawn": len(loader.sampler)}
    return out


def sync_bn_steps(ctx: DistContext, global_batch: int = 8, n_steps: int = 4) -> dict:
    """A real BatchNorm network (UNet width 4) converted to SyncBatchNorm as `engine.train.setup`
    does with --sync_bn, on this rank's GPU (CUDA only: torch's SyncBatchNorm refuses CPU tensors)."""
    from engine.models import build_model
    from engine.train.losses import BCEDiceLoss
    from engine.train.setup import data_parallel
    from engine.train.train_loop import train_step

    # the same kernels in 1 and 2 processes: no TF32, deterministic cuDNN
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    device = torch.device("cuda", ctx.local_rank)
    torch.cuda.set_device(device)
    torch.manual_seed(0)
    model = build_model("unet", width=4)
    if ctx.enabled:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model = model.to(device)
    forward = data_parallel(model, device, ctx)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    data = torch.Generator().manual_seed(1)
    images = torch.randn(n_steps, global_batch, 3, 32, 32, generator=data)
    masks = (torch.rand(n_steps, global_batch, 1, 32, 32, generator=data) > 0.5).float()
    mine = shard_indices(global_batch, ctx, pad=False)
    for s in range(n_steps):
        train_step(forward, model, BCEDiceLoss(1.0, 0.0), optimizer, scaler, images[s, mine], masks[s, mine],
                   device=device, memory_format=torch.contiguous_format, amp_dtype=None)
    state = model.state_dict()  # running statistics too: SyncBatchNorm updates them from the global batch
    return {"params": {k: v.detach().float().flatten().cpu().tolist() for k, v in state.items()
                       if v.is_floating_point()}}


def evaluate(ctx: DistContext, checkpoint: str) -> dict | None:
    from engine.eval.evaluate import evaluate_checkpoint
    from engine.eval.ranks import RankShare

    res = evaluate_checkpoint(checkpoint, split="valid", device="cpu", keep_worst=3, threads=1,
                              ranks=RankShare(ctx) if ctx.enabled else None)
    if res is None:
        return None
    figures = {f"{r}-{ib}": list(dataclasses.astuple(res.figures(r, ib))) for r in ("photo", "train")
               for ib in (False, True)}
    return {"figures": figures, "worst": [s.record.name for s in res.worst], "n_images": res.n_images}


def pids(ctx: DistContext) -> dict:
    """This rank's process id and the local ranks' ones that rank 0 learns (None on the others)."""
    from engine.train.distributed import local_rank_pids

    return {"pid": os.getpid(), "local_rank_pids": local_rank_pids(dist.group.WORLD, ctx)}


def main() -> None:
    mode, rank, world, store, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], Path(sys.argv[5])
    ctx = DistContext(rank, rank, world)
    if ctx.enabled:
        dist.init_process_group("nccl" if mode == "sync_bn_steps" else "gloo", init_method=f"file://{store}",
                                rank=rank, world_size=world)
    if mode == "sync_bn_steps":
        result = sync_bn_steps(ctx)
    elif mode == "all":  # one start of the ranks for every check below (each start imports torch anew)
        result = {"pids": pids(ctx), "validate": validate(ctx), "steps": steps(ctx), "epoch": epoch(ctx),
                  "eval": evaluate(ctx, sys.argv[6]) if len(sys.argv) > 6 else None}
    elif mode == "padded_epoch":
        result = padded_epoch(ctx)
    else:
        result = validate(ctx) if mode == "validate" else steps(ctx)
    out.write_text(json.dumps(result))
    if ctx.enabled:
        from engine.train.distributed import destroy_process_group

        destroy_process_group(ctx)


if __name__ == "__main__":
    main()
    # what this check measured is written and the group is left: skip the interpreter's teardown,
    # where it aborted once in about twenty runs here (SIGABRT, "terminate called without an active exception":
    # a C++ thread of torch's distributed runtime destroyed while joinable), which is not what
    # these tests are about
    sys.stdout.flush()
    os._exit(0)
