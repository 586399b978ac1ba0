"""A sweep's spec: its name, the search space over `TrainConfig` fields, the budget, the sampler,
the pruner, where trials run, and the base train flags every trial shares.

A parameter is ``name=kind:args`` (``--param`` or a TOML ``[params]`` table):
``log:LO:HI`` (log-uniform), ``uniform:LO:HI`` (uniform; integers for an int field),
``int:LO:HI[:STEP]`` and ``choice:A,B,C``. ``name`` is any `TrainConfig` field: values are read by
the field's own `ConfigField.parse_value` and checked by `TrainConfig.field_errors`, so a field
added to the config is searchable with no change here. A bad parameter is one `SweepSpecError`
line; `engine.sweep.spec_build.build_spec` makes the whole checked spec from the settings. No
torch, no Optuna.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from engine.config import TrainConfig, absolute_values, config_fields
from engine.errors import ConfigError
from engine.field_spec import ConfigField
from engine.runs.query import name_meant

PARAM_KINDS = ("log", "uniform", "int", "choice")
# train fields a sweep sets itself: --devices is the sweep's own flag (GPUs to schedule on)
SWEEP_OWNED_FIELDS = ("devices",)
# the settings a re-run of a sweep may change (`SweepSpec.differs_from` lets them): the budget,
# sampler, pruner, slots and the best trial's test scoring; ``petseg sweep --resume`` takes these
# flags and refuses the others (the search space, the train flags, the processes of a trial)
RERUN_CHANGES = ("trials", "sampler", "sampler_seed", "prune", "prune_warmup", "devices", "per_device", "parallel",
                 "eval_best")
SLOT_KEYS = ("devices", "per_device", "parallel")  # where trials run: given anew as a whole (another box)


class RefusedDraw(ConfigError):
    """A trial's sampled values make a config its fields refuse; ``field`` is the first refusing one."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class SweepSpecError(ConfigError):
    """A bad sweep spec: one line naming the flag (or TOML file and key) and what is wrong."""


def field_by_name() -> dict[str, ConfigField]:
    """Every `TrainConfig` field by its name."""
    return {f.name: f for f in config_fields()}


def value_text(name: str, value: object, digits: int = 4) -> str:
    """A searched ``value`` of field ``name`` as every sweep output shows it (the start line, each
    trial's line, ``--show``, the dashboard's leaderboard): a float in ``digits`` significant
    digits, anything else as its flag takes it (``none``, ``yes``/``no``), never Python's None."""
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    field = field_by_name().get(name)
    return field.format_value(value) if field is not None else str(value)


@dataclass(frozen=True)
class ParamSpec:
    """One searched field: ``kind`` log/uniform/int/choice, ``low``/``high`` (and ``step``) of a
    range, ``choices`` of a choice; all values already of the field's type."""

    name: str
    kind: str
    low: Any = None
    high: Any = None
    step: Any = None
    choices: tuple[Any, ...] = ()
    text: str = ""  # as the user wrote it, for messages

    @property
    def is_int(self) -> bool:
        return field_by_name()[self.name].kind == "int"

    def grid_values(self) -> tuple[Any, ...] | None:
        """The values a grid walks: the choices, or every step of an int range; None for a
        continuous range."""
        if self.kind == "choice":
            return self.choices
        if self.is_int and self.kind in ("int", "uniform"):
            return tuple(range(self.low, self.high + 1, self.step or 1))
        return None

    def describe(self) -> str:
        if self.kind == "choice":
            return f"{self.name} in {{{', '.join(value_text(self.name, c) for c in self.choices)}}}"
        return f"{self.name} {self.kind} [{self.low}, {self.high}]" + (f" step {self.step}" if self.step else "")

    def to_text(self) -> str:
        """The ``name=kind:...`` text that parses back to this spec."""
        f = field_by_name()[self.name]
        if self.kind == "choice":
            return f"{self.name}=choice:" + ",".join(f.format_value(c) for c in self.choices)
        tail = f":{self.step}" if self.step else ""
        return f"{self.name}={self.kind}:{f.format_value(self.low)}:{f.format_value(self.high)}{tail}"


