"""The new-run form's rows and what its values mean, without its widgets: the rows generated from
`TrainConfig`'s field declarations (`FIELDS`, then `MORE_FIELDS` for "More options"), what each
row shows first (`initial_values`, `as_raw`), and the form's values read back into a
`TrainConfig` with every check the engine makes (`parse_form`). `new_run.NewRunScreen` draws them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.widgets import Select

from engine.config import TrainConfig, auto_warmup_epochs, config_field, form_fields
from engine.errors import RunStoreError
from engine.field_spec import ConfigField
from engine.runs import validate_run_name


@dataclass(frozen=True)
class Field:
    """One row of the form: a `TrainConfig` field (its `FieldSpec`) or a form-only field."""

    name: str  # TrainConfig field, or a form-only field (run_name, detached)
    label: str
    kind: str  # int | float | str | optstr | optint | select | switch
    choices: tuple[str, ...] = ()
    placeholder: str = ""
    hint: str = ""  # shown beside the field while it is valid (a switch: when on)
    hint_off: str = ""  # a switch: shown when off
    suggest_from: str = ""  # choices and hint found when the form opens (FieldSpec.suggest_from)


def _form_kind(f: ConfigField) -> str:
    if f.spec.choices or f.spec.suggestions or f.spec.suggest_from:
        return "select"
    if f.kind == "bool":
        return "switch"
    if f.kind in ("int", "float"):
        return "optint" if f.optional and f.kind == "int" else f.kind
    return "optstr" if f.optional else "str"


def _row(f: ConfigField) -> Field:
    return Field(f.name, f.spec.label, _form_kind(f), f.spec.choices or f.spec.suggestions,
                 placeholder=f.spec.placeholder, hint=f.spec.hint, hint_off=f.spec.hint_off,
                 suggest_from=f.spec.suggest_from)


# the rows come from TrainConfig's own field declarations (engine.field_spec.FieldSpec), in its order
FIELDS: tuple[Field, ...] = tuple(_row(f) for f in form_fields("main")) + (
    Field("run_name", "Run name", "optstr", placeholder="auto: <model>-<date>-<time>"),
    Field("detached", "Detached", "switch", hint="yes — its own process: keeps training if you quit or SSH drops",
          hint_off="no — trains inside this app: quitting asks first, then stops it"),
)
MORE_FIELDS: tuple[Field, ...] = tuple(_row(f) for f in form_fields("more"))
ALL_FIELDS = FIELDS + MORE_FIELDS
FIELD_NAMES = {f.name for f in ALL_FIELDS}
FORM_ONLY = ("run_name", "detached")
# TrainConfig.field_errors reports both loss weights under bce_weight
ERROR_FIELD = {"dice_weight": "bce_weight"}


def initial_values(config: TrainConfig | None = None) -> dict[str, Any]:
    """What each row shows first: ``config``'s values (a copied run's), else the defaults."""
    c = config or TrainConfig()
    values = {f.name: getattr(c, f.name, None) for f in ALL_FIELDS}
    # a run records the warm-up "auto" gave it as a number: copied as that number, it stayed when
    # the copy's epochs were changed (N on a 25-epoch run, epochs 2: "Warm-up epochs ✗ must be
    # fewer than --epochs (2)", a field the user never set). The number auto gives is auto again.
    if (config is not None and isinstance(c.epochs, int) and isinstance(c.scheduler, str)
            and c.warmup_epochs == auto_warmup_epochs(c.epochs, c.scheduler)):
        values["warmup_epochs"] = None
    values["run_name"] = ""
    values["detached"] = True
    return values


def as_raw(f: Field, v: Any) -> Any:
    """``v`` as the field's widget holds it: an Input's text, a Select's or a Switch's value."""
    if f.kind == "select":
        return v
    if f.kind == "switch":
        return bool(v)
    return "" if v is None else (repr(v) if isinstance(v, float) else str(v))


def _parse_number(f: Field, text: str) -> tuple[Any, str]:
    """(value, error) of a numeric field's text, read as its flag reads it (`ConfigField.parse_value`:
    "auto" in an optional field is unset too) and refused in the same words ("expected an integer,
    got '2.5'"); the form said "not a number" and "must be a whole number" for what the CLI words so."""
    if not text and f.kind == "optint":
        return None, ""
    if not text:
        return None, "required"
    try:
        return config_field(f.name).parse_value(text), ""
    except ValueError as exc:
        return None, str(exc)


def cuda_problem(device: str, gpus: int | None) -> str | None:
    """Why ``--device`` cannot train on a machine with ``gpus`` GPUs (None: not known), in the
    engine's words (`engine.device.resolve_device`, which says it only once the run starts)."""
    if gpus is None or not device.startswith("cuda"):
        return None
    if gpus == 0:
        return "CUDA is not available on this machine (use auto or cpu)"
    index = device.partition(":")[2]
    if index.isdigit() and int(index) >= gpus:
        return f"this machine has {gpus} GPU{'s' * (gpus != 1)}: cuda:0 to cuda:{gpus - 1}"
    return None


def parse_form(raw: dict[str, Any], runs_dir: Path | None = None,
               base: TrainConfig | None = None,
               gpus: int | None = None) -> tuple[TrainConfig, str | None, bool, dict[str, str]]:
    """Form values (strings from Inputs, values from Selects/Switches) -> config, name, detached, errors.

    The config is ``base`` (the copied run's, else the defaults) with the form's values over it
    (`dataclasses.replace`), so a field the form does not show is never lost. ``gpus``: this
    machine's GPUs, as the devices row counts them (NVML); a cuda device it lacks is an error.
    """
    from engine.data.source import data_path_problem

    errors: dict[str, str] = {}
    edited: dict[str, Any] = {}
    for f in ALL_FIELDS:
        if f.name in FORM_ONLY or f.name not in raw:
            continue
        v = raw.get(f.name)
        if f.kind in ("int", "optint", "float"):
            num, error = _parse_number(f, str(v if v is not None else "").strip())
            if error:
                errors[f.name] = error
                continue
            edited[f.name] = num
        elif f.kind == "optstr":
            edited[f.name] = str(v or "").strip() or None
        elif f.kind == "switch":
            edited[f.name] = bool(v)
        else:
            if v is None or v == Select.BLANK:
                errors[f.name] = "required"
                continue
            edited[f.name] = v
    cfg = dataclasses.replace(base or TrainConfig(), **edited)
    for name, msg in cfg.field_errors().items():
        if name in FIELD_NAMES:
            errors.setdefault(name, msg)
        else:
            errors.setdefault("_other", f"{name}: {msg}")
    if "data_path" not in errors:
        problem = data_path_problem(cfg.data_path, cfg.download)  # what `petseg train` would say
        if problem:
            errors["data_path"] = problem
    if "device" not in errors:
        problem = cuda_problem(str(cfg.device), gpus)  # what `petseg train` would say at once
        if problem:
            errors["device"] = problem
    if "devices" not in errors and not bool(raw.get("detached", True)) and cfg.devices.strip() != "1":
        # an in-process run is one process: its ranks need the launcher of a detached run
        errors["devices"] = "more than one process needs Detached on (the ranks run as their own processes)"
    run_name = str(raw.get("run_name") or "").strip() or None
    if run_name:
        try:
            validate_run_name(run_name)
        except RunStoreError as exc:
            errors["run_name"] = exc.reason
        else:
            if runs_dir is not None and (Path(runs_dir) / run_name).exists():
                errors["run_name"] = "a run with this name already exists"
    return cfg, run_name, bool(raw.get("detached", True)), errors
