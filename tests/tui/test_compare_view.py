"""The compare screen around its table: the title (runs, metrics, the mask-rule note), the legend,
the charts, colours and states legible in the light themes, Enter and z, and runs deleted
while compared."""

from __future__ import annotations

from pathlib import Path

import pytest
from tui_helpers import make_curve_run, wait_for
from tui_compare import LONG_NAMES, MINI, SAMPLE, _compare_table

from petseg_tui.app import PetsegApp


async def test_the_title_counts_one_run_in_the_singular(runs_dir: Path) -> None:
    """c with one run selected: the title read "compare 1 runs"."""
    from tui_helpers import widget_text

    from petseg_tui.widgets.header import PetsegHeader

    make_curve_run(runs_dir, "alone", [0.9, 0.8], [0.4, 0.5])
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_compare([runs_dir / "alone"])
        await wait_for(pilot, lambda: len(getattr(app.screen, "snapshots", [])) == 1, what="compare data")
        await pilot.pause()
        title = widget_text(app.screen.query_one(PetsegHeader))
        assert "compare 1 run ·" in title and "1 runs" not in title, title


async def test_a_run_deleted_while_compared_reads_folder_gone_not_broken(runs_dir: Path) -> None:
    """Another dashboard's D (or an rm) on a compared run: its row said "broken", as if the run
    were damaged; the runs table and the run's screen say its folder is gone."""
    from engine.runs import delete_run

    make_curve_run(runs_dir, "kept", [0.9, 0.8], [0.4, 0.5])
    make_curve_run(runs_dir, "deleted", [0.9, 0.7], [0.4, 0.6])
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await _compare_table(app, pilot, [runs_dir / "kept", runs_dir / "deleted"])
        assert str(table.get_cell("deleted", "state")) == "finished"
        delete_run(runs_dir / "deleted")
        # (a poll inside delete_run's moment of holding the run's lock reads "running" for a poll)
        await wait_for(pilot, lambda: str(table.get_cell("deleted", "state")) == "folder gone",
                       what="the row said its folder is gone")
        assert str(table.get_cell("kept", "state")) == "finished"
        assert str(table.get_cell("deleted", "best")).startswith("0.6000")  # its curves stay compared


async def test_charts_that_appear_when_the_terminal_widens_fill_their_cells(runs_dir: Path) -> None:
    """Compare opened at 80x24 (one chart), then the terminal widened to 160x48 (four): the three
    charts that appeared drew their plot at half their height over a blank band, a blank
    placeholder kept beside it (seen in tmux after a resize-window)."""
    from tui_helpers import widget_text

    from petseg_tui.widgets.charts import Chart

    make_curve_run(runs_dir, "a", [1.3, 1.1, 0.9, 0.8], [0.1, 0.4, 0.6, 0.7])
    make_curve_run(runs_dir, "b", [1.2, 1.0, 0.95, 0.9], [0.2, 0.5, 0.55, 0.6], learning_rate=3e-4)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await _compare_table(app, pilot, [runs_dir / "a", runs_dir / "b"])
        await pilot.pause()
        await pilot.resize_terminal(160, 48)
        charts = lambda: [c for c in app.screen.query(Chart) if c.display]  # noqa: E731
        await wait_for(pilot, lambda: len(charts()) == 4, what="four charts at 160 columns")
        await pilot.pause()
        for chart in charts():
            plot_rows = widget_text(chart.plot).splitlines()
            assert len(plot_rows) == chart.region.height - 2, (chart.id, len(plot_rows), chart.region)  # all but the header
            assert plot_rows[-1].strip() == "epoch", chart.id  # the x label on the chart's last row


async def test_runs_of_different_mask_rules_say_their_figures_are_scored_apart(runs_dir: Path) -> None:
    """A pet_only run beside a pet_border one: valid Dice 0.64 against 0.69 on the same axes, with
    nothing but a mask_rule column to say each counts the border band its own way."""
    from tui_helpers import widget_text

    from petseg_tui.widgets.header import PetsegHeader

    make_curve_run(runs_dir, "border", [0.9, 0.8], [0.6, 0.69])
    make_curve_run(runs_dir, "petonly", [0.9, 0.8], [0.55, 0.64], mask_rule="pet_only")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await _compare_table(app, pilot, [runs_dir / "border", runs_dir / "petonly"])
        await pilot.pause()
        title = widget_text(app.screen.query_one(PetsegHeader))
        assert "valid Dice · mask rules differ: each scored by its own" in title, title


