"""What the sweeps screen's poll thread reads from a sweep's Optuna study (`StudyFacts`): the
best trial's test evaluation, the count against the budget, refused draws, the trials no run
folder shows, and what resuming the sweep would do. Imports Optuna when called: the poll thread
only, never the UI thread. No Textual.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.runs.summary import RunSummary
from engine.sweep.board import TrialRun


@dataclass(frozen=True)
class StudyFacts:
    """What only the study knows: its best trial's test evaluation, its count against the budget,
    and the draws the config refused before they started (never a run folder)."""

    best_eval: dict | None = None
    progress: str = ""
    refused: str = ""
    stopped: str = ""  # why the sweep's last process stopped asking for trials, "" if it did not
    searched: tuple[str, ...] = ()  # the spec's order of the searched fields (the table's columns)
    # failed before their run wrote config.json, or their run folder deleted: no run folder shows them
    unwritten: tuple[TrialRun, ...] = ()
    log_scaled: tuple[str, ...] = ()  # the fields searched log-uniformly (plotted on a log axis)
    plan: Any = None  # what R (resume the sweep) would do: `engine.sweep.resume.SweepResume`, None if unread
    unresumable: str = ""  # why the sweep cannot be resumed from its study (a line), "" if it can
    # each trial's status as `petseg sweep --show` words it, by number (`SweepBoard.with_study_words`)
    said: dict[int, str] = field(default_factory=dict)


def study_facts(runs_dir: Path, name: str, summaries: list[RunSummary]) -> StudyFacts:
    """The sweep's `StudyFacts`, from its journal in the runs folder or the storage it recorded;
    empty if it has neither or it cannot be read now. ``summaries``: the runs as the poll read them.
    Imports Optuna: the poll thread only."""
    from engine.runs.layout import sweep_journal
    from engine.sweep.where import recorded_storage

    storage = recorded_storage(runs_dir, name)
    if storage is None and not sweep_journal(runs_dir, name).is_file():
        return StudyFacts(unresumable=f"sweep {name} cannot be resumed from here: its study "
                                      f"({sweep_journal(runs_dir, name)}) is gone")
    try:
        from engine.errors import ConfigError, one_line
        from engine.sweep.results import (
            deleted_trials,
            gave_up_text,
            leaderboard,
            log_searched_names,
            progress_text,
            refused_text,
            searched_names,
            unwritten_trials,
        )
        from engine.sweep.study import EVAL_ATTR, load_study

        try:
            study = load_study(name, runs_dir, storage)
        except ConfigError as exc:
            return StudyFacts(unresumable=f"sweep {name} cannot be resumed from here: {one_line(exc)}")
        record = study.user_attrs.get(EVAL_ATTR)
        plan, unresumable = _resume_facts(study, runs_dir, storage)
        rows = leaderboard(study, runs_dir, {s.name: s for s in summaries})
        said = {row.number: row.said for row in rows}
        only_study = (*unwritten_trials(study, runs_dir), *deleted_trials(rows, runs_dir))
        return StudyFacts(record if isinstance(record, dict) else None, progress_text(study), refused_text(study),
                          gave_up_text(study), tuple(searched_names(study)), only_study,
                          tuple(log_searched_names(study)), plan, unresumable, said)
    except Exception:  # a journal being written, a server away, a newer format: next time, never a crash
        return StudyFacts()


def _resume_facts(study, runs_dir: Path, storage: str | None) -> tuple[Any, str]:
    """(what resuming the sweep does, None if it cannot be resumed; why not, "" if it can)."""
    from engine.errors import ConfigError, one_line
    from engine.sweep.resume import plan_of, recorded_spec

    try:
        return plan_of(study, recorded_spec(study, runs_dir, storage)), ""
    except ConfigError as exc:
        return None, one_line(exc)


def resume_refusal_text(runs_dir: Path, name: str, plan: Any, running: bool) -> str:
    """Why R does nothing on sweep ``name`` now, as ``petseg sweep --resume`` says it ("" if it may
    resume): a process runs it, or ``plan`` has nothing left. Imports Optuna: the poll thread only."""
    from engine.sweep.launch import sweep_claimed_by
    from engine.sweep.resume import resume_refusal

    refusal = resume_refusal(name, plan, running, sweep_claimed_by(runs_dir, name) if running else None)
    return refusal.text if refusal is not None else ""
