"""A sweep's settings (the flags over a --spec file's, `engine.sweep.spec_file`) built into a
checked `SweepSpec` (`build_spec`): the name, budget, sampler, pruner and GPUs, then every value a
trial can draw through `TrainConfig.field_errors`, a searched field no trial's network uses, the
data and the GPUs the trials ask for. Every problem is one `SweepSpecError` line naming the flag
(or the file and key) before anything starts. No torch, no Optuna.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from engine.config import MODEL_IGNORES, TrainConfig, absolute_values, with_time_alone
from engine.field_spec import parse_yes_no
from engine.runs.layout import NAME_RULE, validate_run_name
from engine.sweep.spec import (
    FROM_FILE,
    SWEEP_OWNED_FIELDS,
    ParamSpec,
    SweepSpec,
    SweepSpecError,
    field_by_name,
    parse_param,
)

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "none")
MAX_NAME = 90  # a trial's run folder adds "-tNNN" and run names stop at 100
MAX_CHECKED = 2_048  # integers of a searched range checked against its field's rules (~0.1 s)


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
        raise SweepSpecError(f"{at('name', f'--name {name}')}: use {NAME_RULE}") from None
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
    # path fields recorded absolute, as a run's config.json has its data_path: a resume from the
    # study's record (the dashboard's R, petseg sweep --resume) may run in another folder than the
    # sweep's start (a searched one's choices: `parse_param`)
    base = with_time_alone(absolute_values(base), [p.name for p in params])
    for p in params:  # the search would silently win over the base value every trial was told
        if base.get(p.name) is not None:
            fixed = at(f"train.{p.name}", f"--{p.name} {field_by_name()[p.name].format_value(base[p.name])}")
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
    models = model.choices if model is not None else (spec.base.get("model") or field_by_name()["model"].default,)
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
    folder (`engine.data.source.data_path_problem`): a missing or unusable folder is one line now,
    not the same failure in every trial."""
    from engine.data.source import data_path_problem

    def values(name: str) -> tuple[Any, ...]:
        searched = next((p for p in spec.params if p.name == name), None)
        if searched is not None:
            return searched.choices  # str and bool fields: searched by choice only
        return (spec.base.get(name, field_by_name()[name].default),)

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
