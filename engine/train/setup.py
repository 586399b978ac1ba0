"""Setting a run up: from its config and this machine to a `Training` (data and loaders, model,
optimiser, schedule, loss, precision, compile mode, previews, checkpoint saver)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from engine.config import FULL_PRECISION, TrainConfig
from engine.data.device_batches import resolve_augment_on
from engine.device import cap_workers, resolve_amp, resolve_device
from engine.errors import ConfigError, PetsegError
from engine.events import RunWarning, TrainEvent
from engine.train.checkpoint_saver import CheckpointSaver
from engine.train.compile import compile_model, resolve_compile
from engine.train.config_record import kept_from_record
from engine.train.distributed import (DistContext, all_reduce_sum, broadcast_from_main, buffers_from_main,
                                      rank_device, rank_seed, shard_indices, sync_bn_problem)
from engine.train.ema import build_ema
from engine.train.rng import seed_everything
from engine.train.schedule import build_scheduler, build_time_budget
from engine.train.train_loop import Training


@dataclass(frozen=True)
class Recorded:
    """What a resumed run recorded that setup keeps (its precision and compile mode): config.json,
    and the flags typed with --resume (a typed flag is resolved anew)."""

    record: dict[str, Any] = field(default_factory=dict)
    resumed: bool = False
    applied: frozenset[str] = frozenset()

    def kept(self, flag: str, key: str, device: torch.device) -> Any:
        return kept_from_record(self.record, key, resumed=self.resumed, flag_given=flag in self.applied,
                                device=device)


def resolve_run_amp(cfg: TrainConfig, device: torch.device, recorded: Recorded,
                    log: Callable[[str], None]) -> tuple[torch.dtype | None, dict[str, Any] | None]:
    """(autocast dtype, probe record or None). A resumed run keeps the precision it was
    trained in (the same device type, no new --amp given), so that it repeats an
    uninterrupted run exactly."""
    kept = recorded.kept("amp", "amp_resolved", device)
    if kept is not None:
        return {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(kept), recorded.record.get("amp_probe")
    if cfg.amp == "auto" and device.type == "cpu":
        from engine.train.precision import cpu_autocast_dtype

        return cpu_autocast_dtype(cfg.model, cfg.width, cfg.image_size, cfg.channels_last, cfg.batch_size, log=log)
    dtype = resolve_amp(cfg.amp, device)
    if cfg.amp in ("bf16", "fp16") and dtype is None:  # asked for, not given: say so, not only in config.json
        why = "fp16 autocast is not used on a CPU (no speed-up there)" if device.type == "cpu" else f"{device.type} trains in {FULL_PRECISION}"
        log(f"warning: --amp {cfg.amp}: {why}; training in {FULL_PRECISION}")
    return dtype, None


def setup_training(cfg: TrainConfig, run_path: Path, run_name: str, *, restoring: bool, recorded: Recorded,
                   log: Callable[[str], None], emit: Callable[[TrainEvent], None],
                   stop_point: Callable[..., None], dist: DistContext | None = None,
                   control_group: Any = None) -> Training:
    """Data, loaders, model, optimiser and the rest, as this run's config and machine say.

    ``restoring``: the weights come from last.pt, not from --pretrained; ``stop_point`` is called
    while the data decodes and raises to stop (Ctrl-C, SIGTERM, the TUI). ``dist`` (a rank of a
    data-parallel run): its own GPU, its shard of each split, augmentations seeded for the rank,
    the model wrapped in DistributedDataParallel (SyncBatchNorm with --sync_bn) and validation
    sums reduced over the ranks."""
    from engine.data.loaders import build_datasets, make_loader
    from engine.models import build_model, model_kwargs
    from engine.train.losses import BCEDiceLoss
    from engine.train.previews import NoPreviews, PreviewWriter

    dist = dist or DistContext()
    seed_everything(cfg.seed)  # the same initial weights on every rank (DDP broadcasts rank 0's anyway)
    device = rank_device(resolve_device(cfg.device), dist)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if dist.enabled and sync_bn_problem(cfg.sync_bn, device.type):  # torchrun by hand: `petseg train` said it earlier
        raise ConfigError(sync_bn_problem(cfg.sync_bn, device.type))
    augment_seed = rank_seed(cfg.seed, dist.rank)

    # a stop during a long first decode ends it now, not after it
    bundle = build_datasets(cfg, log=log, on_progress=stop_point)
    if bundle.skipped:
        name, reason = bundle.skipped[0]
        emit(RunWarning(message=f"skipped {len(bundle.skipped)} unreadable image(s); first: {name}: {reason}"))
    for warning in bundle.warnings:  # duplicated names, train/test overlap
        emit(RunWarning(message=warning))
    if len(bundle.train) == 0:
        raise PetsegError(f"{bundle.source.path}: no usable training images")
    if len(bundle.valid) == 0:
        raise PetsegError(f"{bundle.source.path}: no validation images (need at least {cfg.valid_every} in trainval)")
    # drop_last below leaves no short last batch; a shard smaller than one batch is one batch.
    # A rank trains on its shard (every rank the same count), not on the whole split
    per_rank = len(shard_indices(len(bundle.train), dist, pad=True))
    why = cfg.single_value_batch_problem(min(per_rank, cfg.batch_size))
    if why:
        raise PetsegError(f"{bundle.source.path}: only {len(bundle.train)} training image(s) — {why}")
    # after the data: a bad folder fails first. One precision for every rank: rank 0 resolves it (a
    # CPU's timed probe could differ per process, and ranks probing at once would skew the timing)
    amp = resolve_run_amp(cfg, device, recorded, log) if dist.is_main else None
    amp_dtype, amp_probe = broadcast_from_main(amp, control_group, dist) if dist.enabled else amp
    augment_on = resolve_augment_on(cfg.augment_on, device)
    drop_last = per_rank > cfg.batch_size
    train_loader: Any
    valid_loader: Any
    if augment_on == "device":
        from engine.data.augment_spec import augment_spec
        from engine.data.batch_augment import BatchAugment
        from engine.data.device_batches import DeviceBatches

        # no DataLoader workers: the uint8 split stays on the device, augmented there in
        # batches with the same recipe (--augment_strength) as the CPU path's train_transform
        workers = 0
        augment = BatchAugment(augment_spec(cfg.augment_strength), device=device, seed=augment_seed)
        train_loader = DeviceBatches(bundle.train.arrays, cfg.mask_rule, cfg.batch_size, shuffle=True,
                                     device=device, seed=cfg.seed, drop_last=drop_last, augment=augment, shard=dist)
        valid_loader = DeviceBatches(bundle.valid.arrays, cfg.mask_rule, cfg.batch_size, shuffle=False,
                                     device=device, seed=cfg.seed, shard=dist)
    else:
        workers, note = cap_workers(cfg.workers)
        if note:
            emit(RunWarning(message=note))
        train_loader = make_loader(bundle.train, cfg.batch_size, shuffle=True, workers=workers,
                                   device_type=device.type, seed=cfg.seed, drop_last=drop_last, shard=dist)
        valid_loader = make_loader(bundle.valid, cfg.batch_size, shuffle=False, workers=workers,
                                   device_type=device.type, seed=cfg.seed, shard=dist)
    model = build_model(cfg.model, width=cfg.width, pretrained=None if restoring else cfg.pretrained,
                        dropout=cfg.dropout)
    if dist.rank > 0:  # the same initial weights, then each rank its own dropout masks: rank 0 goes
        # on as one process does, the others from a seed no augmentation generator has (rank_seed's)
        torch.manual_seed(rank_seed(cfg.seed + 1, dist.rank))
    # channels_last: faster convolutions on CUDA (tensor cores) and on the CPU (oneDNN's blocked
    # kernels; docs/PERFORMANCE.md, "Where the CPU speed-up comes from")
    memory_format = torch.channels_last if (cfg.channels_last and device.type in ("cuda", "cpu")) else torch.contiguous_format
    if cfg.sync_bn and dist.enabled:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model = model.to(device, memory_format=memory_format)
    compile_mode = recorded.kept("compile", "compile_resolved", device)  # a resumed run keeps its numerics
    if compile_mode is None:
        compile_mode = resolve_compile(cfg.compile, device, len(train_loader) * (cfg.epochs or 0), dist.enabled)
    optimizer = build_optimizer(model, cfg)
    return Training(
        device=device, bundle=bundle, train_loader=train_loader, valid_loader=valid_loader,
        augment_on=augment_on, workers=workers,
        arch={"name": cfg.model, "kwargs": model_kwargs(cfg.model, cfg.width)},
        model=model, forward=compile_model(data_parallel(model, device, dist), compile_mode),
        ema=build_ema(model, cfg.ema_decay),
        criterion=BCEDiceLoss(cfg.bce_weight, cfg.dice_weight), optimizer=optimizer,
        scheduler=build_scheduler(optimizer, cfg), budget=build_time_budget(optimizer, cfg, shared=dist.enabled),
        scaler=torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16),
        amp_dtype=amp_dtype, amp_probe=amp_probe, memory_format=memory_format, compile_mode=compile_mode,
        grad_clip=cfg.grad_clip,
        # rank 0 alone writes the run folder
        previews=PreviewWriter(run_path, bundle.valid, image_size=cfg.image_size, mask_rule=cfg.mask_rule,
                               device=device, memory_format=memory_format, amp_dtype=amp_dtype, log=log)
        if dist.is_main else NoPreviews(),
        saver=CheckpointSaver(name=f"checkpoints-{run_name}"),
        reduce=(lambda tensor: all_reduce_sum(tensor, dist)) if dist.enabled else None,
        share_buffers=(lambda module: buffers_from_main(module, dist)) if dist.enabled else None,
    )


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """``--optimizer``: Adam (weight decay as an L2 term in the gradient, the seed's) or AdamW
    (decoupled: each step also shrinks every weight by lr × weight_decay). Same betas and eps
    (torch's defaults) for both, so with weight_decay 0 they take identical steps."""
    opt = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return opt(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)


def data_parallel(model: torch.nn.Module, device: torch.device, dist: DistContext) -> torch.nn.Module:
    """``model`` wrapped in DistributedDataParallel for a data-parallel rank (the optimiser, EMA and
    checkpoints keep the unwrapped module, so any checkpoint loads as a one-process one)."""
    if not dist.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
