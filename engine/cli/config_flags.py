"""`TrainConfig` fields as ``petseg train`` flags, generated from each field's `FieldSpec`.

With ``suppress=True`` (``petseg train``) a flag the user did not type is absent from the parsed
namespace, so `given_config` is exactly what they asked for: a new run fills the rest with
`TrainConfig`'s defaults, and a resume applies (or refuses) only what was typed.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable
from typing import Any

from engine.cli.common import add_flag, flag_type
from engine.config import TrainConfig, config_fields
from engine.field_spec import ConfigField


def _flag_type(f: ConfigField) -> Any:
    # its words: "expected an integer or auto, got 'x'"; argparse names the type by the field's kind
    return flag_type(f.parse_value, f.kind)


def _shown_default(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def help_within(text: str, flags: set[str]) -> str:
    """A field's help for a command that has only ``flags`` (``petseg demo``): its clauses
    (``; ...``) and asides (``(...)``) that name another flag left out, so no help sends the
    user to a flag the command does not take."""
    def foreign(part: str) -> bool:
        return any(name.replace("-", "_") not in flags for name in re.findall(r"--([a-z][a-z0-9_-]*)", part))

    text = re.sub(r"\s*\([^()]*\)", lambda m: "" if foreign(m.group(0)) else m.group(0), text)
    clauses = text.split("; ")
    kept = [c for i, c in enumerate(clauses) if i == 0 or not foreign(c)]
    return "; ".join(kept)


def add_config_flags(parser: argparse.ArgumentParser, *, names: Iterable[str] | None = None,
                     defaults: TrainConfig | None = None, suppress: bool = False) -> None:
    """Add a flag for each `TrainConfig` field (or only ``names``), typed, with its help.

    ``defaults`` replaces the dataclass defaults (``petseg demo``'s own); ``suppress`` leaves
    untyped flags out of the namespace instead.
    """
    wanted = None if names is None else set(names)
    for f in config_fields():
        if wanted is not None and f.name not in wanted:
            continue
        default = getattr(defaults, f.name) if defaults is not None else f.default
        help_text = f.spec.help if wanted is None else help_within(f.spec.help, wanted)
        if default is not None:
            help_text += f" (default: {_shown_default(default)})"
        kw: dict[str, Any] = {"type": _flag_type(f), "help": help_text,
                              "default": argparse.SUPPRESS if suppress else default}
        if f.spec.choices:
            kw["choices"] = f.spec.choices
        if f.spec.metavar:
            kw["metavar"] = f.spec.metavar
        elif f.kind == "bool":
            kw["metavar"] = "yes|no"
        if f.spec.const is not None:
            kw.update(nargs="?", const=f.spec.const)
        add_flag(parser, f.name, **kw)


def given_config(args: argparse.Namespace) -> dict[str, Any]:
    """The `TrainConfig` fields present in ``args``: with ``suppress=True``, the ones typed."""
    return {f.name: getattr(args, f.name) for f in config_fields() if hasattr(args, f.name)}
