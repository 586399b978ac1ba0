"""The compare screen's table of the settings that differ: each run's value stays told apart
however long it is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tui_helpers import make_curve_run, wait_for

from petseg_tui.app import PetsegApp
from petseg_tui.screens.compare_table import CELL_WIDTH, distinct_cells

MINI, SAMPLE = "/work/shared/data/oxford-pet-mini", "/work/shared/data/oxford-pet-sample"


async def _compare_table(app: PetsegApp, pilot, runs: list[Path]):
    """The compare table of ``runs``, once it holds a row for each."""
    app.open_compare(runs)
    await wait_for(pilot, lambda: len(getattr(app.screen, "snapshots", [])) == len(runs), what="compare data")
    table = app.screen.query_one("#compare-table")
    await wait_for(pilot, lambda: table.row_count == len(runs), what="the compare table")
    return table


async def test_long_differing_paths_keep_their_ends_in_the_table(runs_dir: Path) -> None:
    make_curve_run(runs_dir, "on-mini", [0.9, 0.8], [0.4, 0.5], data_path=MINI)
    make_curve_run(runs_dir, "on-sample", [0.9, 0.7], [0.4, 0.6], data_path=SAMPLE)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await _compare_table(app, pilot, [runs_dir / "on-mini", runs_dir / "on-sample"])
        mini, sample = (str(table.get_cell(run, "cfg:data_path")) for run in ("on-mini", "on-sample"))
        assert mini.endswith("oxford-pet-mini") and sample.endswith("oxford-pet-sample")
        assert mini.startswith("…") and len(sample) <= CELL_WIDTH


def test_a_value_that_fits_is_left_whole_and_the_rest_cut_where_runs_agree() -> None:
    assert distinct_cells([1e-3, 3e-4, None]) == ["0.001", "0.0003", "—"]
    assert distinct_cells([MINI, SAMPLE]) == ["…data/oxford-pet-mini", "…data/oxford-pet-sample"]
    # nothing shared to leave out: the middle goes, both ends stay
    long_name = "a" * 20 + "-middle-" + "z" * 20 + "-end1"
    cell, short = distinct_cells([long_name, "b"])
    assert len(cell) == CELL_WIDTH and cell.startswith("aaa") and cell.endswith("-end1") and short == "b"
    # a path beside a missing value keeps its end
    assert distinct_cells([MINI, None])[0].endswith("/oxford-pet-mini")


def test_values_that_differ_in_the_middle_keep_it_not_the_end_they_share() -> None:
    """Three runs' data descriptions, their folders in the middle, all read "Oxford-II…l, 198 test
    images" (the one column there because they differ): the end they share goes first."""
    described = [f"Oxford-IIIT Pet at {folder}: 298 trainval, 198 test images"
                 for folder in ("/tmp/pets-copy", MINI, SAMPLE)]
    cells = distinct_cells(described)
    assert len(set(cells)) == 3 and all(len(c) <= CELL_WIDTH for c in cells), cells
    for cell, end in zip(cells, ("pets-copy", "oxford-pet-mini", "oxford-pet-sample")):
        assert cell.endswith(f"{end}…"), cells


async def test_settings_with_brackets_are_shown_as_written_never_as_markup(runs_dir: Path) -> None:
    """A config.json value is text, not Rich markup: a data folder named ``pets[v2]`` read
    ``/data/pets`` in the compare table (the ``[v2]`` taken for a style) and ``[old]`` vanished
    from ``/data/[old]/pets``; a model written ``unet[/]`` stopped the app with a MarkupError in
    the runs table, the compare table and the form of N (copy this run)."""
    from tui_helpers import widget_text

    make_curve_run(runs_dir, "on-v2", [0.9, 0.8], [0.4, 0.5], data_path="/data/pets[v2]")
    make_curve_run(runs_dir, "on-old", [0.9, 0.7], [0.4, 0.6], data_path="/data/[old]/pets")
    config = json.loads((runs_dir / "on-old" / "config.json").read_text())
    config["model"] = "unet[/]"  # written by hand
    (runs_dir / "on-old" / "config.json").write_text(json.dumps(config))
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
        await wait_for(pilot, lambda: "unet[/]" in widget_text(app.screen.table), what="the model as written")
        table = await _compare_table(app, pilot, [runs_dir / "on-v2", runs_dir / "on-old"])
        await pilot.pause()
        shown = widget_text(table)
        assert "/data/pets[v2]" in shown and "/data/[old]/pets" in shown and "unet[/]" in shown
        app.go_home()
        app.action_new_run(copy_of=runs_dir / "on-old")  # N: the copied model is offered as written
        await wait_for(pilot, lambda: type(app.screen).__name__ == "NewRunScreen", what="the copy's form")
        await wait_for(pilot, lambda: any("unet[/]" in widget_text(w) for w in app.screen.query("#f-model Static")),
                       what="its model")
        assert app.is_running


