"""``petseg train`` as one rank of a data-parallel run (under ``torchrun`` or petseg's own elastic
launch): join the process group, let rank 0 create (or reopen) the run folder and tell the others
its name, then train in lockstep. Rank 0 prints progress; the other ranks print only errors."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.cli.common import EXIT_ERROR, EXIT_OK, EXIT_STOPPED, PlainConsole, error_prefix, launched_rank
from engine.cli.config_flags import given_config
from engine.cli.train import device_type, drive, typed_config
from engine.cli.common import console as new_console
from engine.console_log import CapturedConsole
from engine.errors import ConfigError, PetsegError
from engine.events import STOPPED_BY_USER
from engine.train.devices_request import torchrun_devices_problem
from engine.train.distributed import DistContext, broadcast_from_main, destroy_process_group, init_process_group
from engine.train.rank_failures import report_failure
from engine.train.rank_scratch import tidy_scratch


class _Quiet(PlainConsole):
    def print(self, text: object = "", **_: object) -> None:
        pass


def train_as_rank(args: argparse.Namespace, ctx: DistContext, runs_dir: Path) -> int:
    """Train as rank ``ctx.rank``; a failure's one-line reason also goes to the elastic agent
    (`report_failure`; a raised error: by the entry point's error line), so that the launcher's
    line and the run's status say why; so does a stop's, under the user's own torchrun."""
    code, error = _train_as_rank(args, ctx, runs_dir)
    if code == EXIT_ERROR:
        report_failure(error or "failed")
    elif code == EXIT_STOPPED and error and launched_rank() is None:
        # the user's torchrun takes exit 130 for a failure like any other: its summary said
        # "error_file: <N/A>", "traceback: To enable traceback see ...". (petseg's own launcher
        # reads a stop from the exit codes alone.)
        report_failure(error)
    return code


def _train_as_rank(args: argparse.Namespace, ctx: DistContext, runs_dir: Path) -> tuple[int, str | None]:
    from engine.train.trainer import Trainer  # torch import: only now

    typed = typed_config(args, runs_dir)
    problem = torchrun_devices_problem(given_config(args).get("devices"))
    if problem:  # before joining: every rank refuses alike, none waits for another
        raise ConfigError(problem)
    config = None if args.resume else typed  # a resume's own config comes from engine.train.resume
    group = init_process_group(ctx, device_type(typed))
    code = EXIT_ERROR
    try:
        name = args.resume or args.run_name  # None: rank 0 names the run, the others learn it
        # rank 0's lines before the run folder exists (data:, amp auto:) are held for its train.log
        console = CapturedConsole(new_console()) if ctx.is_main else _Quiet()
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
            code = EXIT_OK  # every rank learnt the same reason: they may leave together
            return EXIT_ERROR, error
        tidy_scratch(ctx, name)  # the temp dir's rank scratch folders: this run's, and old ones
        if trainer is None:
            trainer = _trainer(Trainer, args, config, runs_dir, name, ctx, group, console)
        code = drive(trainer, console, args.runs)
        if code == EXIT_STOPPED:  # why, as the run's status says it
            return code, trainer.control.stop_reason or STOPPED_BY_USER
        return code, trainer.error
    finally:
        destroy_process_group(ctx, wait=code != EXIT_ERROR)  # a failed rank leaves at once


def _trainer(trainer_class: type, args: argparse.Namespace, config: object, runs_dir: Path, name: str | None,
             ctx: DistContext, group: object, console: object) -> object:
    log = console.print  # type: ignore[attr-defined]
    if args.resume:
        overrides = dict(sorted(given_config(args).items()))
        return trainer_class(None, runs_dir, name, resume=True, overrides=overrides, log=log, dist=ctx,
                             control_group=group)
    return trainer_class(config, runs_dir, name, log=log, dist=ctx, control_group=group)
