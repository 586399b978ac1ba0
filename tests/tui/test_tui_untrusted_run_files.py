"""The dashboard over run folders as they may come (untrusted: another box, another user, a hand's
mistake), for the files an audit found still read with a plain open(): a running run's system.jsonl
(the runs table's GPU column and the live screen's strip), a train.log that is no file; and runs
kept elsewhere and linked into the runs folder, a legitimate setup: listed, read and deleted as
any run. A FIFO's reader stuck in open() (the old code) is let go at the end of each test."""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from pathlib import Path

from tui_helpers import gpu_sample, highlight, make_run, open_live, rendered, screen_rows, wait_for, widget_text

from engine.runs import NO_LABELS, change_labels
from engine.runs.layout import LOG_FILE, SYSTEM_FILE
from engine.runs.system_log import SystemLogWriter
from petseg_tui.app import PetsegApp
from petseg_tui.widgets.log_pane import LogPane
from petseg_tui.widgets.system_strip import SystemStrip


def _let_go(fifo: Path) -> None:
    """A writer comes and goes: a reader the old code left waiting in open() returns."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass


def _said(widget) -> str:
    return "".join(widget_text(widget).split())  # wherever the widget wrapped it


async def test_a_running_runs_fifo_system_file_never_stalls_the_runs_table(runs_dir: Path) -> None:
    """The table reads a running run's newest system sample (its GPU column): a FIFO named
    system.jsonl kept the first scan at "scanning …" for good, every run unlisted."""
    live = make_run(runs_dir, "busy", epochs_done=1, state="running", close=False)
    live.start_heartbeat(0.5)
    make_run(runs_dir, "done", epochs_done=2)
    fifo = runs_dir / "busy" / SYSTEM_FILE
    os.mkfifo(fifo)
    try:
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(160, 40)) as pilot:
            await wait_for(pilot, lambda: app.screen.loaded, timeout=15, what="the first scan")
            assert {"busy", "done"} <= set(app.screen.table.visible_names)
    finally:
        _let_go(fifo)
        live.close()


async def test_the_system_strip_names_a_system_file_it_cannot_read(runs_dir: Path) -> None:
    """The strip's reader opened system.jsonl as it found it: a FIFO kept it at "waiting for the
    first sample" for good (a stuck thread per visit). It says what the file is, once."""
    make_run(runs_dir, "piped", epochs_done=2)
    fifo = runs_dir / "piped" / SYSTEM_FILE
    os.mkfifo(fifo)
    try:
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(160, 40)) as pilot:
            live = await open_live(pilot, runs_dir / "piped")
            strip = live.query_one(SystemStrip)
            note = strip.query_one("#strip-note")
            await wait_for(pilot, lambda: note.display and rendered(note) ==
                           "system: system.jsonl: is a named pipe (FIFO), not a file", timeout=10, what="the FIFO said")
    finally:
        _let_go(fifo)


async def test_a_log_that_is_no_file_is_said_once_not_redrawn_every_poll(runs_dir: Path) -> None:
    """A train.log that is a folder (or a symlink out of the run) was said again every 0.5 s: the
    pane cleared and redrawn, its line counted each time, for as long as the screen was open."""
    make_run(runs_dir, "odd", epochs_done=1, state="failed")
    (runs_dir / "odd" / LOG_FILE).mkdir()
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        live = await open_live(pilot, runs_dir / "odd")
        pane = live.query_one(LogPane)
        await wait_for(pilot, lambda: pane.display and "train.log:isafolder,notafile" in _said(pane),
                       what="the folder said")
        await asyncio.sleep(1.6)  # three more polls of the pane's reader
        assert pane.lines_read == 1


async def test_a_run_linked_into_the_runs_folder_lists_reads_and_deletes_as_any_run(runs_dir: Path,
                                                                                     tmp_path: Path) -> None:
    """Runs kept on another disk and linked into the runs folder: listed with their tags, their
    log and system metrics followed; D names the folder it removes, then removes it and the
    link. It used to hide the link instead (left dangling as a hidden name) and say "not fully
    removed; delete that folder by hand", the run's folder kept."""
    disk = tmp_path / "disk"
    disk.mkdir()
    make_run(disk, "far", epochs_done=2)
    change_labels(disk / "far", NO_LABELS, replace(NO_LABELS, tags=("remote",)))
    (disk / "far" / LOG_FILE).write_text("epoch 2/5 from the other disk\n")
    SystemLogWriter(disk / "far").append(gpu_sample(0))
    (runs_dir / "far").symlink_to(disk / "far")
    make_run(runs_dir, "near", epochs_done=2)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="the first scan")
        await highlight(pilot, screen.table, "far")
        assert "remote" in " ".join(screen_rows(app))
        live = await open_live(pilot, runs_dir / "far")
        await pilot.press("L")
        pane, strip = live.query_one(LogPane), live.query_one(SystemStrip)
        await wait_for(pilot, lambda: "from the other disk" in widget_text(pane), what="its log")
        await wait_for(pilot, lambda: "GPU: no GPU" in rendered(strip.query_one("#strip-gpu").query_one("Static")),
                       what="its system sample")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, what="back home")
        await highlight(pilot, screen.table, "far")
        await pilot.press("D")
        await wait_for(pilot, lambda: f"Its folder {disk / 'far'} (linked here as {runs_dir / 'far'}) goes" in
                       rendered(app.screen.query_one("#confirm-question")), what="the question naming both")
        await pilot.press("y")
        await wait_for(pilot, lambda: "far" not in screen.table.visible_names, what="far gone")
    assert not (disk / "far").exists() and not os.path.lexists(runs_dir / "far")
    assert sorted(p.name for p in runs_dir.iterdir()) == ["near"] and list(disk.iterdir()) == []
