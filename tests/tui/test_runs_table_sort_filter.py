"""The runs table's sort menu, filter and selection: the keys and clicks that order, filter and
tick runs, legible in the light themes, and c comparing what is ticked."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_helpers import (
    cell,
    rendered,
    T0,
    make_curve_run,
    make_run,
    toasts,
    wait_for,
    widget_text,
)

from engine.runs import VALUE_KEYS
from petseg_tui.app import PetsegApp
from petseg_tui.widgets.runs_columns import COLUMN_KEYS


def test_every_column_but_the_selection_sorts_by_the_engine_rule() -> None:
    assert set(COLUMN_KEYS) - {"sel"} <= set(VALUE_KEYS)


async def test_sort_filter_and_select(sample_runs: Path) -> None:
    app = PetsegApp(runs_dir=sample_runs)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        table = screen.table
        # default: newest first, runs without a start time last
        assert table.visible_names == ["charlie", "bravo", "alpha", "delta-broken"]
        # `s` opens the sort menu; a letter picks the column (n: name, A→Z), the same again reverses
        await pilot.press("s", "n")
        assert table.sort_column == "name"
        asc = table.visible_names
        assert asc == sorted(asc)
        await pilot.press("s", "n")
        assert table.visible_names == list(reversed(asc))
        # sort by best Dice, descending: missing values (broken run) stay last
        table.set_sort("dice", reverse=True)
        assert table.visible_names == ["alpha", "bravo", "charlie", "delta-broken"]
        table.set_sort("dice", reverse=False)
        assert table.visible_names == ["charlie", "bravo", "alpha", "delta-broken"]
        # by status: what went wrong first, then stopped, then finished (engine.runs.STATE_ORDER)
        table.set_sort("state", reverse=False)
        assert table.visible_names == ["charlie", "delta-broken", "bravo", "alpha"]
        # clicking a header sorts by it
        table.set_sort("started", reverse=True)

        # filter
        await pilot.press("slash")
        assert screen.query_one("#filter").has_focus
        await pilot.press("c", "h", "a")
        await wait_for(pilot, lambda: table.visible_names == ["charlie"], what="filtered to charlie")
        await wait_for(pilot, lambda: "1 shown" in str(screen.query_one("#runs-status").render()), what="1 shown")
        await pilot.press("escape")
        assert len(table.visible_names) == 4
        assert table.has_focus
        # filter on status words too
        await pilot.press("slash", "b", "r", "o", "k", "enter")
        assert table.visible_names == ["delta-broken"]
        await pilot.press("escape")

        # selection with space (cursor moves down after each toggle)
        table.move_cursor(row=0)
        await pilot.press("space", "space")
        assert list(table.selected) == ["charlie", "bravo"]
        assert cell(table, "charlie", "sel") == "✓"
        await pilot.press("up", "space")
        assert list(table.selected) == ["charlie"]
        assert cell(table, "bravo", "sel") == " "


async def test_compare_screen_shows_selected_runs(sample_runs: Path) -> None:
    from petseg_tui.screens.compare import CompareScreen

    app = PetsegApp(runs_dir=sample_runs)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        table = screen.table
        await pilot.press("c")  # nothing selected: a warning, no screen change
        assert app.screen is screen
        for name in ("alpha", "bravo"):
            table.move_cursor(row=table.visible_names.index(name))
            await pilot.press("space")
        await pilot.press("c")
        cmp = app.screen
        assert isinstance(cmp, CompareScreen)
        await wait_for(pilot, lambda: len(cmp.snapshots) == 2, what="compare data")
        legend = lambda: str(cmp.query_one("#legend").render())  # noqa: E731
        await wait_for(pilot, lambda: "alpha" in legend() and "bravo" in legend(), what="the legend")
        ctable = cmp.query_one("#compare-table")
        await wait_for(pilot, lambda: ctable.row_count == 2, what="the compare table")
        columns = [str(key.value) for key in ctable.columns]
        # alpha and bravo differ in learning rate and epochs only (same model, batch size)
        assert "cfg:learning_rate" in columns and "cfg:epochs" in columns
        assert not {"cfg:batch_size", "cfg:model", "cfg:image_size"} & set(columns)
        assert ctable.row_count == 2
        best_alpha = ctable.get_cell("alpha", "best").plain
        assert best_alpha.startswith("0.7")  # valid Dice at epoch 5
        # metric keys
        await pilot.press("1")
        assert cmp.metric == "train_loss"
        await pilot.press("m")
        assert cmp.metric == "valid_loss"
        assert "valid loss" in cmp.sub_title  # at 100 columns the table's headers say "best", "last"
        await pilot.press("escape")
        assert app.screen is screen


async def test_compare_from_more_than_seven_takes_the_best_seven_by_dice(runs_dir: Path) -> None:
    from petseg_tui.screens.compare import CompareScreen

    for i in range(9):
        make_curve_run(runs_dir, f"r{i}", [0.5], [0.50 + 0.01 * i], t0=T0 + i)

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        await pilot.press("a")
        assert len(screen.table.selected) == 9
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), what="the compare screen")
        assert "9 runs selected: comparing the best 7 by Dice" in toasts(app)
        assert sorted(p.name for p in app.screen.run_paths) == [f"r{i}" for i in range(2, 9)]


@pytest.mark.slow  # over ~3 s alone (the marker's rule)
async def test_filter_matches_parameters_and_metrics_and_says_what_it_left_out(sample_runs: Path) -> None:
    app = PetsegApp(runs_dir=sample_runs)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        table = screen.table
        status = screen.query_one("#runs-status")
        await pilot.press("slash", *"lr<5e-4", "enter")
        assert table.visible_names == ["bravo"]  # the only run at lr 3e-4
        await pilot.press("slash", "ctrl+u", *"model=unet dice>0.65", "enter")
        assert table.visible_names == ["alpha"]  # charlie is a resnet34_unet, bravo's best Dice is lower
        await pilot.press("slash", "ctrl+u", *"model:unet", "enter")  # a part of the text: resnet34_unet too
        assert sorted(table.visible_names) == ["alpha", "bravo", "charlie"]
        await pilot.press("slash", "ctrl+u", *"bs=8", "enter")
        assert table.visible_names == ["charlie"]
        # a bad term: a one-line hint, the other terms still apply, no exception
        await pilot.press("slash", "ctrl+u", *"lr<abc model:resnet", "enter")
        assert table.visible_names == ["charlie"]
        assert "'lr<abc' left out: expected a number, got 'abc'" in rendered(status)
        assert app.is_running


async def test_letters_after_filter_enter_are_table_keys_and_never_destroy(sample_runs: Path) -> None:
    """Enter in the filter hands the keys to the table: typing on there acts as the footer says, and
    nothing typed by mistake loses a run (x is not a runs-table key; D asks first)."""
    from petseg_tui.screens.confirm import ConfirmScreen

    app = PetsegApp(runs_dir=sample_runs)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        table = screen.table
        await pilot.press("slash", *"alpha", "enter")
        assert table.has_focus and table.visible_names == ["alpha"]
        await pilot.press("x")  # stop is the live screen's key only: nothing happens here
        assert app.screen is screen and table.visible_names == ["alpha"]
        await pilot.press("D")
        assert isinstance(app.screen, ConfirmScreen)  # asks first
        await pilot.press("n")
        assert app.screen is screen and (sample_runs / "alpha" / "config.json").is_file()
        await pilot.press("slash")  # back to the filter, its text kept
        assert screen.query_one("#filter").has_focus and screen.query_one("#filter").value == "alpha"


async def test_keys_typed_at_once_after_slash_all_go_to_the_filter(sample_runs: Path) -> None:
    """A fast typist (or a paste) sends / and the filter in one burst: every key after / is queued
    before the focus could move on the next message; none may fire a table action (i: Infer, space:
    select)."""
    from textual import events
    from textual.keys import _character_to_key

    app = PetsegApp(runs_dir=sample_runs)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        for ch in "/model:unet dice>0.6":  # as the terminal driver sends them, with no wait between
            key = events.Key(_character_to_key(ch) if not ch.isalnum() else ch, ch)
            key.set_sender(app)
            await app._post_message(key)  # queued only: the app handles them after this loop
        await wait_for(pilot, lambda: screen.query_one("#filter").value == "model:unet dice>0.6", what="the filter")
        assert app.screen is screen and not screen.table.selected
        await pilot.press("enter")
        assert screen.table.has_focus and sorted(screen.table.visible_names) == ["alpha", "bravo"]


def _mark_colour(table, name: str) -> str:
    """The colour of the ✓ on ``name``'s row as the table draws it ("" when it has none)."""
    for y in range(table.size.height):
        strip = table.render_line(y)
        if f" {name} " in strip.text:
            return next((str(seg.style.color.name) for seg in strip if seg.text == "✓" and seg.style.color), "")
    raise AssertionError(f"{name} not shown")