def parse_param(text: str, where: str | None = None) -> ParamSpec:
    """``name=kind:args`` as a `ParamSpec`; SweepSpecError (one line, starting with ``where``:
    ``--param TEXT`` by default, the file and key for a TOML's) if it is not a valid one."""
    def bad(why: str) -> SweepSpecError:
        return SweepSpecError(f"{where or f'--param {text}'}: {why}")

    name, sep, rule = text.partition("=")
    name = name.strip().lstrip("-").replace("-", "_")
    if not sep or not name:
        raise bad("expected NAME=KIND:ARGS, e.g. learning_rate=log:1e-4:3e-3 or width=choice:32,64")
    fields = field_by_name()
    if name not in fields:
        meant = name_meant(name, fields)
        raise bad(f"unknown train field {name!r}" + (f" (did you mean {meant}?)" if meant else ""))
    if name in SWEEP_OWNED_FIELDS:
        raise bad(f"{name} is set by the sweep (--devices / --devices_per_trial), it cannot be searched")
    f = fields[name]
    kind, _, args = rule.strip().partition(":")
    if kind not in PARAM_KINDS:
        raise bad(f"unknown kind {kind!r}: use one of {', '.join(PARAM_KINDS)} (e.g. {name}=choice:a,b)")

    def value(t: str) -> Any:
        t = t.strip()
        if not t:
            raise bad("an empty value")
        try:
            return f.parse_value(t)
        except ValueError as exc:
            raise bad(f"{name}: {exc}") from None

    if kind == "choice":
        parts = args.split(",")
        # a path field's choices absolute, as its fixed value (`build_spec`): the study records
        # them, and a resume (petseg sweep --resume, the dashboard's R) may run in another folder
        choices = tuple(f.absolute(value(p)) for p in parts) if args.strip() else ()
        if not choices:
            raise bad("an empty choice list")
        if len(set(map(repr, choices))) != len(choices):
            raise bad("a value is listed twice")
        return ParamSpec(name, "choice", choices=choices, text=text)
    if f.kind not in ("int", "float"):
        raise bad(f"{name} is a {f.kind} field: search it with choice:A,B")
    if kind == "int" and f.kind != "int":
        raise bad(f"{name} is a float field: use uniform:LO:HI or log:LO:HI")
    parts = args.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and kind != "int"):
        raise bad(f"expected {kind}:LO:HI" + ("[:STEP]" if kind == "int" else ""))
    low, high = value(parts[0]), value(parts[1])
    step = value(parts[2]) if len(parts) == 3 else None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise bad("the range ends must be finite numbers")
    if kind == "log" and (low <= 0 or high <= 0):
        raise bad("a log range needs both ends above 0")
    if not low < high:
        raise bad(f"empty range: {parts[1].strip()} is not above {parts[0].strip()}")
    if step is not None and (step <= 0 or step > high - low):
        raise bad(f"step {step} must be between 1 and the range's width ({high - low})")
    return ParamSpec(name, kind, low=low, high=high, step=step, text=text)


