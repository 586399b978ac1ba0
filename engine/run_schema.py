"""The types a run's status.json and config.json fields must have, checked where they are read.

`engine.runs` reads both files and asks `status_problems` / `config_problems` what is wrong;
a run with a problem is listed as ``broken`` with that reason (never a crash of ``petseg
runs`` or the TUI because ``"created": "yesterday"`` reached a time formatter). Event lines
are checked by `engine.events.parse_event`. Only types are checked here, not limits: a
config that trained under older limits still lists. No torch import.
"""

from __future__ import annotations

from typing import Any

from engine.config import config_fields
from engine.json_kinds import describe_kind, kind_ok, short_value

# status.json: field -> expected kind ("number" accepts int and float, never bool)
STATUS_FIELDS = {
    "state": "str",
    "message": "str",
    "pid": "int",
    "host": "str",
    "heartbeat": "number",
    "created": "number",
    "updated": "number",
}


# fields every petseg has written since its first version: a file without one is not a run's
# (a run folder is untrusted input; a missing field is a broken run, never a guess)
STATUS_REQUIRED = ("state",)
CONFIG_REQUIRED = ("model",)


def status_problems(status: dict[str, Any]) -> list[str]:
    """What is wrong with a status.json object (empty list if nothing)."""
    out = [f"{name} is missing" for name in STATUS_REQUIRED if name not in status]
    for name, kind in STATUS_FIELDS.items():
        if name in status and status[name] is not None and not kind_ok(status[name], kind):
            out.append(f"{name} must be {describe_kind(kind)}, got {short_value(status[name])}")
    # imported here: engine.runs reads its files through this module
    from engine.runs.state import WRITTEN_STATES

    state = status.get("state")
    if isinstance(state, str) and state and state not in WRITTEN_STATES:
        out.append(f"state {state!r} is not one of {', '.join(WRITTEN_STATES)}")
    return out


# TrainConfig field -> (kind, may be null): the field declarations' own (engine.config.config_fields)
_CONFIG_KINDS = {f.name: (f.kind, f.optional) for f in config_fields()}


def config_problems(config: dict[str, Any]) -> list[str]:
    """What is wrong with the types of a config.json object (empty list if nothing)."""
    out = [f"{name} is missing" for name in CONFIG_REQUIRED if name not in config]
    for name, (kind, optional) in _CONFIG_KINDS.items():
        if name not in config:
            continue
        value = config[name]
        if value is None and optional:
            continue
        if kind and not kind_ok(value, kind):
            out.append(f"{name} must be {describe_kind(kind)}{' or null' if optional else ''}, got {short_value(value)}")
    return out
