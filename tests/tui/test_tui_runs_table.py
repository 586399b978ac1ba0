"""Runs screen: listing, broken runs, live updates, sorting, filtering, selection."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest

from tui_helpers import (
    rendered,
    T0,
    epoch_event,
    gpu_sample,
    highlight,
    make_curve_run,
    make_run,
    run_detail,
    settled,
    toasts,
    wait_for,
    widget_text,
)

from engine.runs import VALUE_KEYS, RunState, RunWriter
from petseg_tui.app import PetsegApp
from petseg_tui.format import state_text
from petseg_tui.screens.runs import RunsScreen
from petseg_tui.widgets.runs_columns import COLUMN_KEYS
from petseg_tui.widgets.runs_table import RunsTable


def cell(table: RunsTable, name: str, column: str) -> str:
    value = table.get_cell(name, column)
    return getattr(value, "plain", str(value))


def test_every_state_has_its_colour() -> None:
    assert all(state_text(s).style for s in RunState)
    assert state_text("finished").plain == "finished" and state_text(RunState.BROKEN).style == "red reverse"


def test_every_column_but_the_selection_sorts_by_the_engine_rule() -> None:
    assert set(COLUMN_KEYS) - {"sel"} <= set(VALUE_KEYS)


async def test_lists_runs_broken_and_live_row_updates(sample_runs: Path) -> None:
    live: RunWriter = make_run(sample_runs, "echo-live", epochs_done=2, total=5, state="running",
                               t0=time.time() - 60, close=False)

    app = PetsegApp(runs_dir=sample_runs)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        table = screen.table
        assert table.row_count == 5
        assert set(table.visible_names) == {"alpha", "bravo", "charlie", "delta-broken", "echo-live"}
        assert cell(table, "delta-broken", "state") == "broken"
        assert cell(table, "alpha", "state") == "finished"
        assert cell(table, "bravo", "state") == "stopped"
        assert cell(table, "charlie", "state") == "failed"
        assert cell(table, "echo-live", "state") == "running"
        assert cell(table, "alpha", "epoch") == "5/5"

        # the broken run's reason shows in the detail line when highlighted
        await highlight(pilot, table, "delta-broken")
        shown = run_detail(screen)
        assert "config.json" in shown and "not valid JSON" in shown
        assert "/tmp" not in shown.split("\n", 1)[1]  # the run folder prefix is stripped

        # the live run grows: its row follows
        assert cell(table, "echo-live", "epoch") == "2/5"
        live.append(epoch_event(3, 5, time.time()))
        await wait_for(pilot, lambda: cell(table, "echo-live", "epoch") == "3/5", what="live row update")
        assert table.row_count == 5

        # a run made by another process appears
        make_run(sample_runs, "foxtrot", epochs_done=1, total=2, t0=T0 + 99)
        await wait_for(pilot, lambda: "foxtrot" in table.visible_names, what="new run")
        live.append(epoch_event(4, 5, time.time()))
        live.set_status("stopped", "stopped by user")
        live.close()  # a writer that stopped lets go of the run (its lock): only then is it "stopped"
        await wait_for(pilot, lambda: cell(table, "echo-live", "state") == "stopped", what="live run stopped")


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


async def test_garbage_events_and_missing_status_never_crash(runs_dir: Path) -> None:
    w = make_run(runs_dir, "golf", epochs_done=2, total=2)
    with open(runs_dir / "golf" / "events.jsonl", "a") as fh:
        fh.write("{not json}\n[1,2]\n")
    nostatus = runs_dir / "hotel"
    nostatus.mkdir()
    (nostatus / "config.json").write_text(json.dumps({"model": "unet"}))
    (runs_dir / "india").mkdir()
    (runs_dir / "india" / "events.jsonl").write_bytes(b"\xff\xfe garbage\n")

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        t = screen.table
        assert cell(t, "golf", "state") == "finished"
        assert cell(t, "hotel", "state") == "broken"
        assert cell(t, "india", "state") == "broken"
        await highlight(pilot, t, "golf")
        assert "2 unreadable line(s)" in run_detail(screen)
        await highlight(pilot, t, "hotel")
        assert "status.json: missing" in run_detail(screen)
        await pilot.press("enter")  # a broken run opens without crashing
        await wait_for(pilot, lambda: type(app.screen).__name__ == "LiveRunScreen", what="the live screen")
        live = app.screen
        await wait_for(pilot, lambda: live.snapshot is not None, what="the broken run read")
        assert live.snapshot.state == "broken" and app.is_running
    assert w is not None


async def test_columns_follow_the_width_and_home_end_move_to_the_ends(sample_runs: Path) -> None:
    expected = {
        80: ["✓", "Run", "Status", "Epoch", "Best Dice", "Train loss", "Time"],
        120: ["✓", "Run", "Status", "Epoch", "Best Dice", "Train loss", "Model", "img/s", "Started", "Time"],
        160: ["✓", "Run", "Status", "Epoch", "Best Dice", "IoU", "Train loss", "Valid loss", "LR peak", "Model", "img/s",
              "s/epoch", "Started", "Time"],
    }

    for width, labels in expected.items():
        app = PetsegApp(runs_dir=sample_runs)
        async with app.run_test(size=(width, 30)) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: screen.loaded, what="first scan")
            table = screen.table
            header = widget_text(table).splitlines()[0]
            positions = [header.find(label) for label in labels]
            assert all(p >= 0 for p in positions) and positions == sorted(positions), (width, header)
            assert len(header.rstrip()) <= width
            if width == 80:
                await pilot.press("end")
                assert table.highlighted_name == table.visible_names[-1]
                await pilot.press("home")
                assert table.highlighted_name == table.visible_names[0]


async def test_a_status_cell_widens_when_the_run_changes_state_in_place(runs_dir: Path) -> None:
    """A run shown as "running" whose process dies becomes "interrupted": the Status column grows
    instead of showing "interrup"."""
    live = make_run(runs_dir, "x", epochs_done=1, total=5, state="running", t0=time.time() - 60, close=False)
    live.start_heartbeat(0.3)

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(200, 20)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        table = screen.table
        assert cell(table, "x", "state") == "running"
        live.close()  # heartbeat stops; the status file still says running
        status_path = runs_dir / "x" / "status.json"
        status = json.loads(status_path.read_text())
        status["pid"], status["heartbeat"] = 999_999_999, time.time() - 3600
        status_path.write_text(json.dumps(status))
        await wait_for(pilot, lambda: cell(table, "x", "state") == "interrupted", what="interrupted")
        await wait_for(pilot, lambda: "interrupted" in widget_text(table).splitlines()[1],
                       what="the whole word drawn in the row")


async def test_train_loss_label_and_median_images_per_second(runs_dir: Path) -> None:
    w = make_run(runs_dir, "cold", epochs_done=3, total=3, close=False)  # fixture: 121, 122, 123 img/s
    w.close()

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 20)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        header = widget_text(screen.table).splitlines()[0]
        assert "Train loss" in header and " Loss " not in header
        assert cell(screen.table, "cold", "ips") == "122"  # the median of 121, 122, 123, not the last


# ---- 100 runs at 80 columns: short names, fixed essentials, filter terms, labels, delete ----------

LONG = "unet-lr3e-4-bs16-aug-strong-2026-12-04T2130-trial-017"


def shown_keys(table: RunsTable) -> list[str]:
    return [str(k.value) for k in table.columns]


async def test_narrow_table_keeps_status_epoch_dice_and_shortens_names(sample_runs: Path) -> None:
    from engine.runs.short_name import shorten

    make_run(sample_runs, LONG, epochs_done=2, total=4, t0=T0 + 9000)
    live = make_run(sample_runs, "interrupting-" + "x" * 30, epochs_done=1, total=100, state="running",
                    t0=time.time() - 60, close=False)
    app = PetsegApp(runs_dir=sample_runs)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: screen.loaded, what="first scan")
            table = screen.table
            assert {"state", "epoch", "dice"} <= set(shown_keys(table))
            shown = cell(table, LONG, "name")
            assert shown != LONG and "…" in shown and shown.endswith("trial-017")  # the distinguishing tail
            assert len(shown) == table.name_width >= 16
            await highlight(pilot, table, LONG)
            assert run_detail(screen).startswith(LONG)  # the full name below the table
            # every column fits in 80 cells: nothing needs a sideways scroll
            assert sum(c.get_render_width(table) for c in table.columns.values()) <= 80
            assert not table.show_horizontal_scrollbar
    finally:
        live.close()
    assert shorten("abcdefghij", 10) == "abcdefghij" and shorten("abcdefghijkl", 7) == "ab…ijkl"


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
        assert "'lr<abc' left out: 'abc' is not a number" in rendered(status)
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


@pytest.mark.slow  # over ~3 s alone (the marker's rule)
async def test_tags_note_archive_and_delete(sample_runs: Path) -> None:
    from engine.runs import read_labels

    app = PetsegApp(runs_dir=sample_runs)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        table = screen.table
        status = screen.query_one("#runs-status")
        assert "toggle_show_archived" not in {b.binding.action for b in screen.active_bindings.values()
                                              if b.enabled}  # nothing archived: h not offered
        await highlight(pilot, table, "alpha")
        await pilot.press("T", *"best baseline", "tab", *"first try", "enter")
        await wait_for(pilot, lambda: read_labels(sample_runs / "alpha").tags == ("best", "baseline"), what="tags")
        assert read_labels(sample_runs / "alpha").note == "first try"
        assert "#best #baseline" in run_detail(screen) and "note: first try" in run_detail(screen)
        await pilot.press("slash", *"tag:best", "enter")
        assert table.visible_names == ["alpha"]
        await pilot.press("escape")

        # archive: hidden, still on disk, h shows it again
        await highlight(pilot, table, "bravo")
        await pilot.press("A")
        assert "bravo" not in table.visible_names and (sample_runs / "bravo" / "config.json").is_file()
        assert read_labels(sample_runs / "bravo").archived
        assert "1 archived hidden" in rendered(status)
        await pilot.press("h")
        assert "bravo" in table.visible_names and "archived shown" in rendered(status)
        await highlight(pilot, table, "bravo")
        await pilot.press("A")  # unarchive
        assert not read_labels(sample_runs / "bravo").archived

        # delete asks first, then the folder is gone
        await highlight(pilot, table, "charlie")
        await pilot.press("D", "y")
        await wait_for(pilot, lambda: "charlie" not in table.visible_names, what="charlie gone")
        assert not (sample_runs / "charlie").exists()
        assert [p.name for p in sample_runs.iterdir() if p.name.startswith(".")] == []


async def test_delete_refuses_a_run_that_trains(sample_runs: Path) -> None:
    live = make_run(sample_runs, "echo-live", epochs_done=1, total=5, state="running", t0=time.time() - 60,
                    close=False)
    app = PetsegApp(runs_dir=sample_runs)
    try:
        async with app.run_test(size=(100, 30), notifications=True) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: screen.loaded, what="first scan")
            await highlight(pilot, screen.table, "echo-live")
            await pilot.press("D")
            await wait_for(pilot, lambda: "echo-live is running: stop it first" in toasts(app), what="the refusal")
            assert app.screen is screen and (sample_runs / "echo-live" / "config.json").is_file()
    finally:
        live.close()


async def test_empty_and_missing_runs_folder_say_what_to_do(tmp_path: Path) -> None:
    from tui_helpers import footer_text, settled

    for root, says in ((tmp_path / "empty", "No runs yet in"), (tmp_path / "missing", "does not exist")):
        if root.name == "empty":
            root.mkdir()
        app = PetsegApp(runs_dir=root)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: screen.loaded, what="first scan")
            shown = rendered(screen.query_one("#runs-status"))
            assert says in shown and "Press n for a new run" in shown and str(root) in shown
            offered = {b.binding.action for b in screen.active_bindings.values() if b.enabled}
            assert "new_run" in offered
            assert not offered & {"compare", "toggle_select", "worst", "delete_run", "sort_menu", "open_run"}
            await settled(pilot)
            footer = footer_text(screen)
            assert "New run" in footer and "Compare" not in footer and "Select" not in footer


async def test_an_empty_runs_folder_given_with_runs_names_it_in_the_train_command(tmp_path: Path,
                                                                                  monkeypatch) -> None:
    """The empty folder's line suggested a bare ``petseg train --epochs 5``: from a dashboard on
    ``--runs /data/runs`` that trains into ./runs, and the run never shows here."""
    monkeypatch.delenv("PETSEG_RUNS", raising=False)
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "elsewhere" / "runs"
    root.mkdir(parents=True)
    app = PetsegApp(runs_dir=root)
    async with app.run_test(size=(160, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        shown = " ".join(rendered(screen.query_one("#runs-status")).split())
        assert f"petseg train --runs {root} --epochs 5" in shown
    (tmp_path / "runs").mkdir()  # the default folder: the short command trains into it
    app = PetsegApp(runs_dir=Path("runs"))
    async with app.run_test(size=(160, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        shown = " ".join(rendered(screen.query_one("#runs-status")).split())
        assert "(or: petseg train --epochs 5)" in shown


async def test_a_runs_folder_that_is_a_file_names_a_flag_petseg_tui_has(tmp_path: Path) -> None:
    """The runs path turned into a file (the command line refuses one at start): the line said to
    start petseg-tui with --runs_dir, a flag it does not have (it is --runs)."""
    import re

    from petseg_tui.__main__ import build_parser

    root = tmp_path / "runs"
    root.write_text("not a folder")
    app = PetsegApp(runs_dir=root)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        shown = " ".join(rendered(screen.query_one("#runs-status")).split())
        assert str(root) in shown and "is not a folder" in shown
        flags = re.findall(r"--[\w-]+", shown)
        assert flags
        for flag in flags:
            build_parser().parse_args([flag, str(tmp_path)])  # argparse exits on a flag it lacks


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


@pytest.mark.parametrize("exists", [False, True], ids=["missing", "empty"])
async def test_with_no_run_the_whole_next_step_shows_at_80_columns(tmp_path: Path, exists: bool) -> None:
    """A missing or empty runs folder: the status line says so and what to press, all of it on
    screen at 80x24 however long the folder's path (it was cut after one line)."""
    root = tmp_path / ("a-runs-folder-with-a-long-name-" * 2) / "runs"
    if exists:
        root.mkdir(parents=True)
    app = PetsegApp(runs_dir=root)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        await pilot.pause()
        shown = "".join(widget_text(screen.query_one("#runs-status")).split())
        assert "".join(str(root).split()) in shown
        tail = "(itcreatesthefolder)." if not exists else "".join(f"(or:petsegtrain--runs{root}--epochs5).".split())
        assert shown.endswith(tail), shown


