"""What ``petseg train --resume RUN`` may change, what it refuses, and a new epoch budget's schedule.

The rules, decided by `plan_resume` before anything of the run is written:

* **Flags given with --resume.** ``--device``, ``--devices``, ``--workers``, ``--amp``, ``--compile``,
  ``--augment_on``, ``--checkpoint_interval`` and ``--cache_dir`` are applied (`RUNTIME_FIELDS`:
  they change where and how fast the run trains, not what it learns; ``--augment_on`` draws the
  same recipe from another stream). Without them a resume on the same device type keeps the
  precision and compile mode the run resolved (config.json's ``amp_resolved``,
  ``compile_resolved``), so it repeats an uninterrupted run. ``--epochs`` sets a new epoch
  budget (below). Every other flag (model, width, learning rate, batch size, image size, data
  path, seed, scheduler, mask rule, loss weights, ...) is refused with a line naming it, unless it equals the run's own value.
* **Hand-edited config.json.** last.pt was trained under the config it records. If
  config.json now disagrees with it on a field that shapes the model or what it learns (model,
  width, image size, mask rule, scheduler, learning rate, ...: `CHECKED_FIELDS`), the resume is
  refused: the weights would not fit, or the edit would be silently ignored (the optimizer
  restores its own learning rate). ``data_path`` may be edited (a dataset that moved), and so
  may the runtime fields and ``epochs``.
* **Files named relative.** A run records its path fields (`FieldSpec.path`) absolute; one of an
  older petseg recorded ``--pretrained`` and ``--cache_dir`` as typed: read from the current
  folder where they name something (its own folder, as before), else refused in one line
  (`check_relative_paths`). ``--pretrained`` is not read when last.pt holds the weights.
* **A run trained by a newer petseg.** A setting last.pt was trained with that this TrainConfig
  does not know (`TrainConfig.unknown_fields`) refuses the resume, naming it: this petseg would
  train on without it while config.json (which keeps every field it does not know, as the
  listing and the TUI show them) says it applies.
* **A new epoch budget** (``--epochs N``, or ``epochs`` edited in config.json) must exceed the
  epochs already trained; how the schedule follows it, and its record in config.json
  (``epochs`` and ``budget_changes``, shown by ``petseg runs`` and the TUI), is
  `engine.train.resume_budget`'s.
* **last.pt behind the epochs reached.** last.pt is saved at most every --checkpoint_interval
  seconds, so a killed run can show 9 epochs and hold 1: the resume goes on from last.pt's epoch
  and trains the later ones again. The plan's notes say so, as does a refused ``--epochs``
  (`engine.runs.summary.rewind_note`, the words the TUI's R says too).
* **Refused or failed before training** (any rule above, a busy run, bad data, an unusable
  checkpoint): the run is left as it was — its state, config.json and checkpoints.

Torch is imported only inside `check_weights_fit` (the weights compared on the meta device).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.config import (
    LEGACY_AUGMENT_STRENGTHS,
    RETIRED_FIELDS,
    TrainConfig,
    config_field,
    config_fields,
    is_int,
)
from engine.errors import ConfigError, RunStoreError
from engine.runs.summary import budget_left_note, rewind_note
from engine.train.resume_budget import BudgetChange

RUNTIME_FIELDS = ("device", "devices", "workers", "amp", "compile", "augment_on", "checkpoint_interval", "cache_dir")
# config.json fields that must still match last.pt's own record (a hand edit is refused)
CHECKED_FIELDS = ("model", "width", "image_size", "mask_rule", "scheduler", "learning_rate", "weight_decay",
                  "batch_size", "seed", "bce_weight", "dice_weight", "grad_clip", "valid_every",
                  "max_train_images", "warmup_epochs", "ema_decay", "augment_strength", "optimizer", "dropout")
# of those, the ones that shape the network: config.json without one would build another model
SHAPING_FIELDS = ("model", "width", "image_size")


@dataclass
class ResumePlan:
    """An accepted resume: the config to train with and what changed."""

    run_path: Path
    config: TrainConfig
    checkpoint_path: Path | None  # None: no epoch had finished; the run restarts at epoch 1
    done_epochs: int
    applied: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # flag -> (old, new)
    budget: BudgetChange | None = None
    stored: dict[str, Any] = field(default_factory=dict, repr=False)  # config.json as the plan read it
    reached_epochs: int = 0  # the last finished epoch the run's events record (last.pt can trail it)
    trained_seconds: float | None = None  # of its --time_budget, as last.pt holds them (None: no budget or no last.pt)

    def notes(self) -> list[str]:
        """One line per change, for the log."""
        out = [f"resume: --{k} {new} (was {old})" for k, (old, new) in self.applied.items()]
        if self.checkpoint_path is not None and (rewind := rewind_note(self.done_epochs, self.reached_epochs)):
            out.append(f"resume: {rewind}")
        if self.budget is not None:
            out.append(f"resume: {self.budget.describe()}")
        if self.config.time_budget is not None and self.checkpoint_path is not None:
            out.append(f"resume: {budget_left_note(self.config.time_budget, self.trained_seconds)}")
        return out

    def updated_record(self, record: dict[str, Any]) -> dict[str, Any]:
        """config.json as it must read once the resume has started."""
        record = dict(record)
        for name, (_, new) in self.applied.items():
            record[name] = new
        record["epochs"] = self.config.epochs
        if self.budget is not None:
            changes = [c for c in record.get("budget_changes") or [] if isinstance(c, dict)]
            entry = self.budget.to_dict()
            # a resume that repeats the same change (the first one crashed before last.pt) is one change
            if not changes or {k: changes[-1].get(k) for k in ("after_epoch", "from", "to")} != \
                    {k: entry[k] for k in ("after_epoch", "from", "to")}:
                changes.append(entry)
            else:
                changes[-1] = entry
            record["budget_changes"] = changes
        return record


def _same(a: Any, b: Any, name: str = "") -> bool:
    if name == "augment_strength":  # a run from before the rename records "default", its last.pt may say "smp"
        a, b = (LEGACY_AUGMENT_STRENGTHS.get(x, x) if isinstance(x, str) else x for x in (a, b))
    if name in TrainConfig.__dataclass_fields__:
        # a run records its files absolute (`ConfigField.absolute`); the same one named relative is the same
        f = config_field(name)
        a, b = f.absolute(a), f.absolute(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return float(a) == float(b)
    return a == b


def _refuse_spent_budget(run_path: Path, base: TrainConfig, checkpoint: dict[str, Any] | None) -> None:
    """A run whose last.pt holds its whole ``--time_budget`` is not resumed, whatever flags come
    with it: more epochs would train at the spent budget's end, a learning rate of 0. The way on
    is the dashboard's resume offer's (`engine.runs.summary.resume_offer`): a new run from a copy."""
    spent = checkpoint.get("time_budget") if checkpoint is not None else None
    if isinstance(spent, dict) and spent.get("elapsed_seconds", 0) >= spent.get("budget_seconds", float("inf")):
        done = int(checkpoint.get("epoch") or 0)
        raise RunStoreError(run_path, f"has spent its --time_budget {base.time_budget} (after {done} epochs); "
                                      "to train longer, start a new run from a copy of its settings with a longer "
                                      "--time_budget (N on the dashboard's runs table)")


def plan_resume(run_path: Path, stored: dict[str, Any], overrides: dict[str, Any],
                checkpoint: dict[str, Any] | None, checkpoint_path: Path | None,
                finished: bool = False, reached: int = 0) -> ResumePlan:
    """Decide a resume (see the module docstring); ConfigError/RunStoreError with one line if refused.

    ``stored``: the run's config.json; ``overrides``: the flags the user gave (TrainConfig
    field names, explicit values only); ``checkpoint``: last.pt as loaded (None if absent);
    ``finished``: status.json says the run finished. A run that trained all its epochs but
    died before saying so (killed after its final last.pt) resumes to "finished" at once.
    ``reached``: the last finished epoch the run's events record; last.pt can hold an earlier
    one (saved at most every --checkpoint_interval seconds), and a refused --epochs says so.
    """
    from engine.runs import CONFIG_FILE

    config_path = run_path / CONFIG_FILE
    known = set(TrainConfig.__dataclass_fields__) - set(RETIRED_FIELDS)
    check_no_mistyped_settings(config_path, stored, known)
    base = TrainConfig.from_dict(stored)
    errors = base.field_errors()
    if errors:
        name, message = next(iter(errors.items()))
        raise RunStoreError(config_path, f"{name} {stored.get(name)!r}: {message}")
    # a runtime flag given now replaces its recorded path; last.pt's weights replace --pretrained's
    replaced = {n for n in overrides if n in RUNTIME_FIELDS} | ({"pretrained"} if checkpoint is not None else set())
    check_relative_paths(config_path, base, replaced)

    # first: nothing a flag changes can go on from a spent budget ("--epochs 3: ..." read as the reason)
    _refuse_spent_budget(run_path, base, checkpoint)
    applied: dict[str, tuple[Any, Any]] = {}
    new_epochs: int | None = None
    for name, value in overrides.items():
        if name not in known:
            raise ConfigError(f"--{name}: cannot be used with --resume")
        current = getattr(base, name)
        if name == "epochs":
            if base.epochs is None or value is None:  # an epoch bound is not added or taken away
                raise ConfigError(
                    f"--epochs {'none' if value is None else value}: "
                    + ("this run trains for its --time_budget alone, and a resume goes on with what is left of it"
                       if base.epochs is None else f"a resumed run keeps its bound of {base.epochs} epochs")
                    + "; start a new run to change it")
            new_epochs = int(value)
        elif name in RUNTIME_FIELDS:
            value = config_field(name).absolute(value)  # recorded as a new run records it (--cache_dir)
            if not _same(current, value):
                applied[name] = (current, value)
                setattr(base, name, value)
        elif not _same(current, value, name):
            hint = (" (if the same dataset moved, edit data_path in config.json)" if name == "data_path"
                    else "")
            # unset as the flag's word for it (--time_budget none, --max_train_images all): "chosen
            # automatically" read as if the run had a time budget, a subset, weights petseg picked
            shown = (config_field(name).spec.placeholder or "unset") if current is None else _as_typed(current)
            raise ConfigError(
                f"--{name} {_as_typed(value, quoted=False)}: a resumed run keeps its {name} ({shown}); start a new run to "
                f"change it{hint}"
            )

    done = 0
    trained_budget = base.epochs
    trained_seconds = None
    if checkpoint is not None:
        trained = checkpoint.get("config") if isinstance(checkpoint.get("config"), dict) else {}
        check_no_newer_settings(config_path, stored, trained)
        for name in CHECKED_FIELDS:
            if name == "width" and base.model != "unet":
                continue  # the encoder models have no width
            if name in SHAPING_FIELDS and name in trained and name not in stored:
                raise RunStoreError(config_path, f"{name} is missing but last.pt was trained with {trained[name]!r} "
                                                 "(edited by hand?); put it back, or start a new run")
            if name in trained and name in stored and not _same(stored[name], trained[name], name):
                raise RunStoreError(
                    config_path,
                    f"{name} is {stored[name]!r} but last.pt was trained with {trained[name]!r} (edited by "
                    "hand?); put it back, or start a new run to train with it",
                )
        arch = checkpoint.get("arch") or {}
        if arch.get("name") not in (None, base.model):
            raise RunStoreError(config_path, f"model is {base.model!r} but last.pt holds a {arch.get('name')!r} "
                                             "network; put it back, or start a new run")
        done = int(checkpoint.get("epoch") or 0)
        if isinstance(trained.get("epochs"), int):
            trained_budget = trained["epochs"]
        spent = checkpoint.get("time_budget")
        if isinstance(spent, dict) and isinstance(spent.get("elapsed_seconds"), (int, float)):
            trained_seconds = float(spent["elapsed_seconds"])  # what `TimeBudget.load_state_dict` goes on from

    if base.epochs is None:  # the time budget alone: what is left of it (refused above once spent)
        return ResumePlan(run_path=run_path, config=base, checkpoint_path=checkpoint_path, done_epochs=done,
                          applied=applied, budget=None, stored=stored, reached_epochs=reached,
                          trained_seconds=trained_seconds)
    target = new_epochs if new_epochs is not None else base.epochs
    # the table shows the epochs reached; a budget judged against them is refused for another reason
    # than the user thinks when last.pt holds fewer ("makes warmup_epochs 3 invalid" for a 9/30 run)
    rewind = f"; {rewind_note(done, reached)}" if checkpoint is not None and reached > done else ""
    if target < 1 or target > 100_000:
        raise ConfigError(f"--epochs {target}: must be an integer between 1 and 100000")
    if target <= done and not (new_epochs is None and not finished and target == done):
        if new_epochs is None:
            raise RunStoreError(
                run_path,
                f"has already trained all its {done} epochs; to train more: "
                f"petseg train --resume {run_path.name} --epochs N (N > {done})",
            )
        raise ConfigError(f"--epochs {target}: the run has already trained {done} epochs; give more than {done}{rewind}")
    budget = None
    if target != trained_budget and checkpoint is not None:
        budget = BudgetChange(after_epoch=done, old=trained_budget, new=target, scheduler=base.scheduler)
    base.epochs = target
    errors = base.field_errors()  # e.g. a budget cut below the warm-up
    if errors:
        name, message = next(iter(errors.items()))
        if name == "warmup_epochs" and is_int(base.warmup_epochs):
            # the user may never have typed it (auto: 3 of 30 epochs), and --warmup_epochs is refused
            # with --resume: say the way out, not only what breaks
            w = base.warmup_epochs
            raise ConfigError(f"--epochs {target}: the run warms up for {w} epochs (its warmup_epochs, set when it "
                              f"started and kept by a resume), so it needs more than {w}: give --epochs {w + 1} or "
                              f"more, or start a new run{rewind}")
        raise ConfigError(f"--epochs {target}: makes {name} {getattr(base, name)} invalid ({message}){rewind}")
    return ResumePlan(run_path=run_path, config=base, checkpoint_path=checkpoint_path, done_epochs=done,
                      applied=applied, budget=budget, stored=stored, reached_epochs=reached,
                      trained_seconds=trained_seconds)


def check_relative_paths(config_path: Path, config: TrainConfig, replaced: Collection[str] = ()) -> None:
    """RunStoreError (one line) for a path field config.json records relative (`ConfigField.relative`:
    an older petseg's --pretrained, --cache_dir) that names nothing from the current directory:
    the folder the run started in is not recorded, and from another a resume would miss the file
    or make a new cache folder there. ``replaced``: fields the resume does not read from config.json."""
    import os

    for f in config_fields():
        value = getattr(config, f.name)
        if f.name in replaced or not f.relative(value) or os.path.exists(here := f.absolute(value)):
            continue
        flag = f" (or give --{f.name} with --resume)" if f.name in RUNTIME_FIELDS else ""
        raise RunStoreError(config_path, f"{f.name} {value} is relative (recorded as typed by an older petseg), and "
                                         f"from {os.getcwd()} names {here}, which does not exist; resume the run "
                                         f"from the folder it was started in, or write its full path in "
                                         f"config.json{flag}")


def check_no_mistyped_settings(config_path: Path, stored: dict[str, Any], known: set[str]) -> None:
    """RunStoreError (one line) for a key of config.json that is not a setting but nearly spells
    one (``epoch`` for ``epochs``, ``learning_rat``): an edit for the resume (README: edit
    ``epochs`` there) that would otherwise be ignored without a word. config.json's own records
    (``amp_resolved``, ``versions``, ...) are far from every setting's name."""
    import difflib

    settings = sorted(known)
    for key in stored:
        if key in known:
            continue
        near = difflib.get_close_matches(key, settings, n=1, cutoff=0.85)
        if near:
            raise RunStoreError(config_path, f"{key}: not a setting (did you mean {near[0]}?); correct config.json, "
                                             "then resume again")


def check_no_newer_settings(config_path: Path, stored: dict[str, Any], trained: dict[str, Any]) -> None:
    """RunStoreError (one line naming them) if last.pt was trained with settings a newer petseg has
    and this one does not know: the resume would go on without them while config.json, which
    keeps them, says they still apply."""
    from engine.version import UNKNOWN, petseg_version

    unknown = TrainConfig.unknown_fields(trained)
    if not unknown:
        return
    versions = stored.get("versions") if isinstance(stored.get("versions"), dict) else {}
    writer, ours = versions.get("petseg"), petseg_version()
    # named only when it tells the user something: "petseg unknown" (a source tree without
    # metadata) or this very version (a development build) read "resume it with petseg 0.1.0 or
    # newer" to a user of petseg 0.1.0
    named = isinstance(writer, str) and writer not in ("", UNKNOWN, ours)
    by = f"petseg {writer}" if named else "a newer petseg"
    this = f"this petseg {ours}" if ours != UNKNOWN else "this petseg"
    raise RunStoreError(config_path, f"{', '.join(unknown)}: settings of {by} that {this} "
                                     f"does not know, so a resume here would train without them; resume it with "
                                     f"{by}{' or newer' if named else ''}, or start a new run")


def _as_typed(value: Any, quoted: bool = True) -> str:
    """A flag's value as the user types it: yes/no for a switch (not True/False)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return repr(value) if quoted else str(value)


def plan_for_run(run_path: Path, overrides: dict[str, Any]) -> ResumePlan:
    """`plan_resume` for the run folder ``run_path``: reads its config.json and last.pt."""
    from engine.checkpoint import load_checkpoint
    from engine.runs import CONFIG_FILE, STATUS_FILE, RunState, RunStore, read_run_json
    from engine.runs.layout import own_checkpoint

    stored = read_run_json(run_path / CONFIG_FILE)
    try:
        finished = read_run_json(run_path / STATUS_FILE).get("state") == RunState.FINISHED
    except RunStoreError:  # status.json torn or gone: the journal says whether its last session finished
        finished = finished_by_its_events(run_path)
    ckpt_path = own_checkpoint(run_path, "last")  # a symlink out of the run was resumed from
    checkpoint = load_checkpoint(ckpt_path) if ckpt_path.exists() else None
    reached = RunStore(run_path.parent).summary(run_path).epoch  # what the runs table shows
    if checkpoint is None:
        check_nothing_to_lose(run_path, ckpt_path, finished, reached)
    plan = plan_resume(run_path, stored, overrides, checkpoint, ckpt_path if checkpoint is not None else None,
                       finished=finished, reached=reached)
    if checkpoint is not None:
        check_weights_fit(plan.config, checkpoint, ckpt_path)
    return plan


def check_nothing_to_lose(run_path: Path, last_pt: Path, finished: bool = False, done: int = 0) -> None:
    """A run without last.pt restarts from epoch 1, which is right only if it died before its
    first epoch ended (last.pt is saved at that epoch's end, before any later epoch's best.pt).
    A best.pt of a later epoch, a second finished epoch in its events or a finished run say
    last.pt was lost since (deleted, moved away): the restart would replace that model with
    epoch 1's and the run's curves with the new ones, so it is refused in one line
    (RunStoreError). A run whose best Dice stayed at epoch 1 (a short run validating at 0.0000)
    was restarted: "no last.pt (the run ended before it saved one)", of a run that had finished.
    ``done``: the last finished epoch the run's events record."""
    from engine.checkpoint import load_checkpoint
    from engine.errors import CheckpointError
    from engine.runs.layout import own_checkpoint

    try:
        best_path = own_checkpoint(run_path, "best")
        epoch = load_checkpoint(best_path).get("epoch") if best_path.exists() else None
    except CheckpointError:
        epoch = None  # no model a restart could lose
    if isinstance(epoch, int) and not isinstance(epoch, bool) and epoch > 1:
        raise RunStoreError(last_pt, f"missing, but best.pt holds epoch {epoch} of this run: a restart from epoch 1 "
                                     "would replace it; put last.pt back, or keep best.pt and start a new run")
    if finished or done >= 2:
        trained = f"finished its {done} epoch(s)" if finished else f"recorded {done} finished epochs"
        raise RunStoreError(last_pt, f"missing, but the run {trained}: a restart from epoch 1 would replace its "
                                     "best.pt and curves; put last.pt back, or keep best.pt and start a new run")


def check_weights_fit(config: TrainConfig, checkpoint: dict[str, Any], path: Path) -> None:
    """RunStoreError (one line naming last.pt) unless its weight tensors are exactly those of the
    network ``config`` builds — names and shapes, compared on torch's meta device (nothing is
    allocated), before the run folder is touched; load_state_dict's multi-line RuntimeError
    would otherwise end the resume after its status was written."""
    import torch

    from engine.models import build_model

    with torch.device("meta"):
        own = build_model(config.model, width=config.width).state_dict()
    what = f"a {config.model}" + (f" of width {config.width}" if config.model == "unet" else "")
    for key in ("model", "train_model"):  # train_model: the raw weights of a run with EMA
        if key not in checkpoint:
            continue
        state = checkpoint[key]
        if not isinstance(state, dict):
            raise RunStoreError(path, f"its {key} weights are not a state_dict; the checkpoint is damaged")
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        misshaped = [k for k in own if k in state and (not isinstance(state[k], torch.Tensor)
                                                        or tuple(state[k].shape) != tuple(own[k].shape))]
        if missing or unexpected or misshaped:
            parts = []
            if missing:
                parts.append(f"{len(missing)} missing (first: {missing[0]})")
            if unexpected:
                parts.append(f"{len(unexpected)} unexpected (first: {unexpected[0]})")
            if misshaped:
                k = misshaped[0]
                got = tuple(state[k].shape) if isinstance(state[k], torch.Tensor) else type(state[k]).__name__
                parts.append(f"{len(misshaped)} of another shape (first: {k} is {got}, the network has "
                             f"{tuple(own[k].shape)})")
            raise RunStoreError(path, f"its weights do not fit {what}, the network config.json records: "
                                      f"{', '.join(parts)}; resume abandoned, the run is left as it was")


def finished_by_its_events(run_path: Path) -> bool:
    """events.jsonl ends its last session with a "finished" event (what status.json would say)."""
    from engine.events import RunFinished, RunStarted
    from engine.runs import EVENTS_FILE, read_events

    last = [e for e in read_events(run_path / EVENTS_FILE) if isinstance(e, (RunStarted, RunFinished))]
    return bool(last) and isinstance(last[-1], RunFinished)