async def test_a_selection_mark_takes_its_new_colour_when_an_earlier_run_is_unselected(runs_dir: Path) -> None:
    """A selected run's ✓ has its colour in the comparison: the first selected run blue, the second
    orange. Unselecting the first made the second the first (blue in the compare screen), but its
    ✓ stayed orange: the row's cells compared equal (Rich's Text equality ignores the style) and
    were not redrawn."""
    from petseg_tui.format import PALETTE

    for i in range(3):
        make_run(runs_dir, f"run-{i}", t0=T0 + i)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
        table = app.screen.table
        await pilot.press("home", "space", "space", "home")  # run-2 then run-1 selected; back on run-2
        await pilot.pause()
        assert _mark_colour(table, "run-1") == PALETTE[1]
        await pilot.press("space", "end")  # run-2 unselected: run-1 is the first of the comparison now
        await pilot.pause()
        assert _mark_colour(table, "run-2") == ""
        assert _mark_colour(table, "run-1") == PALETTE[0]


async def test_the_selection_marks_are_legible_in_a_light_theme(runs_dir: Path) -> None:
    """Each selected run's ✓ is in its compare colour, bright for a dark background: in
    textual-light (chosen from the palette) the yellow, green and orange marks read at 1.0-1.5:1."""
    from tui_helpers import contrast_of

    for i in range(7):
        make_run(runs_dir, f"run-{i}", t0=T0 + i)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
        await pilot.press("a")  # select all
        await pilot.press("home")
        app.theme = "textual-light"  # as the command palette's Theme switches it
        await pilot.pause()
        await pilot.pause()
        table = app.screen.table
        assert len(table.selected) == 7
        # the cursor's row draws its ✓ in the cursor's colours; every other row in its run's
        assert contrast_of(table, "✓") >= 3.0


