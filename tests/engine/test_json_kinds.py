"""The one "is this JSON value of kind X" check (status.json, config.json and event lines)."""

from __future__ import annotations

import math

import pytest

from engine.json_kinds import describe_kind, kind_ok, short_value


@pytest.mark.parametrize("kind, good, bad", [
    ("int", [0, -3, 10**20], [1.0, True, "1", None]),
    ("float", [1, 0.5, math.nan, math.inf], [True, "0.5", None]),
    ("number", [1, 0.5, -2e9], [math.nan, math.inf, False, "1"]),
    ("str", ["", "x"], [1, None, b"x"]),
    ("bool", [True, False], [0, 1, "true"]),
    ("dict", [{}, {"a": 1}], [[], "{}"]),
    ("float | None", [None, 1, 0.5], [True, "0.5"]),  # an optional field: an epoch_started's lr
])
def test_kind_ok(kind: str, good: list, bad: list) -> None:
    assert all(kind_ok(v, kind) for v in good)
    assert not any(kind_ok(v, kind) for v in bad)


def test_an_unchecked_kind_accepts_anything() -> None:
    assert kind_ok([1], "list[int]") and kind_ok("x", "")


def test_words_for_messages() -> None:
    assert [describe_kind(k) for k in ("int", "float", "number", "str", "bool", "dict")] == [
        "an integer", "a number", "a number", "text", "true or false", "an object"]
    assert describe_kind("float | None") == "a number or null"
    assert short_value("yesterday") == "'yesterday'"
    assert short_value("x" * 100) == repr("x" * 100)[:37] + "…" and len(short_value("x" * 100)) == 38
