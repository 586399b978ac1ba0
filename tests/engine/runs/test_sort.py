"""How runs sort: the rule shared by ``petseg runs --sort`` and the TUI's runs table."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.runs import SORT_KEYS, STATE_ORDER, VALUE_KEYS, RunState, RunSummary, ordered, sort_runs, sort_value


def run(name: str, state: str = "finished", **kw) -> RunSummary:
    return RunSummary(name=name, path=Path(name), state=state, **kw)


def names(runs: list[RunSummary]) -> list[str]:
    return [r.name for r in runs]


def test_names_sort_a_to_z_ignoring_case() -> None:
    assert names(sort_runs([run("bravo"), run("Alpha"), run("charlie")], "name")) == ["Alpha", "bravo", "charlie"]


def test_figures_sort_largest_first_and_missing_or_nan_last() -> None:
    runs = [run("a", best_dice=0.5), run("b"), run("c", best_dice=0.9), run("d", best_dice=float("nan")),
            run("e", best_dice=0.7)]
    assert names(sort_runs(runs, "dice")) == ["c", "e", "a", "b", "d"]
    assert names(sort_runs([run("x", started=1.0), run("y", started=3.0), run("z")], "started")) == ["y", "x", "z"]


def test_states_sort_in_state_order_runs_needing_a_look_first() -> None:
    runs = [run(str(s), state=s) for s in reversed(list(RunState))]
    shown = names(sort_runs(runs, "status"))
    assert shown[:len(STATE_ORDER)] == [str(s) for s in STATE_ORDER]
    assert set(shown[len(STATE_ORDER):]) == {"unknown", "starting"}  # states with no rank come last
    assert shown[:3] == ["running", "paused", "interrupted"]


def test_equal_values_keep_the_order_given() -> None:
    runs = [run("new", epoch=3), run("old", epoch=3), run("mid", epoch=5)]
    assert names(sort_runs(runs, "epoch")) == ["mid", "new", "old"]


@pytest.mark.parametrize("descending", [False, True])
def test_ordered_puts_items_without_a_value_last_in_both_directions(descending: bool) -> None:
    values = {"a": (True, 2.0), "b": (False, 0.0), "c": (True, 1.0)}
    got = ordered(list(values), lambda k: values[k], descending=descending)
    assert got == (["a", "c", "b"] if descending else ["c", "a", "b"])


def test_every_cli_key_has_a_value_and_the_tui_status_key_is_the_same() -> None:
    assert set(SORT_KEYS) <= set(VALUE_KEYS)
    r = run("r", state="failed")
    assert sort_value("state", r) == sort_value("status", r) == (True, STATE_ORDER.index(RunState.FAILED))
