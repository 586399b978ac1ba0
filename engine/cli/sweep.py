"""``petseg sweep``: search hyper-parameters on Optuna, every trial an ordinary run
(`engine.sweep`), and ``petseg sweep --show NAME``: the leaderboard and the parameter importances.

The train flags typed beside the sweep's own are every trial's base (``--epochs 20``,
``--time_budget 10m``, ...); ``--param name=kind:...`` searches any train field. A bad spec is
one line before anything starts. Ctrl-C asks whether to stop the running trials or leave them
training (``--on_interrupt`` answers it beforehand; without a terminal, ``ask`` means stop).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from engine.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_STOPPED,
    add_flag,
    add_runs_flag,
    error_prefix,
    integer,
    yes_no,
)
from engine.cli.common import console as new_console, given_path
from engine.cli.config_flags import add_config_flags, given_config
from engine.cli.sweep_resume import resume_flags
from engine.cli.terminal_queue import wait_written
from engine.config import config_fields, default_runs_dir
from engine.runs.epoch_progress import EpochProgress
from engine.words import counted

INTERRUPT_ACTIONS = ("ask", "stop", "leave")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    s = sub.add_parser(
        "sweep", help="search hyper-parameters (Optuna); every trial is a run",
        description="Search hyper-parameters on Optuna: each trial is an ordinary run (a petseg train child "
                    "process) named SWEEP-tNNN, scheduled on --devices GPUs (--per_device each) or --parallel "
                    "N on a CPU. Train flags given here are every trial's base.")
    add_flag(s, "name", default=None, help="the sweep's name (its study, and its trials' run folders)")
    add_flag(s, "spec", type=given_path, default=None, metavar="TOML",
             help="read the sweep from a TOML file (name, trials, ..., [params], [train]); flags override it")
    add_flag(s, "param", action="append", default=None, metavar="FIELD=KIND:ARGS",
             help="a searched train field: log:LO:HI, uniform:LO:HI, int:LO:HI[:STEP] or choice:A,B,... "
                  "(repeat for each field)")
    add_flag(s, "trials", type=integer, default=None, help="the budget: trials in the study (default 10)")
    add_flag(s, "sampler", choices=("tpe", "random", "grid"), default=None, help="Optuna sampler (default tpe)")
    add_flag(s, "sampler_seed", type=integer, default=None, metavar="N",
             help="seed the sampler so one sweep process draws the same trials again (a second process "
                  "sharing the study needs another seed, or it repeats the first one's draws)")
    add_flag(s, "prune", choices=("median", "none"), default=None,
             help="stop trials whose valid Dice trails the median of the others at the same epoch (default median)")
    add_flag(s, "prune_warmup", type=integer, default=None, metavar="EPOCHS",
             help="epochs of every trial that are never pruned on (default 1: a first epoch's Dice is noisy)")
    add_flag(s, "devices", default=None, metavar="i,j",
             help="GPU indices to run trials on (CUDA_VISIBLE_DEVICES per trial)")
    add_flag(s, "per_device", type=integer, default=None, help="trials at once on each GPU (default 1)")
    add_flag(s, "parallel", type=integer, default=None, help="trials at once on a CPU box (default 1)")
    add_flag(s, "devices_per_trial", type=integer, default=None,
             help="GPUs (or CPU processes) per trial: a data-parallel run (default 1)")
    add_flag(s, "storage", default=None, metavar="URL",
             help="Optuna storage shared by several sweep processes or machines: a journal FILE, "
                  "sqlite:///f.db, postgresql+psycopg2://USER:PASS@HOST/DB (pip install psycopg2-binary) or "
                  "mysql+pymysql://USER:PASS@HOST/DB (pip install PyMySQL); default: runs/.sweeps/NAME.journal")
    add_flag(s, "eval_best", type=yes_no, default=None, metavar="yes|no",
             help="score the best trial on the test split at photo size at the end (default yes)")
    add_flag(s, "resume", default=None, metavar="NAME",
             help="run sweep NAME again from the settings its study recorded, as its whole command would: its "
                  f"unfinished trials go on, then the budget left; only {resume_flags(' and')} (with the password "
                  "its record leaves out) may be given with it")
    # None until read (`_interrupt_action`): typed with --show, it is refused, not ignored
    add_flag(s, "on_interrupt", choices=INTERRUPT_ACTIONS, default=None,
             help="on Ctrl-C or SIGTERM: ask, stop the running trials (a re-run resumes them) or leave them "
                  "training (a re-run follows them); without a terminal, ask means stop (default ask)")
    # NAME optional: a bare --show printed argparse's 30-line usage and "expected one argument"
    add_flag(s, "show", nargs="?", const="", default=None, metavar="NAME",
             help="print sweep NAME's leaderboard and importances, then exit; without NAME, list the sweeps "
                  "of the runs folder")
    add_runs_flag(s)
    # every train flag is a trial's base, except --devices (the sweep's GPUs) and any field a
    # later version names like one of the sweep's own flags (then set it in --spec's [train])
    own = {a.dest for a in s._actions}
    add_config_flags(s, names=[f.name for f in config_fields() if f.name != "devices" and f.name not in own],
                     suppress=True)
    return s


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The sweep's settings: a --spec file's, with the flags typed over them
    (`engine.sweep.spec_file.typed_over_file`, which the dashboard's new-sweep form uses too)."""
    from engine.sweep.spec_file import SPEC_KEYS, typed_over_file

    return typed_over_file(args.spec, {key: getattr(args, key) for key in SPEC_KEYS}, args.param, given_config(args))