async def test_at_80_columns_the_mask_rule_note_leaves_room_for_the_scroll_note(runs_dir: Path) -> None:
    """Mask rules and enough other settings differ for the table to run past 80 columns: the
    title bar read "… valid Dice · mask rules differ: each scored by its own" to its last column
    and "· ←/→ more columns", the one cue that the table scrolls, was cut off."""
    from tui_helpers import widget_text

    from petseg_tui.widgets.header import PetsegHeader

    make_curve_run(runs_dir, "border", [0.9, 0.8], [0.6, 0.69], data_path=MINI, learning_rate=1e-4, width=16)
    make_curve_run(runs_dir, "petonly", [0.9, 0.8], [0.55, 0.64], mask_rule="pet_only", data_path=SAMPLE)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await _compare_table(app, pilot, [runs_dir / "border", runs_dir / "petonly"])
        header = app.screen.query_one(PetsegHeader)
        await wait_for(pilot, lambda: "←/→ more columns" in widget_text(header), what="the scroll note on screen")
        assert "valid Dice · mask rules differ · ←/→ more columns" in widget_text(header)
        await pilot.resize_terminal(140, 30)  # room for the why again
        await wait_for(pilot, lambda: "mask rules differ: each scored by its own" in widget_text(header),
                       what="the whole note at 140 columns")


async def test_at_80x24_seven_trials_leave_the_chart_and_every_row_on_screen(runs_dir: Path) -> None:
    """Seven trials named alike compared at 80x24: the legend spelled each whole name, one a line,
    so it took 7 rows, the chart's plot 2 and the table lost its last run below the edge. Narrow,
    the legend says the shared start once, then each run as the table names it."""
    from tui_helpers import widget_text

    names = [f"lr-search-2026-12-06-trial-00{i}" for i in range(7)]
    for i, name in enumerate(names):
        make_curve_run(runs_dir, name, [0.9, 0.8], [0.4, 0.5 + i / 100], learning_rate=1e-3 * (i + 1))
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await _compare_table(app, pilot, [runs_dir / name for name in names])
        await pilot.pause()
        legend = widget_text(app.screen.query_one("#legend"))
        assert len(legend.strip().splitlines()) <= 2, legend
        assert legend.count("lr-search-2026-12-06-trial-") == 1 and all(n[-3:] in legend for n in names), legend
        shown = widget_text(table)
        assert all(f"…{n[-3:]}" in shown for n in names), shown
        chart = app.screen.query_one("#compare-chart-0")
        assert chart.region.height >= 10, chart.region
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(160, 48)) as pilot:  # wide: every name whole in the legend
        await _compare_table(app, pilot, [runs_dir / name for name in names])
        await pilot.pause()
        legend = widget_text(app.screen.query_one("#legend"))
        assert all(name in legend for name in names), legend


async def test_with_four_metrics_shown_the_title_and_selector_say_so(runs_dir: Path) -> None:
    """At 160x48 the grid shows four metrics, yet the title read "compare 2 runs · valid Dice" and
    the selector "3 valid Dice", as if only it were shown. Now the title counts the metrics and
    names the chosen one as highlighted, and the selector reads "highlight"; 80x24 (one chart)
    says the one metric as before."""
    from tui_helpers import widget_text

    from petseg_tui.widgets.header import PetsegHeader

    make_curve_run(runs_dir, "a", [0.9, 0.8], [0.4, 0.5])
    make_curve_run(runs_dir, "b", [0.9, 0.7], [0.4, 0.6], learning_rate=3e-4)
    for size, title, role in (((160, 48), "compare 2 runs · 4 metrics, valid Dice highlighted", "highlight"),
                              ((80, 24), "compare 2 runs · valid Dice", "")):
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=size) as pilot:
            await _compare_table(app, pilot, [runs_dir / "a", runs_dir / "b"])
            await pilot.pause()
            header = app.screen.query_one(PetsegHeader)
            await wait_for(pilot, lambda: title in widget_text(header), what=title)
            assert widget_text(app.screen.query_one("#metric-role")).strip() == role
            if size == (160, 48):
                await pilot.press("2")  # another metric: the title follows
                await wait_for(pilot, lambda: "4 metrics, valid loss highlighted" in widget_text(header),
                               what="valid loss highlighted")


