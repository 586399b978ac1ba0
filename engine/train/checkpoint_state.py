"""What a run's checkpoints hold and how a resume restores it: the weights validation scored
(the EMA when on), the architecture and data rules inference needs, and in ``last.pt`` also the
optimiser, schedule, scaler and every random stream, so a resumed run repeats an uninterrupted one.

A data-parallel run's last.pt holds every rank's streams: rank 0's as ``rng`` (what a one-process
run has), the others' under ``rng["ranks"]`` (gathered to rank 0 when it saves). A resume with
the same number of processes gives each rank its own back, so it repeats an uninterrupted run
exactly; with another number the ranks > 0 start fresh streams from their seeds, and say so.

A stop or pause inside an epoch saves the weights trained so far with the epoch's position
(``mid_epoch``: the batches done) and the data streams as they were when the epoch began: the
resume draws that epoch's shuffle and augmentations again, passes over the batches already
trained without training them again, and goes on from there, as the uninterrupted run did."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from engine.checkpoint import FORMAT, load_checkpoint
from engine.config import TrainConfig
from engine.errors import CheckpointError
from engine.train.config_record import dtype_name
from engine.train.ema import restore_weights, resume_state, scored_weights
from engine.train.resume_budget import apply_budget
from engine.train.rng import rng_state, set_rng_state
from engine.words import counted


@dataclass
class Progress:
    """How far a run is: epochs done, the best valid Dice and its epoch, where (re)training starts."""

    done_epoch: int = 0
    best_dice: float = -1.0
    best_epoch: int = 0
    start_epoch: int = 1
    skip_batches: int = 0  # of start_epoch: trained before a mid-epoch stop, not trained again


@dataclass(frozen=True)
class EpochPosition:
    """Where a stop or pause left an epoch: ``batches`` of epoch ``epoch`` trained, on
    ``world_size`` processes (a batch is world_size × batch_size images)."""

    epoch: int
    batches: int
    world_size: int = 1


def data_streams(t: Any) -> dict[str, Any]:
    """The data side of this process's random streams: the loader's shuffling generator and the
    augmentation stream of the run's data path (what an epoch draws from as it goes)."""
    from engine.data.transforms import transform_rng_state

    if t.augment_on == "device":
        augment = {"device": t.train_loader.augment_state()}
    else:
        augment = transform_rng_state(t.bundle.train.transform)
    return {"loader": t.train_loader.generator.get_state(), "augment": augment}


