"""Scrolling the compare table's settings sideways: the title says the table scrolls, the Run
column stays, and ←/→, the wheel, a scrollbar drag or a click on its track rest on a whole
column, kept when the metric changes."""

from __future__ import annotations

from pathlib import Path

from tui_helpers import make_curve_run, wait_for
from tui_compare import LONG_NAMES, MINI, SAMPLE, _compare_table

from petseg_tui.app import PetsegApp


async def test_a_table_wider_than_the_screen_says_that_it_scrolls(runs_dir: Path) -> None:
    """Runs that differ in more settings than 80 columns hold: the title says ←/→ shows the
    rest (the column cut at the right edge gave no sign that more followed), and says it no more
    once the screen is wide enough."""
    make_curve_run(runs_dir, "small", [0.9, 0.8], [0.4, 0.5], learning_rate=1e-3, width=8, batch_size=8,
                   weight_decay=1e-4, image_size=64, data_path=MINI)
    make_curve_run(runs_dir, "large", [0.9, 0.7], [0.4, 0.6], learning_rate=3e-4, width=16, batch_size=16,
                   weight_decay=1e-2, image_size=128, data_path=SAMPLE)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await _compare_table(app, pilot, [runs_dir / "small", runs_dir / "large"])
        table = app.screen.query_one("#compare-table")
        await wait_for(pilot, lambda: "←/→ more columns" in app.screen.sub_title, what="the scroll note")
        await pilot.press("right")
        await wait_for(pilot, lambda: table.scroll_x > 0, what="the table scrolled by →")
        await pilot.resize_terminal(200, 40)
        await wait_for(pilot, lambda: "←/→" not in app.screen.sub_title and "valid Dice" in app.screen.sub_title,
                       what="the note gone")


async def test_the_run_column_stays_as_the_settings_scroll_at_80_columns(runs_dir: Path) -> None:
    """The settings that differ run past 80 columns (the title says ←/→ scroll them); scrolled,
    the Run column went off the left edge too and the rows were figures of no run named."""
    from tui_helpers import widget_text

    for i, name in enumerate(LONG_NAMES):
        make_curve_run(runs_dir, name, [0.9, 0.8], [0.4, 0.5], width=8 * (i + 1), batch_size=8 * (i + 1),
                       learning_rate=10 ** -(i + 2), data_path=(MINI, SAMPLE, MINI)[i], weight_decay=i * 1e-4)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await _compare_table(app, pilot, [runs_dir / n for n in LONG_NAMES])
        await wait_for(pilot, lambda: "←/→ more columns" in app.screen.sub_title, what="a table past the edge")
        await pilot.press(*["right"] * 60)
        await wait_for(pilot, lambda: table.scroll_x > 0, what="the table scrolled")
        rows = widget_text(table).splitlines()
        assert rows[0].split()[0] == "Run" and "wd" in rows[0], rows
        for marker, row in zip("●▲■", rows[1:]):
            assert row.strip().startswith(f"{marker} "), rows


async def test_scrolled_settings_begin_with_a_whole_column_beside_the_run_column_at_80_columns(
        runs_dir: Path) -> None:
    """→ scrolled the settings one cell at a time under the fixed Run column, which covered the
    start of the column beside it: "tatus" over "inished" and "hed" rows, fragments read as
    values. Each → now brings the next column whole beside the Run column, up to the last."""
    from tui_helpers import widget_text

    for i, name in enumerate(LONG_NAMES):
        make_curve_run(runs_dir, name, [0.9, 0.8], [0.4, 0.5], width=8 * (i + 1), batch_size=8 * (i + 1),
                       learning_rate=10 ** -(i + 2), data_path=(MINI, SAMPLE, MINI)[i], weight_decay=i * 1e-4)
    headers = {"Status", "best", "last", "bs", "lr", "width", "data_path", "wd"}
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await _compare_table(app, pilot, [runs_dir / n for n in LONG_NAMES])
        await wait_for(pilot, lambda: "←/→ more columns" in app.screen.sub_title, what="a table past the edge")
        start = widget_text(table).splitlines()[0].index("Status")  # where the scrolled columns begin
        beside: list[str] = []
        for _ in range(len(headers)):
            await pilot.press("right")
            await pilot.pause()
            rows = widget_text(table).splitlines()
            beside.append(rows[0][start:].split()[0])
            assert rows[0][start - 1] == " " and beside[-1] in headers, (beside, rows)
            for row in rows[1:4]:
                assert "finished" in row or "inished" not in row, rows
        assert rows[0].rstrip().endswith(" wd"), rows[0]  # the last column reached, whole


def _long_runs(runs_dir: Path, **more: tuple) -> list[Path]:
    """Three runs whose differing settings run past 80 columns; ``more``: settings that differ
    too, a value a run."""
    for i, name in enumerate(LONG_NAMES):
        make_curve_run(runs_dir, name, [0.9, 0.8], [0.4, 0.5], width=8 * (i + 1), batch_size=8 * (i + 1),
                       learning_rate=10 ** -(i + 2), data_path=(MINI, SAMPLE, MINI)[i], weight_decay=i * 1e-4,
                       **{key: values[i] for key, values in more.items()})
    return [runs_dir / n for n in LONG_NAMES]