def cmd_sweep(args: argparse.Namespace) -> int:
    from engine.runs.store import check_runs_root

    runs_dir = Path(args.runs or default_runs_dir())
    check_runs_root(runs_dir)  # trials are run folders in it, the journal is in it
    if args.resume is not None:
        from engine.cli.sweep_resume import resumed_spec

        spec = resumed_spec(args, runs_dir)  # says what it resumes, or refuses in a line
    elif args.show is not None:
        refuse_unused_with_show(args)
        name = args.show or args.name  # `--show --name lr` shows lr, as `--show lr` does
        return show(name, runs_dir, args.storage) if name else list_sweeps(runs_dir)
    else:
        from engine.sweep.slots import visible_gpu_count
        from engine.sweep.spec_build import build_spec

        from engine.cli.sweep_resume import check_not_a_bare_name

        settings = settings_from_args(args)
        check_not_a_bare_name(settings, runs_dir)
        spec = build_spec(settings, gpu_count=visible_gpu_count)
    from engine.sweep.slots import cpu_slots_warning

    if warning := cpu_slots_warning(spec):
        print(f"petseg: warning: {warning}", file=sys.stderr)
    from engine.sweep.scheduler import Scheduler
    from engine.sweep.study import counted_trials, open_study

    console = new_console()
    say = lambda m: console.print(m, markup=False)
    study = open_study(spec, runs_dir)
    done = len(counted_trials(study))
    slots = (f"{counted(len(spec.devices), 'GPU')} x {spec.per_device}" if spec.devices
             else f"{spec.parallel} at once")
    say(f"sweep {spec.name}: {counted(spec.trials, 'trial')} ({done} already in the study), {spec.sampler} sampler, "
        f"pruning {spec.prune}, {slots}; " + "; ".join(p.describe() for p in spec.params))
    scheduler = Scheduler(spec, runs_dir, study, log=say)
    from engine.sweep.launch import claim_sweep, release_sweep

    claim_sweep(runs_dir, spec.name)  # the TUI's x finds this process through it
    from engine.sweep.where import record_storage

    record_storage(runs_dir, spec.name, spec.storage)  # the TUI reads the study where this process keeps it
    try:
        return _run(scheduler, spec, study, runs_dir, args, console, say)
    except Exception as exc:
        _raise_if_storage_lost(exc, spec.storage)
        raise
    finally:
        release_sweep(runs_dir, spec.name)


def refuse_unused_with_show(args: argparse.Namespace) -> None:
    """``--show`` prints and runs nothing: a sweep flag or train flag typed with it (``--trials 20``)
    was ignored without a word; so were ``--name`` beside ``--show NAME`` and ``--storage`` with the
    bare list (which reads each sweep's own). ConfigError naming the first, in one line."""
    from engine.errors import ConfigError
    from engine.sweep.spec_file import SPEC_KEYS

    used = {"storage"} | ({"name"} if not args.show else set())  # `--show --name lr` shows lr
    if args.show == "" and not args.name:
        used.discard("storage")  # the list of sweeps: each is read in the storage it recorded
    typed = [key for key in ("spec", "param", *SPEC_KEYS) if getattr(args, key) not in (None, [])]
    typed += [key for key in given_config(args) if key not in SPEC_KEYS]  # the trials' train flags
    typed += ["on_interrupt"] if args.on_interrupt is not None else []
    unused = [key for key in typed if key not in used]
    if unused:
        shown = f"--show {args.show}" if args.show else "--show"
        raise ConfigError(f"--{unused[0]}: not used with {shown}, which prints "
                          + ("sweep " + (args.show or args.name) + "'s leaderboard" if args.show or args.name
                             else "the list of sweeps") + " and runs nothing")