async def test_a_long_run_name_leaves_the_figures_on_screen_at_80_columns(runs_dir: Path) -> None:
    """The compare table cuts a long run name in the middle (as the runs table does; the legend
    above has it whole): a 72-character name pushed Status and the Dice columns past the right
    edge of an 80-column terminal."""
    from tui_helpers import widget_text

    long_name = "a-very-long-run-name-that-goes-on-and-on-for-testing-the-middle-cut-0001"
    make_curve_run(runs_dir, long_name, [0.9, 0.8], [0.4, 0.5])
    make_curve_run(runs_dir, "short", [0.9, 0.7], [0.4, 0.6], learning_rate=3e-4)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_compare([runs_dir / long_name, runs_dir / "short"])
        await wait_for(pilot, lambda: len(getattr(app.screen, "snapshots", [])) == 2, what="compare data")
        table = app.screen.query_one("#compare-table")
        await wait_for(pilot, lambda: table.row_count == 2, what="the compare table")
        await pilot.pause()
        rows = [line for line in widget_text(table).splitlines() if "finished" in line]
        assert len(rows) == 2 and all("0.5000 @2" in row or "0.6000 @2" in row for row in rows), rows
        assert "…" in rows[0] and rows[0].split("…")[1].split()[0].endswith("cut-0001")


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


def test_how_amp_auto_was_measured_is_not_a_setting_that_differs() -> None:
    """Two runs whose `--amp auto` probes were timed apart: the table listed amp_probe.cached,
    .measured, .bf16_ms ... as settings that differ (seen comparing three real runs: an
    'amp_probe.cached  True/False' column); what the probe chose, amp_resolved, stays."""
    from petseg_tui.screens.compare_table import differing_keys

    def config(lr: float, cached: bool, measured: float, resolved: str) -> dict:
        return {"learning_rate": lr, "amp": "auto", "amp_resolved": resolved,
                "amp_probe": {"cached": cached, "measured": measured, "bf16_ms": measured / 1e7, "choice": "bf16"}}

    assert differing_keys([config(1e-3, False, 1.79e9, "bfloat16"), config(3e-4, True, 1.80e9, "bfloat16")]) == [
        "learning_rate"]
    assert differing_keys([config(1e-3, True, 1.79e9, "bfloat16"), config(1e-3, True, 1.80e9, "float32")]) == [
        "amp_resolved"]


async def test_a_runs_epoch_budget_changes_read_as_words_not_python(runs_dir: Path) -> None:
    """A run resumed with more epochs records its budget changes (a list of dicts) in config.json:
    the compare table showed them as "[{'after_epoch': 2, 'from': 2, …sine', 'to': 4}]"."""
    make_curve_run(runs_dir, "longer", [0.9, 0.8], [0.4, 0.5])
    make_curve_run(runs_dir, "plain", [0.9, 0.7], [0.4, 0.6])
    config = json.loads((runs_dir / "longer" / "config.json").read_text())
    config["budget_changes"] = [{"after_epoch": 2, "from": 2, "to": 4, "scheduler": "cosine", "next_lr": 5e-4}]
    (runs_dir / "longer" / "config.json").write_text(json.dumps(config))
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(160, 48)) as pilot:
        table = await _compare_table(app, pilot, [runs_dir / "longer", runs_dir / "plain"])
        longer, plain = (str(table.get_cell(run, "cfg:budget_changes")) for run in ("longer", "plain"))
        assert longer == "2→4 epochs after 2"
        assert plain == "—"


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


async def test_a_sweeps_trials_show_each_searched_setting_once(runs_dir: Path) -> None:
    """c on the sweep screen: the table listed learning_rate and width, then again as
    sweep.params.learning_rate and sweep.params.width (the same values): three columns of a
    160-column terminal that said nothing new (at 80 they pushed the rest off the screen)."""
    from tui_helpers import widget_text

    for trial, (lr, width) in enumerate([(0.00321, 4), (0.00409, 4), (0.00458, 8)]):
        make_curve_run(runs_dir, f"s1-t00{trial}", [0.9, 0.8], [0.4, 0.5 + trial / 100], learning_rate=lr, width=width)
        config = json.loads((runs_dir / f"s1-t00{trial}" / "config.json").read_text())
        config["sweep"] = {"name": "s1", "trial": trial, "params": {"learning_rate": lr, "width": width}}
        (runs_dir / f"s1-t00{trial}" / "config.json").write_text(json.dumps(config))
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(160, 48)) as pilot:
        table = await _compare_table(app, pilot, [runs_dir / f"s1-t00{t}" for t in range(3)])
        await pilot.pause()
        shown = widget_text(table)
        assert "learning_rate" in shown and "sweep.params" not in shown
        header = shown.splitlines()[0].split()
        assert header[-3:] == ["learning_rate", "width", "sweep.trial"], header


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


