"""``petseg train`` as one rank of a data-parallel run (under ``torchrun`` or petseg's own elastic
launch): join the process group, let rank 0 create (or reopen) the run folder and tell the others
its name, then train in lockstep. Rank 0 prints progress; the other ranks print only errors."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.cli.common import EXIT_ERROR, PlainConsole, error_prefix
from engine.cli.config_flags import given_config
from engine.cli.train import device_type, drive, typed_config
from engine.cli.common import console as new_console
from engine.errors import PetsegError
from engine.train.distributed import DistContext, broadcast_from_main, destroy_process_group, init_process_group


class _Quiet(PlainConsole):
    def print(self, text: object = "", **_: object) -> None:
        pass


def train_as_rank(args: argparse.Namespace, ctx: DistContext, runs_dir: Path) -> int:
    from engine.train.trainer import Trainer  # torch import: only now

    typed = typed_config(args, runs_dir)
    config = None if args.resume else typed  # a resume's own config comes from engine.train.resume
    group = init_process_group(ctx, device_type(typed))
    try:
        name = args.resume or args.run_name  # None: rank 0 names the run, the others learn it
        console = new_console() if ctx.is_main else _Quiet()
        trainer = None
        error = None
        if ctx.is_main:
            try:
                trainer = _trainer(Trainer, args, config, runs_dir, name, ctx, group, console)
                name = trainer.run_name
            except PetsegError as exc:
                error = str(exc)
        error, name = broadcast_from_main((error, name), group, ctx)  # every rank learns the run, or why not
        if error is not None:
            if ctx.is_main:
                print(f"{error_prefix()} {error}", file=sys.stderr)
            return EXIT_ERROR
        if trainer is None:
            trainer = _trainer(Trainer, args, config, runs_dir, name, ctx, group, console)
        return drive(trainer, console, args.runs)
    finally:
        destroy_process_group(ctx)


def _trainer(trainer_class: type, args: argparse.Namespace, config: object, runs_dir: Path, name: str | None,
             ctx: DistContext, group: object, console: object) -> object:
    log = console.print  # type: ignore[attr-defined]
    if args.resume:
        overrides = dict(sorted(given_config(args).items()))
        return trainer_class(None, runs_dir, name, resume=True, overrides=overrides, log=log, dist=ctx,
                             control_group=group)
    return trainer_class(config, runs_dir, name, log=log, dist=ctx, control_group=group)
