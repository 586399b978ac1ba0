"""The training loop as free functions with explicit arguments (as torchvision's references/
segmentation ``train_one_epoch`` and ``evaluate``), and `Training`: what a run trains with.

`Trainer` (engine.train.trainer) builds a `Training` once, then calls `train_one_epoch` and
`evaluate` for each epoch; it owns the thread, control, events and checkpoints. These functions
know none of that: control reaches them as the ``between_batches`` hook, progress leaves them
through ``report``. No host sync per batch: the first non-finite loss is remembered on the
device and read only when a progress report is due and at the epoch's end.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import torch

from engine import faults
from engine.train.compile import uses_cuda_graphs
from engine.events import BatchProgress, BatchThrottle

Step = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


class Diverged(Exception):
    """The loss became NaN/Inf (in training or on validation)."""

    def __init__(self, epoch: int, batch: int, value: str) -> None:
        self.epoch, self.batch, self.value = epoch, batch, value
        super().__init__(f"loss became {value} at epoch {epoch}, batch {batch}")


@dataclass
class Training:
    """What one run trains with, built once by `Trainer` before its first epoch.

    ``forward`` is the (possibly compiled) model used for training steps; ``model`` the eager
    module whose parameters the optimiser updates; ``ema`` its running average (None when off),
    which validation and checkpoints score. ``amp_dtype`` None means fp32."""

    device: torch.device
    bundle: Any  # engine.data.loaders.DataBundle: the splits, their names and source
    train_loader: Any  # a DataLoader, or DeviceBatches on the device data path
    valid_loader: Any
    augment_on: str  # "cpu" | "device"
    workers: int
    arch: dict[str, Any]
    model: torch.nn.Module
    forward: Callable[[torch.Tensor], torch.Tensor]
    ema: Any
    criterion: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    amp_dtype: torch.dtype | None
    amp_probe: dict[str, Any] | None  # the CPU timing that chose amp_dtype, for config.json
    memory_format: torch.memory_format
    compile_mode: str
    grad_clip: float
    previews: Any  # engine.train.previews.PreviewWriter (NoPreviews on a rank > 0)
    saver: Any  # engine.train.checkpoint_saver.CheckpointSaver
    reduce: Callable[[torch.Tensor], torch.Tensor] | None = None  # a sum over data-parallel ranks (None: one process)
    # data-parallel: a module's buffers made rank 0's on every rank (`distributed.buffers_from_main`)
    share_buffers: Callable[[torch.nn.Module], None] | None = None
    budget: Any = None  # engine.train.schedule.TimeBudget with --time_budget, else None

    @property
    def scored(self) -> torch.nn.Module:
        """The weights validation scores and previews show: the EMA when on, else the model."""
        return self.ema.module if self.ema is not None else self.model

    def train_step(self, images: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`train_step` with this run's pieces (``bench/train_throughput.py`` times this)."""
        return train_step(self.forward, self.model, self.criterion, self.optimizer, self.scaler, images, masks,
                          device=self.device, memory_format=self.memory_format, amp_dtype=self.amp_dtype,
                          grad_clip=self.grad_clip, ema=self.ema, compile_mode=self.compile_mode)

    def evaluate(self) -> dict[str, float]:
        return evaluate(self.scored, self.criterion, self.valid_loader, self.device, amp_dtype=self.amp_dtype,
                        memory_format=self.memory_format, reduce=self.reduce, share_buffers=self.share_buffers)


