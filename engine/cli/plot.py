"""``petseg plot``: training curves of one or more runs as a PNG."""

from __future__ import annotations

import argparse
from typing import Any

from engine.cli.common import EXIT_OK, add_runs_flag, given_path, given_text
from engine.config import default_runs_dir
from engine.words import counted

def add_parser(sub: Any) -> argparse.ArgumentParser:
    pl = sub.add_parser("plot", help="training curves of one or more runs as a PNG")
    pl.add_argument("--run", action="append", type=given_text, required=True, help="run name or folder; repeat to compare")
    add_runs_flag(pl)
    pl.add_argument("--out", type=given_path, required=True,
                    help="PNG to write; an existing file only if petseg wrote it")
    pl.add_argument("--overwrite", action="store_true", help="replace an existing --out that petseg did not write")
    pl.add_argument("--metric", choices=("all", "loss", "dice", "iou"), default="all",
                    help="one panel only (default: loss, Dice and IoU side by side)")
    return pl


def cmd_plot(args: argparse.Namespace) -> int:
    from engine.eval.plots import METRICS, load_histories, plot_histories

    histories = load_histories(args.runs or default_runs_dir(), args.run)
    metrics = METRICS if args.metric == "all" else (args.metric,)
    out = plot_histories(histories, args.out, metrics, overwrite=args.overwrite)
    epochs = max(len(h.epochs) for h in histories)
    print(f"{out}: curves of {counted(len(histories), 'run')}, up to {counted(epochs, 'epoch')} ({', '.join(metrics)})")
    return EXIT_OK
