"""Keys in the new-run form: letters are text, not the app's hotkeys; leaving with edits asks,
its question offering no q; keys typed in one burst as the form opens, or after a Tab, land in
the field they were typed for."""

from __future__ import annotations

from pathlib import Path

import pytest
from tui_helpers import footer_text, wait_for, widget_text
from tui_new_run_form import _set, open_form
from textual.widgets import Input, Switch

from petseg_tui.app import PetsegApp
from petseg_tui.screens.new_run import NewRunScreen


@pytest.mark.slow  # over ~3 s alone (the marker's rule)
async def test_letters_are_not_app_hotkeys_in_the_form_and_leaving_with_edits_asks(runs_dir: Path) -> None:
    """`q` on the Model Select (or a Switch) used to quit the app with the form lost."""
    from petseg_tui.screens.confirm import ConfirmScreen

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot)
        await wait_for(pilot, lambda: "^q Quit" in footer_text(form) and "? Help" in footer_text(form),
                       what="how to quit, in the footer")
        await pilot.press("q")
        await pilot.pause()  # q's handling done: nothing may follow from it
        assert app.is_running and app.screen is form and app.return_code is None
        detached = form.query_one("#f-detached", Switch)
        detached.focus()
        await wait_for(pilot, lambda: detached.has_focus, what="the switch focused")
        await pilot.press("q")
        await pilot.pause()
        assert app.is_running and app.screen is form and app.return_code is None and detached.value is True
        # no edits yet: esc leaves at once
        await pilot.press("escape")
        assert not isinstance(app.screen, NewRunScreen)
        form = await open_form(pilot)
        _set(form, "epochs", "3")
        await pilot.press("escape")  # edits: asks first
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert app.screen is form
        await pilot.press("ctrl+q")  # quits from anywhere, but asks first
        assert isinstance(app.screen, ConfirmScreen)
        assert "Discard" in widget_text(app.screen.query_one("#confirm-question"))
        await pilot.press("n")
        assert app.screen is form and app.is_running
        await pilot.press("ctrl+q", "y")
        await wait_for(pilot, lambda: app.return_code is not None, what="the app quitting")
    assert not app.is_running and app.return_code == 0


async def test_the_forms_discard_question_does_not_offer_q_quit(runs_dir: Path) -> None:
    """Esc on a form with edits asks "Discard the settings of this new run?"; as it came up the
    footer beneath changed to offer "q Quit" beside "^q Quit" (the app took the dialog for a
    screen that is no form), a key the form says to use ctrl+q for. Over a form's dialog q is the
    form's: inert, and not offered."""
    from petseg_tui.screens.confirm import ConfirmScreen

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot)
        _set(form, "epochs", "3")
        await pilot.press("escape")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("q")
        await pilot.pause()
        assert app.is_running and app.return_code is None and isinstance(app.screen, ConfirmScreen)
        assert footer_text(form).count("Quit") == 1, footer_text(form)  # ^q Quit alone
        await pilot.press("n")
        assert app.screen is form and form.query_one("#f-epochs", Input).value == "3"


async def test_keys_typed_right_after_n_land_in_the_form(sample_runs: Path) -> None:
    """``tmux send-keys n Tab 5``: the terminal sends the keys in one burst, while the form is
    still opening; Tab moves to Epochs and 5 is typed there (they used to go nowhere)."""
    from textual import events

    app = PetsegApp(runs_dir=sample_runs)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
        for key, character in (("n", "n"), ("tab", "\t"), ("5", "5")):  # one burst, as the terminal sends it
            app.post_message(events.Key(key, character))
        await wait_for(pilot, lambda: isinstance(app.screen, NewRunScreen) and app.screen.is_mounted,
                       what="the form")
        form = app.screen
        epochs = form.query_one("#f-epochs", Input)
        await wait_for(pilot, lambda: epochs.has_focus and epochs.value == "5", timeout=10,
                       what="5 typed into Epochs")