def train_step(forward: Callable[[torch.Tensor], torch.Tensor], model: torch.nn.Module, criterion: torch.nn.Module,
               optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, images: torch.Tensor,
               masks: torch.Tensor, *, device: torch.device, memory_format: torch.memory_format,
               amp_dtype: torch.dtype | None, grad_clip: float = 0.0, ema: Any = None,
               compile_mode: str = "off") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One optimisation step on a batch: copy to the device (channels_last where enabled),
    forward and loss under autocast, backward, optional clipping, optimiser step, EMA update.

    Returns (loss as float32, logits, masks on the device), all detached. No host sync here,
    so the caller decides when to read them."""
    images = images.to(device, non_blocking=True, memory_format=memory_format)
    masks = masks.to(device, non_blocking=True)
    if uses_cuda_graphs(compile_mode):  # the previous step's graph outputs may be overwritten from here on
        torch.compiler.cudagraph_mark_step_begin()
    with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
        logits = forward(images)
        loss = criterion(logits, masks)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if grad_clip > 0:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(optimizer)
    scaler.update()
    if ema is not None:
        ema.update(model)
    return loss.detach().float(), logits.detach(), masks


@dataclass(frozen=True)
class EpochTraining:
    """What `train_one_epoch` measured."""

    loss: float
    dice: float
    images: int
    started: float  # time.time() at the epoch's start
    first_batch_t: float | None  # time.time() when the first batch arrived
    paused_before: float  # the run's paused seconds when the epoch started
    seconds: float  # wall time of the training half, pauses left out
    step_seconds: float  # from the first batch to the last step's end, pauses left out


def train_one_epoch(step: Step, model: torch.nn.Module, data_loader: Iterable, device: torch.device, epoch: int, *,
                    between_batches: Callable[[int, int], None], report: Callable[[BatchProgress], None],
                    paused_seconds: Callable[[], float],
                    agree: Callable[[int, int, torch.Tensor, bool], None] | None = None,
                    after_step: Callable[[int, int, int], bool] | None = None,
                    data_wait: Callable[[float, float], None] | None = None,
                    reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
                    skip: int = 0, counted: int | None = None) -> EpochTraining:
    """Train ``model`` for one pass over ``data_loader`` with ``step`` (e.g. `Training.train_step`).

    ``between_batches(epoch, batches_done)`` runs before each batch (control: it may raise to
    stop, or block while paused); ``report`` gets a `BatchProgress` when one is due;
    ``paused_seconds()`` is the run's paused time so far (left out of rates and durations).
    Raises `Diverged` at the first non-finite loss.

    ``agree(epoch, batches_done, first_bad, obey)`` (data-parallel runs) replaces the local checks: it
    runs after every batch on every rank, so the ranks stop, pause and raise `Diverged` at the
    same batch (a rank that left the loop alone would leave the others waiting in a collective).
    After the epoch's last batch ``obey`` is False: a stop or pause then waits for the next
    epoch's first batch, as on one process, so the epoch is validated and checkpointed, never
    saved as a mid-epoch stop with nothing left to train (whose resume had no batch to score).

    ``after_step(epoch, batches_done, batches)`` (a time budget, `TimeBudget.after_step`) runs
    after each step; True ends the epoch there, a partial epoch scored like a whole one.

    ``data_wait(fetch_seconds, batch_period)`` (system metrics) gets, for each batch after the
    first, how long the loop waited for it and the time since the previous batch arrived.

    ``reduce`` (data-parallel runs: a sum over the ranks) pools the loss sums and counts of every
    rank's shard at the epoch's end, so the train loss and Dice are the run's, not rank 0's.

    ``skip`` (a resume after a stop inside this epoch): the first ``skip`` batches are drawn, so
    the shuffle and augmentation streams move on as they did, but not trained again (fewer than
    the epoch's batches: `engine.train.checkpoint_state.batches_to_skip`).

    ``counted`` (a data-parallel rank's padded shard, `engine.data.loaders.counted_images`): only
    the loader's first ``counted`` images enter the epoch's loss, Dice and image count. The padded
    repeats after them train, as DistributedSampler's do, but 32 images on 3 ranks report 32,
    not 33. (A batch that mixes both adds its mean loss once per counted image.)"""
    from engine.eval.metrics import SegMetrics

    batches = len(data_loader)  # type: ignore[arg-type]
    model.train()
    metrics = SegMetrics()
    loss_sum = torch.zeros((), device=device)
    first_bad = torch.full((), -1, dtype=torch.long, device=device)
    seen = 0
    t_epoch = time.time()
    batch_iter = iter(data_loader)
    drawn = 0  # images the loader yielded so far this epoch (skipped ones too): where the padding starts
    if skip:
        for images, _ in itertools.islice(batch_iter, skip):
            drawn += images.shape[0]
        t_epoch = time.time()  # the rates count the batches trained
    throttle = BatchThrottle(batches, time.monotonic())  # bounded log growth (events.py)
    paused_before = paused_seconds()
    first_batch_t: float | None = None
    t_first = 0.0
    t_got = t_ready = 0.0  # when the previous batch arrived; when the loop then asked for the next
    for i, (images, masks) in enumerate(batch_iter, start=skip + 1):
        now = time.perf_counter()
        if data_wait is not None and i > 1:
            data_wait(now - t_ready, now - t_got)
        t_got = now
        if first_batch_t is None:
            first_batch_t, t_first = time.time(), time.perf_counter()
        between_batches(epoch, i - 1)
        faults.maybe_kill("batch")  # TEST-ONLY hook (PETSEG_FAULT), a no-op otherwise
        detached, logits, masks = step(images, masks)
        # remember the first non-finite batch without a host sync on every batch (masked_fill_
        # with a Python int: torch.tensor(i, device=...) would be a blocking copy on CUDA)
        first_bad.masked_fill_((first_bad < 0) & ~torch.isfinite(detached), i)
        size = images.shape[0]
        real = size if counted is None else max(0, min(size, counted - drawn))
        drawn += size
        loss_sum += detached * real
        if real:
            metrics.update(logits[:real].float(), masks[:real])
        seen += real
        if agree is not None and i < batches:  # the last batch: agreed once, below
            agree(epoch, i, first_bad, True)
        if throttle.due(i, time.monotonic()):
            bad = int(first_bad.item())
            if bad >= 0 and agree is None:
                raise Diverged(epoch, bad, "NaN/Inf")
            report(BatchProgress(
                epoch=epoch, batch=i, batches=batches, loss=float(loss_sum.item()) / max(seen, 1),
                images_per_s=seen / max(time.time() - t_epoch - (paused_seconds() - paused_before), 1e-9),
            ))
        t_ready = time.perf_counter()
        if after_step is not None and after_step(epoch, i, batches):
            break
    if agree is not None:  # a loader with no batch on this rank still agrees once
        agree(epoch, batches, first_bad, False)  # the epoch is trained: validate it before stopping
    bad = int(first_bad.item())  # also waits for the last step: the seconds below are device time too
    paused = paused_seconds() - paused_before
    seconds = time.time() - t_epoch - paused
    # the run's time in training steps: from this epoch's first batch, pauses left out
    step_seconds = (time.perf_counter() - t_first - paused) if first_batch_t is not None else 0.0
    if bad >= 0:
        raise Diverged(epoch, bad, "NaN/Inf")
    loss_total, seen = _pooled(metrics, loss_sum, seen, reduce, device)
    return EpochTraining(loss=loss_total / max(seen, 1), dice=float(metrics.compute()["dice"]),
                         images=seen, started=t_epoch, first_batch_t=first_batch_t,
                         paused_before=paused_before, seconds=seconds,
                         step_seconds=step_seconds)


def _pooled(metrics: Any, loss_sum: torch.Tensor, n: int, reduce: Callable[[torch.Tensor], torch.Tensor] | None,
            device: torch.device) -> tuple[float, int]:
    """(loss sum, images) of this process, or with ``reduce`` of every rank (the Dice/IoU counts
    of ``metrics`` are summed over the ranks in place too)."""
    if reduce is None:
        return float(loss_sum.item()), n
    metrics.reduce(reduce, device)
    totals = reduce(torch.stack([loss_sum.double(), torch.tensor(float(n), dtype=torch.float64, device=device)]))
    return float(totals[0].item()), int(totals[1].item())


def evaluate(model: torch.nn.Module, criterion: torch.nn.Module, data_loader: Iterable, device: torch.device, *,
             amp_dtype: torch.dtype | None, memory_format: torch.memory_format,
             reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
             share_buffers: Callable[[torch.nn.Module], None] | None = None) -> dict[str, float]:
    """Loss and Dice/IoU (pooled and per image) of ``model`` on ``data_loader``, in eval mode;
    the model is left in the mode it came in (an EMA copy is always in eval mode).

    Give the eager module, not a compiled one (see engine.train.compile). cuDNN autotuning is off
    meanwhile: the last, smaller batch is a new shape, and benchmarking every convolution for it
    costs more than the few validation batches can win back.

    ``reduce`` (data-parallel runs: a sum over the ranks) pools the counts and loss sums of every
    rank's shard before the scores are computed, so N processes score as one would.
    ``share_buffers`` (data-parallel runs) first gives every rank rank 0's BatchNorm statistics:
    the ranks then score the model rank 0 saves, not each its own variant of it."""
    from engine.eval.metrics import SegMetrics

    if share_buffers is not None:
        share_buffers(model)
    was_training = model.training
    model.eval()
    metrics = SegMetrics()
    loss_sum = torch.zeros((), device=device)
    n = 0
    autocast = torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None)
    benchmark = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = False
    try:
        with torch.inference_mode():
            for images, masks in data_loader:
                images = images.to(device, non_blocking=True, memory_format=memory_format)
                masks = masks.to(device, non_blocking=True)
                with autocast:
                    logits = model(images)
                    loss = criterion(logits, masks)
                loss_sum += loss.float() * images.shape[0]
                n += images.shape[0]
                metrics.update(logits.float(), masks)
    finally:
        torch.backends.cudnn.benchmark = benchmark
    model.train(was_training)
    loss_total, n = _pooled(metrics, loss_sum, n, reduce, device)
    out = {k: float(v) for k, v in metrics.compute().items()}
    out["loss"] = loss_total / max(n, 1)
    return out