SCROLLED_HEADERS = {"Status", "best", "last", "bs", "lr", "width", "data_path", "wd"}


def _beside_run_column(table, start: int) -> str:
    """The header shown beside the fixed Run column, whole or not, and that the column's first
    cell is not cut (the row under the header begins where the header does)."""
    from tui_helpers import widget_text

    rows = widget_text(table).splitlines()
    assert rows[0][start - 1] == " ", rows
    return rows[0][start:].split()[0]


async def test_the_mouse_wheel_and_a_scrollbar_drag_settle_on_a_whole_column_at_80_columns(runs_dir: Path) -> None:
    """←/→ scrolled a column at a time, but the sideways wheel and a drag of the scrollbar
    scrolled by cells, leaving a fragment of a column under the fixed Run column ("inished",
    "ta_path"). Both now rest where a column begins."""
    from textual.events import MouseScrollLeft, MouseScrollRight
    from tui_helpers import wheel, widget_text

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await _compare_table(app, pilot, _long_runs(runs_dir))
        await wait_for(pilot, lambda: "←/→ more columns" in app.screen.sub_title, what="a table past the edge")
        start = widget_text(table).splitlines()[0].index("Status")
        seen = []
        for _ in range(3):
            await wheel(pilot, table, MouseScrollRight)
            seen.append(_beside_run_column(table, start))
        assert seen == ["best", "last", "last"], seen  # then the end: the last column, wd, whole
        assert widget_text(table).splitlines()[0].rstrip().endswith(" wd")
        await wheel(pilot, table, MouseScrollLeft)
        assert _beside_run_column(table, start) == "best"
        # drag the scrollbar's thumb a few cells to the right: it settles on a column start
        bar = table.horizontal_scrollbar
        thumb = next(x for x in range(bar.size.width) if bar.render_lines(bar.region.reset_offset)[0].text[x] != " ")
        for distance in (3, 7, 11):
            await pilot.mouse_down(bar, offset=(thumb, 0))
            await pilot.hover(bar, offset=(thumb + distance, 0))
            await pilot.mouse_up(bar, offset=(thumb + distance, 0))
            await wait_for(pilot, lambda: table.scroll_x == table.scroll_target_x, what="the drag done")
            assert _beside_run_column(table, start) in SCROLLED_HEADERS, widget_text(table)
            for row in widget_text(table).splitlines()[1:4]:
                assert "finished" in row or "inished" not in row, widget_text(table)


async def test_switching_the_metric_keeps_the_columns_scrolled_to(runs_dir: Path) -> None:
    """Scrolled to the settings, a switch of the metric (1-5, m) sent the table back to its
    first columns, the settings the user was reading gone off the right edge."""
    from tui_helpers import widget_text

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await _compare_table(app, pilot, _long_runs(runs_dir))
        await wait_for(pilot, lambda: "←/→ more columns" in app.screen.sub_title, what="a table past the edge")
        start = widget_text(table).splitlines()[0].index("Status")
        await pilot.press("right", "down")
        await pilot.pause()
        assert _beside_run_column(table, start) == "best"
        before = widget_text(table).splitlines()
        await pilot.press("1")  # train loss
        await wait_for(pilot, lambda: app.screen.metric == "train_loss", what="train loss chosen")
        await wait_for(pilot, lambda: widget_text(table).splitlines() != before, what="the table filled again")
        await pilot.pause()
        after = widget_text(table).splitlines()
        assert _beside_run_column(table, start) == "best", after
        assert table.cursor_row == 1  # the run the cursor was on stays highlighted


async def test_a_click_on_the_scrollbars_track_pages_to_a_whole_column_at_80_columns(runs_dir: Path) -> None:
    """A click on the scrollbar's track beside its thumb scrolled a page of cells, the column it
    reached cut under the Run column; it now pages to a column start: the table reads as one of
    the views →/← step through."""
    from tui_helpers import widget_text

    paths = _long_runs(runs_dir, seed=(1, 2, 3), dropout=(0.0, 0.1, 0.2), grad_clip=(0.0, 1.0, 2.0),
                       warmup_epochs=(0, 1, 2), optimizer=("adam", "adamw", "adam"),
                       scheduler=("cosine", "plateau", "none"), augment_strength=("off", "light", "strong"),
                       bce_weight=(0.5, 1.0, 2.0), ema_decay=(0.0, 0.99, 0.999))
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await _compare_table(app, pilot, paths)
        await wait_for(pilot, lambda: "←/→ more columns" in app.screen.sub_title, what="a table past the edge")
        views = [widget_text(table)]  # the table at each column start, as → shows it
        while True:
            await pilot.press("right")
            await pilot.pause()
            if widget_text(table) == views[-1]:
                break
            views.append(widget_text(table))
        await pilot.press("home")
        bar = table.horizontal_scrollbar
        shown = []
        for offset in (bar.size.width - 1, bar.size.width - 1, 0):  # right of the thumb twice, then left
            await pilot.click(bar, offset=(offset, 0))
            await wait_for(pilot, lambda: table.scroll_x == table.scroll_target_x, what="the page scrolled")
            shown.append(widget_text(table))
            assert shown[-1] in views, "\n".join([shown[-1], "is none of", *views])
        assert len(set(shown)) > 1  # it did scroll