async def test_at_80_columns_the_settings_that_differ_are_on_screen(runs_dir: Path) -> None:
    """Three runs named as petseg names them, differing in learning rate and width: at 80x24 the
    table showed Run, Status and the two Dice columns, learning_rate cut to "learning_ra" and
    width past the right edge (found only by scrolling sideways). Narrow, the names are cut to
    what tells them apart (the legend above has them whole), the figures headed "best"/"last"
    (the metric is in the title) and the settings by their filter names (lr)."""
    from tui_helpers import widget_text

    runs = {"unet-20261206-191801": (1e-3, 8), "unet-20261206-191815": (3e-4, 8), "unet-20261206-191842": (1e-3, 16)}
    for name, (lr, width) in runs.items():
        make_curve_run(runs_dir, name, [0.9, 0.8], [0.4, 0.5 + width / 100], learning_rate=lr, width=width)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await _compare_table(app, pilot, [runs_dir / name for name in runs])
        await pilot.pause()
        shown = widget_text(table).splitlines()
        assert shown[0].split() == ["Run", "Status", "best", "last", "lr", "width"], shown[0]
        for name, (lr, width) in runs.items():
            row = next(line for line in shown if name[-6:] in line)
            assert row.split()[-2:] == [f"{lr:.3g}", str(width)], row
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(160, 48)) as pilot:  # wide: the full names and headers
        table = await _compare_table(app, pilot, [runs_dir / name for name in runs])
        await pilot.pause()
        shown = widget_text(table)
        assert "best valid Dice" in shown and "learning_rate" in shown and all(name in shown for name in runs)


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

async def test_a_data_parallel_run_beside_a_plain_one_shows_every_differing_setting_whole_at_80_columns(
        runs_dir: Path) -> None:
    """``petseg train --device cpu --devices 2`` beside a plain run, compared at 80x24: the table
    ran past the right edge, its last column's header cut to "device" beside the real "device"
    column, and seven ``distributed.*`` columns (the seeds of each rank, the backend, the batch per
    process: each follows from a setting shown already) pushed the rest off screen."""
    from tui_helpers import widget_text

    make_curve_run(runs_dir, "plain", [0.9, 0.8], [0.4, 0.5])
    make_curve_run(runs_dir, "two-proc", [0.9, 0.7], [0.4, 0.6], device="cpu", devices="2")
    config_file = runs_dir / "two-proc" / "config.json"
    config = json.loads(config_file.read_text())
    config["distributed"] = {"world_size": 2, "backend": "gloo", "batch_per_process": 8, "global_batch": 16,
                             "sync_bn": False, "threads_per_process": 1, "augment_seeds": [42, 1000045]}
    config_file.write_text(json.dumps(config))
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await _compare_table(app, pilot, [runs_dir / "plain", runs_dir / "two-proc"])
        await pilot.pause()
        header = widget_text(table).splitlines()[0].split()
        assert header[-2:] == ["device", "devices"], header  # each whole, the last one not cut
        assert len(set(header)) == len(header)
        row = widget_text(table).splitlines()[2].split()
        assert row[-2:] == ["cpu", "2"], row


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


LONG_NAMES = ("unet-baseline-strong-augmentation-lr3e-4-width32-long-name-20261207-041233",
              "resnet34-unet-pretrained-encoder-imagenet-lr1e-3-width16-20261207-041533",
              "densenet-encoder-unet-lr1e-3-width8-20261207-042011")


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


async def test_a_run_with_a_broken_config_adds_no_columns_nor_a_mask_rule_note(runs_dir: Path) -> None:
    """Two runs that differ in their learning rate, and a third whose config.json is not JSON:
    every setting of the first two had a column (time_budget: "—" in all three rows) and the
    title said "mask rules differ", as if the broken run had another rule."""
    from tui_helpers import widget_text

    make_curve_run(runs_dir, "slow", [0.9, 0.8], [0.4, 0.5], learning_rate=1e-4)
    make_curve_run(runs_dir, "fast", [0.9, 0.7], [0.4, 0.6], learning_rate=1e-3)
    make_curve_run(runs_dir, "bad", [0.9, 0.7], [0.4, 0.6])
    (runs_dir / "bad" / "config.json").write_text("{not json")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await _compare_table(app, pilot, [runs_dir / n for n in ("slow", "fast", "bad")])
        assert [c.key.value for c in table.columns.values()][4:] == ["cfg:learning_rate"]
        assert "mask rules" not in app.screen.sub_title
        assert "broken" in widget_text(table)


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