async def test_archive_and_delete_leave_the_cursor_on_the_next_run(runs_dir: Path) -> None:
    """A archives and D deletes the highlighted run: the cursor lands on the run that took its
    row (the one before it after the last), not back on the first row."""
    for i in range(5):
        make_run(runs_dir, f"run{i}", t0=T0 + 60 * i)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded and len(screen.table.visible_names) == 5, what="first scan")
        table = screen.table
        order = table.visible_names
        await highlight(pilot, table, order[2])
        await pilot.press("A")
        await wait_for(pilot, lambda: order[2] not in table.visible_names, what="archived and hidden")
        await wait_for(pilot, lambda: run_detail(screen).startswith(order[3] + " "), what="the next run highlighted")
        assert table.highlighted_name == order[3]
        await pilot.press("D", "y")
        await wait_for(pilot, lambda: order[3] not in table.visible_names, what="deleted")
        await wait_for(pilot, lambda: run_detail(screen).startswith(order[4] + " "), what="the next run highlighted")
        await pilot.press("D", "y")  # the last row: the one before it
        await wait_for(pilot, lambda: order[4] not in table.visible_names, what="deleted")
        await wait_for(pilot, lambda: run_detail(screen).startswith(order[1] + " "), what="the run before highlighted")


async def test_the_status_line_counts_one_run_in_the_singular(runs_dir: Path) -> None:
    make_run(runs_dir, "only")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        status = lambda: str(screen.query_one("#runs-status").render())  # noqa: E731
        await wait_for(pilot, lambda: status().startswith("1 run ·"), what="'1 run', not '1 runs'")


