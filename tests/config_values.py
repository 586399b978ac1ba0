"""A valid non-default value for every `TrainConfig` field, made from its declaration, for the
tests that prove each field survives a trip (CLI, detached argv, the TUI's copy form)."""

from __future__ import annotations

import dataclasses
from typing import Any

from engine.config import TrainConfig, config_fields
from engine.field_spec import ConfigField


def other_value(f: ConfigField) -> Any:
    """A valid value of ``f`` that is not its default (a text value starting with '-' on purpose)."""
    if f.spec.choices:
        return [c for c in f.spec.choices if c != f.default][-1]
    if f.spec.suggestions:
        return "cuda:1"
    if f.kind == "bool":
        return not f.default
    if f.kind == "str":
        for value in (f"-odd {f.name}/x.y", "2", "0,1"):
            if f.name not in dataclasses.replace(TrainConfig(), **{f.name: value}).field_errors():
                return value
        raise AssertionError(f"no valid non-default text value found for {f.name}")
    base = f.default if f.default is not None else 1
    candidates = ([base + 1, base * 2, 2, 5, 512] if f.kind == "int"
                  else [base + 0.5, base * 2 + 0.25, 0.5, 0.25, 0.125])
    for value in candidates:
        if value != f.default and f.name not in dataclasses.replace(TrainConfig(), **{f.name: value}).field_errors():
            return value
    raise AssertionError(f"no valid non-default value found for {f.name}")


def all_changed() -> TrainConfig:
    config = TrainConfig(**{f.name: other_value(f) for f in config_fields()})
    config.validate()
    return config