def rank_streams(t: Any, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """This process's random streams as last.pt stores them: the global generators and
    ``data`` (default: the `data_streams` of now; a mid-epoch save gives those of the epoch's start)."""
    return {**rng_state(), **(data if data is not None else data_streams(t))}


def checkpoint_state(t: Any, config: TrainConfig, progress: Progress, full: bool, valid_dice: float,
                     streams: list[dict[str, Any]] | None = None,
                     position: EpochPosition | None = None) -> dict[str, Any]:
    """The checkpoint of the `Training` ``t``; ``full`` (last.pt) adds what a resume needs.
    ``streams``: every rank's `rank_streams`, in rank order (a data-parallel run; else this
    process's own are taken). ``position``: a save inside an epoch (stop, pause)."""
    state: dict[str, Any] = {
        "format": FORMAT,
        "arch": t.arch,
        "model": scored_weights(t.model, t.ema),  # what validation scored
        "image_size": config.image_size,
        "mask_rule": config.mask_rule,
        "normalize": {"mean": 0.5, "std": 0.5},
        "epoch": progress.done_epoch,
        "best_dice": progress.best_dice,
        "best_epoch": progress.best_epoch,
        "valid_dice": valid_dice,
        # the precision validation ran in (config.json's amp_resolved): eval, in fp32, can then say
        # whether its figure equals the valid Dice, for a copy of this file kept outside its run too
        "valid_precision": dtype_name(t.amp_dtype),
        "config": config.to_dict(),
    }
    if full:
        state.update(resume_state(t.model, t.ema))
        state["optimizer"] = t.optimizer.state_dict()
        state["scheduler"] = t.scheduler.state_dict() if t.scheduler is not None else None
        state["scaler"] = t.scaler.state_dict() if t.scaler.is_enabled() else None
        budget = getattr(t, "budget", None)
        state["time_budget"] = budget.state_dict(now=position is not None) if budget is not None else None
        if position is not None:
            state["mid_epoch"] = asdict(position)
        streams = streams or [rank_streams(t)]
        state["rng"] = dict(streams[0])
        if len(streams) > 1:
            state["rng"]["ranks"] = {"world_size": len(streams), "streams": list(streams[1:])}
    return state


def own_streams(rng: dict[str, Any], rank: int, world_size: int) -> tuple[dict[str, Any], bool, str]:
    """(the streams rank ``rank`` of ``world_size`` continues, whether they include its own
    augmentation stream, a one-line note when they cannot: another number of processes saved them)."""
    ranks = rng.get("ranks") if isinstance(rng.get("ranks"), dict) else {}
    saved = int(ranks.get("world_size", 1))
    if saved == world_size:
        return (rng if rank == 0 else ranks["streams"][rank - 1]), True, ""

    note = (f"resume: last.pt holds the random streams of {counted(saved, 'process', 'processes')}, this run has "
            f"{counted(world_size, 'process', 'processes')}: "
            + ("ranks > 0 draw augmentations afresh from their own seeds" if world_size > 1
               else "the other ranks' streams are left unused")
            + " (a resume repeats an uninterrupted run exactly only with the same number of processes"
            + (f": --devices {saved}, or the torchrun it was started with)" if saved > world_size else ")"))
    return rng, rank == 0, note


def restore(t: Any, path: Path, config: TrainConfig, plan: Any = None,
            log: Callable[[str], None] = lambda _: None, rank: int = 0, world_size: int = 1,
            warn: Callable[[str], None] | None = None) -> Progress:
    """Load ``path`` (a last.pt) into the `Training` ``t``; returns where the run continues.

    ``rank`` of ``world_size`` (a data-parallel run): the random streams of that rank (`own_streams`);
    ``warn`` gets the note when they are not there (default: ``log``)."""
    # on the CPU: the random-stream states must stay CPU tensors (torch's, the loader's and numpy's
    # generators take no other; map_location=cuda made every resume on a GPU fail), and the
    # weights, optimiser and EMA state are copied onto the model's device by their load_state_dict
    ckpt = load_checkpoint(path, map_location="cpu")
    if ckpt.get("arch", {}).get("name") != config.model:
        raise CheckpointError(path, f"is a {ckpt['arch']['name']} checkpoint but the run is {config.model}")
    restore_weights(t.model, t.ema, ckpt, path)
    for key, obj in (("optimizer", t.optimizer), ("scheduler", t.scheduler), ("scaler", t.scaler)):
        if obj is not None and ckpt.get(key) is not None:
            obj.load_state_dict(ckpt[key])
    if getattr(t, "budget", None) is not None and isinstance(ckpt.get("time_budget"), dict):
        t.budget.load_state_dict(ckpt["time_budget"])  # the training time spent so far
    if plan is not None:
        apply_budget(plan, t.scheduler, t.optimizer)  # a new epoch budget, if any
    done = int(ckpt.get("epoch", 0))
    progress = Progress(done_epoch=done, best_dice=float(ckpt.get("best_dice", -1.0)),
                        best_epoch=int(ckpt.get("best_epoch", 0)), start_epoch=done + 1,
                        skip_batches=batches_to_skip(ckpt.get("mid_epoch"), done, world_size, log,
                                                     epoch_batches=_length(t.train_loader)))
    from engine.data.transforms import set_transform_rng_state

    rng = ckpt.get("rng")
    if rng:
        rng, own_augment_stream, note = own_streams(rng, rank, world_size)
        if note:
            (warn or log)(note)
        set_rng_state(rng)
        # The shuffling generator and the augmentation stream continue where the saved epoch
        # left them, so a resumed run repeats an uninterrupted one (exactly with workers=0:
        # worker processes carry their own augmentation state, which no checkpoint holds).
        if rng.get("loader") is not None:
            t.train_loader.generator.set_state(rng["loader"])
        augment = rng.get("augment") if own_augment_stream else None
        if augment is None:
            pass
        elif t.augment_on == "device":
            restored = t.train_loader.set_augment_state(augment.get("device") if isinstance(augment, dict) else None)
        else:
            restored = set_transform_rng_state(t.bundle.train.transform, augment)
        if augment is not None and not restored:
            log("resume: the saved augmentation stream belongs to the other data path "
                "(cpu/device); augmentations restart from the seed")
    return progress


def _length(loader: Any) -> int | None:
    """The batches of an epoch, None for a loader that cannot say (an iterable dataset's)."""
    try:
        return len(loader)
    except TypeError:
        return None


def batches_to_skip(mid_epoch: Any, done_epoch: int, world_size: int, log: Callable[[str], None],
                    epoch_batches: int | None = None) -> int:
    """How many batches of the next epoch a resume passes over: those a stop or pause inside it
    had trained (``mid_epoch`` of last.pt). On another number of processes a batch holds another
    number of images: as many whole batches as that many images fill (rounded down: no image
    the saved run never trained on is passed over). At most all but the last of the epoch's
    ``epoch_batches``: a data-parallel last.pt of an older petseg could be saved after the epoch's
    last batch, and an epoch with no batch left had nothing to score (the resume failed)."""
    if not isinstance(mid_epoch, dict) or mid_epoch.get("epoch") != done_epoch + 1:
        return 0
    batches, saved_world = int(mid_epoch.get("batches", 0)), int(mid_epoch.get("world_size", 1))
    skip = batches * saved_world // max(1, world_size)
    if epoch_batches is not None and skip >= epoch_batches:
        skip = max(0, epoch_batches - 1)
        log(f"resume: epoch {done_epoch + 1} was stopped after its last batch; that batch is trained again "
            f"so that the epoch has train figures")
    elif skip > 0:
        log(f"resume: epoch {done_epoch + 1} goes on after batch {skip}; "
            f"the batches trained before the stop are not trained again")
    return skip


def weights_finite(model: torch.nn.Module) -> bool:
    return bool(torch.stack([p.detach().isfinite().all() for p in model.parameters()]).all())
