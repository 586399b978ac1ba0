"""What a sweep found: its leaderboard (one row per trial, best first), the parameter
importances Optuna computes, and the best trial's test evaluation at photo size.

`leaderboard` joins the study (trial state, values) with each trial's run folder (epochs, best
valid Dice, the run's own state, so a trial still training shows its Dice so far); a trial whose
folder is on another machine shows the epochs it reported to the study. `evaluate_best`
scores the best trial's best.pt on the test split with ``petseg eval``'s pipeline
(`engine.eval.evaluate.evaluate_checkpoint`) and keeps the figures in the study.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from engine.config import EVAL_IGNORE_BORDER
from engine.errors import first_line
from engine.runs import RunFollower, RunState, RunSummary
from engine.runs.layout import CONFIG_FILE, trial_run_name
from engine.sweep.board import SAYS_WHY, TrialRun
from engine.sweep.study import (
    EVAL_ATTR,
    GAVE_UP_ATTR,
    REASON_ATTR,
    REFUSED_ATTR,
    RUN_ATTR,
    SPEC_ATTR,
    SURPLUS_ATTR,
    counted_trials,
    grid_points,
    trial_owner,
)

# PED-ANOVA (Optuna's default evaluator from 5.0) when every trial is in its top quantile: the
# line petseg prints instead says so plainly
SAME_TRIALS_WARNING = "Target and region quantiles select the same set of trials"

STATUS_OF = {TrialState.COMPLETE: "finished", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed",
             TrialState.RUNNING: "running", TrialState.WAITING: "waiting"}
# the run states of a trial the study counts failed that the runs table names otherwise: its user
# stopped it (x, a signal), or its loss diverged
COUNTED_FAILED = (str(RunState.STOPPED), str(RunState.DIVERGED))
# the statuses `petseg sweep --show` follows with the trial's reason: the sweeps screen's (`SAYS_WHY`)
ENDED_EARLY = tuple(str(s) for s in SAYS_WHY)


@dataclass(frozen=True)
class TrialRow:
    """One trial as the leaderboard shows it."""

    number: int
    # finished (Optuna's COMPLETE: the word the runs table and the sweep screen use), pruned, failed
    # (the study's; stopped or diverged when its run says so: `COUNTED_FAILED`); a trial the study has running: "running", or its run's
    # ended state, with who runs it when not this process ("finished (other process)": `_running_status`)
    status: str
    params: dict[str, Any] = field(default_factory=dict)
    value: float | None = None  # the study's value (best valid Dice), for complete trials
    best_dice: float | None = None  # from the run folder: also for running and pruned trials
    epochs: int = 0
    total_epochs: int = 0
    run: str = ""
    test_dice: float | None = None  # the best trial's, when evaluated
    reason: str = ""
    deleted: bool = False  # its run folder is gone (`_run_deleted`): its values and Dice are the study's

    @property
    def dice(self) -> float | None:
        return self.value if self.value is not None else self.best_dice

    @property
    def said(self) -> str:
        """The trial's status in words, as ``--show`` and the sweeps screen say it: its status,
        and why for one that ended early ("stopped: stopped by user", its user stopped it: the
        study counts it failed); a trial its sweep's Ctrl-C or x stopped reads "stopped (its sweep
        process ended)": still open in the study, a re-run resumes it. A trial whose run folder
        was deleted says so, whatever its status ("finished (run folder s-t001 deleted)")."""
        text = self.status + (f": {self.reason}" if self.reason and self.status in ENDED_EARLY else "")
        return text + (f" (run folder {self.run} deleted)" if self.deleted else "")


def leaderboard(study: optuna.Study, runs_dir: Path,
                summaries: Mapping[str, RunSummary] | None = None) -> list[TrialRow]:
    """Every trial the budget counts, the best valid Dice first (trials without one last).
    ``summaries``: the runs of the folder by name, already read (the sweeps screen's poll has
    them); a trial's run not among them is read here."""
    best_eval = study.user_attrs.get(EVAL_ATTR) or {}
    base = spec_of(study).get("base") or {}
    rows = []
    for t in counted_trials(study):
        run = str(t.user_attrs.get(RUN_ATTR) or "")
        best, epochs, total, run_state = None, 0, 0, ""
        known = (summaries or {}).get(run) if run else None
        if known is not None:
            best, epochs, total, run_state = known.best_dice, known.epoch, known.total_epochs, str(known.state)
        elif run and (Path(runs_dir) / run / CONFIG_FILE).is_file():
            try:
                f = RunFollower(Path(runs_dir) / run, keep_batches=0)
                f.poll()
                s = f.summary()
                best, epochs, total, run_state = s.best_dice, s.epoch, s.total_epochs, str(s.state)
            except Exception:
                run_state = "broken"
        elif run and (Path(runs_dir) / run).is_dir():
            pass  # its child has not written the run yet (torch loading): starting, not broken
        elif t.intermediate_values:
            # the run folder is on the machine that ran the trial (a shared --storage): the study
            # still has each epoch's valid Dice, reported for pruning
            dices = [v for v in t.intermediate_values.values() if math.isfinite(v)]
            best, epochs = (max(dices) if dices else None), max(t.intermediate_values)
        if not total:  # no run folder read (its child starting, or on another machine): what the sweep planned
            total = _planned_epochs(t.params, base)
        status = STATUS_OF.get(t.state, str(t.state.name).lower())
        if t.state == TrialState.RUNNING:
            status = _running_status(trial_owner(t), run_state)
        elif t.state == TrialState.FAIL and run_state in COUNTED_FAILED:
            # the word the runs table (and its status: filter) uses for the run; the study counts it failed
            status = run_state
        rows.append(TrialRow(
            number=t.number, status=status, params=dict(t.params),
            value=t.value if t.state == TrialState.COMPLETE else None, best_dice=best, epochs=epochs,
            total_epochs=total, run=run,
            test_dice=best_eval.get("test_dice") if best_eval.get("trial") == t.number else None,
            reason=_reason(t, Path(runs_dir), run), deleted=_run_deleted(t, Path(runs_dir), run)))
    return sorted(rows, key=lambda r: (r.dice is None, -(r.dice or 0.0), r.number))