async def test_a_click_on_the_tick_column_selects_the_run_and_never_opens_it(runs_dir: Path) -> None:
    """The ✓ column is where a run is ticked for comparison, yet a click there did what a click
    anywhere on the row does: highlight it, and a second click opened the run. A click on a
    row's ✓ cell now ticks (or unticks) it, as space does; elsewhere on the row, as before."""
    from tui_helpers import footer_text

    for i in range(3):
        make_run(runs_dir, f"run-{i}", t0=T0 + i)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
        runs, table = app.screen, app.screen.table
        await pilot.click(table, offset=(1, 2))  # the ✓ cell of the second row (row 0 is the header)
        await pilot.pause()
        assert list(table.selected) == ["run-1"] and table.highlighted_name == "run-1"
        assert "Compare" in footer_text(runs)
        await pilot.click(table, offset=(1, 2))
        await pilot.pause()
        assert app.screen is runs and not table.selected
        await pilot.click(table, offset=(8, 2), times=1)  # the name: a first click highlights its cell,
        await pilot.pause()
        await pilot.click(table, offset=(8, 2))  # a second opens the run
        await wait_for(pilot, lambda: app.screen is not runs, what="the run opened")


async def test_the_filters_warning_is_legible_in_a_light_theme(runs_dir: Path) -> None:
    """"⚠ 'foo>1' left out: ..." under the table was yellow for a dark background: about 2.1:1 on
    textual-light."""
    from tui_helpers import LIGHT_THEMES, contrast_of, settled

    make_run(runs_dir, "alpha")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
        status = app.screen.query_one("#runs-status")
        for theme in LIGHT_THEMES:
            app.theme = theme  # as the command palette's Theme switches it
            await settled(pilot)
            await pilot.press("slash", *"foo>1", "enter")
            await wait_for(pilot, lambda: "left out" in widget_text(status), what="the filter's warning")
            assert contrast_of(status, "left out") >= 3.0, theme
            await pilot.press("slash", "ctrl+u", "escape")


async def test_the_sort_menus_letters_are_legible_in_a_light_theme(runs_dir: Path) -> None:
    """The sort menu's letters (s, then d, e, n, ...) were cyan for a dark background: about
    2.7:1 on textual-light."""
    from tui_helpers import LIGHT_THEMES, contrast_of, settled

    make_run(runs_dir, "alpha")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
        for theme in LIGHT_THEMES:
            app.theme = theme  # as the command palette's Theme switches it
            await settled(pilot)
            await pilot.press("s")
            await wait_for(pilot, lambda: bool(app.screen.query("#sort-options")), what="the sort menu")
            assert contrast_of(app.screen.query_one("#sort-options"), " d ") >= 3.0, theme
            await pilot.press("escape")
            await settled(pilot)