def _raise_if_storage_lost(exc: Exception, url: str | None) -> None:
    """A database storage that fails mid-sweep is a ConfigError line, not Optuna's words."""
    if url and "://" in url:
        from engine.errors import ConfigError
        from engine.sweep.storage import lost_line

        line = lost_line(exc, url)
        if line is not None:
            raise ConfigError(line) from None


def _run(scheduler: Any, spec: Any, study: Any, runs_dir: Path, args: argparse.Namespace, console: Any,
         say: Any) -> int:
    try:
        stats = scheduler.run()
    except KeyboardInterrupt as exc:  # Ctrl-C; SIGTERM / SIGHUP arrive as entry.Terminated, never asked
        chosen = args.on_interrupt or "ask"
        asked = chosen if type(exc) is KeyboardInterrupt else chosen.replace("ask", "stop")
        action = _interrupt_action(asked, scheduler)
        n = scheduler.interrupt(action)
        again = f"petseg sweep --resume {spec.name} (or the same command)"  # what to type, shown once
        if action == "stop" and n == 0:  # they ended while the question waited
            say(f"no trial was still training; {again} goes on")
        elif action == "stop":
            say(f"stopped {counted(n, 'running trial')}; {again} resumes {'it' if n == 1 else 'them'}")
        else:
            say(f"left {counted(n, 'trial')} training; {again} follows {'it' if n == 1 else 'them'} and goes on")
        return EXIT_STOPPED
    if stats.gaps:
        say(f"scheduler: {counted(stats.started, 'trial')} started, longest gap between one ending and the next "
            f"starting {max(stats.gaps):.2f} s")
    from engine.sweep.results import evaluate_best, still_running

    others = still_running(study)
    if spec.eval_best and not others and not stats.gave_up:
        evaluate_best(study, runs_dir, log=say)
    print_leaderboard(console, study, runs_dir)
    if others and not stats.gave_up:  # a board printed mid-study read as the sweep's result
        say(f"{counted(others, 'trial')} still {'runs' if others == 1 else 'run'} in another sweep process: the best "
            f"may change, and the process that ends last scores it on the test split "
            f"(petseg sweep --show {spec.name} then)")
    if stats.gave_up:  # said as it happened; again as the command's error line, last, on stderr
        print(f"{error_prefix()} {stats.gave_up}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _interrupt_action(choice: str, scheduler: Any) -> str:
    running = len(scheduler.watches)
    if choice != "ask":
        return choice
    if running == 0 or not sys.stdin.isatty():
        return "stop"
    from engine.sweep.asking import reports_flowing

    try:
        them = "it" if running == 1 else "them"
        wait_written()  # the trials' lines before the prompt (`engine.cli.terminal_queue`)
        with reports_flowing(scheduler):  # the trials' epochs still reach Optuna, which may prune them
            answer = input(f"\n{counted(running, 'trial')} {'is' if running == 1 else 'are'} training: [s]top "
                           f"{them} (resumable) or [l]eave {them} training? [s/l] ")
    except (EOFError, KeyboardInterrupt):
        return "stop"
    return "leave" if answer.strip().lower().startswith("l") else "stop"


def show(name: str, runs_dir: Path, storage: str | None) -> int:
    from engine.sweep.results import gave_up_text
    from engine.sweep.study import load_study

    study = load_study(name, runs_dir, storage)
    console = new_console()
    print_leaderboard(console, study, runs_dir)
    stopped = gave_up_text(study)  # last, as the sweep that stopped said it
    if stopped:
        console.print(stopped, markup=False)
    return EXIT_OK


def list_sweeps(runs_dir: Path) -> int:
    """``petseg sweep --show`` without a name: the sweeps of the runs folder (those the sweeps
    screen finds), each as its study holds it (its trials, their best valid Dice, the run folders
    deleted, as ``--show NAME`` and the sweeps screen word them), else as its trials' run folders
    here show it (a study that cannot be read now)."""
    from engine.runs import RunStore
    from engine.sweep.board import board, sweep_names

    summaries = RunStore(runs_dir).list_runs()
    names = sweep_names(runs_dir, summaries)
    if not names:
        # as `petseg runs` says it: a --runs typo is not a folder without sweeps
        why = ("the folder does not exist" if not runs_dir.exists()
               else "start one: petseg sweep --name NAME --param FIELD=KIND:ARGS ...")
        print(f"no sweeps in {runs_dir} ({why})")
        return EXIT_OK
    print(f"sweeps in {runs_dir} (petseg sweep --show NAME: its leaderboard and parameter importances)")
    by_name = {s.name: s for s in summaries}
    for name in names:
        line = _study_line(name, runs_dir, by_name)
        if line is None:  # no study to read: its run folders are all there is
            b = board(name, summaries)
            best = b.best
            said = (f"best valid Dice {best.best_dice:.4f} (trial {best.trial}, run {best.name})"
                    if best is not None and best.best_dice is not None else "no valid Dice yet")
            line = f"{counted(len(b.trials), 'trial run')} here, {said}"
        print(f"  {name}  {line}")
    return EXIT_OK


def _study_line(name: str, runs_dir: Path, summaries: dict[str, Any]) -> str | None:
    """Sweep ``name`` as its study holds it, in ``--show NAME``'s words (`engine.sweep.results`:
    a trial's Dice, and "run folder NAME deleted"); None when there is no study to read here.
    Its trials' run folders deleted, the run folders alone said "0 trial runs here"."""
    from engine.errors import PetsegError
    from engine.sweep.results import leaderboard
    from engine.sweep.study import load_study

    try:
        rows = leaderboard(load_study(name, runs_dir), runs_dir, summaries)
    except PetsegError:  # no journal nor recorded storage, or a storage away: the run folders speak
        return None
    gone = sum(r.deleted for r in rows)
    folders = ("" if not gone else "; their run folders are deleted" if gone == len(rows)
               else f"; {gone} of their run folders are deleted")
    best = rows[0] if rows and rows[0].dice is not None else None
    if best is None:
        said = "no valid Dice yet"
    elif best.deleted:
        said = f"best valid Dice {best.dice:.4f} (trial {best.number}: {best.said})"
    else:
        said = f"best valid Dice {best.dice:.4f} (trial {best.number}" + (f", run {best.run})" if best.run else ")")
    return f"{counted(len(rows), 'trial')} in the study, {said}{folders}"


def print_leaderboard(console: Any, study: Any, runs_dir: Path) -> None:
    from engine.sweep.results import (
        IMPORTANCE_METHOD,
        importances,
        leaderboard,
        progress_text,
        refused_text,
        searched_names,
    )
    from engine.sweep.spec import value_text

    rows = leaderboard(study, runs_dir)
    names = searched_names(study) or sorted({k for r in rows for k in r.params})
    say = lambda m: console.print(m, markup=False)
    say(f"sweep {study.study_name}: {progress_text(study)}")
    # as wide as its widest "286/2000": a 4-digit epoch budget pushed those rows' status a column right
    counts = [EpochProgress(r.epochs, r.total_epochs).count for r in rows]  # "15/300", as the runs table
    ew = max([7, *(len(c) for c in counts)])
    # "-": a value this trial did not draw (a drawn none reads none, as the flag takes it)
    cells = [[value_text(n, r.params[n]) if n in r.params else "-" for n in names] for r in rows]
    # each as wide as its widest value: a searched path (recorded absolute) pushed the columns after it
    widths = [max([14, *(len(c[i]) for c in cells)]) for i in range(len(names))]
    head = f"{'trial':>5}  " + "  ".join(f"{n[:14]:>{w}}" for n, w in zip(names, widths)) + \
        f"  {'valid Dice':>10}  {'test Dice':>9}  {'epoch':>{ew}}  status"
    say(head)
    for r, count, row_cells in zip(rows, counts, cells):
        vals = "  ".join(f"{c:>{w}}" for c, w in zip(row_cells, widths))
        dice = f"{r.dice:.4f}" if r.dice is not None else "-"
        test = f"{r.test_dice:.4f}" if r.test_dice is not None else ""
        say(f"{r.number:>5}  {vals}  {dice:>10}  {test:>9}  {count:>{ew}}  {r.said}")
    refused = refused_text(study)  # not rows: they are not trials of the budget
    if refused:
        say(refused)
    imp, why = importances(study)
    if imp:
        say(f"parameter importances ({IMPORTANCE_METHOD}, for the best valid Dice): " +
            ", ".join(f"{k} {v:.2f}" for k, v in imp.items()))
    else:
        say(why)



