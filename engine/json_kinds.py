"""Is this JSON value of kind X: the one check behind status.json, config.json and event lines.

`engine.run_schema` checks status.json and config.json fields with it, `engine.events` the fields
of each event line. A kind is a word: "int", "float", "number", "str", "bool", "dict"; any other
word (an annotation we do not check, e.g. ``list[str]``) accepts every value. Standard library only.
"""

from __future__ import annotations

import math
from typing import Any

KIND_WORDS = {
    "int": "an integer",
    "float": "a number",
    "number": "a number",
    "str": "text",
    "bool": "true or false",
    "dict": "an object",
}


def kind_ok(value: Any, kind: str) -> bool:
    """True if the JSON ``value`` is of ``kind``. A bool is never a number; "float" accepts an int
    (JSON writes 1.0 as 1) and NaN / inf (a stop mid-epoch records valid_dice NaN); "number" is
    a finite int or float (a time stamp, a heartbeat); "K | None" is K or null."""
    if kind.endswith(" | None"):
        return value is None or kind_ok(value, kind.removesuffix(" | None"))
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "dict":
        return isinstance(value, dict)
    return True


def describe_kind(kind: str) -> str:
    """The kind in words for a message: "must be {describe_kind(kind)}"."""
    if kind.endswith(" | None"):
        return f"{describe_kind(kind.removesuffix(' | None'))} or null"
    return KIND_WORDS.get(kind, kind)


def short_value(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters, for "got ..." in a message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "…"
