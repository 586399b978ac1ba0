"""A sweep's spec: its name, the search space over `TrainConfig` fields, the budget, the sampler,
the pruner, where trials run, and the base train flags every trial shares.

A parameter is ``name=kind:args`` (``--param`` or a TOML ``[params]`` table):
``log:LO:HI`` (log-uniform), ``uniform:LO:HI`` (uniform; integers for an int field),
``int:LO:HI[:STEP]`` and ``choice:A,B,C``. ``name`` is any `TrainConfig` field: values are read by
the field's own `ConfigField.parse_value` and checked by `TrainConfig.field_errors`, so a field
added to the config is searchable with no change here. Every problem is one `SweepSpecError`
line raised before anything starts. No torch, no Optuna.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from typing import Any

from engine.config import MODEL_IGNORES, TrainConfig, config_fields
from engine.errors import ConfigError
from engine.field_spec import ConfigField, parse_yes_no
from engine.runs.layout import validate_run_name

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "none")
PARAM_KINDS = ("log", "uniform", "int", "choice")
# train fields a sweep sets itself: --devices is the sweep's own flag (GPUs to schedule on)
SWEEP_OWNED_FIELDS = ("devices",)
MAX_NAME = 90  # a trial's run folder adds "-tNNN" and run names stop at 100
MAX_CHECKED = 2_048  # integers of a searched range checked against its field's rules (~0.1 s)


class RefusedDraw(ConfigError):
    """A trial's sampled values make a config its fields refuse; ``field`` is the first refusing one."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class SweepSpecError(ConfigError):
    """A bad sweep spec: one line naming the flag (or TOML file and key) and what is wrong."""


def _fields() -> dict[str, ConfigField]:
    return {f.name: f for f in config_fields()}


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
        return _fields()[self.name].kind == "int"

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
            return f"{self.name} in {{{', '.join(str(c) for c in self.choices)}}}"
        return f"{self.name} {self.kind} [{self.low}, {self.high}]" + (f" step {self.step}" if self.step else "")

    def to_text(self) -> str:
        """The ``name=kind:...`` text that parses back to this spec."""
        f = _fields()[self.name]
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
    fields = _fields()
    if name not in fields:
        close = difflib.get_close_matches(name, list(fields), n=1)
        raise bad(f"unknown train field {name!r}" + (f" (did you mean {close[0]}?)" if close else ""))
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
            raise bad(f"{t!r} is not a {f.kind} value for {name} ({exc})") from None

    if kind == "choice":
        parts = args.split(",")
        choices = tuple(value(p) for p in parts) if args.strip() else ()
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
        config = TrainConfig(**{**self.base, **values})
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
                "devices_per_trial": self.devices_per_trial}

    def differs_from(self, recorded: dict[str, Any]) -> str | None:
        """Why this spec cannot go on with a study recorded as ``recorded`` (`to_dict` of the spec
        that made it), in a line; None if it can. The search space and the base train flags must
        be the same, or trials of two different experiments would share one leaderboard, pruner
        median and best trial, and so must the processes of each trial (``devices_per_trial``: a
        data-parallel trial's global batch is that many batches); the budget, sampler, pruner and
        slots may change from run to run."""
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
            if p.to_text() != old[name]:
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
            if was == now:
                continue
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


FROM_FILE = "from_file"  # the settings' key of the --spec file's labels (`SweepSpec.from_file`)

def parse_devices(text: str, where: str | None = None) -> tuple[int, ...]:
    """``0,1,3`` as GPU indices; SweepSpecError (starting with ``where``, else ``--devices TEXT``)
    if it is not a list of distinct indices."""
    where = where or f"--devices {text}"
    try:
        devices = tuple(int(t) for t in str(text).split(",") if t.strip())
    except ValueError:
        raise SweepSpecError(f"{where}: expected GPU indices such as 0,1") from None
    if not devices or any(d < 0 for d in devices) or len(set(devices)) != len(devices):
        raise SweepSpecError(f"{where}: expected distinct GPU indices such as 0,1")
    return devices


