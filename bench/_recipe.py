"""Shared by ``recipe_sweep.py`` and ``results.py``: train one configuration for real, score it
the way docs/RESULTS.md quotes it, and print Markdown.

`train_and_score` runs a real ``engine.train.trainer.Trainer`` (in this thread, into a runs folder),
then scores the run's ``best.pt`` with ``engine.eval.evaluate.evaluate_checkpoint`` on the data's test
split at each photo's own size: the headline is Dice pooled over all pixels with the trimap's
border band ignored (``engine.config.EVAL_IGNORE_BORDER``), beside it the same with the border
scored under the run's mask rule, per-image means, and optionally TTA (image + mirror) and the
six other-breed photos of ``engine/demo_assets`` (``score_sample_images``).

A ``deadline`` (``time.monotonic()`` value) stops a run that is still training then (the row
says "stopped"); scripts use it so a time-boxed GPU call ends with its rows printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe_device, load  # noqa: E402

from engine.config import TrainConfig  # noqa: E402
from engine.runs import best_epoch, checkpoint_path  # noqa: E402


@dataclass
class Score:
    """Figures of one photo set under one model: pooled and per-image, border ignored and scored."""

    dice: float  # pooled, border ignored: the headline
    dice_per_image: float
    dice_border: float  # pooled, border scored under the run's mask rule
    dice_border_per_image: float
    iou: float
    n_images: int
    dice_tta: float | None = None  # pooled, border ignored, with TTA
    per_photo: dict[str, float] = field(default_factory=dict)  # name -> Dice, border ignored (every photo)


@dataclass
class RunResult:
    """One trained configuration and its scores (``test``/``samples`` None if not scored)."""

    name: str
    variant: str
    overrides: dict[str, Any]
    config: dict[str, Any]
    state: str
    error: str | None
    epochs_done: int
    wall_s: float  # Trainer.run(): data setup, training, validation, checkpoints
    train_s: float  # sum of the epochs' own times (training + validation)
    img_s: float  # median training images/s over the epochs
    valid_dice: float  # best valid Dice (training size, border scored): what picked best.pt
    best_epoch: int
    eval_s: float = 0.0
    test: Score | None = None
    samples: Score | None = None
    load: str = ""

    @property
    def seed(self) -> int:
        return int(self.config["seed"])

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "seed": self.seed}


def score_of(ev: Any, ev_tta: Any | None = None, names: set[str] | None = None) -> Score:
    """`Score` from an ``engine.eval.evaluate.Evaluation`` (photo size), with TTA's headline if given;
    pooled and per-image figures over the photos in ``names`` only (all if None). ``per_photo``
    keeps every photo."""
    from engine.eval.scores import figures_of

    def chosen(e: Any) -> list[Any]:
        return [r for r in e.records if names is None or r.name in names]

    ignored, scored = figures_of(chosen(ev), "photo", True), figures_of(chosen(ev), "photo", False)
    return Score(
        dice=ignored.dice, dice_per_image=ignored.dice_per_image, dice_border=scored.dice,
        dice_border_per_image=scored.dice_per_image, iou=ignored.iou, n_images=ignored.n_images,
        dice_tta=figures_of(chosen(ev_tta), "photo", True).dice if ev_tta is not None else None,
        per_photo={r.name: r.dice("photo", True) for r in ev.records},
    )


def sample_photo_roles(config: TrainConfig) -> dict[str, str]:
    """Each bundled demo photo (by file name, as ``score_sample_images`` names its records) and its
    relation to the training data: "train" / "valid" / "test" if the photo itself is in that
    split, "breed seen" if only its breed is, else "other breed". (Two of the six,
    Abyssinian_11 and Bengal_185, are in the sample's train split.)"""
    from engine.data.layout import PetLayout
    from engine.data.samples import sample_image_paths
    from engine.data.splits import split_trainval

    layout = PetLayout(Path(config.data_path)) if config.data_path else None
    train, valid = split_trainval(layout.trainval_names(), config.valid_every) if layout else ([], [])
    test = layout.test_names() if layout else []
    breeds = {n.rsplit("_", 1)[0] for n in [*train, *valid, *test]}
    roles = {}
    for path in sample_image_paths():
        name = path.stem
        roles[path.name] = ("train" if name in train else "valid" if name in valid else "test" if name in test
                       else "breed seen" if name.rsplit("_", 1)[0] in breeds else "other breed")
    return roles


def _stop_at(trainer: Any, deadline: float | None) -> threading.Event:
    """Stop ``trainer`` when ``deadline`` passes (unless the returned event is set first)."""
    done = threading.Event()
    if deadline is not None:
        def watch() -> None:
            if not done.wait(max(0.0, deadline - time.monotonic())):
                trainer.stop()

        threading.Thread(target=watch, daemon=True).start()
    return done


def train_and_score(
    config: TrainConfig,
    runs_dir: Path,
    name: str,
    *,
    variant: str = "",
    overrides: dict[str, Any] | None = None,
    tta: bool = True,
    samples: bool = False,
    deadline: float | None = None,
    prune: bool = False,
    log: Callable[[str], None] = lambda msg: None,
) -> RunResult:
    """Train ``config`` as run ``name`` in ``runs_dir`` and score its best.pt (see the module doc).

    ``prune``: delete last.pt afterwards (a sweep keeps only best.pt, the scored weights).
    """
    import torch

    from engine.eval.evaluate import evaluate_checkpoint, score_sample_images
    from engine.infer.inference import Predictor
    from engine.train.trainer import Trainer

    epochs: list[Any] = []
    trainer = Trainer(config, runs_dir, name, log=log)
    trainer.subscribe(lambda ev: epochs.append(ev) if ev.kind == "epoch_ended" else None)
    watcher = _stop_at(trainer, deadline)
    start = time.perf_counter()
    try:
        state = trainer.run()
    finally:
        watcher.set()
    wall = time.perf_counter() - start
    run_path, error = trainer.run_path, trainer.error
    del trainer  # its DataLoader workers and model go now, before the next run builds its own
    gc.collect()
    best = best_epoch(epochs)
    result = RunResult(
        name=name, variant=variant or name, overrides=dict(overrides or {}), config=config.to_dict(),
        state=state, error=error, epochs_done=len(epochs), wall_s=wall,
        train_s=sum(e.seconds for e in epochs),
        img_s=statistics.median(e.images_per_s for e in epochs) if epochs else 0.0,
        valid_dice=best.valid_dice if best else float("nan"), best_epoch=best.epoch if best else 0,
        load=load(),
    )
    checkpoint = checkpoint_path(run_path, "best")
    if state not in ("finished", "stopped") or not checkpoint.exists():
        return result
    t0 = time.perf_counter()
    predictor = Predictor.from_checkpoint(checkpoint, device=config.device)
    ev = evaluate_checkpoint(checkpoint, config.data_path, split="test", predictor=predictor)
    ev_tta = evaluate_checkpoint(checkpoint, config.data_path, split="test", predictor=predictor, tta=True) if tta else None
    result.test = score_of(ev, ev_tta)
    if samples:
        others = {n for n, role in sample_photo_roles(config).items() if role == "other breed"}
        result.samples = score_of(score_sample_images(predictor), score_sample_images(predictor, tta=True) if tta else None,
                                  names=others)
    result.eval_s = time.perf_counter() - t0
    del predictor
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if prune:
        checkpoint_path(run_path, "last").unlink(missing_ok=True)
    return result


# ---------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------


def f4(x: float | None) -> str:
    return "–" if x is None or x != x else f"{x:.4f}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def flags_of(overrides: dict[str, Any]) -> str:
    """``{"ema_decay": 0.99}`` -> ``--ema_decay 0.99`` (the petseg train flags of a variant)."""
    return " ".join(f"--{k} {v}" for k, v in overrides.items()) or "(defaults)"


def describe_setup(config: TrainConfig, device: str) -> str:
    """One line: what every row shares, and where it ran."""
    from engine.device import resolve_device

    model = config.model + (f" width {config.width}" if config.model == "unet" else "")
    return (f"{model}, {config.image_size} px, batch {config.batch_size}, lr {config.learning_rate:g}, "
            f"{config.scheduler}, amp {config.amp}, data {config.data_path}; "
            f"{describe_device(resolve_device(device))}; {load()}")


def parse_sets(items: list[str]) -> dict[str, Any]:
    """``["ema_decay=0.99", "augment_strength=strong"]`` -> typed TrainConfig overrides
    (ValueError naming the item if a field is unknown or the value does not parse).

    Each value is parsed as ``petseg train`` parses the field's flag (`engine.field_spec.ConfigField`),
    so a field whose default is None (``warmup_epochs``: auto) still parses ``0`` as an int;
    ``none`` or ``auto`` gives None there."""
    from engine.config import config_fields

    fields = {f.name: f for f in config_fields()}
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip().lstrip("-")
        if not sep or key not in fields:
            raise ValueError(f"--set {item!r}: expected FIELD=VALUE with a TrainConfig field")
        f, text = fields[key], raw.strip()
        if f.optional and text.lower() in ("none", "auto"):
            out[key] = None
            continue
        try:
            out[key] = f.parse_value(text if f.kind != "str" else raw)
        except ValueError:
            raise ValueError(f"--set {item!r}: {raw!r} is not "
                             f"{ {'int': 'an integer', 'bool': 'yes or no'}.get(f.kind, 'a number')}") from None
    return out


def real_data_path(data: str | None) -> str:
    """The data folder to train on; refuses the generated set (these figures are about photos)."""
    from engine.data.source import resolve_data_source

    source = resolve_data_source(data)
    if source.kind == "generated":
        raise SystemExit("error: no real training sample found; pass --data PATH (an Oxford-IIIT Pet folder)")
    return str(source.path)


# ---------------------------------------------------------------------------------------------
# What both scripts share: arguments, the base config, the time box
# ---------------------------------------------------------------------------------------------


def add_common_args(p: argparse.ArgumentParser) -> None:
    """The data, model-size, budget and output flags of both scripts."""
    p.add_argument("--data", default=None, help="Oxford-IIIT Pet folder (default: the real sample training finds)")
    p.add_argument("--runs", type=Path, required=True, help="runs folder (scratch; the runs stay there)")
    p.add_argument("--device", default="auto")
    p.add_argument("--width", type=int, default=32, help="UNet base width")
    p.add_argument("--image_size", type=int, default=128)
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--learning_rate", type=float, default=1e-3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--amp", default="auto")
    p.add_argument("--max_train_images", type=int, default=None)
    p.add_argument("--budget_s", type=float, default=None, help="start no run that would end past this")
    p.add_argument("--grace_s", type=float, default=60.0, help="stop a run still training at budget + grace")
    p.add_argument("--no_tta", action="store_true", help="skip the TTA column (saves one test pass per run)")
    p.add_argument("--json", type=Path, default=None, help="write all results here (rewritten after each run)")
    p.add_argument("--out", type=Path, default=None, help="write the Markdown here too (rewritten after each run)")


def base_config(args: argparse.Namespace, **fields: Any) -> TrainConfig:
    """The TrainConfig every run of a script starts from (``fields`` on top of the flags)."""
    return TrainConfig(**{
        "data_path": real_data_path(args.data), "batch_size": args.batch_size, "learning_rate": args.learning_rate,
        "image_size": args.image_size, "width": args.width, "workers": args.workers, "device": args.device,
        "amp": args.amp, "max_train_images": args.max_train_images, **fields,
    })


def expected_seconds(done: list[RunResult], epochs: int) -> float:
    """A run's expected time from finished ones: their mean time per epoch x ``epochs``, plus
    their mean evaluation time (0 when nothing has run)."""
    done = [r for r in done if r.epochs_done]
    if not done:
        return 0.0
    return sum(r.wall_s / r.epochs_done * epochs + r.eval_s for r in done) / len(done)


def deadline_of(args: argparse.Namespace, t_start: float) -> float | None:
    """When a run still training is stopped: budget + grace after the start (None: never)."""
    return t_start + args.budget_s + args.grace_s if args.budget_s is not None else None
