"""``petseg train``: a new run from the flags (`TrainConfig`'s own, generated), or ``--resume RUN``
with the flags typed beside it; `drive` runs a trainer in the foreground with progress output."""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
from pathlib import Path
from typing import Any

from engine.cli.common import EXIT_ERROR, EXIT_OK, EXIT_STOPPED, add_flag, add_runs_flag, error_prefix, given_text, launched_rank
from engine.cli.common import console as new_console
from engine.cli.config_flags import add_config_flags, given_config
from engine.cli.interrupts import check_not_interrupted, stop_reason
from engine.cli.progress import ProgressReporter, plain_progress
from engine.cli.terminal_queue import queued_std_streams
from engine.config import TrainConfig, default_runs_dir, with_time_alone
from engine.console_log import CapturedConsole, escape_markup
from engine.errors import ConfigError
from engine.runs import RunState


def add_arguments(t: argparse.ArgumentParser) -> None:
    add_config_flags(t, suppress=True)  # absent unless typed: see given_config
    add_runs_flag(t)
    add_flag(t, "run_name", type=given_text, default=None, help="the run folder's name (default: <model>-<date>-<time>)")
    add_flag(t, "resume", default=None, metavar="RUN",
             help="continue RUN from its last.pt; flags typed beside it are applied or refused")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The new run's config: the typed flags over `TrainConfig`'s defaults, validated."""
    config = TrainConfig(**with_time_alone(given_config(args)))
    config.validate()
    return config


def cmd_train(args: argparse.Namespace) -> int:
    if args.resume is not None and not str(args.resume).strip():  # else "" would start a new default run
        raise ConfigError("--resume: the run name is empty; give the run to continue (its name or folder)")
    runs_dir = args.runs or default_runs_dir()
    from engine.train.distributed import DistContext

    ctx = DistContext.from_env()
    if ctx.enabled:  # one rank of torchrun (ours or the user's)
        from engine.cli.train_rank import train_as_rank

        return train_as_rank(args, ctx, runs_dir)
    launched = _launch_if_data_parallel(args, runs_dir)
    if launched is not None:
        return launched
    console = CapturedConsole(new_console())  # kept in the run's train.log once the run folder exists
    if args.resume:
        # every flag typed with --resume is applied or refused by engine.train.resume, never ignored
        if args.run_name is not None and args.run_name != Path(args.resume).name:
            raise ConfigError(f"--run_name {args.run_name}: cannot rename a run on --resume; "
                              f"the run stays {Path(args.resume).name}")
        overrides = dict(sorted(given_config(args).items()))
        from engine.train.trainer import Trainer  # torch import: only now

        check_not_interrupted()  # a Ctrl-C swallowed by those imports: before the run folder
        trainer = Trainer(None, runs_dir, args.resume, resume=True, overrides=overrides,
                          log=lambda m: console.print(m))
        return drive(trainer, console, args.runs)
    config = config_from_args(args)

    from engine.train.trainer import Trainer  # torch import: only now

    check_not_interrupted()  # a Ctrl-C swallowed by those imports: before the run folder
    trainer = Trainer(config, runs_dir, args.run_name, log=lambda m: console.print(m))
    return drive(trainer, console, args.runs)


def typed_config(args: argparse.Namespace, runs_dir: Path) -> TrainConfig:
    """The config the command asks for: a new run's (validated), or a resumed run's stored one
    with the flags typed beside ``--resume`` over it (which engine.train.resume then checks)."""
    if not args.resume:
        return config_from_args(args)
    from engine.runs import RunStore, read_run_config

    stored = TrainConfig.from_dict(read_run_config(RunStore(runs_dir).resolve(args.resume)))
    return dataclasses.replace(stored, **given_config(args))


def device_type(config: TrainConfig) -> str:
    """Where ``config`` trains ("cuda", "mps", "cpu"), as engine.device resolves it; a device this
    machine lacks is its one-line error ("--device cuda: CUDA is not available")."""
    from engine.device import resolve_device

    return resolve_device(config.device).type


def requested_devices(config: TrainConfig) -> Any:
    """What --devices asks for, checked against the GPUs torch sees."""
    from engine.train.devices_request import parse_devices

    if config.devices.strip() == "1":  # one process: nothing to check against the GPUs
        return parse_devices("1", None)
    if device_type(config) != "cuda":
        return parse_devices(config.devices, None)
    import torch

    return parse_devices(config.devices, torch.cuda.device_count())


def _launch_if_data_parallel(args: argparse.Namespace, runs_dir: Path) -> int | None:
    """``--devices`` above one (or a GPU list): the ranks started by torch's elastic launcher, and
    their exit code; None for a one-process run."""
    given = given_config(args).get("devices")
    if given is None and not args.resume:
        return None
    typed = typed_config(args, runs_dir)
    request = requested_devices(typed)
    if request.count == 1 and request.indices is None:
        return None
    config = None if args.resume else typed
    from engine.runs import RunStore
    from engine.train.ddp_launch import launch

    # every problem the ranks would find, said once, before they start (rank 0's own refusal came
    # after a start of every rank, twice, and blamed whichever rank left first; a --run_name with a
    # folder in it was cut to its last part and trained under that name)
    if config is not None:
        from engine.train.run_folder import settle_config

        if args.run_name is not None:
            RunStore(runs_dir).check_new_name(args.run_name)
        settle_config(config, log=lambda _: None)
        effective = config
    else:
        from engine.runs import RunBusyError, lock_holder, writer_lock_state
        from engine.train.resume import plan_for_run
        from engine.train.run_folder import check_machine

        path = RunStore(runs_dir).resolve(args.resume)
        if writer_lock_state(path):
            raise RunBusyError(path, lock_holder(path))
        plan = plan_for_run(path, dict(given_config(args)))
        effective = plan.config
        check_machine(effective, restoring=plan.checkpoint_path is not None)
    from engine.device import resolve_device
    from engine.train.distributed import sync_bn_problem

    problem = sync_bn_problem(effective.sync_bn, resolve_device(effective.device).type)
    if problem:
        raise ConfigError(problem)

    name = args.resume or args.run_name or RunStore(runs_dir).new_run_name(typed.model)
    console = new_console()  # the ranks' argv: the user's own, with the run's name fixed (ddp_launch.child_argv)
    return launch(list(args.argv), request, Path(runs_dir), Path(name).name, lambda m: console.print(m, markup=False))


def drive(trainer: Any, console: Any, runs_arg: Path | None, redeliver: bool = False) -> int:
    """Run ``trainer`` in its thread with progress output; signals stop it gracefully. What it
    prints (and stderr meanwhile) is kept in the run's train.log (`engine.console_log`), by the
    process that writes the run folder (rank 0 of a data-parallel run).
    ``redeliver``: a signal that came too late to stop the run (it finished anyway) is raised
    again once the previous handlers are back, so a command that goes on (demo) ends too."""
    if not isinstance(console, CapturedConsole):
        console = CapturedConsole(console)
    dist = getattr(trainer, "dist", None)
    if dist is None or dist.is_main:
        console.attach(trainer.run_path)
    # every terminal write while it trains (lines, bars, the stderr tee, any thread's) is made by
    # one thread of its own: a terminal that stops reading (a stalled SSH link, Ctrl-S) never
    # stops training, nor the save a signal asks for (`engine.cli.terminal_queue`)
    with queued_std_streams(on_dropped=console.say_dropped):
        try:
            return _drive(trainer, console, runs_arg, redeliver)
        finally:
            console.close()


def _drive(trainer: Any, console: CapturedConsole, runs_arg: Path | None, redeliver: bool) -> int:
    console.print(f"run [bold]{trainer.run_name}[/] -> {escape_markup(trainer.run_path)}", markup=True)
    reporter = ProgressReporter(console, plain=plain_progress(console), run_path=trainer.run_path)
    trainer.subscribe(reporter)
    interrupts = {"n": 0, "last": 0}
    parent = os.getppid()

    def on_signal(signum: int, _frame: Any) -> None:
        interrupts["n"] += 1
        interrupts["last"] = signum
        if interrupts["n"] > 1 and signum == signal.SIGINT:
            raise KeyboardInterrupt
        trainer.stop(lambda: stop_reason(signum, parent))  # asked once stopped: see stop_reason

    # the graceful stop lasts as long as the trainer: a command that goes on afterwards (demo's
    # scoring) must be ended by a signal again, not ask a finished trainer to stop
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    for sig in saved:
        signal.signal(sig, on_signal)
    try:
        # stderr teed before and, on a terminal, again inside the live bars (which replace it)
        with console.stderr(), reporter, console.stderr():
            trainer.start()
            while not trainer.join(0.2):
                pass
    except KeyboardInterrupt:  # a second Ctrl-C: out at once, the stop's save not waited for
        console.print(f"interrupted before the stop was saved; {resume_hint(trainer.run_name, runs_arg)} "
                      f"{_resumes_from(trainer.run_path)}", markup=False)
        raise
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    if redeliver and interrupts["n"] and trainer.state == RunState.FINISHED:
        signal.raise_signal(interrupts["last"])
    if trainer.state == RunState.FINISHED:
        return EXIT_OK
    if trainer.state == RunState.STOPPED:
        console.print(f"stopped; resume with: {resume_hint(trainer.run_name, runs_arg)}", markup=False)
        return EXIT_STOPPED
    if not _said_by_the_launcher(trainer.error or ""):
        console.error_line(f"{error_prefix()} {trainer.error}")
    return EXIT_ERROR


def _resumes_from(run_path: Path) -> str:
    """Where a resume of a run cut off at once goes on: its last.pt, or (none saved yet: the first
    epoch had not ended) epoch 1, as `engine.runs.summary.resume_offer` restarts such a run."""
    from engine.runs.layout import checkpoint_path

    if checkpoint_path(run_path, "last").exists():
        return "goes on from its last checkpoint"
    return "starts it again from epoch 1 (no checkpoint was saved yet)"


def _said_by_the_launcher(error: str) -> bool:
    """A rank of petseg's own launcher whose error is only that another rank went away ("Connection
    reset by peer"): the launcher's one line names the rank that ended the run; this one would
    come first and blame the wrong rank. (Under the user's own torchrun every rank says its own.)"""
    from engine.train.rank_failures import is_consequence

    return launched_rank() is not None and is_consequence(error)


def resume_hint(run_name: str, runs_arg: Path | None) -> str:
    """The command that resumes the run, as a shell reads it back: ``petseg train --resume NAME
    [--runs DIR]`` (a folder like ``my runs`` quoted, so the line can be pasted as it is)."""
    import shlex

    return shlex.join(["petseg", "train", "--resume", run_name, *(["--runs", str(runs_arg)] if runs_arg else [])])
