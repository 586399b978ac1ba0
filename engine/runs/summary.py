"""One row of the runs table (`RunSummary`), its filter, and the rule for offering a resume."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.durations import format_duration, parse_duration
from engine.runs.epoch_progress import EpochProgress
from engine.runs.history import RunHistory
from engine.runs.layout import checkpoint_path, has_checkpoint
from engine.runs.state import RunState
from engine.sweep.record import sweep_of


@dataclass
class RunSummary:
    """One row of the runs table."""

    name: str
    path: Path
    state: RunState  # a plain string is taken as its RunState (UNKNOWN if it names none)
    model: str = ""
    epoch: int = 0
    total_epochs: int = 0
    best_dice: float | None = None
    best_epoch: int | None = None
    last_train_loss: float | None = None
    images_per_s: float | None = None  # median over the epochs
    started: float | None = None
    duration: float | None = None  # training time (pauses and stopped gaps left out)
    message: str = ""  # for a broken run: what is wrong
    config: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # config.json
    last_valid_loss: float | None = None
    best_iou: float | None = None  # valid IoU at the best-Dice epoch
    last_lr: float | None = None
    learning_rate: float | None = None  # config.json's: what the LR column, its sort and `lr<1e-3` read
    epoch_seconds: float | None = None  # median
    has_last_checkpoint: bool = False  # checkpoints/last.pt exists: a resume continues from it
    has_checkpoint: bool = False  # best.pt or last.pt exists: its model can be used (infer, worst, export)
    processes: int = 1  # data-parallel world size (config.json's distributed.world_size)
    sweep: str = ""  # the sweep that started the run (config.json's sweep.name), "" for none
    trial: int | None = None  # its trial number in that sweep
    gpu_util: float | None = None  # a running run's mean GPU utilisation, from its newest system.jsonl sample
    current_epoch: int = 0  # the epoch last begun: past ``epoch`` while one trains, or when one was cut short
    saved_epoch: int | None = None  # the epoch last.pt holds (`RunHistory.saved_epoch`): can trail ``epoch``
    saved_trained_seconds: float | None = None  # the --time_budget seconds last.pt holds (`RunHistory`'s)

    def __post_init__(self) -> None:
        if not isinstance(self.state, RunState):
            self.state = RunState.parse(self.state)

    @classmethod
    def from_history(cls, path: Path, history: RunHistory) -> "RunSummary":
        last, best = history.last_epoch, history.best
        return cls(
            name=history.name,
            path=path,
            state=history.state,
            model=str(history.config.get("model", "")),
            epoch=last.epoch if last else 0,
            total_epochs=history.planned_epochs,
            best_dice=best.valid_dice if best else None,
            best_epoch=best.epoch if best else None,
            last_train_loss=last.train_loss if last else None,
            images_per_s=history.images_per_s,
            started=history.started or history.status.get("created"),
            duration=history.duration,
            message=history.message,
            config=history.config,
            last_valid_loss=last.valid_loss if last else None,
            best_iou=best.valid_iou if best else None,
            last_lr=last.lr if last else None,
            learning_rate=_number(history.config.get("learning_rate")),
            epoch_seconds=history.epoch_seconds,
            has_last_checkpoint=checkpoint_path(path, "last").is_file(),
            has_checkpoint=has_checkpoint(path),
            processes=world_size(history.config),
            current_epoch=history.current_epoch,
            saved_epoch=history.saved_epoch,
            saved_trained_seconds=history.saved_trained_seconds,
            **_sweep_fields(history.config),
        )

    @property
    def epoch_progress(self) -> EpochProgress:
        """Its epochs in the words every view uses (the live screen says the same)."""
        return EpochProgress(self.epoch, self.total_epochs, self.current_epoch, self.state)

    @property
    def model_label(self) -> str:
        """The model as the runs table shows it: ``unet``, or ``unet x4`` for four processes."""
        return f"{self.model} x{self.processes}" if self.model and self.processes > 1 else self.model

    def resume_offer(self) -> "ResumeOffer":
        # without last.pt, a checkpoint is best.pt (and with last.pt the offer never reads it): no stat again
        kept_best = self.best_epoch if self.has_checkpoint else None
        return resume_offer(self.name, self.state, self.has_last_checkpoint, self.message, kept_best, self.epoch,
                            self.saved_epoch, time_budget_of(self.config), spent_time_budget(self.config),
                            self.saved_trained_seconds)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _sweep_fields(config: dict[str, Any]) -> dict[str, Any]:
    record = sweep_of(config)
    return {"sweep": record.name, "trial": record.trial} if record else {}


def world_size(config: dict[str, Any]) -> int:
    """How many data-parallel processes a run's config.json records (1 when none or malformed)."""
    dist = config.get("distributed") if isinstance(config, dict) else None
    size = dist.get("world_size") if isinstance(dist, dict) else None
    return size if isinstance(size, int) and not isinstance(size, bool) and size >= 1 else 1


@dataclass(frozen=True)
class ResumeOffer:
    """What the TUI's R offers for a run: ``action`` "resume" (continue from last.pt), "restart"
    (no epoch ever finished, so no last.pt: train again from epoch 1 with the run's own config),
    or "" when it cannot be resumed; ``reason`` says why, in words for the user; ``lost_last``:
    it cannot because its last.pt was lost after it trained on (a restart would replace its
    model). (How a resume then proceeds, flags and budget, is `engine.train.resume.plan_resume`'s.)"""

    action: str
    reason: str
    note: str = ""  # said before a resume: last.pt trails the epochs reached (`rewind_note`)
    lost_last: bool = False


