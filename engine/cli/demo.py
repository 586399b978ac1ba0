"""``petseg demo``: train a small UNet on real pets for a few minutes (1.5 with bf16, 5 without,
on 2 CPU cores), score it on the test photos, then segment the six bundled demo photos."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import time
from pathlib import Path

from engine.cli.common import EXIT_OK, add_runs_flag
from engine.cli.common import console as new_console
from engine.cli.config_flags import add_config_flags, given_config
from engine.cli.progress import run_training_seconds
from engine.cli.train import drive
from engine.config import TrainConfig, default_runs_dir
from engine.console_log import escape_markup
from engine.durations import format_duration
from engine.errors import DatasetError
from engine.runs.layout import checkpoint_path, prediction_path
from engine.words import counted

# the most real-photo Dice that about a minute of training on 2 CPU cores buys (bench/demo_settings.py;
# docs/RESULTS.md, "The demo"); with --data_path they apply to that dataset too
DEMO = TrainConfig(epochs=20, image_size=96, width=16, batch_size=8, workers=0, learning_rate=2e-3)
DEMO_FLAGS = ("data_path", "epochs", "image_size", "width", "batch_size", "workers", "amp", "device")


def add_arguments(dm: argparse.ArgumentParser) -> None:
    add_runs_flag(dm)
    add_config_flags(dm, names=DEMO_FLAGS, defaults=DEMO)


def cmd_demo(args: argparse.Namespace) -> int:
    """Train a small UNet on real pets (the bundled sample by default), score it on the sample's
    test photos, then segment the six bundled demo photos (four of breeds the sample lacks)."""
    from engine.eval.evaluate import evaluate_checkpoint, score_sample_images
    from engine.infer.inference import Predictor, overlay_image, save_png
    from engine.train.trainer import Trainer

    console = new_console()
    config = dataclasses.replace(DEMO, **given_config(args))
    config.validate()
    runs_dir = args.runs or default_runs_dir()
    console.print(f"[bold]petseg demo[/]: UNet width {config.width}, {config.image_size} px, "
                  f"{counted(config.epochs, 'epoch')}, batch {config.batch_size}; runs folder {escape_markup(runs_dir)}",
                  markup=True)
    start = time.perf_counter()
    trainer = Trainer(config, runs_dir, log=lambda m: console.print(m))
    code = drive(trainer, console, args.runs, redeliver=True)  # a signal while it finishes ends the demo
    if code != EXIT_OK:
        return code
    best = checkpoint_path(trainer.run_path, "best")
    # the run's training time, as its "finished:" line and the runs table say it: the wall time
    # since the demo began (setup included) read as a third figure beside those two
    trained = run_training_seconds(trainer.run_path)
    predictor = Predictor.from_checkpoint(best, device=args.device)
    try:
        test = evaluate_checkpoint(best, None, split="test", predictor=predictor)
        h = test.headline
        console.print(f"\n[bold]test photos[/] (the test split, never trained on): {h.n_images} images  "
                      f"Dice {h.dice:.3f}  IoU {h.iou:.3f} at {test.label('photo')}"
                      + (f"  (trained in {format_duration(trained)})" if trained is not None else ""),
                      highlight=False, markup=True)
        console.print(f"  at {test.label('train')}: Dice {test.figures('train').dice:.3f}", markup=False)
    except DatasetError as exc:  # e.g. a --data_path without annotations/test.txt
        console.print(f"\nno test score: {exc}", markup=False)
    scores = score_sample_images(predictor)
    console.print(f"\nmasks for the six bundled demo photos (Dice against their trimaps at {scores.label('photo')}):")
    # two of them (Abyssinian_11, Bengal_185) are in the bundled sample's trainval list: say so
    seen = {**dict.fromkeys(trainer.bundle.valid_names, "valid split"), **dict.fromkeys(trainer.bundle.train_names, "trained on")}
    unseen: list[float] = []
    for photo in sorted(scores.worst, key=lambda p: p.record.name):
        stem = Path(photo.record.name).stem
        out = prediction_path(trainer.run_path, stem, "overlay")
        out.parent.mkdir(exist_ok=True)
        save_png(overlay_image(photo.image, photo.mask(scores.threshold)), out)
        dice = photo.record.overlap("photo", scores.ignore_border).dice
        if stem not in seen:
            unseen.append(dice)
        console.print(f"  {photo.record.name:28s} Dice {dice:.3f}  pet {photo.record.pet_fraction:6.1%}  "
                      f"{seen.get(stem, 'not in training'):15s} -> {out}", markup=False)
    console.print(f"mean Dice {scores.headline.dice_per_image:.3f} on all six"
                  + (f", {sum(unseen) / len(unseen):.3f} on the {len(unseen)} not in training" if unseen else ""))
    # the command as a shell takes it: quoted where the folder has a space
    console.print(f"\ndone in {time.perf_counter() - start:.0f}s; watch and compare runs: [bold]petseg-tui[/]"
                  + (f" --runs {escape_markup(shlex.quote(str(args.runs)))}" if args.runs else ""), markup=True)
    return EXIT_OK
