"""A sweep's Optuna study: its storage, sampler and pruner, the trial budget, asking a trial and
what each trial records about itself (its run, the process and host that own it, its slot).

Storage: ``--storage URL`` is a database Optuna takes (``sqlite:///sweeps.db``,
``postgresql+psycopg2://...``, ``mysql+pymysql://...``: `engine.sweep.storage` checks its driver
and server first); a path without ``://`` is a journal file; without it, Optuna's journal file in
the runs folder (`engine.runs.layout.sweep_journal`), which needs no server and is shared by
processes on one machine. The objective is each trial's best valid Dice, maximised.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, Trial, TrialState

from engine.errors import ConfigError
from engine.runs.layout import sweep_journal
from engine.sweep.spec import ParamSpec, SweepSpec, field_by_name

optuna.logging.set_verbosity(optuna.logging.WARNING)  # petseg prints its own line per trial

# the median pruner: no pruning before this many trials completed (nor in a trial's first
# --prune_warmup epochs: SweepSpec.prune_warmup)
PRUNE_STARTUP_TRIALS = 2

# trial user attributes
RUN_ATTR, HOST_ATTR, OWNER_ATTR, SLOT_ATTR = "run", "host", "owner", "slot"
PRUNED_AT_ATTR = "pruned_at"  # the epoch the sweep asked the run to stop at
SURPLUS_ATTR = "surplus"  # asked beyond the budget by a concurrent sweep process: never run
REASON_ATTR = "reason"  # why a trial failed
REFUSED_ATTR = "refused"  # its drawn values made a config the fields refuse: nothing was started
SPAWNED_ATTR = "spawned"  # wall time the trial's (latest) process was started
# study user attributes
SPEC_ATTR, EVAL_ATTR = "spec", "best_eval"
# why the sweep's last process stopped asking for trials before its budget was spent (a line;
# `engine.sweep.results.gave_up_text`): --show and the dashboard say it, not only the sweep's log;
# "" again once a re-run goes on
GAVE_UP_ATTR = "gave_up"
ENDED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def storage_for(spec_storage: str | None, runs_dir: Path, name: str, create: bool = True) -> Any:
    """The Optuna storage of the sweep: the database URL given (its driver and server checked:
    ConfigError), or a journal file (the path given, else the one in the runs folder). With
    ``create`` False a storage that does not exist yet is a ConfigError, and none is made."""
    if spec_storage and "://" in spec_storage:
        from engine.sweep.storage import open_rdb

        return open_rdb(spec_storage, create=create)
    path = Path(spec_storage) if spec_storage else sweep_journal(runs_dir, name)
    why = _not_a_journal(path)
    if why:
        raise ConfigError(f"--storage {_shown(spec_storage, runs_dir, name)}: {why}")
    if not create and not path.is_file():
        raise ConfigError(f"--storage {_shown(spec_storage, runs_dir, name)}: no such journal file")
    path.parent.mkdir(parents=True, exist_ok=True)
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from engine.sweep.journal_lock import JournalFlock

    return JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFlock(path)))


def _not_a_journal(path: Path) -> str | None:
    """Why ``path`` cannot be a sweep's journal file (a folder, or a file whose first line is no
    record Optuna's journal writes: a spec, a photo, a .db given without sqlite:///), else None.
    Optuna said only "[Errno 21] Is a directory", "Expecting value: line 1 column 1 (char 0)",
    "'op_code'" or a UTF-8 codec error of them; a file that is not a journal is never written to."""
    if path.is_dir():
        return "is a folder, not a journal file (give a file path, e.g. sweeps.journal, or a database URL)"
    if path.exists() and not path.is_file():  # a named pipe: opening it waits for a writer
        return "is not a regular file (a named pipe or device?), not a journal file"
    try:
        with path.open("rb") as fh:
            first = fh.readline(1 << 16)
    except (FileNotFoundError, NotADirectoryError):
        return None  # a new journal (a folder on its path that cannot be made is said as it fails)
    except OSError as exc:
        return f"cannot read ({exc.strerror or exc})"
    # empty: Optuna starts its log in it; each record is a JSON object whose first key is
    # op_code (a record torn by a kill is a prefix of one, which Optuna itself reads past)
    if not first.strip() or first.lstrip().startswith(b'{"op_code"'):
        return None
    hint = (" (a database is written as sqlite:///FILE)" if first.startswith(b"SQLite format 3")
            else "")
    return f"is not a sweep's journal file: its first line is no Optuna journal record{hint}; give another path"


class _AskTellGridSampler(optuna.samplers.GridSampler):
    """Optuna's grid, without its ``study.stop()`` once every point is taken, which only works
    inside ``study.optimize``: the sweep's budget is the grid's size already (`build_spec`); and
    a point whose trials all failed before this sweep process opened the study (numbered below
    ``since``) is not visited (`covers_point`): Optuna's own grid counts every failed point as
    visited, so a sweep whose first trials failed at start never ran those points when the same
    command was run again."""

    def __init__(self, search_space: dict[str, list[Any]], seed: int | None = None, since: int = 0) -> None:
        super().__init__(search_space, seed=seed)
        self.since = since

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Any) -> None:
        pass

    def _get_unvisited_grid_ids(self, study: optuna.Study) -> list[int]:
        trials = study._storage.get_all_trials(study._study_id, deepcopy=False)
        covered = {t.system_attrs.get("grid_id") for t in trials if covers_point(t, self.since)}
        return sorted(set(range(self._n_min_trials)) - covered)


def make_sampler(spec: SweepSpec, asked: int = 0, study: optuna.Study | None = None) -> optuna.samplers.BaseSampler:
    """The spec's sampler; seeded (``--sampler_seed``) past the ``asked`` trials the study holds:
    the same command run again (after a crash, or with a larger ``--trials``) goes on with new
    draws instead of repeating the first trials' values, and still draws the same ones each time.
    A grid walks the values the ``study``'s trials drew (`drawn_choices`)."""
    seed = None if spec.sampler_seed is None else _seed_past(spec.sampler_seed, asked)
    if spec.sampler == "grid":
        space = {p.name: list(drawn_choices(study, p) if study is not None else p.grid_values() or ())
                 for p in spec.params}
        return _AskTellGridSampler(space, seed=seed, since=asked)
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def _seed_past(seed: int, asked: int) -> int:
    """``seed`` for a fresh study; past ``asked`` trials a seed mixed from both. ``seed + asked``
    collided across the processes of one study: ``--sampler_seed 2`` on an empty study and
    ``--sampler_seed 1`` started after its first trial both seeded 2 and drew the same values."""
    if asked == 0:
        return seed
    import numpy as np  # with optuna already

    return int(np.random.SeedSequence([seed, asked]).generate_state(1)[0])