def unwritten_trials(study: optuna.Study, runs_dir: Path) -> list[TrialRun]:
    """The study's failed trials whose run never wrote its config.json (its ``petseg train``
    refused to start: the reason is the study's), as the sweeps screen shows a trial: run
    folders alone (`engine.sweep.board`) do not know them, `leaderboard` does. Only this
    machine's trials: another one's (a shared ``--storage URL``) has its run folder there."""
    base = spec_of(study).get("base") or {}
    out = []
    for t in counted_trials(study):
        run = str(t.user_attrs.get(RUN_ATTR) or "") or trial_run_name(study.study_name, t.number)
        if t.state != TrialState.FAIL or (Path(runs_dir) / run / CONFIG_FILE).is_file():
            continue
        if _run_deleted(t, Path(runs_dir), run):  # gone on purpose: not a run that never started
            continue
        if trial_owner(t).startswith("host "):
            continue
        out.append(TrialRun(t.number, run, Path(runs_dir) / run, RunState.FAILED, dict(t.params),
                            total_epochs=_planned_epochs(t.params, base),
                            why=str(t.user_attrs.get(REASON_ATTR) or "failed before its run was written")))
    return out


def _run_deleted(t: FrozenTrial, runs_dir: Path, run: str) -> bool:
    """A trial of this machine that trained (the study has its epochs' Dice) and whose run folder
    is gone: deleted (`petseg delete --filter 'sweep:NAME status:failed'`, the TUI's D)."""
    return (bool(run) and bool(t.intermediate_values) and not (runs_dir / run).exists()
            and not trial_owner(t).startswith("host "))


def deleted_trials(rows: Iterable[TrialRow], runs_dir: Path) -> list[TrialRun]:
    """The leaderboard's trials whose run folder was deleted (`TrialRow.deleted`), as the sweeps
    screen shows a trial: no run folder lists them, so the screen said "3 of 3 trials" over two
    rows. Their values, Dice and epochs are the study's; their status says the folder is gone."""
    return [TrialRun(r.number, r.run, Path(runs_dir) / r.run, RunState.parse(r.status.split(" ")[0]), dict(r.params),
                     r.dice, r.epochs, r.total_epochs, said=r.said, deleted=True)
            for r in rows if r.deleted]


