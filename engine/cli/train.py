"""``petseg train``: a new run from the flags (`TrainConfig`'s own, generated), or ``--resume RUN``
with the flags typed beside it; `drive` runs a trainer in the foreground with progress output."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from engine.cli.common import EXIT_ERROR, EXIT_OK, EXIT_STOPPED, add_flag, add_runs_flag, console as new_console
from engine.cli.config_flags import add_config_flags, given_config
from engine.cli.progress import ProgressReporter, plain_progress
from engine.config import TrainConfig, default_runs_dir
from engine.errors import ConfigError
from engine.runs import RunState
from engine.runs.layout import checkpoint_path


def add_arguments(t: argparse.ArgumentParser) -> None:
    add_config_flags(t, suppress=True)  # absent unless typed: see given_config
    add_runs_flag(t)
    add_flag(t, "run_name", default=None, help="the run folder's name (default: <model>-<date>-<time>)")
    add_flag(t, "resume", default=None, metavar="RUN",
             help="continue RUN from its last.pt; flags typed beside it are applied or refused")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The new run's config: the typed flags over `TrainConfig`'s defaults, validated."""
    config = TrainConfig(**given_config(args))
    config.validate()
    return config


def cmd_train(args: argparse.Namespace) -> int:
    runs_dir = args.runs or default_runs_dir()
    console = new_console()
    if args.resume:
        # every flag typed with --resume is applied or refused by engine.train.resume, never ignored
        if args.run_name is not None and args.run_name != Path(args.resume).name:
            raise ConfigError(f"--run_name {args.run_name}: cannot rename a run on --resume; "
                              f"the run stays {Path(args.resume).name}")
        overrides = dict(sorted(given_config(args).items()))
        from engine.train.trainer import Trainer  # torch import: only now

        trainer = Trainer(None, runs_dir, args.resume, resume=True, overrides=overrides,
                          log=lambda m: console.print(m))
        return drive(trainer, console, args.runs)
    config = config_from_args(args)

    from engine.train.trainer import Trainer  # torch import: only now

    trainer = Trainer(config, runs_dir, args.run_name, log=lambda m: console.print(m))
    return drive(trainer, console, args.runs)


def drive(trainer: Any, console: Any, runs_arg: Path | None) -> int:
    """Run ``trainer`` in its thread with progress output; signals stop it gracefully."""
    console.print(f"run [bold]{trainer.run_name}[/] -> {trainer.run_path}")
    reporter = ProgressReporter(console, plain=plain_progress(console),
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
    if trainer.state == RunState.FINISHED:
        return EXIT_OK
    if trainer.state == RunState.STOPPED:
        console.print(f"stopped; resume with: petseg train --resume {trainer.run_name}" +
                      (f" --runs {runs_arg}" if runs_arg else ""))
        return EXIT_STOPPED
    print(f"petseg: error: {trainer.error}", file=sys.stderr)
    return EXIT_ERROR