def make_pruner(spec: SweepSpec) -> optuna.pruners.BasePruner:
    if spec.prune == "none":
        return optuna.pruners.NopPruner()
    # Optuna prunes no step below n_warmup_steps; epochs are steps 1, 2, ...
    return optuna.pruners.MedianPruner(n_startup_trials=PRUNE_STARTUP_TRIALS, n_warmup_steps=spec.prune_warmup + 1)


def open_study(spec: SweepSpec, runs_dir: Path, *, create: bool = True) -> optuna.Study:
    """The sweep's study, created on first use or loaded, recording this spec (`SweepSpec.to_dict`:
    the budget asked for last); ConfigError (one line) for a storage Optuna cannot open, or for a
    spec whose search space or base train flags differ from the study's (`SweepSpec.differs_from`)."""
    storage = _storage_or_error(spec.storage, runs_dir, spec.name)
    try:
        # a database's tables were made (or waited for) by open_rdb; two processes creating the
        # study itself at once is Optuna's load_if_exists
        study = optuna.create_study(study_name=spec.name, storage=storage, sampler=make_sampler(spec),
                                    pruner=make_pruner(spec), direction="maximize", load_if_exists=True)
    except Exception as exc:
        raise ConfigError(f"--storage {_shown(spec.storage, runs_dir, spec.name)}: cannot open the study "
                          f"({_first(exc, spec.storage)})") from None
    recorded = study.user_attrs.get(SPEC_ATTR)
    if isinstance(recorded, dict):
        why = spec.differs_from(recorded)
        if why is not None:
            raise ConfigError(why)
    # the spec asked for last, its budget at least the trials the study holds (a re-run with a
    # larger --trials raises it; --show prints "N of BUDGET")
    # (a grid's budget is its points, whatever the failed trials a re-run retried)
    held = 0 if spec.sampler == "grid" else len(counted_trials(study))
    study.set_user_attr(SPEC_ATTR, {**spec.to_dict(), "trials": max(spec.trials, held)})
    asked = len(study.get_trials(deepcopy=False))
    if (spec.sampler_seed is not None or spec.sampler == "grid") and asked:
        study.sampler = make_sampler(spec, asked, study)
    for p in spec.params:  # a study of an older petseg, resumed from another folder: one line now
        drawn_choices(study, p)
    return study