async def test_labels_saved_here_keep_what_another_dashboard_saved_meanwhile(sample_runs: Path) -> None:
    """Two dashboards on one runs folder: the other one archives (and tags) a run while this one's
    tags dialog is open on it; saving a tag here un-archived the run (the dialog's old copy of
    every field was written back)."""
    from engine.runs import RunLabels, read_labels, write_labels

    app = PetsegApp(runs_dir=sample_runs)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        await highlight(pilot, screen.table, "alpha")
        await pilot.press("T")
        write_labels(sample_runs / "alpha", RunLabels(tags=("theirs",), note="their note", archived=True))
        await pilot.press(*"mine", "enter")  # only the tags edited here
        await wait_for(pilot, lambda: read_labels(sample_runs / "alpha").tags == ("mine",), what="tags saved")
        assert read_labels(sample_runs / "alpha") == RunLabels(tags=("mine",), note="their note", archived=True)
        await wait_for(pilot, lambda: "alpha" not in screen.table.visible_names, what="alpha hidden as archived")


async def test_the_lr_column_is_the_runs_learning_rate_as_the_filter_reads_it(runs_dir: Path) -> None:
    """The LR column showed the last epoch's scheduled rate: a run trained at 3e-3 read 9.41e-04
    after its cosine, `lr<1e-3` hid it though its LR cell was under 1e-3, and sorting by LR put a
    run trained at 9.5e-4 above it."""
    make_run(runs_dir, "fast", epochs_done=12, total=12, learning_rate=3e-3)  # last epoch at 3e-3 x 0.9^11
    make_run(runs_dir, "slow", epochs_done=1, total=12, learning_rate=9.5e-4, t0=T0 + 60)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(160, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        table = screen.table
        assert cell(table, "fast", "lr") == "3.00e-03" and cell(table, "slow", "lr") == "9.50e-04"
        table.set_sort("lr", reverse=True)
        await pilot.pause()
        assert table.visible_names == ["fast", "slow"]
        await pilot.press("slash", *"lr<1e-3", "enter")
        assert table.visible_names == ["slow"]


def test_a_run_deleted_between_the_listing_and_its_read_drops_out_never_reads_broken(runs_dir: Path,
                                                                                      monkeypatch) -> None:
    """Two dashboards: B deletes a finished run just after A's watcher listed the folder and
    before it read the run's files: A's row turned "broken: status.json missing" until its next
    listing, two seconds later."""
    from engine.runs import delete_run
    from petseg_tui.watch import RunsWatcher

    make_run(runs_dir, "kept", epochs_done=2, total=2)
    make_run(runs_dir, "gone", epochs_done=2, total=2)
    watcher = RunsWatcher(runs_dir)
    assert sorted(row.summary.name for row in watcher.poll()[0]) == ["gone", "kept"]
    (runs_dir / "gone" / "labels.json").write_text("{}")  # a change: the row is read again
    real_stamp = RunsWatcher._stamp

    def delete_then_stamp(self, path: Path):  # the delete lands between the listing and the read
        if path.name == "gone" and path.is_dir():
            delete_run(path)
        return real_stamp(self, path)

    monkeypatch.setattr(RunsWatcher, "_stamp", delete_then_stamp)
    changed, removed = watcher.poll()
    assert [(row.summary.name, str(row.state)) for row in changed] == [] and removed == ["gone"]


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


async def test_the_run_states_are_legible_in_a_light_theme(runs_dir: Path) -> None:
    """The states' colours were for a dark background: on textual-light "interrupted" (and the detail
    line's "training process gone") in orange read at 1.6-1.8:1, "finished" in cyan at 2.7:1 on the
    darker zebra rows. Chosen from the palette, each light theme draws them legibly."""
    from tui_helpers import LIGHT_THEMES, contrast_of, make_interrupted_run

    for i in range(2):  # two of each: the highlighted row draws its state in the cursor's colours
        make_interrupted_run(runs_dir, f"stale-{i}", t0=T0 + i)
        for j, state in enumerate(("finished", "stopped", "failed")):
            make_run(runs_dir, f"{state}-{i}", state=state, t0=T0 + 10 * (j + 1) + i)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
        table = app.screen.table
        await highlight(pilot, table, "stale-0")
        for theme in LIGHT_THEMES:
            app.theme = theme  # as the command palette's Theme switches it
            await settled(pilot)
            shown = {state: round(contrast_of(table, state), 2)
                     for state in ("interrupted", "finished", "stopped", "failed")}
            shown["gone"] = round(contrast_of(app.screen.query_one("#run-detail"), "training process gone"), 2)
            assert min(shown.values()) >= 3.0, (theme, shown)


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


async def test_a_long_status_line_leaves_out_its_key_hints_not_the_end_of_a_phrase(sample_runs: Path) -> None:
    """A run archived, the table filtered: at 80 columns the status line read "… · sort: Started ▼
    · filtered (/ edits, esc", the key's meaning cut at the edge. Too wide, it goes without its
    hints in brackets, the last first (the others stay while they fit); widened, they come back."""
    app = PetsegApp(runs_dir=sample_runs)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        status = screen.query_one("#runs-status")

        def shown() -> str:
            return widget_text(status).strip()

        await pilot.press("end", "A")  # archive the last run: "1 archived hidden (h shows)"
        await wait_for(pilot, lambda: "archived hidden" in shown(), what="a run archived")
        await pilot.press("slash", *"charlie", "enter")
        await wait_for(pilot, lambda: "1 shown" in shown(), what="the filtered status")
        await pilot.pause()
        assert shown() == "4 runs · 1 shown · 1 archived hidden (h shows) · sort: Started ▼ · filtered", shown()
        await pilot.press("space")  # "1 selected": now neither hint fits
        await wait_for(pilot, lambda: "1 selected" in shown(), what="the run selected")
        await pilot.pause()
        assert shown() == "4 runs · 1 shown · 1 archived hidden · 1 selected · sort: Started ▼ · filtered", shown()
        await pilot.resize_terminal(120, 30)
        await wait_for(pilot, lambda: shown().endswith("filtered (/ edits, esc clears)"), what="the hints back")
        assert "(h shows)" in shown()


# ---- the columns' widths: what a fresh start at that size gives, the name taking the room -------

def table_view(table: RunsTable) -> tuple[dict[str, int], list[str]]:
    """The columns' widths on screen and the table's lines as shown."""
    widths = {str(key.value): column.get_render_width(table) for key, column in table.columns.items()}
    return widths, [line.rstrip() for line in widget_text(table).splitlines()]


async def test_the_columns_after_a_resize_and_a_run_ending_are_those_of_a_fresh_start(runs_dir: Path) -> None:
    """Resized from 200 to 120 columns while a run trained, the table kept its GPU column wide once
    the run ended (its GPU figures gone blank) and the long names cut shorter than a fresh start
    at 120 shows them: a column only ever widened. The columns now follow the values shown, and
    the name takes the room the other columns leave."""
    from engine.events import RunFinished
    from engine.runs.system_log import SystemLogWriter

    for i in range(12):
        make_run(runs_dir, f"{LONG}-{i:02d}", epochs_done=2, total=4, t0=T0 + 60 * i)
    live = make_run(runs_dir, "live", epochs_done=1, total=5, state="running", t0=time.time() - 60, close=False)
    live.start_heartbeat(0.3)
    SystemLogWriter(runs_dir / "live").append(gpu_sample(1))
    try:
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(200, 40)) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: screen.loaded, what="first scan")
            table = screen.table
            await wait_for(pilot, lambda: "gpu" in shown_keys(table) and cell(table, "live", "gpu") == "87% 31G",
                           what="the running run's GPU cell")
            await pilot.resize_terminal(120, 40)
            await wait_for(pilot, lambda: "iou" not in shown_keys(table) and table.size.width == 120,
                           what="the 120-column table")
            live.append(RunFinished(epochs=5, best_dice=0.6, best_epoch=1, seconds=60.0))
            live.set_status("finished", "done")
            live.close()
            await wait_for(pilot, lambda: cell(table, "live", "state") == "finished", what="the run ended")
            await settled(pilot)
            resized = table_view(table)
            assert sum(resized[0].values()) == 120  # every cell used (13 runs: no scrollbar): the names take the room
            assert "gpu" not in resized[0]  # no run with GPU figures left
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: screen.loaded, what="first scan")
            await settled(pilot)
            fresh = table_view(screen.table)
        assert resized == fresh
    finally:
        live.close()