async def test_every_runs_colour_is_legible_in_a_light_theme(runs_dir: Path) -> None:
    """The run colours are bright, for a dark background: in textual-light (chosen from the
    palette while comparing) the yellow, green, teal and orange runs read at 1.0-1.5:1 in the
    legend, the table and the curves. Each is now darkened until it reads, keeping its hue."""
    from tui_helpers import contrast_of

    from petseg_tui.screens.compare import MARKERS
    from petseg_tui.widgets.charts import ChartPlot

    names = [f"run-{i}" for i in range(7)]
    for i, name in enumerate(names):
        make_curve_run(runs_dir, name, [0.9 - i / 50, 0.8 - i / 40], [0.4, 0.5 + i / 20], learning_rate=1e-3 * (i + 1))
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await _compare_table(app, pilot, [runs_dir / name for name in names])
        app.theme = "textual-light"  # as the command palette's Theme switches it
        await pilot.pause()
        await pilot.pause()
        legend, chart = app.screen.query_one("#legend"), app.screen.query_one("#compare-chart-0")
        for i, name in enumerate(names):
            assert contrast_of(legend, name) >= 3.0, name
            assert contrast_of(table, name) >= 3.0, name
            assert contrast_of(chart.query_one(ChartPlot), MARKERS[i]) >= 3.0, name


async def test_enter_on_a_compared_run_opens_it_and_esc_comes_back(runs_dir: Path) -> None:
    """Enter opens the highlighted run on the runs and sweeps tables; on the compare table, whose
    rows are runs too, it did nothing (and neither did a click on the highlighted row)."""
    from petseg_tui.screens.compare import CompareScreen
    from petseg_tui.screens.live_run import LiveRunScreen

    make_curve_run(runs_dir, "first", [0.9, 0.8], [0.4, 0.5])
    make_curve_run(runs_dir, "second", [0.9, 0.7], [0.4, 0.6])
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        table = await _compare_table(app, pilot, [runs_dir / "first", runs_dir / "second"])
        compare = app.screen
        table.move_cursor(row=1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, LiveRunScreen), what="the run's screen")
        assert app.screen.run_path == runs_dir / "second"
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is compare, what="back to the comparison")
        assert isinstance(compare, CompareScreen) and table.has_focus


async def test_the_run_states_are_legible_in_a_light_theme(runs_dir: Path) -> None:
    """The Status column's colours were for a dark background: "interrupted" and "folder gone" in
    orange read at 1.6-1.8:1 on textual-light, "finished" in cyan at 2.7:1 on its zebra rows."""
    import shutil

    from tui_helpers import LIGHT_THEMES, contrast_of, make_interrupted_run, settled

    for name in ("cursor", "done", "gone"):  # the first row is the cursor's, drawn in its colours
        make_curve_run(runs_dir, name, [0.9, 0.8], [0.4, 0.5])
    make_interrupted_run(runs_dir, "stale")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 30)) as pilot:
        table = await _compare_table(app, pilot, [runs_dir / n for n in ("cursor", "done", "gone", "stale")])
        shutil.rmtree(runs_dir / "gone")
        await wait_for(pilot, lambda: "folder gone" in str(table.get_row_at(2)[1]), what="the folder gone")
        for theme in LIGHT_THEMES:
            app.theme = theme  # as the command palette's Theme switches it
            await settled(pilot)
            shown = {s: round(contrast_of(table, s), 2) for s in ("finished", "folder gone", "interrupted")}
            assert min(shown.values()) >= 3.0, (theme, shown)