def rerun_refusal(spec: SweepSpec, runs_dir: Path) -> str | None:
    """Why `open_study` would refuse ``spec`` for the study already in the runs folder's journal
    (`SweepSpec.differs_from`), in a line, read without writing; None when it would not, when
    there is no such study yet, or when it lives in a ``--storage`` (the sweep process says)."""
    if spec.storage is not None or not sweep_journal(runs_dir, spec.name).is_file():
        return None
    try:
        recorded = load_study(spec.name, runs_dir).user_attrs.get(SPEC_ATTR)
    except Exception:  # unreadable here: the sweep process opens it and says what is wrong
        return None
    return spec.differs_from(recorded) if isinstance(recorded, dict) else None


def load_study(name: str, runs_dir: Path, storage: str | None = None) -> optuna.Study:
    """An existing sweep's study (for ``--show`` and the TUI); ConfigError if there is none.
    Without ``storage``: the runs folder's journal, else the storage the sweep recorded there
    (`engine.sweep.where`: a sweep run with ``--storage URL``)."""
    if storage is None and not sweep_journal(runs_dir, name).is_file():
        from engine.sweep.where import recorded_storage

        storage = recorded_storage(runs_dir, name)
    if storage is None and not sweep_journal(runs_dir, name).is_file():
        raise ConfigError(f"{sweep_journal(runs_dir, name)}: no sweep named {name!r} in {runs_dir} "
                          "(give --storage URL for a sweep kept elsewhere)")
    st = _storage_or_error(storage, runs_dir, name, create=False)
    try:
        return optuna.load_study(study_name=name, storage=st)
    except KeyError:
        raise ConfigError(f"--storage {_shown(storage, runs_dir, name)}: no sweep named {name!r} in it") from None
    except Exception as exc:
        raise ConfigError(f"--storage {_shown(storage, runs_dir, name)}: cannot open the study "
                          f"({_first(exc, storage)})") from None


def _storage_or_error(url: str | None, runs_dir: Path, name: str, create: bool = True) -> Any:
    try:
        return storage_for(url, runs_dir, name, create)
    except ConfigError:
        raise
    except Exception as exc:
        from engine.errors import describe_error

        # an OSError as its sentence ("F: the file system is read-only; ..."), not "[Errno 30] ..."
        said = describe_error(exc) if isinstance(exc, OSError) and not url else None
        raise ConfigError(f"--storage {_shown(url, runs_dir, name)}: {said or _first(exc, url)}") from None


def _shown(url: str | None, runs_dir: Path, name: str) -> str:
    """The storage as an error names it: the URL with its password masked, or the journal file."""
    from engine.sweep.storage import masked

    return masked(url) if url else str(sweep_journal(runs_dir, name))


def _first(exc: BaseException, url: str | None) -> str:
    from engine.errors import first_line
    from engine.sweep.storage import scrubbed

    return scrubbed(first_line(exc), url) if url else first_line(exc)