def _reason(t: FrozenTrial, runs_dir: Path, run: str) -> str:
    """Why the trial failed, as the study recorded it; for a deleted run not its train.log, which
    went with it ("see runs/X/train.log" named a file that no longer exists; `TrialRow.said` says
    the folder is deleted)."""
    reason = str(t.user_attrs.get(REASON_ATTR) or "")
    if reason and _run_deleted(t, runs_dir, run):
        return reason.split("; see ")[0]
    return reason


def _running_status(owner: str, run_state: str) -> str:
    """A trial the study says is running, as its run folder and its sweep process say: the run's
    state when it has ended ("finished (other process)": that process has yet to tell the study),
    else running, with who runs it when not this process."""
    ended = run_state and not RunState.parse(run_state).is_active and run_state != str(RunState.UNKNOWN)
    shown = run_state if ended else "running"
    if owner == "other":
        return f"{shown} (other process)"
    if owner.startswith("host "):
        return f"{shown} (on {owner[5:]})"
    if owner == "gone":  # a re-run of its sweep adopts, records or resumes it
        return f"{shown} (its sweep process ended)"
    return shown


def _planned_epochs(params: dict[str, Any], base: dict[str, Any]) -> int:
    """A trial's --epochs: searched, else the sweep's base flags (0 when neither says)."""
    value = params.get("epochs", base.get("epochs") if isinstance(base, dict) else None)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


IMPORTANCE_METHOD = "PED-ANOVA"  # named, not Optuna's default: that was fANOVA (needs scikit-learn) before 5.0


def importances(study: optuna.Study) -> tuple[dict[str, float], str]:
    """Optuna's parameter importances (`IMPORTANCE_METHOD`) for the best valid Dice, or ({}, why
    there are none)."""
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if len(complete) < 2:
        return {}, f"parameter importances need at least 2 completed trials (this sweep has {len(complete)})"
    varied = [name for name in complete[0].params
              if len({repr(t.params.get(name)) for t in complete}) > 1]
    if not varied:
        return {}, "parameter importances need completed trials with different values"
    dice = {t.value for t in complete}
    if len(dice) == 1:  # nothing to explain (Optuna would warn and call every parameter equal)
        return {}, (f"parameter importances: every completed trial has the same valid Dice ({dice.pop():.4f}), "
                    "so the parameters cannot be told apart")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=SAME_TRIALS_WARNING)
            evaluator = optuna.importance.PedAnovaImportanceEvaluator()
            return dict(optuna.importance.get_param_importances(study, evaluator=evaluator, params=varied)), ""
    except Exception as exc:
        return {}, f"parameter importances unavailable ({first_line(exc)})"


def spec_of(study: optuna.Study) -> dict[str, Any]:
    spec = study.user_attrs.get(SPEC_ATTR)
    return spec if isinstance(spec, dict) else {}


def searched_names(study: optuna.Study) -> list[str]:
    """The searched fields in the order the sweep's spec gives them (its ``--param`` flags or TOML
    keys): the leaderboard's columns, in ``--show`` and on the dashboard alike; [] if unrecorded."""
    params = spec_of(study).get("params", [])
    return [p.partition("=")[0] for p in params if isinstance(p, str)] if isinstance(params, list) else []


def log_searched_names(study: optuna.Study) -> list[str]:
    """The fields the sweep's spec searches log-uniformly (``log:LO:HI``): the dashboard plots
    them against Dice on a log axis, whatever the spread of the values drawn so far."""
    from engine.sweep.spec import SweepSpecError, parse_param

    names = []
    for text in spec_of(study).get("params") or []:
        try:
            param = parse_param(text) if isinstance(text, str) else None
        except SweepSpecError:  # a field of another petseg version: plotted as its values suggest
            continue
        if param is not None and param.kind == "log":
            names.append(param.name)
    return names