@pytest.mark.parametrize("width", [120, 160])
async def test_the_gpu_column_shows_only_while_a_listed_run_has_gpu_figures(runs_dir: Path, width: int) -> None:
    """On a CPU box, or with no GPU run training, the GPU column was blank on every row (a run on
    the CPU said "no GPU" on each line) and took 5 or more cells the long names needed. It now
    shows only while a listed run has GPU figures: it comes with a running run's first GPU sample
    and goes when that run ends, the names taking its cells back."""
    from engine.events import RunFinished
    from engine.runs.system_log import SystemLogWriter

    for i in range(12):
        make_run(runs_dir, f"{LONG}-{i:02d}", epochs_done=2, total=4, t0=T0 + 60 * i)
    on_cpu = make_run(runs_dir, "on-cpu", epochs_done=1, total=5, state="running", t0=time.time() - 90, close=False)
    on_gpu = make_run(runs_dir, "on-gpu", epochs_done=1, total=5, state="running", t0=time.time() - 60, close=False)
    for writer in (on_cpu, on_gpu):
        writer.start_heartbeat(0.3)
    SystemLogWriter(runs_dir / "on-cpu").append(gpu_sample(0))
    try:
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(width, 40)) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: screen.loaded, what="first scan")
            table = screen.table
            await wait_for(pilot, lambda: cell(table, "on-gpu", "state") == "running", what="the runs training")
            await settled(pilot)
            widths, lines = table_view(table)
            assert "GPU" not in lines[0].split() and "no GPU" not in widget_text(table), lines[0]
            assert sum(widths.values()) == width  # the names have the cells the column took
            cut = cell(table, f"{LONG}-00", "name")

            SystemLogWriter(runs_dir / "on-gpu").append(gpu_sample(1))  # the GPU run's first sample
            await wait_for(pilot, lambda: "GPU" in table_view(table)[1][0].split(), what="the GPU column")
            assert cell(table, "on-gpu", "gpu") == "87% 31G"
            assert cell(table, "on-cpu", "gpu") == "no GPU"  # beside a GPU run, the one on the CPU says so
            assert len(cell(table, f"{LONG}-00", "name")) < len(cut)  # its cells came from the names
            # a run whose GPU could not be read is not "no GPU" (its screen's strip gives the reason)
            unread = dataclasses.replace(gpu_sample(0), gpu_note="GPU metrics unavailable (NVML: driver gone)")
            SystemLogWriter(runs_dir / "on-cpu").append(unread)
            await wait_for(pilot, lambda: cell(table, "on-cpu", "gpu") == "N/A", what="the unread GPU")

            on_gpu.append(RunFinished(epochs=5, best_dice=0.6, best_epoch=1, seconds=60.0))
            on_gpu.set_status("finished", "done")
            on_gpu.close()
            await wait_for(pilot, lambda: "GPU" not in table_view(table)[1][0].split(), what="the GPU column gone")
            assert cell(table, f"{LONG}-00", "name") == cut
    finally:
        on_cpu.close()
        on_gpu.close()


