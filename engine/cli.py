"""The headless CLI ``petseg``: train, eval, infer, runs, demo, plot.

Every expected failure prints one line ``petseg: error: <file>: <problem>`` and exits non-zero;
tracebacks are only shown with ``PETSEG_DEBUG=1``. Heavy imports happen inside subcommands.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from engine.config import (
    AMP_MODES,
    AUTO_WARMUP_HELP,
    AUGMENT_ON,
    AUGMENT_STRENGTHS,
    COMPILE_MODES,
    DATA_PATH_ENV,
    DEVICES,
    EVAL_IGNORE_BORDER,
    GENERATED_DATA,
    MASK_RULES,
    MODELS,
    SCHEDULERS,
    TrainConfig,
    default_runs_dir,
)
from engine.durations import format_duration
from engine.errors import ConfigError, DatasetError, PetsegError, describe_error, first_line
from engine.runs.layout import checkpoint_path
from engine.runs.sort import SORT_KEYS as RUNS_SORT_KEYS

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_STOPPED = 0, 1, 2, 130

# `petseg demo`: the most real-photo Dice that about a minute of training on 2 CPU cores buys
# (measured: bench/demo_settings.py); with --data_path they apply to that dataset too
DEMO = TrainConfig(epochs=20, image_size=96, width=16, batch_size=8, workers=0)
DEMO_LEARNING_RATE = 2e-3


def _yes_no(value: str) -> bool:
    v = value.strip().lower()
    if v in ("yes", "y", "true", "1"):
        return True
    if v in ("no", "n", "false", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected yes or no, got {value!r}")


def _add(parser: argparse.ArgumentParser, name: str, **kw: Any) -> None:
    """Add ``--name`` (the seed's underscore spelling, canonical) and a hyphenated alias."""
    flags = [f"--{name}"]
    if "_" in name:
        flags.append(f"--{name.replace('_', '-')}")
    parser.add_argument(*flags, dest=name, **kw)


def _runs_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", type=Path, default=None,
                   help="runs folder (default: $PETSEG_RUNS or ./runs)")


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    parser = argparse.ArgumentParser(prog="petseg", description="Pet/background segmentation on Oxford-IIIT Pet.")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model (writes a run folder as it goes)")
    _add(t, "model", choices=MODELS, default=d.model)
    data_help = (f"Oxford-IIIT Pet folder (images/, annotations/); default: ${DATA_PATH_ENV} if set, else the "
                 f"real sample bundled with petseg (496 photos, 3 breeds); {GENERATED_DATA}: the generated "
                 f"synthetic set (fast tests)")
    _add(t, "data_path", default=None, help=data_help)
    _add(t, "epochs", type=int, default=None, help=f"default {d.epochs}; with --resume, a new epoch budget")
    _add(t, "batch_size", type=int, default=d.batch_size)
    _add(t, "learning_rate", type=float, default=d.learning_rate)
    _add(t, "download", type=_yes_no, default=False, metavar="yes|no",
         help="download the official archives into --data_path if missing")
    _add(t, "image_size", type=int, default=d.image_size)
    _add(t, "width", type=int, default=d.width, help="UNet base width")
    _add(t, "workers", type=int, default=d.workers)
    _add(t, "device", default=d.device, help=f"{'|'.join(DEVICES)} or cuda:N")
    _runs_arg(t)
    _add(t, "run_name", default=None)
    _add(t, "seed", type=int, default=d.seed)
    _add(t, "scheduler", choices=SCHEDULERS, default=d.scheduler)
    _add(t, "amp", choices=AMP_MODES, default=d.amp,
         help="auto: bf16 on CUDA (fp16 without bf16); on a CPU bf16 only where a timed probe finds it faster")
    _add(t, "mask_rule", choices=MASK_RULES, default=d.mask_rule,
         help="pet_border: border counts as pet (default); pet_only: border is background")
    _add(t, "bce_weight", type=float, default=d.bce_weight)
    _add(t, "dice_weight", type=float, default=d.dice_weight)
    _add(t, "grad_clip", type=float, default=d.grad_clip)
    _add(t, "weight_decay", type=float, default=d.weight_decay)
    _add(t, "warmup_epochs", type=int, default=d.warmup_epochs,
         help=f"linear learning-rate warm-up epochs before the cosine (or constant) schedule; 0: none; {AUTO_WARMUP_HELP}")
    _add(t, "ema_decay", type=float, default=d.ema_decay,
         help="EMA of the weights after every step (e.g. 0.99); validation and checkpoints use it; 0: off")
    _add(t, "augment_strength", choices=AUGMENT_STRENGTHS, default=d.augment_strength,
         help="training augmentation: off, light (upright pets, mild; the default), smp (adds vertical flips, "
              "quarter turns, blur), strong")
    _add(t, "pretrained", default=None, help="resnet34_unet encoder weights: imagenet or a .pth path")
    _add(t, "max_train_images", type=int, default=None)
    _add(t, "cache_dir", default=None)
    _add(t, "compile", nargs="?", const="default", choices=COMPILE_MODES, default=d.compile, metavar="MODE",
         help=f"torch.compile the training step: {'|'.join(COMPILE_MODES)} (bare --compile: default; "
              f"auto: the mode measured fastest on CUDA, for long runs only; off on CPU)")
    _add(t, "augment_on", choices=AUGMENT_ON, default=d.augment_on,
         help="cpu: albumentations in --workers processes; device: batched on the training device "
              "(uint8 data kept there, no workers); auto: device on CUDA, else cpu")
    _add(t, "checkpoint_interval", type=float, default=d.checkpoint_interval, metavar="SECONDS",
         help="write last.pt at most this often (also at the end, on stop and on pause); 0: every epoch")
    _add(t, "resume", default=None, metavar="RUN", help="continue RUN from its last.pt")

    e = sub.add_parser(
        "eval", help="test Dice/IoU of a run or checkpoint",
        description="Dice/IoU of a run's best.pt (or a checkpoint) on a labelled split, scored at each "
                    "photo's own size (probabilities resized back bilinearly, then thresholded, against the "
                    "original trimap) and at the training size (comparable with the run's valid Dice), "
                    "pooled over pixels and as a per-image mean.")
    g = e.add_mutually_exclusive_group(required=True)
    g.add_argument("--run")
    g.add_argument("--checkpoint", type=Path)
    _runs_arg(e)
    _add(e, "data_path", default=None, help="dataset folder (default: the run's own data)")
    _add(e, "split", choices=("test", "valid"), default="test")
    _add(e, "batch_size", type=int, default=8)
    _add(e, "device", default="auto")
    e.add_argument("--tta", action="store_true", help="average with a horizontally flipped pass")
    _add(e, "ignore_border", type=_yes_no, nargs="?", const=True, default=EVAL_IGNORE_BORDER,
         metavar="yes|no",
         help="leave the trimap's border band (value 3) out of prediction and truth in the headline "
              f"figure and the --worst order (default: {'yes' if EVAL_IGNORE_BORDER else 'no'}: the band is "
              "the annotators' 'not sure' zone, the quality targets are stated without it, and it scores "
              "pet_border and pet_only models on the same pixels); 'no' scores it as the run's mask rule "
              "says (pet_border: pet, pet_only: background). Both are printed either way")
    _add(e, "threshold", type=float, default=0.5, help="pet probability above which a pixel is pet")
    _add(e, "worst", type=int, default=0, metavar="N",
         help="list the N lowest-Dice images (photo size, --ignore_border setting) and write them as one "
              "PNG contact sheet to <run>/eval/worst-<split>.png (for --checkpoint FILE: "
              "FILE's folder/<stem>-worst-<split>.png)")
    _add(e, "worst_out", type=Path, default=None, metavar="PNG", help="write the --worst sheet here instead")
    e.add_argument("--overwrite", action="store_true",
                   help="replace an existing contact sheet that petseg did not write")
    e.add_argument("--samples", action="store_true",
                   help="also score the six bundled real photos (engine/demo_assets) against their trimaps")

    i = sub.add_parser("infer", help="predict the mask of one image, or of every image in a folder")
    g = i.add_mutually_exclusive_group(required=True)
    g.add_argument("--run")
    g.add_argument("--checkpoint", "--model_path", "--model-path", dest="checkpoint", type=Path,
                   help="a petseg checkpoint (.pt); --model_path is the same flag")
    _runs_arg(i)
    i.add_argument("--image", "--data_path", "--data-path", dest="image", type=Path, required=True,
                   help="a photo, or a folder of photos (--data_path is the same flag)")
    i.add_argument("--output", "--output_path", "--output-path", dest="output", type=Path, required=True,
                   help="PNG to write (for a folder of photos: the folder for <name>.png, created if missing); "
                        "never an input itself, and an existing file only if petseg wrote it")
    i.add_argument("--overwrite", action="store_true", help="replace existing outputs that petseg did not write")
    i.add_argument("--model", choices=MODELS, default=None,
                   help="the architecture you expect; a checkpoint of another one is refused")
    i.add_argument("--overlay", action="store_true", help="write the image with the mask blended and outlined")
    i.add_argument("--threshold", type=float, default=0.5)
    i.add_argument("--tta", action="store_true")
    _add(i, "batch_size", type=int, default=None,
         help="photos per forward pass for a folder (default: 8 on CPU, 32 on CUDA, at 256 px)")
    _add(i, "workers", type=int, default=None, help="threads decoding and writing ahead of the model (folder)")
    _add(i, "device", default="auto")

    dm = sub.add_parser("demo", help="train a small UNet on real pets for about a minute, then segment photos")
    _runs_arg(dm)
    _add(dm, "data_path", default=None, help=data_help)
    _add(dm, "epochs", type=int, default=DEMO.epochs)
    _add(dm, "image_size", type=int, default=DEMO.image_size)
    _add(dm, "width", type=int, default=DEMO.width)
    _add(dm, "batch_size", type=int, default=DEMO.batch_size)
    _add(dm, "workers", type=int, default=DEMO.workers)
    _add(dm, "amp", choices=AMP_MODES, default=DEMO.amp)
    _add(dm, "device", default="auto")

    r = sub.add_parser("runs", help="list runs")
    _runs_arg(r)
    r.add_argument("--sort", choices=RUNS_SORT_KEYS, default="started",
                   help="started (newest first, the default), name, status, dice (best first), epoch, duration")
    r.add_argument("--filter", default="", metavar="WORDS",
                   help="only runs whose name, model or status contain every word (as the TUI's / filter)")
    r.add_argument("--json", action="store_true", help="one JSON array of run summaries instead of a table")

    pl = sub.add_parser("plot", help="training curves of one or more runs as a PNG")
    pl.add_argument("--run", action="append", required=True, help="run name or folder; repeat to compare")
    _runs_arg(pl)
    pl.add_argument("--out", type=Path, required=True,
                    help="PNG to write; an existing file only if petseg wrote it")
    pl.add_argument("--overwrite", action="store_true", help="replace an existing --out that petseg did not write")
    pl.add_argument("--metric", choices=("all", "loss", "dice", "iou"), default="all",
                    help="one panel only (default: loss, Dice and IoU side by side)")
    return parser