def progress_text(study: optuna.Study) -> str:
    """How far the sweep is into its budget, as ``--show`` and the dashboard say it: ``5 of 24
    trials``; a grid's budget is its points (a failed point is run again by a re-run):
    ``3 of 4 grid points (5 trials)``, counting points with a complete, pruned or running trial."""
    spec = spec_of(study)
    budget, held = spec.get("trials"), len(counted_trials(study))
    if not isinstance(budget, int) or isinstance(budget, bool):
        return f"{held} of ? trials"
    if spec.get("sampler") == "grid":
        names = [p.partition("=")[0] for p in spec.get("params") or [] if isinstance(p, str)]
        done = len(grid_points(study, names))
        return f"{done} of {budget} grid point{'' if budget == 1 else 's'} ({held} trial{'' if held == 1 else 's'})"
    return f"{held} of {budget} trial{'' if budget == 1 else 's'}"


def refused_text(study: optuna.Study) -> str:
    """The random/TPE draws the config refused before they started, as ``--show`` and the dashboard
    say them under the leaderboard, which lists only the trials the budget counts (a sampler draws
    a refused one again): how many, and the last one's reason; "" if none. A refused grid point
    is a trial of the budget: its row says why."""
    refused = [t for t in study.get_trials(deepcopy=False)
               if t.user_attrs.get(REFUSED_ATTR) and t.user_attrs.get(SURPLUS_ATTR)]
    if not refused:
        return ""
    n = len(refused)
    why = str(refused[-1].user_attrs.get(REASON_ATTR) or "no reason recorded")
    return (f"{n} draw{'' if n == 1 else 's'} refused before {'it' if n == 1 else 'they'} started, not "
            f"counted in the budget{'; the last' if n > 1 else ''}: {why}")


def gave_up_text(study: optuna.Study) -> str:
    """Why the sweep's last process stopped asking for trials before its budget was spent, in the
    line it logged ("sweep NAME stopped: its first 2 trials failed ..."); "" if it did not (or a
    re-run goes on)."""
    line = study.user_attrs.get(GAVE_UP_ATTR)
    return line if isinstance(line, str) else ""


def still_running(study: optuna.Study) -> int:
    """The study's trials that run (or wait) now: another sweep process's, once this one is done."""
    return sum(t.state in (TrialState.RUNNING, TrialState.WAITING) for t in counted_trials(study))


def evaluate_best(study: optuna.Study, runs_dir: Path, log: Callable[[str], None] = print,
                  evaluate: Callable[..., Any] | None = None) -> dict[str, Any] | None:
    """Score the best trial's best.pt on the test split at photo size (``petseg eval``'s headline
    figure) and keep it in the study; None (and a line why) when there is nothing to score or it
    was already scored. ``evaluate``: `evaluate_checkpoint` (tests give a stand-in)."""
    try:
        best = study.best_trial
    except ValueError:
        log("no completed trial: nothing to evaluate on the test split")
        return None
    done = study.user_attrs.get(EVAL_ATTR) or {}
    if done.get("trial") == best.number:
        return done
    from engine.runs import checkpoint_for

    run = Path(runs_dir) / str(best.user_attrs.get(RUN_ATTR, ""))
    try:
        ckpt, _ = checkpoint_for(run)
        if evaluate is None:
            from engine.eval.evaluate import evaluate_checkpoint as evaluate
        res = evaluate(ckpt, None, split="test", ignore_border=EVAL_IGNORE_BORDER)
    except Exception as exc:
        log(f"the best trial ({best.number}, run {run.name}) could not be evaluated: {first_line(exc)}")
        return None
    h = res.headline
    record = {"trial": best.number, "run": run.name, "split": "test", "test_dice": float(h.dice),
              "test_iou": float(h.iou), "images": int(res.n_images), "scoring": res.label("photo")}
    if not math.isfinite(record["test_dice"]):
        return None
    study.set_user_attr(EVAL_ATTR, record)
    log(f"best trial {best.number} (run {run.name}): test Dice {h.dice:.4f}  IoU {h.iou:.4f} on "
        f"{res.n_images} test images at {res.label('photo')}")
    return record
