"""Text fields take a burst of keys (a slow SSH link, a paste, a key macro) in the order typed:
an edit key between characters acts where it was typed, not after the characters behind it."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual import events
from textual.app import App, ComposeResult
from textual.keys import _character_to_key

from tui_helpers import wait_for
from petseg_tui.app import PetsegApp
from petseg_tui.widgets.in_order_input import InOrderInput

BACKSPACE, HOME, LEFT = ("backspace", None), ("home", None), ("left", None)


def keys_of(text: str) -> list[tuple[str, str]]:
    return [(ch if ch.isalnum() else _character_to_key(ch), ch) for ch in text]


def burst(app: App, keys: list[tuple[str, str | None]]) -> None:
    """Queue ``keys`` as the terminal driver does when they arrive in one read: none is handled
    before the last is queued."""
    for key, character in keys:
        event = events.Key(key, character)
        event.set_sender(app)
        app.post_message(event)


class OneField(App):
    def compose(self) -> ComposeResult:
        yield InOrderInput()


@pytest.mark.parametrize(("keys", "value", "cursor"), [
    ([*keys_of("unet"), BACKSPACE, BACKSPACE, *keys_of("it")], "unit", 4),
    ([*keys_of("at"), HOME, *keys_of("c")], "cat", 1),
    ([*keys_of("dxce"), LEFT, LEFT, BACKSPACE, *keys_of("i")], "dice", 2),
], ids=["backspace", "home", "left-and-backspace"])
async def test_edit_keys_in_a_burst_act_where_they_were_typed(keys, value: str, cursor: int) -> None:
    app = OneField()
    async with app.run_test() as pilot:
        field = app.query_one(InOrderInput)
        burst(app, keys)
        await wait_for(pilot, lambda: len(field.value) == len(value), what="the burst typed")
        await pilot.pause()
        assert (field.value, field.cursor_position) == (value, cursor)


async def test_a_filter_corrected_in_one_burst_filters_by_the_corrected_text(sample_runs: Path) -> None:
    app = PetsegApp(runs_dir=sample_runs)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        await pilot.press("slash")
        burst(app, [*keys_of("bravp"), BACKSPACE, *keys_of("o")])
        field = screen.query_one("#filter", InOrderInput)
        await wait_for(pilot, lambda: len(field.value) == 5, what="the filter typed")
        await pilot.pause()
        assert field.value == "bravo"
        await pilot.press("enter")
        assert screen.table.visible_names == ["bravo"]


async def test_a_form_field_corrected_in_one_burst_holds_the_corrected_value(sample_runs: Path) -> None:
    app = PetsegApp(runs_dir=sample_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
        await pilot.press("n")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "NewRunScreen", what="the form")
        epochs = app.screen.query_one("#f-epochs", InOrderInput)
        epochs.focus()
        epochs.value = ""
        await pilot.pause()
        burst(app, [*keys_of("30"), BACKSPACE, *keys_of("5")])
        await wait_for(pilot, lambda: len(epochs.value) == 2, what="the epochs typed")
        await pilot.pause()
        assert epochs.value == "35"
