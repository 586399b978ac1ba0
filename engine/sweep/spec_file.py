"""A sweep spec written as a TOML file (``petseg sweep --spec sweep.toml``): its top-level
settings, ``[params]`` and ``[train]`` read into the same settings dict the flags make, each
value labelled with its file and key (`FROM_FILE`) so that `engine.sweep.spec_build.build_spec`
names them in its one-line errors (``--spec s.toml: train.epochs = 0: ...``). No torch, no Optuna.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomllib

from engine.config import config_fields
from engine.field_spec import not_a_number, parse_number, parse_yes_no
from engine.sweep.spec import FROM_FILE, SWEEP_OWNED_FIELDS, SweepSpecError

# the sweep's own settings, by the kind of value their flag takes; a TOML file's top level may
# hold these, [params] and [train]
INT_KEYS = ("trials", "sampler_seed", "prune_warmup", "per_device", "parallel", "devices_per_trial")
YES_NO_KEYS = ("eval_best",)
SPEC_KEYS = ("name", "trials", "sampler", "sampler_seed", "prune", "prune_warmup", "devices", "per_device",
             "parallel", "devices_per_trial", "storage", "eval_best")


def _toml_setting(key: str, value: Any) -> Any:
    """A TOML top-level value as its flag's value: the TOML type (``eval_best = false``,
    ``trials = 5``) or the text the flag takes (``eval_best = "no"``, ``trials = "5"``, read as the
    flag reads it); ``devices`` also as a list or one index. ValueError with the reason otherwise."""
    if key in YES_NO_KEYS:
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            return parse_yes_no(value)
        raise ValueError("expected true/false or \"yes\"/\"no\"")
    if key in INT_KEYS:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            return int(parse_number(value, "int"))
        raise ValueError(not_a_number(value, "int"))
    if key == "devices":
        if isinstance(value, list) and all(isinstance(d, int) and not isinstance(d, bool) for d in value):
            return ",".join(str(d) for d in value)
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    if isinstance(value, str):
        return value
    raise ValueError("expected a string" + (" or a list of GPU indices" if key == "devices" else ""))


def load_toml(path: Path) -> dict[str, Any]:
    """A TOML spec as the flags' dict: the top-level settings, ``params`` as ``name=kind:...``
    texts, ``train`` as typed train flags. SweepSpecError names the file and the key."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SweepSpecError(f"--spec {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SweepSpecError(f"--spec {path}: cannot read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SweepSpecError(f"--spec {path}: not valid TOML ({exc})") from None
    out: dict[str, Any] = {}
    labels: dict[str, str] = {}
    fields = {f.name: f for f in config_fields()}
    for key, value in data.items():
        if key == "params":
            if not isinstance(value, dict):
                raise SweepSpecError(f"--spec {path}: [params] must be a table of name = \"kind:args\"")
            texts = []
            for name, rule in value.items():
                if isinstance(rule, list):  # width = [32, 64]: a choice
                    f = fields.get(name)
                    rule = "choice:" + ",".join(f.format_value(v) if f else str(v) for v in rule)
                if not isinstance(rule, str):
                    raise SweepSpecError(f"--spec {path}: params.{name} must be \"kind:args\" or a list of choices")
                texts.append(f"{name}={rule}")
                labels[f"params.{name}"] = f"--spec {path}: params.{name} = {_toml_text(value[name])}"
            out["params"] = texts
        elif key == "train":
            if not isinstance(value, dict):
                raise SweepSpecError(f"--spec {path}: [train] must be a table of train flags")
            base = {}
            for name, v in value.items():
                f = fields.get(name)
                if f is None or name in SWEEP_OWNED_FIELDS:
                    raise SweepSpecError(f"--spec {path}: train.{name}: not a train flag a sweep's trials take")
                try:
                    base[name] = f.parse_value(v) if isinstance(v, str) else v
                except ValueError as exc:
                    raise SweepSpecError(f"--spec {path}: train.{name} = {_toml_text(v)}: {exc}") from None
                labels[f"train.{name}"] = f"--spec {path}: train.{name} = {_toml_text(v)}"
            out["base"] = base
        elif key in SPEC_KEYS:
            try:
                out[key] = _toml_setting(key, value)
            except ValueError as exc:
                raise SweepSpecError(f"--spec {path}: {key} = {_toml_text(value)}: {exc}") from None
            labels[key] = f"--spec {path}: {key} = {_toml_text(value)}"
        else:
            raise SweepSpecError(f"--spec {path}: unknown key {key!r} (expected {', '.join(SPEC_KEYS)}, "
                                 "[params], [train])")
    out[FROM_FILE] = labels
    return out


def _toml_text(value: Any) -> str:
    """A TOML value as the file writes it (strings quoted), for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_text(v) for v in value) + "]"
    return str(value)
