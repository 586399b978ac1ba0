"""A sweep as its run folders show it, for the TUI: which sweeps a runs folder holds, each
trial's run (number, sampled values, best valid Dice, epochs, state), best-so-far against the
trial number, and a parameter against Dice. Read from config.json's sweep records and the runs'
summaries, so it is live, needs no Optuna (nor its storage: a sweep on a shared PostgreSQL study
shows the same), and imports no torch. ``petseg sweep --show`` adds what only the study knows; so
does the sweeps screen, from the study every few seconds: the trials that failed before their run
wrote config.json and those whose run folder was deleted (`SweepBoard.with_unwritten`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.runs.layout import SWEEP_JOURNAL_SUFFIX, sweep_journals
from engine.runs.state import RunState
from engine.runs.summary import RunSummary
from engine.sweep.record import sweep_of
from engine.sweep.where import recorded_sweeps


# the states whose run's message follows the state ("failed: why", "stopped: stopped by user"),
# on the sweeps screen and in `petseg sweep --show` alike: how it went wrong, or who stopped it
SAYS_WHY = (RunState.FAILED, RunState.DIVERGED, RunState.BROKEN, RunState.STOPPED)


@dataclass(frozen=True)
class TrialRun:
    """One trial's run as the sweep screen shows it."""

    trial: int
    name: str
    path: Path
    state: RunState
    params: dict[str, Any] = field(default_factory=dict)
    best_dice: float | None = None
    epoch: int = 0
    total_epochs: int = 0
    why: str = ""  # the run's message in a `SAYS_WHY` state: why it ended (petseg sweep --show says it too)
    # its ended run's status as `petseg sweep --show` words it (`engine.sweep.results.TrialRow.said`):
    # who stopped it ("stopped (its sweep process ended)": a re-run resumes it), once the study is read
    said: str = ""
    # its run folder was deleted (`engine.sweep.results.deleted_trials`): the row is the study's,
    # with no live screen to open nor run to compare
    deleted: bool = False

    @property
    def status(self) -> str:
        """The trial's status in words: the study's (`said`), else its run's state and why."""
        return self.said or str(self.state) + (f": {self.why}" if self.why else "")


@dataclass(frozen=True)
class SweepBoard:
    """A sweep's trials, best valid Dice first (trials without a Dice last, by number)."""

    name: str
    trials: tuple[TrialRun, ...] = ()
    order: tuple[str, ...] = ()  # the searched fields as the sweep's spec lists them, when known
    log_scaled: tuple[str, ...] = ()  # the fields the spec searches log-uniformly, when known

    @property
    def param_names(self) -> list[str]:
        """The searched fields: in the spec's order (as ``petseg sweep --show`` has them), any the
        spec does not list after them; config.json keeps a trial's values sorted by name."""
        names: list[str] = []
        for t in sorted(self.trials, key=lambda t: t.trial):
            names += [k for k in t.params if k not in names]
        rank = {n: i for i, n in enumerate(self.order)}
        return sorted(names, key=lambda n: rank.get(n, len(rank)))

    @property
    def best(self) -> TrialRun | None:
        return self.trials[0] if self.trials and self.trials[0].best_dice is not None else None

    def best_so_far(self) -> list[tuple[int, float]]:
        """(trial number, the best valid Dice of the trials numbered up to it), for trials with a Dice."""
        out, best = [], -math.inf
        for t in sorted(self.trials, key=lambda t: t.trial):
            if t.best_dice is None:
                continue
            best = max(best, t.best_dice)
            out.append((t.trial, best))
        return out

    def param_points(self, name: str) -> list[tuple[Any, float]]:
        """(value of ``name``, best valid Dice) of each trial that has both."""
        return [(t.params[name], t.best_dice) for t in self.trials if name in t.params and t.best_dice is not None]

    def top(self, k: int) -> list[TrialRun]:
        """The ``k`` best trials with a run folder to compare."""
        return [t for t in self.trials if t.best_dice is not None and not t.deleted][:k]

    @property
    def deleted(self) -> int:
        """How many trials' run folders were deleted (their rows are the study's)."""
        return sum(t.deleted for t in self.trials)

    def with_unwritten(self, extra: Iterable[TrialRun]) -> SweepBoard:
        """This board with the trials only the study knows (`engine.sweep.results.unwritten_trials`:
        failed before their run wrote config.json; `deleted_trials`: their run folder deleted) that
        it does not have, in the board's order."""
        have = {t.trial for t in self.trials}
        more = [t for t in extra if t.trial not in have]
        if not more:
            return self
        return dataclasses.replace(self, trials=tuple(sorted([*self.trials, *more], key=_rank)))

    def with_study_words(self, said: Mapping[int, str]) -> SweepBoard:
        """This board with each ended trial's status as ``petseg sweep --show`` words it (``said``,
        by trial number, from the study): its run alone reads "stopped: stopped by user" both for a
        trial its sweep's Ctrl-C stopped (open in the study: a re-run resumes it) and for one its
        user stopped (counted failed). Words that do not begin with the run's state are of an older
        read of the study (the run has been resumed since): the run's own are kept."""
        trials = tuple(dataclasses.replace(t, said=said[t.trial])
                       if not t.state.is_active and said.get(t.trial, "").startswith(str(t.state)) else t
                       for t in self.trials)
        return self if trials == self.trials else dataclasses.replace(self, trials=trials)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.trials:
            out[str(t.state)] = out.get(str(t.state), 0) + 1
        return out


def board(name: str, summaries: Iterable[RunSummary], order: Iterable[str] = (),
          log_scaled: Iterable[str] = ()) -> SweepBoard:
    """The trials of sweep ``name`` among ``summaries`` (a run store listing); ``order``: the
    searched fields as the study's spec lists them (`engine.sweep.results.searched_names`);
    ``log_scaled``: those it searches log-uniformly (`engine.sweep.results.log_searched_names`)."""
    trials = []
    for s in summaries:
        record = sweep_of(s.config)
        if record is None or record.name != name:
            continue
        trials.append(TrialRun(record.trial, s.name, s.path, s.state, dict(record.params), s.best_dice, s.epoch,
                               s.total_epochs, s.message if s.state in SAYS_WHY else ""))
    trials.sort(key=_rank)
    return SweepBoard(name, tuple(trials), tuple(order), tuple(log_scaled))


def _rank(t: TrialRun) -> tuple[bool, float, int]:
    """The board's order: best valid Dice first, trials without one last, by number."""
    return t.best_dice is None, -(t.best_dice or 0.0), t.trial


def sweep_names(runs_dir: Path, summaries: Iterable[RunSummary]) -> list[str]:
    """Every sweep in the runs folder (a journal, a storage record, or a run that records one),
    newest run first."""
    names: list[str] = []
    for s in summaries:  # a store listing is newest first
        record = sweep_of(s.config)
        if record is not None and record.name not in names:
            names.append(record.name)
    for journal in sweep_journals(runs_dir):
        name = journal.name[: -len(SWEEP_JOURNAL_SUFFIX)]
        if name not in names:
            names.append(name)
    names += [n for n in recorded_sweeps(runs_dir) if n not in names]  # kept in a --storage
    return names