def rewind_note(saved: int, reached: int) -> str:
    """What a resume of a run whose last.pt holds epoch ``saved`` of the ``reached`` it trained
    does (last.pt is saved at most every --checkpoint_interval seconds): "" when it holds them all.
    The CLI's resume (engine.train.resume) and the TUI's R say the same words."""
    if reached <= saved:
        return ""
    again = f"epoch {reached} is" if reached == saved + 1 else f"epochs {saved + 1}-{reached} are"
    return (f"last.pt holds epoch {saved} of the {reached} the run reached: the resume goes on after epoch {saved}, "
            f"so {again} trained again")


def time_budget_of(config: dict[str, Any]) -> str | None:
    """A run's ``--time_budget`` as config.json records it (None: it has none)."""
    budget = config.get("time_budget") if isinstance(config, dict) else None
    return budget if isinstance(budget, str) and budget else None


def spent_time_budget(config: dict[str, Any]) -> bool:
    """config.json says the run trained its whole ``--time_budget`` (its ``time_budget_result``,
    written as it ends): a run that ended at its --epochs first has budget left."""
    result = config.get("time_budget_result") if isinstance(config, dict) else None
    if not isinstance(result, dict):
        return False
    trained, budget = _number(result.get("trained_seconds")), _number(result.get("budget_seconds"))
    return trained is not None and budget is not None and trained >= budget


def budget_seconds_left(time_budget: str, trained_seconds: float) -> float | None:
    """The seconds of ``time_budget`` (config.json's text) left after ``trained_seconds`` (the
    figure last.pt holds, which the resume's `TimeBudget` goes on from); None if the budget does not read."""
    try:
        return max(0.0, parse_duration(time_budget) - trained_seconds)
    except ValueError:
        return None


def budget_left_note(time_budget: str, trained_seconds: float | None) -> str:
    """What a resume of a --time_budget run trains for: "it trains for the 43s left of its 90s time
    budget". ``trained_seconds``: the training seconds last.pt holds (None: not recorded, a run of an
    older petseg; the words then give no figure). The TUI's R and `petseg train --resume` say the same."""
    left = budget_seconds_left(time_budget, trained_seconds) if trained_seconds is not None else None
    if left is None:
        return f"it trains for what is left of its {time_budget} time budget"
    return f"it trains for the {format_duration(left)} left of its {time_budget} time budget"


def resume_offer(name: str, state: str, has_last_checkpoint: bool, message: str = "",
                 best_epoch: int | None = None, epochs_done: int = 0,
                 saved_epoch: int | None = None, time_budget: str | None = None,
                 budget_spent: bool = False, trained_seconds: float | None = None) -> ResumeOffer:
    """The one rule for offering a resume (the TUI's R key and its hints follow it). A run whose
    writer lock is held is "running" (`RunHistory.state`): still training somewhere.
    ``best_epoch``: the epoch of its best.pt, if it has one (a restart would replace that file);
    ``epochs_done``: the last finished epoch its events record; ``saved_epoch``: the epoch its
    last.pt holds, as the events record it (None: not recorded); ``time_budget``: its
    ``--time_budget`` (`time_budget_of`), which a resume continues; ``budget_spent``: the run
    trained all of it (`spent_time_budget`), so `engine.train.resume` refuses more epochs;
    ``trained_seconds``: the training seconds of that budget last.pt holds (`RunHistory.saved_trained_seconds`),
    what the resume goes on from (None: not recorded)."""
    kind = RunState.parse(state)
    spent_offer = ResumeOffer("", f"{name} has spent its {time_budget} time budget; to train longer, start a new "
                                  "run from a copy of its settings (N) with a longer budget")
    if kind.is_resumable:
        if has_last_checkpoint:
            if time_budget and trained_seconds is not None and budget_seconds_left(time_budget, trained_seconds) == 0:
                return spent_offer  # last.pt holds the whole budget: `engine.train.resume` refuses it
            notes = [rewind_note(saved_epoch, epochs_done) if saved_epoch is not None else "",
                     budget_left_note(time_budget, trained_seconds) if time_budget else ""]
            return ResumeOffer("resume", f"continues {name} from its last.pt", "; ".join(n for n in notes if n))
        if best_epoch is not None and best_epoch > 1:  # last.pt lost since: `check_nothing_to_lose`
            return ResumeOffer("", f"{name} has lost its last.pt: starting again from epoch 1 would replace "
                                  f"its best.pt (epoch {best_epoch}); put last.pt back, or start a new run", lost_last=True)
        if epochs_done >= 2:  # last.pt was saved at epoch 1's end, and lost since: `check_nothing_to_lose`
            return ResumeOffer("", f"{name} has lost its last.pt: it trained {epochs_done} epochs, and starting "
                                  "again from epoch 1 would replace its best.pt and curves; put last.pt back, "
                                  "or start a new run", lost_last=True)
        return ResumeOffer("restart", f"{name} has no last.pt (it ended before its first epoch finished): "
                                     "it starts again from epoch 1 with the same settings")
    if kind.is_active:
        return ResumeOffer("", f"{name} is still training")
    if kind == RunState.DIVERGED:
        return ResumeOffer("", f"{name} diverged: resuming repeats the same steps from last.pt and diverges "
                              "again; start a new run with a lower learning rate")
    if kind == RunState.FINISHED and time_budget and budget_spent:
        return spent_offer
    if kind == RunState.FINISHED:
        return ResumeOffer("", f"{name} is finished; to train more epochs: petseg train --resume {name} --epochs N")
    return ResumeOffer("", f"{name} is {state}: {message or 'nothing to resume'}")