# ---------------------------------------------------------------------------------------------


class _PlainConsole:
    """What the CLI prints with, where rich is not installed (a bare GPU box with only torch and
    the training dependencies): plain lines, our few markup tags dropped."""

    is_terminal = False
    width = 80

    def print(self, text: object = "", **_: Any) -> None:
        print(re.sub(r"\[/?(?:bold|yellow)?\]", "", str(text)), flush=True)


def _console() -> Any:
    try:
        from rich.console import Console
    except ImportError:
        return _PlainConsole()
    return Console(stderr=False, highlight=False, soft_wrap=True)


def _checkpoint_from_args(args: argparse.Namespace) -> Path:
    if args.checkpoint is not None:
        return args.checkpoint
    from engine.runs import RunStore, checkpoint_for

    checkpoint, _ = checkpoint_for(RunStore(args.runs or default_runs_dir()).resolve(args.run))
    return checkpoint


def _explicit_dests(argv: Sequence[str]) -> set[str]:
    """Option names (dests) the user actually typed in ``argv``, not argparse defaults."""
    parser = build_parser()
    for action in parser._subparsers._group_actions:  # type: ignore[union-attr]
        for sub in action.choices.values():
            for a in sub._actions:
                a.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(list(argv)))) - {"command"}


def cmd_train(args: argparse.Namespace) -> int:
    runs_dir = args.runs or default_runs_dir()
    console = _console()
    if args.resume:
        # every flag typed with --resume is applied or refused by engine.train.resume, never ignored
        given = _explicit_dests(args.argv) - {"resume", "runs"}
        if "run_name" in given:
            if args.run_name != Path(args.resume).name:
                raise ConfigError(f"--run_name {args.run_name}: cannot rename a run on --resume; "
                                  f"the run stays {Path(args.resume).name}")
            given.discard("run_name")
        overrides = {name: getattr(args, name) for name in sorted(given)}
        from engine.train.trainer import Trainer  # torch import: only now

        trainer = Trainer(None, runs_dir, args.resume, resume=True, overrides=overrides,
                          log=lambda m: console.print(m))
        return _drive(trainer, console, args.runs)
    fields = {f: getattr(args, f) for f in TrainConfig.__dataclass_fields__ if hasattr(args, f)}
    fields.pop("extra", None)
    if fields["epochs"] is None:
        fields["epochs"] = TrainConfig().epochs
    config = TrainConfig(**fields)
    config.validate()

    from engine.train.trainer import Trainer  # torch import: only now

    trainer = Trainer(config, runs_dir, args.run_name, log=lambda m: console.print(m))
    return _drive(trainer, console, args.runs)


