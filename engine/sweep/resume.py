"""Resuming a sweep from what its study recorded, as the dashboard's R does: the spec the study
keeps (`engine.sweep.study.SPEC_ATTR`, the one asked for last) built again into a checked
`SweepSpec` with the storage the sweep recorded (`engine.sweep.where`), and what a re-run of it
would do: the trials its stopped or killed sweep process left open (a re-run resumes them from
last.pt, or follows those still training) and the budget not spent yet.

A spec that is missing (a sweep of an older petseg, a study that is gone) or unreadable is one
`ConfigError` line saying so. A sweep a process runs, or one with nothing left, is not resumed
(`checked_resume`, `resume_refusal`): one line, the same for ``petseg sweep --resume`` and the
dashboard's R. Imports Optuna: never on the TUI's UI thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from engine.errors import ConfigError, one_line
from engine.sweep.results import STATUS_OF
from engine.sweep.spec import RERUN_CHANGES, SLOT_KEYS, SweepSpec
from engine.sweep.study import (
    HOST_ATTR,
    REFUSED_ATTR,
    SPEC_ATTR,
    SURPLUS_ATTR,
    counted_trials,
    covers_point,
    drawn_choices,
    load_study,
    trial_owner,
)
from engine.words import counted


@dataclass(frozen=True)
class SweepResume:
    """What resuming sweep ``spec.name`` does: ``open_trials`` (the numbers of the trials its
    ended process left running in the study: resumed from last.pt, or followed) and ``left``
    (trials, or a grid's points, of the budget not asked yet); ``statuses``: each trial's state in
    the study ("finished", "pruned", "failed", "running"), by number."""

    spec: SweepSpec
    open_trials: tuple[int, ...] = ()
    left: int = 0
    statuses: dict[int, str] = field(default_factory=dict)  # each trial's state in the study, in words

    @property
    def has_work(self) -> bool:
        return bool(self.open_trials) or self.left > 0

    def text(self) -> str:
        """What it does, in words: "its 2 unfinished trials (4, 5) go on where they stopped and 3 of its 8 trials are left to run"."""
        unit = "grid point" if self.spec.sampler == "grid" else "trial"
        parts = []
        if self.open_trials:
            parts.append(f"its {counted(len(self.open_trials), 'unfinished trial')} "
                         f"({', '.join(map(str, self.open_trials))}) "
                         f"{'goes' if len(self.open_trials) == 1 else 'go'} on where {'it' if len(self.open_trials) == 1 else 'they'} "
                         "stopped")
        if self.left:
            parts.append(f"{self.left} of its {counted(self.spec.trials, unit)} "
                         f"{'is' if self.left == 1 else 'are'} left to run")
        return " and ".join(parts) if parts else f"nothing is left to run: its {counted(self.spec.trials, unit)} have ended"


def recorded_spec(study: optuna.Study, runs_dir: str | Path, storage: str | None = None,
                  changes: dict[str, Any] | None = None) -> SweepSpec:
    """The spec the study recorded, checked again (its GPUs against this machine's, its data),
    kept where it is (``storage``: the one the sweep recorded; None, the runs folder's journal);
    ConfigError (one line) when the study records none or it no longer builds. ``changes``: the
    settings of `RERUN_CHANGES` given anew (the flags of ``petseg sweep --resume``; any of
    `SLOT_KEYS` replaces the recorded slots), their errors said as the flag's."""
    from engine.sweep.slots import visible_gpu_count
    from engine.sweep.spec_build import build_spec

    name = study.study_name
    recorded = study.user_attrs.get(SPEC_ATTR)
    if not isinstance(recorded, dict) or not recorded.get("params"):
        raise ConfigError(f"sweep {name}: its study records no settings to resume it from (a sweep of an older "
                          f"petseg?): run petseg sweep --name {name} with its flags again")
    relative = _relative_data_problem(recorded)
    if relative:
        raise ConfigError(f"sweep {name}: {relative}")
    settings = _settings(recorded, name, storage)
    try:
        spec = build_spec(settings, gpu_count=visible_gpu_count)
    except (ConfigError, TypeError, ValueError) as exc:
        raise ConfigError(f"sweep {name}: its recorded settings no longer start a sweep ({one_line(exc)})") from None
    for p in spec.params:  # an older study's relative draws, from another folder: its line now, not once started
        drawn_choices(study, p)
    if not changes:
        return spec
    unknown = sorted(set(changes) - set(RERUN_CHANGES))
    if unknown:
        raise ValueError(f"not a setting a re-run may change: {', '.join(unknown)}")
    if any(key in changes for key in SLOT_KEYS):
        settings.update(dict.fromkeys(SLOT_KEYS))
    return build_spec({**settings, **changes}, gpu_count=visible_gpu_count)  # a bad flag: its own line


def _relative_data_problem(recorded: dict[str, Any]) -> str | None:
    """Why a ``data_path`` recorded relative (by a petseg from before sweeps recorded it absolute),
    fixed or a searched choice, names no usable data from the current folder, where it is read (as
    a re-run of the sweep's command there would); None when none is relative or its data is there.
    The folder the sweep was started in is not recorded: the line says where it looked and that it
    was relative."""
    import os

    from engine.config import GENERATED_DATA, absolute_data_path
    from engine.data.source import data_path_problem

    base = recorded.get("base") if isinstance(recorded.get("base"), dict) else {}
    named = [(f"--data_path {base['data_path']}", base["data_path"])] if isinstance(base.get("data_path"), str) else []
    for text in recorded.get("params") or []:
        name, _, rule = text.partition("=") if isinstance(text, str) else ("", "", "")
        if name.strip() == "data_path" and rule.strip().startswith("choice:"):
            named += [(f"--param {text}", v.strip()) for v in rule.partition(":")[2].split(",")]
    for label, data_path in named:
        if data_path == GENERATED_DATA or os.path.isabs(os.path.expanduser(data_path)):
            continue
        here = absolute_data_path(data_path)
        problem = data_path_problem(here, bool(base.get("download")))
        if problem is not None:
            return (f"its recorded {label} is relative (a sweep of an older petseg), read from {os.getcwd()} as "
                    f"{here}: {problem.removeprefix(f'{here}: ')}; resume it from the folder the sweep was started in")
    return None


def _settings(recorded: dict[str, Any], name: str, storage: str | None) -> dict[str, Any]:
    """The recorded spec (`SweepSpec.to_dict`) as the settings `build_spec` takes."""
    devices = recorded.get("devices")
    settings = {key: recorded.get(key) for key in ("trials", "sampler", "sampler_seed", "prune", "prune_warmup",
                                                    "per_device", "parallel", "devices_per_trial", "eval_best")}
    return {**settings, "name": name, "params": list(recorded.get("params") or []),
            "devices": ",".join(map(str, devices)) if isinstance(devices, list) and devices else None,
            "base": dict(recorded.get("base") or {}), "storage": storage}


def open_trials(study: optuna.Study) -> tuple[int, ...]:
    """The trials a re-run on this machine takes over (`engine.sweep.recovery.TrialRecovery.recover`):
    running in the study, of this host, their sweep process ended (stopped by x or Ctrl-C, or
    killed); by number."""
    import socket

    here = socket.gethostname()
    return tuple(t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                 if not t.user_attrs.get(SURPLUS_ATTR) and t.user_attrs.get(HOST_ATTR) == here
                 and trial_owner(t) == "gone")


def left_to_run(study: optuna.Study, spec: SweepSpec) -> int:
    """Trials of the budget a re-run would still ask for; for a grid, its points that no trial
    covers (a failed point is run again by a re-run, a refused one would be refused again)."""
    if spec.sampler != "grid":
        return max(0, spec.trials - len(counted_trials(study)))
    names = [p.name for p in spec.params]
    done = {tuple(t.params.get(n) for n in names) for t in study.get_trials(deepcopy=False)
            if t.params and (covers_point(t) or t.user_attrs.get(REFUSED_ATTR))}
    return max(0, spec.grid_size() - len(done))


def resume_plan(runs_dir: str | Path, name: str, storage: str | None = None,
                changes: dict[str, Any] | None = None) -> SweepResume:
    """What resuming sweep ``name`` of the runs folder would do, from its study (the runs folder's
    journal, or the storage the sweep recorded); ConfigError (one line) when its study or its
    recorded settings cannot be read. ``storage``: the same storage given again, with the
    password its record leaves out (another one is refused: the record says where the sweep is);
    ``changes``: see `recorded_spec`."""
    from engine.sweep.storage import masked
    from engine.sweep.where import recorded_storage, shareable

    recorded = recorded_storage(runs_dir, name)
    if storage and recorded and shareable(storage) != recorded:
        raise ConfigError(f"--storage {masked(storage)}: sweep {name} is kept in {recorded} (its record in "
                          f"{Path(runs_dir)}); give that storage, with its password if it has one")
    storage = storage or recorded
    try:
        study = load_study(name, Path(runs_dir), storage)
    except ConfigError as exc:
        hint = ""  # a PostgreSQL login takes PGPASSWORD or ~/.pgpass (its line says so); MySQL has none
        if storage and storage == recorded and storage.startswith("mysql"):
            hint = f" (its record keeps no password: petseg sweep --resume {name} --storage URL, with it, resumes it)"
        raise ConfigError(f"sweep {name} cannot be resumed from here: {one_line(exc)}{hint}") from None
    return plan_of(study, recorded_spec(study, runs_dir, storage, changes))


RUNNING, NOTHING_LEFT = "running", "nothing left"  # why a sweep whose study reads is not resumed


@dataclass(frozen=True)
class ResumeRefusal:
    """Why sweep resuming must not start although its study reads: ``reason`` RUNNING (a process
    runs the sweep: a re-run would add one to it) or NOTHING_LEFT; ``text``: the line
    ``petseg sweep --resume`` and the dashboard's R both show, each then naming its own way on (a
    flag, a key)."""

    reason: str
    text: str


def resume_refusal(name: str, plan: SweepResume | None, running: bool, pid: int | None = None) -> ResumeRefusal | None:
    """Why sweep ``name`` is not resumed now, None if it may be: it runs (``pid``: the process
    recorded as running it, if known), or ``plan`` (None: not read) has nothing left to do."""
    if running:
        return ResumeRefusal(RUNNING, f"sweep {name} is running{f' (process {pid})' if pid else ''}: nothing to resume")
    if plan is not None and not plan.has_work:
        return ResumeRefusal(NOTHING_LEFT, f"sweep {name}: {plan.text()}")
    return None


def checked_resume(runs_dir: str | Path, name: str, storage: str | None = None,
                   changes: dict[str, Any] | None = None) -> tuple[SweepResume, ResumeRefusal | None]:
    """`resume_plan`, and why it must not start (`resume_refusal`), None if it may. Whether a
    process runs the sweep is read first: one that ends while the study is read is said running,
    never resumed from a plan read while its process held its trials."""
    from engine.sweep.launch import sweep_claimed_by, sweep_running

    running = sweep_running(runs_dir, name)
    plan = resume_plan(runs_dir, name, storage, changes)
    return plan, resume_refusal(name, plan, running, sweep_claimed_by(runs_dir, name) if running else None)


def plan_of(study: optuna.Study, spec: SweepSpec) -> SweepResume:
    """What resuming ``spec`` on its loaded ``study`` does."""
    statuses = {t.number: STATUS_OF.get(t.state, t.state.name.lower())  # as the leaderboard words it
                for t in counted_trials(study)}
    return SweepResume(spec, open_trials(study), left_to_run(study, spec), statuses)