@dataclass(frozen=True)
class SweepSpec:
    """Everything ``petseg sweep`` runs: the flags (or the TOML file) after checking."""

    name: str
    params: tuple[ParamSpec, ...]
    trials: int = 10
    sampler: str = "tpe"
    sampler_seed: int | None = None  # the sampler's draws repeat for one sweep process (None: fresh)
    prune: str = "median"
    prune_warmup: int = 1  # the first epochs of every trial, reported but never pruned on
    devices: tuple[int, ...] | None = None  # GPU indices; None: the CPU (--parallel)
    per_device: int = 1
    parallel: int = 1
    devices_per_trial: int = 1
    storage: str | None = None  # an Optuna storage URL; None: the journal file in the runs folder
    base: dict[str, Any] = field(default_factory=dict)  # typed train flags every trial shares
    eval_best: bool = True  # score the best trial on the test split at the end
    # the settings a --spec file gave (and no flag overrode): "trials", "params.width",
    # "train.epochs" -> "--spec FILE: KEY = VALUE", how a message names them (`where`)
    from_file: dict[str, str] = field(default_factory=dict, compare=False)

    def where(self, key: str, flag: str) -> str:
        """How a message names setting ``key``: ``flag`` (``--epochs 0``), or the file and key the
        value came from (``--spec f.toml: train.epochs = 0``)."""
        return self.from_file.get(key, flag)

    def trial_config(self, values: dict[str, Any]) -> TrainConfig:
        """The `TrainConfig` of a trial with the sampled ``values``; `RefusedDraw` (naming the field)
        for a combination the config refuses (e.g. warmup_epochs >= epochs), known before any process."""
        # absolute: a study of an older petseg drew a path choice relative (`engine.sweep.study.drawn_choices`)
        config = TrainConfig(**{**self.base, **absolute_values(values)})
        if self.devices_per_trial > 1:
            config = dataclasses.replace(config, devices=str(self.devices_per_trial))
        errors = config.field_errors()
        if errors:
            name, message = next(iter(errors.items()))
            raise RefusedDraw(name, f"--{name} {getattr(config, name)}: {message}")
        return config

    def to_dict(self) -> dict[str, Any]:
        """What the study records of the spec (shown by ``--show`` and the TUI)."""
        return {"name": self.name, "params": [p.to_text() for p in self.params], "trials": self.trials,
                "sampler": self.sampler, "sampler_seed": self.sampler_seed, "prune": self.prune,
                "prune_warmup": self.prune_warmup,
                "base": dict(self.base),
                "devices": list(self.devices) if self.devices is not None else None,
                "per_device": self.per_device, "parallel": self.parallel,
                "devices_per_trial": self.devices_per_trial,
                "eval_best": self.eval_best}  # read back by a resume from the record (`engine.sweep.resume`)

    def differs_from(self, recorded: dict[str, Any]) -> str | None:
        """Why this spec cannot go on with a study recorded as ``recorded`` (`to_dict` of the spec
        that made it), in a line; None if it can. The search space and the base train flags must
        be the same, or trials of two different experiments would share one leaderboard, pruner
        median and best trial, and so must the processes of each trial (``devices_per_trial``: a
        data-parallel trial's global batch is that many batches); the budget, sampler, pruner and
        slots may change from run to run (`RERUN_CHANGES`)."""
        tail = (f"; give sweep {self.name} the same search space and train flags to go on with it, "
                "or another --name for a new sweep")
        params = {p.name: p for p in self.params}
        old = {}
        for text in recorded.get("params") or []:
            if isinstance(text, str):
                old[text.partition("=")[0].strip()] = text
        for name, p in params.items():
            where = self.where(f"params.{name}", f"--param {p.text}")
            if name not in old:
                return f"{where}: sweep {self.name} does not search {name} (it searches {', '.join(old.values())}){tail}"
            if p.to_text() != old[name] and p.to_text() != _read_again(old[name]):
                return f"{where}: sweep {self.name} searches {old[name]}{tail}"
        for name, text in old.items():
            if name not in params:
                return f"--param: sweep {self.name} also searches {text}{tail}"
        was = recorded.get("devices_per_trial", 1)
        if isinstance(was, int) and was != self.devices_per_trial:  # it sets each trial's --devices
            where = self.where("devices_per_trial", f"--devices_per_trial {self.devices_per_trial}")
            return (f"{where}: sweep {self.name}'s trials train as {was} process{'es' if was > 1 else ''} each "
                    f"(--devices_per_trial {was}){tail}")
        base = recorded.get("base")
        if not isinstance(base, dict):
            return None
        for f in config_fields():
            if f.name in params or f.name in SWEEP_OWNED_FIELDS:
                continue
            was, now = base.get(f.name, f.default), self.base.get(f.name, f.default)
            if was == now or f.absolute(was) == f.absolute(now):
                continue  # a study of an older petseg records a relative data_path: the same folder
            shown = lambda v: "(none)" if v is None else f.format_value(v)
            where = (self.where(f"train.{f.name}", f"--{f.name} {shown(now)}") if f.name in self.base
                     else f"--{f.name} not given (default {shown(now)})")
            return f"{where}: sweep {self.name}'s trials train with --{f.name} {shown(was)}{tail}"
        return None

    def grid_size(self) -> int:
        n = 1
        for p in self.params:
            values = p.grid_values()
            n *= len(values) if values else 1
        return n


def _read_again(text: str) -> str | None:
    """A recorded ``name=kind:...`` as this petseg reads it (a study of an older petseg recorded a
    path choice relative: read from the current folder, as the same command there would); None
    if it no longer parses."""
    try:
        return parse_param(text).to_text()
    except SweepSpecError:
        return None


FROM_FILE = "from_file"  # the settings' key of the --spec file's labels (`SweepSpec.from_file`)