@pytest.mark.parametrize("runs", [5, 40])
async def test_the_table_at_120_columns_gives_the_names_every_cell_the_other_columns_leave(runs_dir: Path,
                                                                                          runs: int) -> None:
    """At 120 columns the table ended 2 cells short of the terminal's edge (the filter line's margin
    narrowed it), and with a few runs it kept 2 more for a scrollbar it did not show, while the
    long names were cut. Now the table spans the terminal and the names take what the other
    columns leave: the scrollbar's 2 cells only when there is one (40 runs in 23 rows)."""
    for i in range(runs):
        make_run(runs_dir, f"{LONG}-{i:03d}", epochs_done=2, total=4, t0=T0 + 60 * i)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        await settled(pilot)
        table = screen.table
        assert table.region.width == 120
        scrollbar = 2 if table.show_vertical_scrollbar else 0
        assert scrollbar == (2 if runs == 40 else 0)
        assert sum(c.get_render_width(table) for c in table.columns.values()) == 120 - scrollbar
        shown = cell(table, f"{LONG}-000", "name")
        assert "…" in shown and len(shown) == table.columns["name"].width  # cut, to the column's width
        header = widget_text(table).splitlines()[0]
        assert header.rstrip().endswith("Time") and len(header.rstrip()) >= 120 - scrollbar - 1  # to the edge
