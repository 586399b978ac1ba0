"""``petseg``'s argument parser: one subparser per subcommand, each declared by its own module."""

from __future__ import annotations

import argparse

from engine.cli import delete, demo, eval as eval_cmd, export, infer, label, plot, run_control, runs, sweep, train
from engine.cli.flag_typos import SuggestingParser


def build_parser() -> argparse.ArgumentParser:
    parser = SuggestingParser(prog="petseg", description="Pet/background segmentation on Oxford-IIIT Pet.")
    sub = parser.add_subparsers(dest="command", required=True)
    train.add_arguments(sub.add_parser("train", help="train a model (writes a run folder as it goes)"))
    eval_cmd.add_parser(sub)
    infer.add_parser(sub)
    export.add_parser(sub)
    demo.add_arguments(sub.add_parser(
        "demo", help="train a small UNet on real pets for a few minutes on a CPU, then segment photos"))
    runs.add_parser(sub)
    label.add_parser(sub)
    delete.add_parser(sub)
    plot.add_parser(sub)
    sweep.add_parser(sub)
    run_control.add_parsers(sub)
    return parser