async def test_a_run_deleted_while_a_poll_reads_it_ends_as_folder_gone(runs_dir: Path) -> None:
    """``rm -r`` of a compared run with a poll in its middle (its files gone, the folder not yet:
    the run reads as broken): the gone folder, broken too, was no change to the compare view, and
    its row said "broken" for good, never "folder gone" (a loaded machine's slow rm -r)."""
    import shutil

    for name in ("keep", "gone"):
        make_curve_run(runs_dir, name, [0.9, 0.8], [0.4, 0.5])
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 30)) as pilot:
        table = await _compare_table(app, pilot, [runs_dir / "keep", runs_dir / "gone"])
        for name in ("config.json", "status.json", "events.jsonl"):  # what rm -r removed so far
            (runs_dir / "gone" / name).unlink()
        await wait_for(pilot, lambda: "broken" in str(table.get_row_at(1)[1]), what="the half-deleted run read")
        shutil.rmtree(runs_dir / "gone")
        await wait_for(pilot, lambda: "folder gone" in str(table.get_row_at(1)[1]), what="the folder gone")


async def test_a_legend_that_wraps_keeps_each_marker_beside_its_run_name(runs_dir: Path) -> None:
    """Four runs at 80 columns: the legend wraps, and a line ended with a run's marker ("─■")
    whose name began the next line, read as the marker of the name before it or of none."""
    from tui_helpers import widget_text

    from petseg_tui.widgets.chart_specs import MARKERS

    names = ["long300", "unet-20261207-012036", "unet-20261207-011314", "unet-20261207-011254"]
    for i, name in enumerate(names):
        make_curve_run(runs_dir, name, [0.9, 0.8], [0.4, 0.5 + 0.01 * i])
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await _compare_table(app, pilot, [runs_dir / n for n in names])
        legend = app.screen.query_one("#legend")
        await pilot.pause()
        lines = [line.rstrip() for line in widget_text(legend).splitlines() if line.strip()]
        assert len(lines) > 1, lines  # it does wrap at this width
        for line in lines:
            assert not any(line.endswith(m) for m in MARKERS[: len(names)]), lines
        shown = " ".join(" ".join(lines).split())
        for i, name in enumerate(names):
            assert f"─{MARKERS[i]} {name}" in shown, shown


async def test_long_run_names_stay_one_legend_line_each_at_80_columns(runs_dir: Path) -> None:
    """At 80x24 a run name longer than the legend's line wrapped: its marker alone on a line and
    the name broken mid-word over two more, three runs taking seven rows from the chart. A name
    too long is cut in the middle, as the tables cut it, its end (the time) kept."""
    from tui_helpers import widget_text

    for i, name in enumerate(LONG_NAMES):
        make_curve_run(runs_dir, name, [0.9, 0.8], [0.4, 0.5 + 0.05 * i], width=8 * (i + 1))
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await _compare_table(app, pilot, [runs_dir / n for n in LONG_NAMES])
        legend = app.screen.query_one("#legend")
        await wait_for(pilot, lambda: widget_text(legend).count("\n") == 2, what="one legend line a run")
        lines = [line.strip() for line in widget_text(legend).splitlines()]
        for marker, line, name in zip("●▲■", lines, LONG_NAMES):
            assert line.startswith(f"─{marker} ") and line.endswith(name[-15:]), lines
        assert "…" in lines[0] and lines[2] == f"─■ {LONG_NAMES[2]}"  # the one that fits is whole


@pytest.mark.parametrize("dices, offered", [([[0.4, 0.5], [0.3, 0.6]], False), ([[0.4, 0.5], [0.3, 0.6, 0.7]], True)],
                         ids=["same-length", "different-lengths"])
async def test_z_is_offered_only_when_there_are_epoch_ranges_to_choose(runs_dir: Path, dices, offered) -> None:
    """Two runs of two epochs each: the footer offered "z Epochs", and z said "Epochs: all" every
    time, the charts unchanged (all is the only range for runs of one length, 5 epochs or fewer).
    It is offered where the runs differ in length (the epochs every run has)."""
    from tui_helpers import footer_text, settled, toasts

    names = [f"run-{i}" for i in range(len(dices))]
    for name, dice in zip(names, dices):
        make_curve_run(runs_dir, name, [0.9 - 0.1 * i for i in range(len(dice))], dice)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await _compare_table(app, pilot, [runs_dir / n for n in names])
        await pilot.pause()
        assert ("z Epochs" in footer_text(app.screen)) == offered, footer_text(app.screen)
        await pilot.press("z")
        await settled(pilot)
        assert ("Epochs:" in toasts(app)) == offered, toasts(app)
