"""A sweep spec written as a TOML file (``petseg sweep --spec sweep.toml``): its top-level
settings, ``[params]`` and ``[train]`` read into the same settings dict the flags make, each
value labelled with its file and key (`FROM_FILE`) so that `engine.sweep.spec_build.build_spec`
names them in its one-line errors (``--spec s.toml: train.epochs = 0: ...``), and what was typed
beside the file put over its values (`typed_over_file`: ``petseg sweep``'s flags, the dashboard's
new-sweep form). No torch, no Optuna.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import tomllib

from engine.config import config_fields
from engine.field_spec import not_a_number, parse_number, parse_yes_no
from engine.sweep.spec import FROM_FILE, SWEEP_OWNED_FIELDS, SweepSpecError
from engine.words import byte_size

# the sweep's own settings, by the kind of value their flag takes; a TOML file's top level may
# hold these, [params] and [train]
INT_KEYS = ("trials", "sampler_seed", "prune_warmup", "per_device", "parallel", "devices_per_trial")
YES_NO_KEYS = ("eval_best",)
SPEC_KEYS = ("name", "trials", "sampler", "sampler_seed", "prune", "prune_warmup", "devices", "per_device",
             "parallel", "devices_per_trial", "storage", "eval_best")
# a spec is a few lines; the dashboard's form reads the file as its path is typed, so a larger
# file (or /dev/zero, a FIFO) is refused rather than read on its UI thread
MAX_SPEC_BYTES = 1 << 20


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
        data = tomllib.loads(_read_spec(Path(path)).decode("utf-8"))
    except FileNotFoundError:
        raise SweepSpecError(f"--spec {path}: no such file") from None
    except IsADirectoryError:
        raise SweepSpecError(f"--spec {path}: a folder, not a TOML file") from None
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


def _read_spec(path: Path) -> bytes:
    """The file's bytes; SweepSpecError for what is not a small regular file (a FIFO is opened
    without waiting for a writer, and refused, never read)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        mode, size = st.st_mode, st.st_size
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(path)
        if not stat.S_ISREG(mode):
            raise SweepSpecError(f"--spec {path}: not a regular file")
        if size > MAX_SPEC_BYTES:
            raise SweepSpecError(f"--spec {path}: {byte_size(size)}, larger than a sweep spec "
                                 f"(at most {byte_size(MAX_SPEC_BYTES)})")
        return f.read(MAX_SPEC_BYTES + 1)


def typed_over_file(spec: Path | None, typed: Mapping[str, Any], params: Sequence[str] | None,
                    base: Mapping[str, Any]) -> dict[str, Any]:
    """The sweep's settings as `engine.sweep.spec_build.build_spec` takes them: the ``spec``
    file's (none: {}), with what was typed beside it over them, as ``petseg sweep`` and the
    dashboard's new-sweep form both take it. ``typed``: the sweep's own settings (`SPEC_KEYS`;
    None or absent: not typed); ``params``: the typed searches (``name=kind:...``), each replacing
    the file's search of that field and its fixed ``[train]`` value; ``base``: the typed train
    values, each replacing the file's ``[train]`` value and its search of that field. A value typed
    over the file's is no longer the file's: its errors name the flag."""
    settings: dict[str, Any] = load_toml(spec) if spec else {}
    from_file = settings.setdefault(FROM_FILE, {})
    for key in SPEC_KEYS:
        if typed.get(key) is not None:
            settings[key] = typed[key]
            from_file.pop(key, None)
    if params:
        searched = {p.partition("=")[0].strip(): p for p in params}
        kept = [p for p in settings.get("params", []) if p.partition("=")[0].strip() not in searched]
        settings["params"] = kept + list(params)
        for name in searched:
            from_file.pop(f"params.{name}", None)
            if f"train.{name}" in from_file:  # a typed search overrides the file's fixed value too
                settings.get("base", {}).pop(name, None)
                from_file.pop(f"train.{name}")
    settings["base"] = {**settings.get("base", {}), **base}
    for name in base:
        from_file.pop(f"train.{name}", None)
        if f"params.{name}" in from_file:  # and a typed train value the file's search of that field
            settings["params"] = [t for t in settings["params"] if t.partition("=")[0].strip() != name]
            from_file.pop(f"params.{name}")
    return settings


def about_spec_file(line: str, spec: Path | None) -> bool:
    """Whether an error ``line`` is about the ``spec`` file (it, or one of its keys, by the label
    this module gives them: ``--spec FILE: ...``), as the form shows it beside its Spec file field."""
    return spec is not None and line.startswith(f"--spec {spec}:")


def _toml_text(value: Any) -> str:
    """A TOML value as the file writes it (strings quoted), for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_text(v) for v in value) + "]"
    return str(value)
