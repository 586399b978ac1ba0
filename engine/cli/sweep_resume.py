"""``petseg sweep --resume NAME``: run a sweep again from the spec its study recorded, in the
foreground, as re-running its whole command would (same spec, same storage): its trials left open
by a stopped or killed sweep process go on, then the budget left is spent.

Only the flags a re-run may change go with it (`engine.sweep.spec.RERUN_CHANGES`, their one
list: the budget, sampler, pruner, the best trial's scoring and the slots, e.g. on another box),
besides --storage (the same storage, with the password its record leaves out), --runs and
--on_interrupt; the search space, the train flags and --devices_per_trial are the study's, so
typing them is refused rather than read two ways. So are a sweep a process still runs (a re-run of
its full command adds a process to it) and one with nothing left to do
(`engine.sweep.resume.checked_resume`, whose words the dashboard's R shows too), and one whose
study or spec cannot be read: one line each, nothing started.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.errors import ConfigError
from engine.sweep.spec import RERUN_CHANGES, SweepSpec

# flags that would change what the study searches or trains: refused with --resume
_STUDY_FLAGS = ("name", "spec", "param", "devices_per_trial")
# flags that go with --resume besides RERUN_CHANGES (and --runs, --on_interrupt, not the study's)
_SAME_STORAGE = ("storage",)


def resume_flags(last: str = ",") -> str:
    """The flags that may go with ``--resume`` ("--trials, --sampler, ..., --storage"), from
    `RERUN_CHANGES`; ``last``: the word before the last one (the help says "and")."""
    flags = [f"--{key}" for key in (*RERUN_CHANGES, *_SAME_STORAGE)]
    return f"{', '.join(flags[:-1])}{last} {flags[-1]}"


def resumed_spec(args: argparse.Namespace, runs_dir: Path) -> SweepSpec:
    """The spec ``--resume NAME`` runs, after saying what it resumes; ConfigError (one line) if it
    must not start."""
    from engine.cli.config_flags import given_config
    from engine.runs.layout import NAME_RULE, validate_run_name
    from engine.sweep.resume import checked_resume
    from engine.sweep.spec_file import SPEC_KEYS

    name = args.resume
    try:
        validate_run_name(name)
    except Exception:  # noqa: BLE001 - its own words name no flag; one line here
        raise ConfigError(f"--resume {name}: not a sweep's name ({NAME_RULE})") from None
    typed = [f"--{key}" for key in _STUDY_FLAGS if getattr(args, key) not in (None, [])]
    # given_config also holds the sweep's own flags named like a train field (--devices)
    typed += [f"--{key}" for key in given_config(args) if key not in SPEC_KEYS]
    if args.show is not None:
        typed.insert(0, "--show")
    if typed:
        raise ConfigError(f"{typed[0]}: --resume {name} runs the sweep as its study recorded it (its search space "
                          f"and train flags); with it give only {resume_flags()}")
    changes = {key: getattr(args, key) for key in RERUN_CHANGES if getattr(args, key) is not None}
    plan, refusal = checked_resume(runs_dir, name, args.storage, changes)
    if refusal is not None:
        raise ConfigError(f"{refusal.text} ({_way_on(refusal.reason, name)})")
    print(f"resuming sweep {name}: {plan.text()}", flush=True)
    return plan.spec


def _way_on(reason: str, name: str) -> str:
    """What ``petseg sweep`` offers after a refusal of `engine.sweep.resume.resume_refusal`."""
    from engine.sweep.resume import RUNNING

    if reason == RUNNING:
        return f"petseg sweep --show {name} shows it; its full command run again adds a process to it"
    return f"petseg sweep --show {name}: its leaderboard; --resume {name} --trials N with a larger N runs more"


def check_not_a_bare_name(settings: dict, runs_dir: Path) -> None:
    """``petseg sweep --name X`` alone for a sweep X the runs folder has: said as a resume's hint,
    not only build_spec's "--param: a sweep searches at least one field"."""
    from engine.runs.layout import sweep_journal
    from engine.sweep.where import recorded_storage

    name = settings.get("name")
    if settings.get("params") or not isinstance(name, str) or not name:
        return
    try:
        known = sweep_journal(runs_dir, name).is_file() or recorded_storage(runs_dir, name) is not None
    except (OSError, ValueError):  # a name no file can have: build_spec says why
        return
    if known:
        raise ConfigError(f"--param: a sweep searches at least one field; to go on with sweep {name} as its study "
                          f"recorded it: petseg sweep --resume {name}")
