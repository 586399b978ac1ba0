"""The runs table's columns: which show at each width, the GPU column only with GPU figures, and
the run names cut to the room the other columns leave, as a fresh start at that size gives."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from tui_helpers import (
    cell,
    T0,
    gpu_sample,
    highlight,
    make_run,
    run_detail,
    settled,
    wait_for,
    widget_text,
)

from petseg_tui.app import PetsegApp
from petseg_tui.widgets.runs_table import RunsTable


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
            await wait_for(pilot, lambda: "gpu" in shown_keys(table) and cell(table, "live", "gpu") == "87% 31.0G",
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
            assert cell(table, "on-gpu", "gpu") == "87% 31.0G"
            assert cell(table, "on-cpu", "gpu") == "no GPU"  # beside a GPU run, the one on the CPU says so
            # under half a GiB read "0G" (whole GiB), as if the GPU held nothing; the live screen's units now
            SystemLogWriter(runs_dir / "on-gpu").append(gpu_sample(1, mem_used=300 << 20))
            await wait_for(pilot, lambda: cell(table, "on-gpu", "gpu") == "87% 300M", what="a small run's GPU memory")
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


async def test_a_data_parallel_runs_model_says_how_many_processes_train_it(runs_dir: Path) -> None:
    """Issue 18's "the runs table shows it (e.g. `unet x4`)": a run whose config.json records 4
    data-parallel processes reads "unet x4" in the Model column; a one-process run, "unet"."""
    make_run(runs_dir, "plain", model="unet")
    make_run(runs_dir, "four", model="unet", devices="4",
             record={"distributed": {"world_size": 4, "batch_per_process": 16, "global_batch": 64, "backend": "nccl"}})
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        assert cell(screen.table, "four", "model") == "unet x4"
        assert cell(screen.table, "plain", "model") == "unet"