def counted_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The trials the budget counts: every trial but the surplus ones (asked past the budget by
    a concurrent process and never run), whatever their state."""
    return [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get(SURPLUS_ATTR)]


def covers_point(t: FrozenTrial, since: int | None = None) -> bool:
    """Whether a grid sweep's trial takes its grid point off what is left to run: it completed,
    was pruned or runs (not a surplus one), or it failed since this sweep process opened the
    study (trial number >= ``since``; None: never): a point is tried once per process, so one
    that fails by itself is not retried in a loop, and a re-run of the command retries it."""
    if t.user_attrs.get(SURPLUS_ATTR):
        return False
    if t.state == TrialState.FAIL:
        return since is not None and t.number >= since
    return t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)


def grid_points(study: optuna.Study, names: list[str], since: int | None = None) -> set[tuple[Any, ...]]:
    """The grid points (the trials' values of ``names``) with a trial that `covers_point`."""
    return {tuple(t.params.get(n) for n in names) for t in study.get_trials(deepcopy=False)
            if covers_point(t, since) and t.params}


def ask_within_budget(study: optuna.Study, spec: SweepSpec, slot: str) -> Trial | None:
    """A new trial with its parameters sampled, or None once the budget is spent. Two processes
    sharing the study may both ask for the last trial: Optuna numbers trials in order, so the
    one whose number comes later sees the budget full, marks its trial surplus and gets None.
    A grid's budget is its points: asked while one has no trial that `covers_point`; a point
    an earlier-numbered trial (of a concurrent process) took is surplus the same way."""
    grid = spec.sampler == "grid"
    names = [p.name for p in spec.params]
    since = getattr(study.sampler, "since", 0)  # the first trial number of this process (`open_study`)
    if (len(grid_points(study, names, since)) if grid else len(counted_trials(study))) >= spec.trials:
        return None
    trial = study.ask()
    try:
        before = [t for t in counted_trials(study) if t.number < trial.number]
        if not grid and len(before) >= spec.trials:
            drop_unrun(study, trial)
            return None
        values = tuple(suggest(trial, p) for p in spec.params)
        if grid and any(covers_point(t, since) and tuple(t.params.get(n) for n in names) == values
                        for t in before):
            drop_unrun(study, trial)
            return None
        claim(trial, slot)
    except BaseException:
        # Ctrl-C / SIGTERM while sampling: unclaimed, no re-run would ever take the trial over; it
        # would stay running in the study for good, counted in the budget, the best never scored.
        # A storage that failed itself keeps its own error (raised below), not this one's.
        with contextlib.suppress(Exception):
            drop_unrun(study, trial)
        raise
    return trial


def drop_unrun(study: optuna.Study, trial: Trial) -> None:
    """End a trial asked but never run: failed, and surplus, so the budget does not count it."""
    trial.set_user_attr(SURPLUS_ATTR, True)
    study.tell(trial, state=TrialState.FAIL)


def claim(trial: Trial, slot: str) -> None:
    """Record this process (and host) as the trial's owner: a re-run tells its own dead trials
    from those of a sweep process still alive. The owner goes in before the host: another sweep
    process's recovery takes only trials of its own host whose owner is dead, and between the two
    writes it saw this host with no owner and took a trial just asked (two processes then told it)."""
    trial.set_user_attr(OWNER_ATTR, os.getpid())
    trial.set_user_attr(HOST_ATTR, socket.gethostname())
    trial.set_user_attr(SLOT_ATTR, slot)


def suggest(trial: Trial, p: ParamSpec) -> Any:
    """The trial's value of ``p`` (Optuna's suggest_* for its kind)."""
    if p.kind == "choice":
        return trial.suggest_categorical(p.name, list(drawn_choices(trial.study, p)))
    if p.is_int:
        return trial.suggest_int(p.name, p.low, p.high, step=p.step or 1, log=p.kind == "log")
    return trial.suggest_float(p.name, p.low, p.high, log=p.kind == "log")


def drawn_choices(study: optuna.Study, p: ParamSpec) -> tuple[Any, ...]:
    """The values Optuna offers for ``p`` (a grid's values; a choice's): the spec's, except in a
    study of an older petseg, which recorded a path field's choices relative (``data_path=choice:
    a,b``) and whose trials drew them so: Optuna refuses a choice whose values change within a
    study, so those are drawn again (`SweepSpec.trial_config` makes them absolute) where they
    name the spec's files from this folder; from another folder they are one ConfigError line."""
    values = p.choices if p.kind == "choice" else tuple(p.grid_values() or ())
    if p.kind != "choice" or not field_by_name()[p.name].spec.path:
        return values
    for t in study.get_trials(deepcopy=False):
        drawn = t.distributions.get(p.name)
        if not isinstance(drawn, optuna.distributions.CategoricalDistribution) or tuple(drawn.choices) == values:
            continue
        field = field_by_name()[p.name]
        if tuple(field.absolute(c) for c in drawn.choices) == values:
            return tuple(drawn.choices)
        shown = ",".join(field.format_value(c) for c in drawn.choices)
        raise ConfigError(f"sweep {study.study_name}: its trials drew {p.name} from {shown}, folders named relative "
                          f"to where it was started (a sweep of an older petseg), which from {os.getcwd()} are not "
                          f"the ones its settings name; run it from the folder it was started in")
    return values


def process_running(pid: int) -> bool:
    """The process exists and is not a zombie (a sweep killed while its parent, e.g. the TUI,
    has not reaped it yet is dead for this purpose)."""
    from engine.processes import process_ended

    return not process_ended(pid)


def trial_owner(t: FrozenTrial) -> str:
    """Which sweep process a trial's record names: "this" process, "other" (a live one on this
    host), "gone" (one on this host that has ended: a re-run takes its trials over), "host NAME"
    (a process on another machine, which cannot be asked), or "" when the trial names none."""
    owner, host = t.user_attrs.get(OWNER_ATTR), t.user_attrs.get(HOST_ATTR)
    if not isinstance(owner, int) or isinstance(owner, bool) or not isinstance(host, str):
        return ""
    if host != socket.gethostname():
        return f"host {host}"
    if owner == os.getpid():
        return "this"
    return "other" if process_running(owner) else "gone"


def live_trial(study: optuna.Study, frozen: FrozenTrial) -> Trial:
    """A handle to report to and prune a RUNNING trial another (dead) process asked."""
    return Trial(study, frozen._trial_id)