def build_spec(settings: dict[str, Any], gpu_count: Any = None) -> SweepSpec:
    """The checked `SweepSpec` from the settings (flags over a TOML file's); ``gpu_count`` (a
    callable) answers how many GPUs this machine has, asked only when ``devices`` is set. A
    value from a --spec file (``settings[FROM_FILE]``, by `engine.sweep.spec_file.load_toml`) is named by
    its file and key."""
    from_file = dict(settings.get(FROM_FILE) or {})

    def at(key: str, flag: str) -> str:
        return from_file.get(key, flag)

    name = settings.get("name")
    if not name:
        raise SweepSpecError("--name: a sweep needs a name (--name NAME, or name = \"...\" in --spec)")
    name = str(name)
    try:
        validate_run_name(name)
    except Exception:
        raise SweepSpecError(f"{at('name', f'--name {name}')}: use letters, digits, '.', '_' and '-'") from None
    if len(name) > MAX_NAME:
        raise SweepSpecError(f"{at('name', f'--name {name[:20]}...')}: at most {MAX_NAME} characters")
    texts = list(settings.get("params") or [])
    if not texts:
        raise SweepSpecError("--param: a sweep searches at least one field (e.g. --param learning_rate=log:1e-4:3e-3)")
    params = tuple(parse_param(t, from_file.get(f"params.{t.partition('=')[0].strip()}")) for t in texts)
    seen = set()
    for p in params:
        if p.name in seen:
            raise SweepSpecError(f"--param {p.text}: {p.name} is searched twice")
        seen.add(p.name)

    def integer(key: str, default: int, lo: int = 1) -> int:
        v = settings.get(key)
        v = default if v is None else v
        if not isinstance(v, int) or isinstance(v, bool) or v < lo:
            raise SweepSpecError(f"{at(key, f'--{key} {v}')}: must be an integer >= {lo}")
        return v

    trials = integer("trials", 10)
    sampler = settings.get("sampler") or "tpe"
    if sampler not in SAMPLERS:
        raise SweepSpecError(f"{at('sampler', f'--sampler {sampler}')}: must be one of {', '.join(SAMPLERS)}")
    sampler_seed = settings.get("sampler_seed")
    if sampler_seed is not None and (not isinstance(sampler_seed, int) or isinstance(sampler_seed, bool)
                                     or sampler_seed < 0):
        raise SweepSpecError(f"{at('sampler_seed', f'--sampler_seed {sampler_seed}')}: must be an integer >= 0")
    prune = settings.get("prune") or "median"
    if prune not in PRUNERS:
        raise SweepSpecError(f"{at('prune', f'--prune {prune}')}: must be one of {', '.join(PRUNERS)}")
    prune_warmup = integer("prune_warmup", 1, lo=0)
    per_device, parallel = integer("per_device", 1), integer("parallel", 1)
    devices_per_trial = integer("devices_per_trial", 1)
    devices = None
    if settings.get("devices") not in (None, ""):
        devices = parse_devices(settings["devices"], from_file.get("devices"))
        if settings.get("parallel") not in (None, 1):
            raise SweepSpecError("--parallel: with --devices, use --per_device (runs per GPU) instead")
        count = gpu_count() if gpu_count is not None else 0
        missing = [d for d in devices if d >= count]
        if missing:
            have = f"GPUs 0-{count - 1}" if count else "no GPU"
            shown = at("devices", f"--devices {settings['devices']}")
            raise SweepSpecError(f"{shown}: GPU {missing[0]} does not exist (this machine has {have})")
        if len(devices) % devices_per_trial:
            shown = at("devices_per_trial", f"--devices_per_trial {devices_per_trial}")
            raise SweepSpecError(f"{shown}: {len(devices)} GPUs do not split into groups of {devices_per_trial}")
    elif settings.get("per_device") not in (None, 1):
        raise SweepSpecError("--per_device: needs --devices (on a CPU use --parallel N)")
    base = dict(settings.get("base") or {})
    for key in SWEEP_OWNED_FIELDS:
        base.pop(key, None)
    for p in params:  # the search would silently win over the base value every trial was told
        if base.get(p.name) is not None:
            fixed = at(f"train.{p.name}", f"--{p.name} {_fields()[p.name].format_value(base[p.name])}")
            raise SweepSpecError(f"{at(f'params.{p.name}', f'--param {p.text}')}: {p.name} is also fixed "
                                 f"({fixed}); search it or fix it, not both")
    spec = SweepSpec(name=name, params=params, trials=trials, sampler=sampler, sampler_seed=sampler_seed, prune=prune,
                     prune_warmup=prune_warmup,
                     devices=devices, per_device=per_device, parallel=parallel, devices_per_trial=devices_per_trial,
                     storage=settings.get("storage") or None, base=base,
                     eval_best=_eval_best(settings.get("eval_best"), at),
                     from_file=from_file)
    if sampler == "grid":
        ranges = [p for p in params if p.grid_values() is None]
        if ranges:
            raise SweepSpecError(f"{spec.where('params.' + ranges[0].name, '--param ' + ranges[0].text)}: "
                                 "--sampler grid needs choice:... (or int:LO:HI) values")
        if trials > spec.grid_size():
            spec = dataclasses.replace(spec, trials=spec.grid_size())
    _check_values(spec)
    _check_used(spec)
    _check_data(spec)
    if gpu_count is not None:
        _check_cuda(spec, gpu_count)
    return spec


def _eval_best(value: Any, at: Any) -> bool:
    """``eval_best`` as a bool: never a truthy text read as yes (``"no"`` is a non-empty string)."""
    if value is None:
        return True
    if isinstance(value, str):
        try:
            return parse_yes_no(value)
        except ValueError as exc:
            raise SweepSpecError(f"{at('eval_best', f'--eval_best {value}')}: {exc}") from None
    if not isinstance(value, bool):
        raise SweepSpecError(f"{at('eval_best', f'--eval_best {value}')}: expected yes or no")
    return value


