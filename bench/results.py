"""Final quality runs for docs/RESULTS.md: both models x both mask rules at one recipe, scored on the
test split (each photo at its own size, border band ignored and scored, pooled and per-image)
and on the six other-breed photos of ``engine/demo_assets``; prints Markdown tables to paste,
with the command that produced them above them.

    # CPU, 128 px, 10 minutes of training per run (epochs measured to fit, see --epochs auto)
    python bench/results.py --data ../shared/data/oxford-pet-sample --runs /tmp/results-cpu \\
        --device cpu --image_size 128 --width 32 --epochs auto --fit_s 600 --target 0.85 \\
        [--set ema_decay=0.99 ... | --recipe_from sweep.json] [--out cpu128.md --json cpu128.json]
    # GPU, 256 px (within 3 minutes of training per run)
    python bench/results.py --data PATH --runs /dev/shm/results-gpu --device cuda --image_size 256 \\
        --width 32 --epochs 60 --train_limit_s 180 --target 0.90 --budget_s 120
    python bench/results.py --smoke --runs /tmp/results-smoke      # checks the script (~minutes on CPU)

Runs, in this order (a budget cuts from the end): UNet then ResNet34-UNet under ``pet_border``
(the default rule, the headline), then both under ``pet_only``. Each is a real
``engine.train.trainer.Trainer`` run; best.pt is scored with ``engine.eval.evaluate`` (see
``bench/_recipe.py``). ResNet34-UNet trains from random initialisation unless the recipe sets
``pretrained`` (no machine here can download ImageNet weights).

``--epochs``: a number, per model (``unet=60,resnet34_unet=40``), or ``auto``: a 2-epoch probe
run per model times its second epoch (training + validation, what the first pays for worker
start-up and kernel selection left out) and the run gets ``floor(fit_s / that)`` epochs. The
table gives each run's training time (sum of its epochs) and marks any over ``--train_limit_s``
(default: ``--fit_s``), so a probe fooled by a load spike shows; rerun with the printed
``--epochs`` to repeat a table exactly.

Recipe: ``--set FIELD=VALUE`` (any TrainConfig field, repeatable) and/or ``--recipe_from
sweep.json`` (the recommendation of ``bench/recipe_sweep.py``; ``--set`` wins).
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _recipe import (  # noqa: E402
    RunResult, add_common_args, base_config, deadline_of, describe_setup, expected_seconds, f4, flags_of,
    markdown_table, parse_sets, sample_photo_roles, train_and_score,
)

from engine.config import MASK_RULES, MODEL_TITLES, MODELS, TrainConfig  # noqa: E402

ROLE_WORDS = {"train": "yes: in the train split", "valid": "its valid split", "test": "its test split",
              "breed seen": "no, but its breed is", "other breed": "no: another breed"}


def parse_epochs(text: str, models: list[str]) -> dict[str, int | None]:
    """``60`` / ``unet=60,resnet34_unet=40`` / ``auto`` -> epochs per model (None: probe)."""
    if text.strip() == "auto":
        return {m: None for m in models}
    if "=" not in text:
        return {m: int(text) for m in models}
    out: dict[str, int | None] = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        out[name.strip()] = None if value.strip() == "auto" else int(value)
    missing = [m for m in models if m not in out]
    if missing:
        raise SystemExit(f"error: --epochs {text}: no count for {', '.join(missing)}")
    return out


def probe_epoch_seconds(config: TrainConfig, runs: Path, name: str) -> float:
    """Seconds of the second epoch of a 2-epoch run of ``config`` (training + validation)."""
    from engine.train.trainer import Trainer

    seconds: list[float] = []
    probe = TrainConfig(**{**config.to_dict(), "epochs": 2, "warmup_epochs": 0})
    trainer = Trainer(probe, runs, name)
    trainer.subscribe(lambda ev: seconds.append(ev.seconds) if ev.kind == "epoch_ended" else None)
    if trainer.run() != "finished" or len(seconds) < 2:
        raise SystemExit(f"error: probe run {name} did not finish: {trainer.error}")
    return seconds[1]


def test_row(r: RunResult, limit: float | None) -> list[str]:
    t = r.test
    over = limit is not None and r.train_s > limit
    epochs = f"{r.epochs_done}" + ("" if r.state == "finished" else f" ({r.state})")
    return [MODEL_TITLES.get(r.config["model"], r.config["model"]) + _width(r), r.config["mask_rule"], epochs,
            f"{r.train_s:.0f}" + (f" (over {limit:.0f})" if over else ""), f"{r.wall_s:.0f}", f"{r.img_s:.0f}",
            f4(r.valid_dice), f4(t.dice if t else None), f4(t.dice_per_image if t else None),
            f4(t.dice_border if t else None), f4(t.dice_border_per_image if t else None),
            f4(t.dice_tta if t else None)]


def _width(r: RunResult) -> str:
    return f" w{r.config['width']}" if r.config["model"] == "unet" else ""


def sample_row(r: RunResult) -> list[str]:
    s, t = r.samples, r.test
    held = f"{s.dice_per_image - t.dice_per_image:+.4f}" if s and t else "–"
    return [MODEL_TITLES.get(r.config["model"], r.config["model"]) + _width(r), r.config["mask_rule"],
            f4(s.dice if s else None), f4(s.dice_per_image if s else None), f4(s.dice_border if s else None),
            f4(s.dice_border_per_image if s else None), f4(s.dice_tta if s else None), held]


def tables(results: list[RunResult], limit: float | None, target: float | None) -> str:
    scored = [r for r in results if r.test is not None]
    n_test = scored[0].test.n_images if scored else 0  # type: ignore[union-attr]
    parts = [
        f"Test split ({n_test} photos of the sample's breeds, each scored at its own size):", "",
        markdown_table(["model", "mask rule", "epochs", "train s", "wall s", "img/s", "valid Dice",
                        "Dice, border ignored", "per-image, border ignored", "Dice, with border",
                        "per-image, with border", "TTA, border ignored"],
                       [test_row(r, limit) for r in results]),
    ]
    with_samples = [r for r in scored if r.samples is not None]
    if with_samples:
        roles = sample_photo_roles(TrainConfig.from_dict(with_samples[0].config))
        others = sorted(n for n, role in roles.items() if role == "other breed")
        parts += [
            "", f"Other breeds ({len(others)} photos of engine/demo_assets whose breeds are not in the training "
            f"data: {', '.join(others)}; last column: per-image mean minus the test split's, border ignored):", "",
            markdown_table(["model", "mask rule", "Dice, border ignored", "per-image, border ignored",
                            "Dice, with border", "per-image, with border", "TTA, border ignored",
                            "vs test split"], [sample_row(r) for r in with_samples]),
            "", "Per photo (Dice, border ignored):", "",
        ]
        photos = sorted(with_samples[0].samples.per_photo)  # type: ignore[union-attr]
        header = ["photo", "in the training data?"] + [f"{MODEL_TITLES.get(r.config['model'], r.config['model'])} {r.config['mask_rule']}"
                              for r in with_samples]
        parts.append(markdown_table(header, [[p, ROLE_WORDS.get(roles.get(p, ""), roles.get(p, "?"))]
                                             + [f"{r.samples.per_photo.get(p, float('nan')):.3f}"  # type: ignore[union-attr]
                                                for r in with_samples] for p in photos]))
    if target is not None:
        parts.append("")
        for r in scored:
            met = "met" if r.test.dice >= target else "NOT met"  # type: ignore[union-attr]
            parts.append(f"- {MODEL_TITLES.get(r.config['model'])}{_width(r)}, {r.config['mask_rule']}: "
                         f"{r.test.dice:.4f} test Dice (border ignored) vs target ≥ {target}: {met}")  # type: ignore[union-attr]
    return "\n".join(parts)


def _validate(config: TrainConfig) -> None:
    from engine.errors import ConfigError

    try:
        config.validate()
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(p)
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--mask_rules", default=",".join(MASK_RULES))
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--epochs", default="auto", help="N, MODEL=N,..., or auto (probe; see --fit_s)")
    p.add_argument("--fit_s", type=float, default=600.0, help="with --epochs auto: training seconds per run")
    p.add_argument("--train_limit_s", type=float, default=None, help="mark runs whose training took longer")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="recipe: a TrainConfig field")
    p.add_argument("--recipe_from", type=Path, default=None, help="recipe_sweep.py --json file: its recommendation")
    p.add_argument("--target", type=float, default=None, help="headline test Dice to compare each run with")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, 2 epochs: checks the script")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.smoke:
        args.image_size, args.width, args.batch_size = 64, 8, 8
        args.max_train_images = args.max_train_images or 32
        if args.epochs == "auto":
            args.epochs = "2"  # 2: a recipe with a 1-epoch warm-up still fits
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    rules = [r.strip() for r in args.mask_rules.split(",") if r.strip()]
    bad = [m for m in models if m not in MODELS] + [r for r in rules if r not in MASK_RULES]
    if bad:
        raise SystemExit(f"error: unknown model or mask rule: {', '.join(bad)}")
    epochs = parse_epochs(args.epochs, models)
    recipe: dict[str, Any] = {}
    if args.recipe_from:
        try:
            recipe.update(json.loads(args.recipe_from.read_text()).get("recommended") or {})
        except (OSError, ValueError) as exc:  # a sweep cut off before its first row: the defaults
            print(f"warning: --recipe_from {args.recipe_from}: {exc}; using the default recipe", file=sys.stderr)
    try:
        recipe.update(parse_sets(args.set))
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    base = base_config(args, seed=args.seed, epochs=100_000, **recipe)  # epochs: per run below
    _validate(base)
    limit = args.train_limit_s if args.train_limit_s is not None else (args.fit_s if None in epochs.values() else None)
    args.runs.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    command = "python bench/results.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    setup = describe_setup(base, args.device)
    head = f"Quality runs: {setup}\n\nrecipe: `{flags_of(recipe)}`\n\ncommand: `{command}`\n"
    print(head, flush=True)
    t_start = time.monotonic()

    for model in models:
        if epochs[model] is None:
            cfg = TrainConfig(**{**base.to_dict(), "model": model})
            per_epoch = probe_epoch_seconds(cfg, args.runs, f"{stamp}-probe-{model}")
            epochs[model] = max(1, math.floor(args.fit_s / per_epoch))
            print(f"probe: {model} epoch {per_epoch:.1f} s -> {epochs[model]} epochs fit {args.fit_s:.0f} s "
                  f"(rerun exactly with --epochs {','.join(f'{m}={e}' for m, e in epochs.items() if e)})",
                  file=sys.stderr, flush=True)
    head += f"\nepochs: {', '.join(f'{m}={e}' for m, e in epochs.items())}\n"

    results: list[RunResult] = []
    skipped: list[str] = []

    def write_files() -> None:
        text = head + "\n" + tables(results, limit, args.target) + "\n"
        if args.out:
            args.out.write_text(text)
        if args.json:
            args.json.write_text(json.dumps({"command": command, "setup": setup, "recipe": recipe,
                                             "results": [r.as_dict() for r in results], "skipped": skipped},
                                            indent=1, default=str))

    for rule in rules:
        for model in models:
            config = TrainConfig(**{**base.to_dict(), "model": model, "mask_rule": rule, "epochs": epochs[model]})
            _validate(config)
            elapsed = time.monotonic() - t_start
            same_model = [r for r in results if r.epochs_done and r.config["model"] == model]
            expected = expected_seconds(same_model or results, config.epochs)
            if args.budget_s is not None and results and elapsed + expected > args.budget_s:
                skipped.append(f"{model}/{rule}")
                print(f"[budget] skip {model} {rule}: {elapsed:.0f} s + ~{expected:.0f} s > {args.budget_s:.0f} s",
                      file=sys.stderr, flush=True)
                continue
            print(f"[{elapsed:.0f} s] {model} {rule}: {config.epochs} epochs …", file=sys.stderr, flush=True)
            deadline = deadline_of(args, t_start)
            r = train_and_score(config, args.runs, f"{stamp}-{model}-{rule}", variant=f"{model}/{rule}",
                                overrides=recipe, tta=not args.no_tta, samples=True, deadline=deadline)
            if r.error:
                print(f"  {model} {rule}: {r.state}: {r.error}", file=sys.stderr, flush=True)
            results.append(r)
            print(f"| {' | '.join(test_row(r, limit))} |", flush=True)
            write_files()

    print("\n## Quality runs\n\n" + head + "\n" + tables(results, limit, args.target)
          + (f"\n\nNot run (budget): {', '.join(skipped)}." if skipped else "")
          + f"\n\nTotal {time.monotonic() - t_start:.0f} s.", flush=True)
    write_files()
    return 0 if any(r.state == "finished" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
