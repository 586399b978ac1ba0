"""Sorting by the GPU column, which shows only while a listed run has GPU figures: `s g` sorted by
it while it was hidden (every run without a value: the order changed to name order, for no reason
on screen). It is offered only while the column shows; otherwise its letter says why and leaves
the order, and a sort by it falls back to the default when its last figures go."""

from __future__ import annotations

import time
from pathlib import Path

from tui_helpers import T0, gpu_sample, make_run, open_palette, rendered, toasts, wait_for, widget_text
from textual.widgets import OptionList

from engine.events import RunFinished
from engine.runs.system_log import SystemLogWriter
from petseg_tui.app import PetsegApp
from petseg_tui.screens.run_dialogs import SortMenu

GONE = "no listed run has GPU figures (the column shows while one trains on a GPU)"


def menu_options(app: PetsegApp) -> list[str]:
    """The sort menu's lines as the user reads them (letter and label)."""
    listed = app.screen.query_one(OptionList)
    return [" ".join(str(listed.get_option_at_index(i).prompt).split()) for i in range(listed.option_count)]


def status(app: PetsegApp) -> str:
    return rendered(app.runs_screen.query_one("#runs-status"))


async def test_s_g_sorts_by_the_gpu_column_only_while_it_shows(runs_dir: Path) -> None:
    # started in an order other than the names' (a sort by name would be seen)
    for i, name in enumerate(("zulu", "alpha", "mike")):
        make_run(runs_dir, name, epochs_done=2, total=4, t0=T0 + 60 * i)
    on_cpu = make_run(runs_dir, "on-cpu", epochs_done=1, total=5, state="running", t0=time.time() - 90, close=False)
    on_gpu = make_run(runs_dir, "on-gpu", epochs_done=1, total=5, state="running", t0=time.time() - 60, close=False)
    for writer in (on_cpu, on_gpu):
        writer.start_heartbeat(0.3)
    SystemLogWriter(runs_dir / "on-cpu").append(gpu_sample(0))  # "no GPU": no figures for the column
    try:
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(160, 40), notifications=True) as pilot:
            screen = app.runs_screen
            table = screen.table
            await wait_for(pilot, lambda: screen.loaded and table.row_count == 5, what="first scan")
            order = table.visible_names
            assert order == ["on-gpu", "on-cpu", "mike", "alpha", "zulu"]  # newest first
            assert "GPU" not in widget_text(table).splitlines()[0].split()

            # no run has GPU figures: the menu does not list GPU, nor the palette over it
            await pilot.press("s")
            await wait_for(pilot, lambda: isinstance(app.screen, SortMenu), what="the sort menu")
            lines = menu_options(app)
            assert "d Best Dice" in lines and not [line for line in lines if "GPU" in line], lines
            titles = await open_palette(pilot)
            assert "Sort by Best Dice" in titles and "Sort by GPU" not in titles, titles
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, SortMenu), what="back in the menu")
            # ... and its letter leaves the order, saying why in one line
            await pilot.press("g")
            await wait_for(pilot, lambda: "Not sorted by GPU" in toasts(app), what="the reason")
            assert toasts(app) == f"Not sorted by GPU: {GONE}"
            assert table.visible_names == order and (table.sort_column, table.sort_reverse) == ("started", True)
            assert "sort: Started ▼" in status(app)

            # a run on a GPU: the column shows, and sorts
            SystemLogWriter(runs_dir / "on-gpu").append(gpu_sample(1))
            await wait_for(pilot, lambda: "GPU" in widget_text(table).splitlines()[0].split(), what="the GPU column")
            await pilot.press("s")
            await wait_for(pilot, lambda: isinstance(app.screen, SortMenu), what="the sort menu")
            assert "g GPU" in menu_options(app)
            await pilot.press("g")
            await wait_for(pilot, lambda: table.sort_column == "gpu", what="sorted by GPU")
            assert table.visible_names[0] == "on-gpu" and "GPU ▼" in widget_text(table).splitlines()[0]
            assert "sort: GPU ▼" in status(app)

            # its run ends, the column goes: back to the default order, said once
            on_gpu.append(RunFinished(epochs=5, best_dice=0.6, best_epoch=1, seconds=60.0))
            on_gpu.set_status("finished", "done")
            on_gpu.close()
            await wait_for(pilot, lambda: table.sort_column == "started", what="the sort back to Started")
            assert table.sort_reverse and table.visible_names == order
            assert "GPU" not in widget_text(table).splitlines()[0].split()
            # the toast is mounted a message later than the sort changes: under load, not yet there
            await wait_for(pilot, lambda: "Sorted by Started again" in toasts(app), what="the line saying why")
            assert f"Sorted by Started again: {GONE}" in toasts(app)
            assert "sort: Started ▼" in status(app)
    finally:
        on_cpu.close()
        on_gpu.close()