def _check_values(spec: SweepSpec) -> None:
    """Every value a trial can get, through `TrainConfig.field_errors` with the base flags: the
    base alone, each choice, and both ends of each range."""
    try:
        base = TrainConfig(**spec.base)
    except TypeError as exc:
        raise SweepSpecError(f"train flags: {exc}") from None
    errors = base.field_errors()
    if errors:
        name, why = next(iter(errors.items()))
        raise SweepSpecError(f"{spec.where('train.' + name, f'--{name} {getattr(base, name)}')}: {why}")
    for p in spec.params:
        for v in _drawable(p):
            errors = dataclasses.replace(base, **{p.name: v}).field_errors()
            if p.name in errors:
                raise SweepSpecError(f"{spec.where('params.' + p.name, '--param ' + p.text)}: {p.name} {v}: "
                                     f"{errors[p.name]}")


def _check_used(spec: SweepSpec) -> None:
    """A searched field no trial's network uses (width of an encoder model, pretrained of the plain
    UNet, sync_bn of a one-process trial) is one line: every trial would train the same network,
    the budget spent on seed noise."""
    model = next((p for p in spec.params if p.name == "model"), None)
    models = model.choices if model is not None else (spec.base.get("model") or _fields()["model"].default,)
    for p in spec.params:
        where = spec.where("params." + p.name, "--param " + p.text)
        if all(p.name in MODEL_IGNORES.get(m, ()) for m in models):
            verb = "ignores" if len(models) == 1 else "ignore"
            raise SweepSpecError(f"{where}: --model {', '.join(models)} {verb} {p.name}: every trial would train "
                                 "the same network")
        if p.name == "sync_bn" and spec.devices_per_trial == 1:
            raise SweepSpecError(f"{where}: a trial with one process ignores sync_bn (see --devices_per_trial)")


def _drawable(p: ParamSpec) -> tuple[Any, ...]:
    """The values of ``p`` a trial can draw that a field's rule may refuse: the choices; every
    integer of an int field's range (or `MAX_CHECKED` spread over it and its ends), since a rule
    such as image_size's multiple of 32 refuses values between two ends it accepts; a float
    range's ends (the fields' float rules are intervals)."""
    if p.kind == "choice":
        return p.choices
    if not p.is_int:
        return (p.low, p.high)
    ints = range(p.low, p.high + 1, p.step or 1)  # log and uniform draw every integer, int every step
    return (*ints[:: math.ceil(len(ints) / MAX_CHECKED)], ints[-1])


def _check_cuda(spec: SweepSpec, gpu_count: Any) -> None:
    """A trial on ``--device cuda[:N]`` (the base's or a searched choice) on a machine without
    that GPU: one line now, not the same failure in the first trials."""
    searched = next((p for p in spec.params if p.name == "device"), None)
    values = searched.choices if searched is not None else (spec.base.get("device"),)
    wanted = [v for v in values if isinstance(v, str) and (v == "cuda" or v.startswith("cuda:"))]
    if not wanted:
        return
    # with --devices a trial sees only its own group (CUDA_VISIBLE_DEVICES), numbered from 0
    count = spec.devices_per_trial if spec.devices is not None else gpu_count()
    for v in wanted:
        index = int(v[5:]) if v.startswith("cuda:") else 0
        if index < count:
            continue
        if spec.devices is not None:
            raise SweepSpecError(f"--device {v}: a trial sees only its own {count} GPU(s) of --devices, "
                                 f"as cuda:0{f'-{count - 1}' if count > 1 else ''}; leave --device auto")
        have = f"GPUs 0-{count - 1}" if count else "no GPU"
        where = (spec.where("params.device", f"--param {searched.text}") if searched is not None
                 else spec.where("train.device", f"--device {v}"))
        raise SweepSpecError(f"{where}: this machine has {have}")


def _check_data(spec: SweepSpec) -> None:
    """The data every trial would train on, as ``petseg train`` checks it before it makes a run
    folder (`engine.data.layout.data_path_problem`): a missing or unusable folder is one line now,
    not the same failure in every trial."""
    from engine.data.layout import data_path_problem

    def values(name: str) -> tuple[Any, ...]:
        searched = next((p for p in spec.params if p.name == name), None)
        if searched is not None:
            return searched.choices  # str and bool fields: searched by choice only
        return (spec.base.get(name, _fields()[name].default),)

    searched = next((p for p in spec.params if p.name == "data_path"), None)
    for data_path in values("data_path"):
        for download in values("download"):
            problem = data_path_problem(data_path, bool(download))
            if not problem:
                continue
            if data_path is None:  # the folder $PETSEG_DATA names (the problem says so), or --download's
                raise SweepSpecError(problem)
            if searched is not None:  # the problem names the choice
                raise SweepSpecError(f"{spec.where('params.data_path', f'--param {searched.text}')}: {problem}")
            where = spec.where("train.data_path", f"--data_path {data_path}")
            raise SweepSpecError(f"{where}: {problem.removeprefix(f'{data_path}: ')}")