def _drive(trainer: Any, console: Any, runs_arg: Path | None) -> int:
    """Run ``trainer`` in its thread with progress output; signals stop it gracefully."""
    console.print(f"run [bold]{trainer.run_name}[/] -> {trainer.run_path}")
    reporter = _ProgressReporter(console, plain=_plain_progress(console),
                                 last_pt=checkpoint_path(trainer.run_path, "last"))
    trainer.subscribe(reporter)
    interrupts = {"n": 0}

    def on_signal(signum: int, _frame: Any) -> None:
        interrupts["n"] += 1
        if interrupts["n"] > 1 and signum == signal.SIGINT:
            raise KeyboardInterrupt
        trainer.stop()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    with reporter:
        trainer.start()
        while not trainer.join(0.2):
            pass
    if trainer.state == "finished":
        return EXIT_OK
    if trainer.state == "stopped":
        console.print(f"stopped; resume with: petseg train --resume {trainer.run_name}" +
                      (f" --runs {runs_arg}" if runs_arg else ""))
        return EXIT_STOPPED
    print(f"petseg: error: {trainer.error}", file=sys.stderr)
    return EXIT_ERROR


def cmd_demo(args: argparse.Namespace) -> int:
    """Train a small UNet on real pets (the bundled sample by default), score it on the sample's
    test photos, then segment the six bundled demo photos (four of breeds the sample lacks)."""
    from engine.eval.evaluate import evaluate_checkpoint, score_sample_images
    from engine.infer.inference import Predictor, overlay_image, save_png
    from engine.train.trainer import Trainer

    console = _console()
    config = TrainConfig(epochs=args.epochs, image_size=args.image_size, width=args.width, batch_size=args.batch_size,
                         learning_rate=DEMO_LEARNING_RATE, workers=args.workers, device=args.device,
                         amp=args.amp, data_path=args.data_path)
    config.validate()
    runs_dir = args.runs or default_runs_dir()
    console.print(f"[bold]petseg demo[/]: UNet width {config.width}, {config.image_size} px, "
                  f"{config.epochs} epochs, batch {config.batch_size}; runs folder {runs_dir}")
    start = time.perf_counter()
    trainer = Trainer(config, runs_dir, log=lambda m: console.print(m))
    code = _drive(trainer, console, args.runs)
    if code != EXIT_OK:
        return code
    best = checkpoint_path(trainer.run_path, "best")
    trained = time.perf_counter() - start
    predictor = Predictor.from_checkpoint(best, device=args.device)
    try:
        test = evaluate_checkpoint(best, None, split="test", predictor=predictor)
        h = test.headline
        console.print(f"\n[bold]test photos[/] (the test split, never trained on): {h.n_images} images  "
                      f"Dice {h.dice:.3f}  IoU {h.iou:.3f} at {test.label('photo')}  "
                      f"(trained in {trained:.0f}s)", highlight=False)
        console.print(f"  at {test.label('train')}: Dice {test.figures('train').dice:.3f}", markup=False)
    except DatasetError as exc:  # e.g. a --data_path without annotations/test.txt
        console.print(f"\nno test score: {exc}", markup=False)
    out_dir = trainer.run_path / "predictions"
    out_dir.mkdir(exist_ok=True)
    scores = score_sample_images(predictor)
    console.print(f"\nmasks for the six bundled demo photos (Dice against their trimaps at {scores.label('photo')}):")
    # two of them (Abyssinian_11, Bengal_185) are in the bundled sample's trainval list: say so
    seen = {**dict.fromkeys(trainer.bundle.valid_names, "valid split"), **dict.fromkeys(trainer.bundle.train_names, "trained on")}
    unseen: list[float] = []
    for photo in sorted(scores.worst, key=lambda p: p.record.name):
        stem = Path(photo.record.name).stem
        out = out_dir / f"{stem}_overlay.png"
        save_png(overlay_image(photo.image, photo.mask(scores.threshold)), out)
        dice = photo.record.overlap("photo", scores.ignore_border).dice
        if stem not in seen:
            unseen.append(dice)
        console.print(f"  {photo.record.name:28s} Dice {dice:.3f}  pet {photo.record.pet_fraction:6.1%}  "
                      f"{seen.get(stem, 'not in training'):15s} -> {out}", markup=False)
    console.print(f"mean Dice {scores.headline.dice_per_image:.3f} on all six"
                  + (f", {sum(unseen) / len(unseen):.3f} on the {len(unseen)} not in training" if unseen else ""))
    console.print(f"\ndone in {time.perf_counter() - start:.0f}s; watch and compare runs: [bold]petseg-tui[/]"
                  + (f" --runs {args.runs}" if args.runs else ""))
    return EXIT_OK


