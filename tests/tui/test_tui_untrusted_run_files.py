"""The dashboard over run folders as they may come (untrusted: another box, another user, a hand's
mistake), for the files an audit found still read with a plain open(): a running run's system.jsonl
(the runs table's GPU column and the live screen's strip), a train.log that is no file; and runs
kept elsewhere and linked into the runs folder, a legitimate setup: listed, read and deleted as
any run. A FIFO's reader stuck in open() (the old code) is let go at the end of each test."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from tui_helpers import make_run, open_live, rendered, wait_for, widget_text

from engine.runs.layout import LOG_FILE, SYSTEM_FILE
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