async def test_a_burst_of_tab_then_digits_in_the_open_form_lands_in_the_next_field(runs_dir: Path) -> None:
    """Typed fast over SSH (or ``tmux send-keys Tab 7``), Tab and the next key reach the app in
    one read: the form already up, the app handed 7 to the field focused then (the Model select,
    which dropped it) before the Tab moved the focus, and Epochs kept 10. Tab moves the focus at
    once, so the keys after it land in the next field, as typed slowly."""
    from textual import events

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot)
        for key, character in (("tab", "\t"), ("7", "7"), ("tab", "\t"), ("8", "8")):  # one burst
            app.post_message(events.Key(key, character))
        epochs, batch = form.query_one("#f-epochs", Input), form.query_one("#f-batch_size", Input)
        await wait_for(pilot, lambda: batch.has_focus and batch.value == "8", timeout=10, what="8 in Batch size")
        assert epochs.value == "7"
        for key, character in (("shift+tab", None), ("9", "9")):  # back, as quickly
            app.post_message(events.Key(key, character))
        await wait_for(pilot, lambda: epochs.has_focus and epochs.value == "9", timeout=10, what="9 in Epochs")


async def test_a_digit_then_ctrl_s_in_one_burst_starts_what_the_form_shows(runs_dir: Path, monkeypatch,
                                                                           generated_data: str) -> None:
    """Epochs "2", then "0" and ctrl+s in one read (typed fast over SSH, `tmux send-keys 0 C-s`):
    ctrl+s, a priority key, ran as it reached the app, before the field had taken the "0", and
    the run started with 2 epochs from a form that showed 20 (a field left empty so: "Fix the
    fields marked ✗ first" beside no ✗)."""
    import sys
    import types

    from textual import events

    from engine.errors import ConfigError

    asked: list[int] = []
    fake = types.ModuleType("engine.train.trainer")

    class Trainer:  # records what the form asked for; the refusal leaves the form up
        def __init__(self, config, runs_dir, run_name=None):
            asked.append(config.epochs)
            raise ConfigError("recorded")

    fake.Trainer = Trainer
    monkeypatch.setitem(sys.modules, "engine.train.trainer", fake)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot)
        for field, value in dict(epochs="2", image_size="64", width="8", batch_size="8", workers="0",
                                 run_name="burst", data_path=generated_data, device="cpu").items():
            _set(form, field, value)
        form.query_one("#f-detached", Switch).value = False
        epochs = form.query_one("#f-epochs", Input)
        epochs.focus()
        await wait_for(pilot, lambda: epochs.has_focus, what="Epochs focused")
        epochs.action_end()  # the cursor after "2", nothing selected: as a user typing on
        for key, character in (("0", "0"), ("ctrl+s", None)):  # one burst
            app.post_message(events.Key(key, character))
        await wait_for(pilot, lambda: bool(asked), timeout=10, what="the start asked for")
        assert epochs.value == "20" and asked == [20]


async def test_a_key_then_ctrl_q_in_one_burst_asks_before_the_typed_edit_is_lost(runs_dir: Path) -> None:
    """The field's last key and ctrl+q in one read (fast typing over SSH): ctrl+q, a priority key,
    read the form before the field had taken that key, found no edits and quit at once, the
    typed value lost without the question every other quit with edits asks."""
    from textual import events

    from petseg_tui.screens.confirm import ConfirmScreen

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        form = await open_form(pilot)
        epochs = form.query_one("#f-epochs", Input)
        epochs.focus()
        await wait_for(pilot, lambda: epochs.has_focus, what="the epochs field focused")
        epochs.action_end()
        for key, character in (("7", "7"), ("ctrl+q", None)):  # one burst
            app.post_message(events.Key(key, character))
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) or app.return_code is not None,
                       what="the quit's answer")
        assert app.return_code is None and isinstance(app.screen, ConfirmScreen), "quit with the edit lost"
        await wait_for(pilot, lambda: "Discard" in widget_text(app.screen.query_one("#confirm-question")),
                       what="the discard question")
        await pilot.press("n")
        assert app.screen is form and epochs.value.endswith("7")