def _plain_progress(console: Any) -> bool:
    """Plain lines instead of bars: output is a log file, or PETSEG_PLAIN_PROGRESS is set."""
    return bool(os.environ.get("PETSEG_PLAIN_PROGRESS")) or not console.is_terminal


def _new_progress(console: Any) -> Any:
    """The Rich progress display of training and folder inference (tasks carry an ``info`` field)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
        console=console, transient=False,
    )


@contextlib.contextmanager
def _progress_bar(console: Any) -> Iterator[Any]:
    """A live `_new_progress` on a terminal, None when progress is plain."""
    if _plain_progress(console):
        yield None
        return
    with _new_progress(console) as progress:
        yield progress


class _ProgressReporter:
    """Turns trainer events into Rich progress bars (terminal) or plain lines (log file)."""

    def __init__(self, console: Any, plain: bool, last_pt: Path | None = None) -> None:
        self.console, self.plain, self.last_pt = console, plain, last_pt
        self.progress = None
        self.epoch_task = self.batch_task = None

    def __enter__(self) -> "_ProgressReporter":
        if not self.plain:
            self.progress = _new_progress(self.console)
            self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def _print(self, text: str) -> None:
        (self.progress.console if self.progress else self.console).print(text)

    def __call__(self, ev: Any) -> None:
        from engine import events as E

        p = self.progress
        if isinstance(ev, E.RunStarted):
            # the data line itself was logged while the data was loaded
            self._print(f"device: {ev.device}  train: {ev.train_size}  valid: {ev.valid_size}"
                        + (f"  (resuming at epoch {ev.start_epoch})" if ev.resumed else ""))
            if p is not None:
                self.epoch_task = p.add_task("epochs", total=ev.total_epochs, completed=ev.start_epoch - 1, info="")
        elif isinstance(ev, E.EpochStarted):
            if p is not None:
                if self.batch_task is not None:
                    p.remove_task(self.batch_task)
                self.batch_task = p.add_task(f"epoch {ev.epoch}", total=ev.batches, info="")
        elif isinstance(ev, E.BatchProgress):
            if p is not None and self.batch_task is not None:
                p.update(self.batch_task, completed=ev.batch, info=f"loss {ev.loss:.4f} {ev.images_per_s:.1f} img/s")
        elif isinstance(ev, E.EpochEnded):
            line = (f"epoch {ev.epoch}/{ev.total_epochs}  train loss {ev.train_loss:.4f}  dice {ev.train_dice:.4f}  "
                    f"valid loss {ev.valid_loss:.4f}  dice {ev.valid_dice:.4f}  iou {ev.valid_iou:.4f}  "
                    f"lr {ev.lr:.2e}  {ev.images_per_s:.1f} img/s  {ev.seconds:.1f}s")
            self._print(line)
            if p is not None and self.epoch_task is not None:
                p.update(self.epoch_task, completed=ev.epoch, info=f"best {ev.best_dice:.4f} @ {ev.best_epoch}")
        elif isinstance(ev, E.RunWarning):
            self._print(f"[yellow]warning:[/] {ev.message}")
        elif isinstance(ev, E.RunFinished):
            self._print(f"finished: best valid Dice {ev.best_dice:.4f} at epoch {ev.best_epoch} ({ev.seconds:.0f}s)")
        elif isinstance(ev, E.RunStopped):
            saved = self.last_pt is None or self.last_pt.exists()  # nothing to save before the data was ready
            self._print(f"stopped after epoch {ev.epoch}; " + ("last.pt saved" if saved else "nothing trained yet, no last.pt"))
        elif isinstance(ev, E.RunPaused):
            self._print("paused")
        elif isinstance(ev, E.RunResumed):
            self._print("resumed")


def cmd_eval(args: argparse.Namespace) -> int:
    if args.worst < 0:
        raise PetsegError(f"--worst {args.worst}: must be >= 0")
    from engine.eval.evaluate import evaluate_checkpoint
    from engine.infer.inference import Predictor

    ckpt = _checkpoint_from_args(args)
    if args.worst:  # checked before minutes of scoring, like every user-named output
        from engine.eval.gallery import worst_sheet_path
        from engine.infer.outputs import check_output

        if args.worst_out is None:
            args.worst_out = worst_sheet_path(ckpt, args.split)
            args.worst_out.parent.mkdir(parents=True, exist_ok=True)
        check_output(args.worst_out, inputs=(ckpt,), overwrite=args.overwrite, flag="--worst_out")
    console = _console()
    predictor = Predictor.from_checkpoint(ckpt, device=args.device)
    for warning in predictor.warnings:
        print(f"petseg: warning: {warning}", file=sys.stderr)
    res = evaluate_checkpoint(ckpt, args.data_path, split=args.split, batch_size=args.batch_size,
                              tta=args.tta, ignore_border=args.ignore_border, threshold=args.threshold,
                              keep_worst=args.worst, predictor=predictor)
    for warning in res.warnings:  # the data's (duplicated or overlapping list entries)
        if warning not in predictor.warnings:
            print(f"petseg: warning: {warning}", file=sys.stderr)
    console.print(f"checkpoint: {ckpt} ({predictor.arch_name}, {predictor.image_size} px, "
                  f"mask rule {predictor.mask_rule})")
    if res.data:
        console.print(f"data: {res.data}")
    for name, reason in res.skipped[:5]:
        console.print(f"skipped {name}: {reason}")
    if len(res.skipped) > 5:
        console.print(f"skipped {len(res.skipped)} unreadable images in total")
    tta = "TTA hflip" if args.tta else "no TTA"
    console.print(f"{args.split}: {res.n_images} images, {tta}, threshold {args.threshold:g}, "
                  f"{res.seconds:.1f} s (decode, predict, score; model load {res.load_seconds:.1f} s)")
    _print_figures(console, res)
    h = res.headline
    flag = f"--ignore_border {'yes' if args.ignore_border else 'no'}"
    console.print(
        f"{args.split} Dice {h.dice:.4f}  IoU {h.iou:.4f}  (per-image Dice {h.dice_per_image:.4f}) at "
        f"{res.label('photo')}, {tta}  [{flag}{', the default' if args.ignore_border == EVAL_IGNORE_BORDER else ''}]"
    )
    if args.worst:
        _print_worst(console, res, args, ckpt)
    if args.samples:
        from engine.eval.evaluate import score_sample_images

        samples = score_sample_images(predictor, tta=args.tta, threshold=args.threshold,
                                      ignore_border=args.ignore_border)
        console.print(f"bundled real photos (engine/demo_assets), {samples.label('photo')}, {tta}:")
        for r in samples.records:
            o = r.overlap("photo", samples.ignore_border)
            console.print(f"  {r.name:28s} Dice {o.dice:.4f}  IoU {o.iou:.4f}  pet {r.pet_fraction:6.1%}")
        sh = samples.headline
        console.print(f"bundled real photos: {sh.n_images} images  mean Dice {sh.dice_per_image:.4f}  "
                      f"(pooled {sh.dice:.4f}) at {samples.label('photo')}, {tta}")
    return EXIT_OK


def _print_figures(console: Any, res: Any) -> None:
    """The four scorings as a table; the headline row first and marked."""
    rows = [("photo", res.ignore_border), ("photo", not res.ignore_border),
            ("train", False), ("train", True)]
    labels = [res.label(r, ib) + (" = valid Dice" if (r, ib) == ("train", False) else "") for r, ib in rows]
    width = max(len(x) for x in labels) + 2
    console.print(f"  {'scoring':{width}s}  pooled Dice    IoU   per-image Dice    IoU")
    for (r, ib), label in zip(rows, labels):
        f = res.figures(r, ib)
        mark = "*" if (r, ib) == ("photo", res.ignore_border) else " "
        console.print(f"{mark} {label:{width}s}  {f.dice:11.4f} {f.iou:7.4f}  {f.dice_per_image:14.4f} {f.iou_per_image:7.4f}")


def _print_worst(console: Any, res: Any, args: argparse.Namespace, ckpt: Path) -> None:
    from engine.eval.gallery import contact_sheet
    from engine.infer.render import save_png

    worst = res.worst
    console.print(f"worst {len(worst)} of {res.n_images} by Dice at {res.label('photo')}:")
    for i, s in enumerate(worst, 1):
        o = s.record.overlap("photo", res.ignore_border)
        console.print(f"  {i:3d}. {s.record.name:28s} Dice {o.dice:.4f}  IoU {o.iou:.4f}")
    if not worst:
        return
    out = args.worst_out  # chosen and checked by cmd_eval (engine.infer.outputs.check_output)
    sheet = contact_sheet(worst, res)
    save_png(sheet, out)
    console.print(f"contact sheet: {out} ({sheet.size[0]}×{sheet.size[1]})")


def cmd_infer(args: argparse.Namespace) -> int:
    if not 0.0 < args.threshold < 1.0:
        raise PetsegError(f"--threshold {args.threshold}: must be between 0 and 1")
    for flag in ("batch_size", "workers"):
        value = getattr(args, flag)
        if value is not None and not 1 <= value <= 1024:
            raise PetsegError(f"--{flag} {value}: must be between 1 and 1024")
    if args.image.is_dir():
        return _infer_folder(args)
    from engine.infer.inference import Predictor, original_size, output_picture, save_png
    from engine.infer.outputs import check_output

    checkpoint = _checkpoint_from_args(args)
    check_output(args.output, inputs=(args.image, checkpoint), overwrite=args.overwrite)
    predictor = Predictor.from_checkpoint(checkpoint, device=args.device, expect_arch=args.model)
    for warning in predictor.warnings:
        print(f"petseg: warning: {warning}", file=sys.stderr)
    pred = predictor.predict_file(args.image, tta=args.tta)
    img = output_picture(pred.image, pred.prob, args.threshold, args.overlay, original_size(args.image))
    save_png(img, args.output)
    frac = float(pred.mask(args.threshold).mean())
    print(f"{args.output}: {'overlay' if args.overlay else 'mask'} {img.size[0]}x{img.size[1]}, "
          f"pet {frac:.1%} of pixels, {pred.seconds * 1000:.0f} ms")
    return EXIT_OK


def _infer_folder(args: argparse.Namespace) -> int:
    """Every photo in the folder ``args.image`` -> ``args.output/<name>.png``, with a progress bar."""
    from engine.infer.infer_folder import ItemResult, default_batch_size, plan_folder, segment_folder
    from engine.infer.inference import Predictor
    from engine.infer.outputs import check_output

    src, dst = args.image, args.output
    if dst.exists() and not dst.is_dir():
        raise PetsegError(f"{dst}: is a file; with a directory of photos the output must be a folder")
    if not dst.exists() and dst.suffix.lower() == ".png":
        raise PetsegError(f"{dst}: {src} is a directory of photos, so the output must be a folder, not a .png file")
    try:
        plan = plan_folder(src, dst)
    except OSError as exc:
        raise PetsegError(f"{src}: cannot list the folder ({exc.strerror or exc})") from None
    console = _console()
    for path, reason in plan.skipped:
        console.print(f"skipped {path}: {reason}", markup=False)
    if not plan.items:
        raise PetsegError(f"{src}: no image files in the folder ({len(plan.skipped)} other entries)")
    checkpoint = _checkpoint_from_args(args)
    predictor = Predictor.from_checkpoint(checkpoint, device=args.device, expect_arch=args.model)
    for warning in predictor.warnings:
        print(f"petseg: warning: {warning}", file=sys.stderr)
    try:
        dst.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PetsegError(f"{dst}: cannot create the output folder ({exc.strerror or exc})") from None
    # the same guard as one-file inference, per output: never a photo itself (input folder =
    # output folder), never a file petseg did not write unless --overwrite
    items, failed = [], len(plan.skipped)
    for photo, out in plan.items:
        try:
            check_output(out, inputs=(photo, checkpoint), overwrite=args.overwrite, flag="--output_path")
            items.append((photo, out))
        except PetsegError as exc:
            console.print(f"skipped {exc}", markup=False)
            failed += 1
    if not items:
        raise PetsegError(f"{dst}: none of the {len(plan.items)} outputs may be written (see above)")
    batch = args.batch_size or default_batch_size(predictor.device, predictor.image_size)
    console.print(f"{len(items)} photos in {src} -> {dst}  ({predictor.arch_name}, {predictor.image_size} px, "
                  f"{predictor.device}, batch {batch}{', TTA' if args.tta else ''})", markup=False)
    written = 0
    start = time.perf_counter()
    with _progress_bar(console) as progress:
        task = progress.add_task("photos", total=len(items), info="") if progress else None

        def on_result(result: ItemResult) -> None:
            nonlocal written, failed
            if result.error is None:
                written += 1
            else:
                failed += 1
                (progress.console if progress else console).print(f"skipped {result.error}", markup=False)
            if progress is not None:
                progress.update(task, advance=1, info=f"{written} written")

        segment_folder(predictor, items, on_result, threshold=args.threshold, overlay=args.overlay,
                       tta=args.tta, batch_size=batch, workers=args.workers)
    seconds = time.perf_counter() - start
    console.print(f"{written} written to {dst}, {failed} skipped ({seconds:.1f}s, "
                  f"{written / max(seconds, 1e-9):.1f} photos/s)", markup=False)
    if written == 0:
        print(f"petseg: error: {src}: none of the {len(plan.items)} photos could be segmented", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def cmd_runs(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from rich import box
    from rich.table import Table

    from engine.runs import RunStore, run_matches, sort_runs

    store = RunStore(args.runs or default_runs_dir())
    if store.root.exists() and not store.root.is_dir():
        raise PetsegError(f"{store.root}: is a file, not a runs folder; give --runs a folder")
    runs = sort_runs((r for r in store.list_runs() if run_matches(r, args.filter)), args.sort)
    if args.json:
        out = []
        for r in runs:
            d = dataclasses.asdict(r)
            d["path"] = str(r.path)
            d["resume"] = dataclasses.asdict(r.resume_offer())
            out.append(d)
        print(json.dumps(out, indent=2, default=str))
        return EXIT_OK
    console = _console()
    if not runs:
        console.print(f"no runs in {store.root}" + (f" matching {args.filter!r}" if args.filter else ""))
        return EXIT_OK
    rows = [{
        "name": r.name, "model": r.model or "-", "status": r.state,
        "epoch": f"{r.epoch}/{r.total_epochs}",
        "dice": f"{r.best_dice:.4f}" if r.best_dice is not None else "-",
        "loss": f"{r.last_train_loss:.4f}" if r.last_train_loss is not None else "-",
        "img/s": f"{r.images_per_s:.1f}" if r.images_per_s is not None else "-",
        "started": time.strftime("%m-%d %H:%M", time.localtime(r.started)) if r.started else "-",
        "time": format_duration(r.duration, missing="-"),
    } for r in runs]
    # Names and figures are never wrapped or cut: on a narrow terminal whole columns go instead,
    # least useful first (an 80-column terminal keeps name, status, epoch, dice, loss, time).
    def build(cols: list[str]) -> Table:
        table = Table(title=f"runs in {store.root}", box=box.SIMPLE_HEAD, padding=0, show_edge=False,
                      caption="dice: best valid Dice · loss: last train loss · img/s: median · time: training time")
        for col in cols:
            table.add_column(col, justify="right" if col in ("epoch", "dice", "loss", "img/s") else "left",
                             no_wrap=True)
        for row in rows:
            table.add_row(*(row[c] for c in cols))
        return table

    cols = ["name", "model", "status", "epoch", "dice", "loss", "img/s", "started", "time"]
    width = {c: max(len(c), *(len(row[c]) for row in rows)) for c in cols}
    for optional in ("started", "img/s", "model"):
        if sum(width[c] for c in cols) + len(cols) - 1 <= console.width:  # one space between columns
            break
        cols.remove(optional)
    table = build(cols)
    console.print(table)
    from engine.train.resume import describe_budget_changes

    for r in runs:
        if r.state.is_error and r.message:
            console.print(f"{r.name}: {r.state}: {r.message}", soft_wrap=True)
        budget = describe_budget_changes(r.config)
        if budget:
            console.print(f"{r.name}: {budget}", soft_wrap=True)
    return EXIT_OK


def cmd_plot(args: argparse.Namespace) -> int:
    from engine.eval.plots import METRICS, load_histories, plot_histories

    histories = load_histories(args.runs or default_runs_dir(), args.run)
    metrics = METRICS if args.metric == "all" else (args.metric,)
    out = plot_histories(histories, args.out, metrics, overwrite=args.overwrite)
    epochs = max(len(h.epochs) for h in histories)
    print(f"{out}: curves of {len(histories)} run(s), up to {epochs} epochs ({', '.join(metrics)})")
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train": cmd_train, "eval": cmd_eval, "infer": cmd_infer, "runs": cmd_runs, "demo": cmd_demo,
    "plot": cmd_plot,
}


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread so that cleanup (temp files) runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum: int, _frame: Any) -> None:
    raise Terminated(signum)


_warned: set[str] = set()


def _show_warning_once(message: Any, category: type, filename: str, lineno: int, file: Any = None,
                       line: Any = None) -> None:
    """Library warnings as one ``petseg: warning:`` line each, never the same one twice."""
    text = first_line(message)
    if text in _warned:
        return
    _warned.add(text)
    print(f"petseg: warning: {text}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    import warnings

    saved = (warnings.showwarning, {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)})
    warnings.showwarning = _show_warning_once
    _warned.clear()
    for sig in saved[1]:  # training replaces these with a graceful stop
        signal.signal(sig, _raise_terminated)
    try:
        return _run_command(args)
    finally:
        warnings.showwarning = saved[0]
        for sig, handler in saved[1].items():
            signal.signal(sig, handler)


def _run_command(args: argparse.Namespace) -> int:
    try:
        return COMMANDS[args.command](args)
    except PetsegError as exc:
        print(f"petseg: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except Terminated as exc:
        name = signal.Signals(exc.signum).name
        print(f"petseg: stopped by {name}; files being written were removed, nothing half-written is left",
              file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("petseg: interrupted", file=sys.stderr)
        return EXIT_STOPPED
    except Exception as exc:
        if os.environ.get("PETSEG_DEBUG"):
            raise
        sentence = describe_error(exc)
        if sentence is not None:
            print(f"petseg: error: {sentence}", file=sys.stderr)
            return EXIT_ERROR
        print(f"petseg: error: unexpected {type(exc).__name__}: {first_line(exc)} (set PETSEG_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
