"""The live screen's console log pane (issue 20, L): a run's train.log followed as a user sees it,
a failed run opening on it, its place at 80x24, its keys and focus, warnings and crashes coloured
(legibly in the light themes), wrapping at its width, and a missing log or a named pipe said in
a line."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tui_helpers import make_run, open_live, wait_for, widget_text

from engine.runs.layout import LOG_FILE
from petseg_tui.app import PetsegApp
from petseg_tui.widgets.log_pane import LogPane, line_style
from petseg_tui.widgets.system_strip import SystemStrip


async def test_log_pane_follows_train_log_with_warnings_highlighted(runs_dir: Path) -> None:
    writer = make_run(runs_dir, "talky", epochs_done=1, state="running", close=False)
    writer.start_heartbeat(0.5)
    log = runs_dir / "talky" / LOG_FILE
    log.write_text("run talky -> somewhere\npetseg: warning: the GPU is busy\n")
    try:
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(120, 36)) as pilot:
            live = await open_live(pilot, runs_dir / "talky")
            pane = live.query_one(LogPane)
            assert not pane.display  # a running run opens on its charts
            await pilot.press("L")
            await wait_for(pilot, lambda: "the GPU is busy" in widget_text(pane), what="the log shown")
            assert "run talky" in widget_text(pane)
            with open(log, "a") as fh:
                fh.write("epoch 2/5  train loss 0.3\n")
            await wait_for(pilot, lambda: "epoch 2/5" in widget_text(pane), what="a new line followed")
            await pilot.press("L")
            await wait_for(pilot, lambda: not pane.display, what="hidden again")
    finally:
        writer.close()


async def test_a_failed_run_opens_on_its_log(runs_dir: Path) -> None:
    make_run(runs_dir, "crashed", epochs_done=1, state="failed")
    (runs_dir / "crashed" / LOG_FILE).write_text(
        "epoch 1/5  train loss 0.5\nTraceback (most recent call last):\n  File \"x.py\", line 1\n"
        "RuntimeError: CUDA out of memory\n")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        live = await open_live(pilot, runs_dir / "crashed")
        pane = live.query_one(LogPane)
        await wait_for(pilot, lambda: pane.display and "CUDA out of memory" in widget_text(pane),
                       what="the log open with the traceback")
        await pilot.press("L")  # the user closes it: it stays closed
        await wait_for(pilot, lambda: not pane.display, what="closed")
        await pilot.pause(0.3)
        assert not pane.display


async def test_at_80x24_the_log_takes_the_charts_place_and_nothing_falls_off_the_screen(runs_dir: Path) -> None:
    """At 80x24 the log pane and the charts at their least heights, with the progress, figures,
    system and messages rows, needed ~35 rows: a failed run (which opens on its log) showed its
    charts and log, and the progress, figures, system rows and the failure's message were below
    the screen's edge, a scrollbar the only sign. In a short terminal the log now takes the
    charts' place; L gives them back."""
    make_run(runs_dir, "crashed", epochs_done=1, state="failed")
    (runs_dir / "crashed" / LOG_FILE).write_text("Traceback (most recent call last):\nRuntimeError: CUDA out of memory\n")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await open_live(pilot, runs_dir / "crashed")
        pane, charts = live.query_one(LogPane), live.query_one("#live-charts")
        await wait_for(pilot, lambda: pane.display and "CUDA out of memory" in widget_text(pane), what="the log open")
        await pilot.pause()
        footer = live.query_one("PetsegFooter").region
        for widget in (pane, live.query_one("#live-stats"), live.query_one("#live-messages"),
                       live.query_one(SystemStrip)):
            assert widget.region.height and widget.region.bottom <= footer.y, (widget, widget.region)
        assert not charts.region.height  # its place is the log's
        # the keys of the charts and predictions act on nothing shown: not offered (v toggled the
        # predictions inside the hidden charts row, l the hidden chart's log scale: nothing changed)
        offered = {b.action for _, b, enabled, _ in live.active_bindings.values() if enabled}
        assert not {"log_y", "toggle_previews", "preview_epoch(1)"} & offered and "toggle_log" in offered, offered
        await pilot.press("L")
        await wait_for(pilot, lambda: not pane.display, what="the log closed")
        await pilot.pause()
        assert charts.region.height >= 8 and live.query_one("#live-messages").region.bottom <= footer.y
        assert "log_y" in {b.action for _, b, enabled, _ in live.active_bindings.values() if enabled}
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:  # room for both
        live = await open_live(pilot, runs_dir / "crashed")
        pane = live.query_one(LogPane)
        await wait_for(pilot, lambda: pane.display and "CUDA out of memory" in widget_text(pane), what="the log open")
        await pilot.pause()
        assert live.query_one("#live-charts").region.height >= 8


async def test_the_log_has_the_keys_whenever_it_shows_and_never_while_hidden(runs_dir: Path) -> None:
    """L hid a failed run's log and L showed it again unfocused: PageUp then scrolled nothing
    until a Tab; on a finished run the hidden pane had the focus, its scrolling keys acting on
    nothing on screen. The focus now follows the pane: shown by L, it takes the keys."""
    make_run(runs_dir, "crashed", epochs_done=1, state="failed")
    (runs_dir / "crashed" / LOG_FILE).write_text("".join(f"line {i}\n" for i in range(200)) + "RuntimeError: boom\n")
    make_run(runs_dir, "done", epochs_done=2)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        live = await open_live(pilot, runs_dir / "crashed")
        pane = live.query_one(LogPane)
        await wait_for(pilot, lambda: pane.display and "boom" in widget_text(pane), what="the log open at its end")
        await pilot.press("L")
        await wait_for(pilot, lambda: not pane.display, what="the log hidden")
        assert app.focused is not pane
        await pilot.press("L")
        await wait_for(pilot, lambda: pane.display and pane.max_scroll_y > 0, what="the log shown")
        await pilot.pause()
        bottom = pane.scroll_y
        await pilot.press("pageup")
        await wait_for(pilot, lambda: pane.scroll_y < bottom, what="PageUp reading back")
        await pilot.press("escape")
        live = await open_live(pilot, runs_dir / "done")
        await pilot.pause()
        assert not live.query_one(LogPane).display and app.focused is not live.query_one(LogPane)


def _line_colours(pane: LogPane, text: str) -> set[str]:
    """The colours the pane draws the row showing ``text`` in (its printed characters')."""
    from textual.geometry import Region

    strips = pane.render_lines(Region(0, 0, pane.size.width, pane.size.height))
    row = next(strip for strip in strips if text in strip.text)
    return {seg.style.color.name for seg in row if seg.text.strip() and seg.style and seg.style.color}


async def test_a_crash_and_python_warnings_are_coloured_in_the_log(runs_dir: Path) -> None:
    """What a real console holds: Python's warnings name their class (UserWarning), and torch's
    out-of-memory error is torch.OutOfMemoryError. Both read as plain lines, as did the code
    lines of a traceback and an exception not called *Error (the fault a test injects)."""
    make_run(runs_dir, "oom", epochs_done=1, state="failed")
    (runs_dir / "oom" / LOG_FILE).write_text(
        "epoch 1/5  train loss 0.5\n"
        "petseg: warning: slow data\n"
        "/venv/torch/utils/data.py:12: UserWarning: This DataLoader will create 8 worker processes\n"
        "Traceback (most recent call last):\n"
        '  File "/x/train_loop.py", line 80, in train_one_epoch\n'
        "    loss = criterion(model(images), masks)\n"
        "           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n"
        "Traceback (most recent call last):\n"
        '  File "/x/faults.py", line 55, in maybe_kill\n'
        "engine.faults.InjectedFault: injected fault at batch\n"
        "epoch 2/5  train loss 0.4\n")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 60)) as pilot:
        live = await open_live(pilot, runs_dir / "oom")
        pane = live.query_one(LogPane)
        await wait_for(pilot, lambda: pane.display and "epoch 2/5" in widget_text(pane), what="the log open")
        yellow, red = _line_colours(pane, "petseg: warning"), _line_colours(pane, "Traceback")  # as ever
        assert len(yellow) == 1 and len(red) == 1 and yellow != red
        assert _line_colours(pane, "UserWarning") == yellow
        for text in ("loss = criterion", "^^^^^", "torch.OutOfMemoryError", "InjectedFault"):
            assert _line_colours(pane, text) == red, text
        assert _line_colours(pane, "epoch 2/5") == _line_colours(pane, "epoch 1/5")  # after it: plain again


async def test_the_log_wraps_at_the_panes_width_after_a_resize(runs_dir: Path) -> None:
    """Lines were wrapped once, at the width the pane had when they arrived (and never narrower
    than 78 cells, RichLog's default): opened at 80 columns and widened to 160, the log stayed
    wrapped at 78; at 80 a 78-cell row ran past the pane's edge; narrowed, lines were cut."""
    make_run(runs_dir, "wordy", epochs_done=1, state="failed")
    words = " ".join(f"w{'o' * (i % 5)}rd{i:02d}" for i in range(30))  # 239 cells
    (runs_dir / "wordy" / LOG_FILE).write_text(f"{words}\nTraceback (most recent call last):\n")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await open_live(pilot, runs_dir / "wordy")
        pane = live.query_one(LogPane)
        await wait_for(pilot, lambda: pane.display and "Traceback" in widget_text(pane), what="the log open")

        def shown() -> list[str]:
            return [row.strip() for row in widget_text(pane).splitlines() if row.strip()]

        for width in (80, 160, 100):
            await pilot.resize_terminal(width, 40)
            await wait_for(pilot, lambda w=width: live.size.width == w, what=f"{width} columns")
            # the pane re-wraps its lines after the resize's layout: on a loaded machine, polls later
            await wait_for(pilot, lambda: [row for row in shown() if "rd" in row]
                           == textwrap.wrap(words, pane.scrollable_content_region.width),
                           what=f"the log wrapped anew at {width} columns")
            rows = [row for row in shown() if "rd" in row]
            # wrapped at the room the pane has now: every word whole, none cut at its edge
            assert rows == textwrap.wrap(words, pane.scrollable_content_region.width), (width, rows)
            assert "Traceback" in widget_text(pane)  # still showing the log's end


async def test_a_run_without_a_log_says_so(runs_dir: Path) -> None:
    make_run(runs_dir, "quiet", epochs_done=1, state="failed")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        live = await open_live(pilot, runs_dir / "quiet")
        pane = live.query_one(LogPane)
        await wait_for(pilot, lambda: pane.display and "no train.log in this run folder" in widget_text(pane),
                       what="the missing log said")
        (runs_dir / "quiet" / LOG_FILE).write_text("Traceback (most recent call last):\n")
        await wait_for(pilot, lambda: "Traceback" in widget_text(pane), what="the log once it appears")
        assert "no train.log" not in widget_text(pane)


async def test_a_train_log_that_is_a_named_pipe_is_one_line_not_a_stuck_pane(runs_dir: Path) -> None:
    """Run folders are untrusted: a FIFO named train.log (a failed run: the screen opens on its
    log). The pane's reader opened it and waited for a writer for good: the pane stayed empty,
    each visit left another stuck thread, and quitting the app waited on them."""
    import os

    make_run(runs_dir, "piped", epochs_done=1, state="failed")
    fifo = runs_dir / "piped" / LOG_FILE
    os.mkfifo(fifo)
    app = PetsegApp(runs_dir=runs_dir)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            live = await open_live(pilot, runs_dir / "piped")
            pane = live.query_one(LogPane)
            def said() -> str:  # the line as read, wherever the pane wrapped it
                return "".join(widget_text(pane).split())

            await wait_for(pilot, lambda: pane.display and "train.log:isanamedpipe" in said(), timeout=10,
                           what="the FIFO said")
            assert app.is_running
    finally:
        try:  # a reader still waiting in open() (the old code) is let go: a writer comes and goes
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass


def test_line_styles() -> None:
    assert line_style("petseg: warning: slow data") == "yellow"
    assert line_style("Traceback (most recent call last):") == "bold red"
    assert line_style("RuntimeError: CUDA out of memory") == "bold red"
    assert line_style("petseg: error: boom") == "bold red"
    assert line_style("epoch 1/5  train loss 0.5") == ""
    assert line_style("x.py:3: FutureWarning: `x` is deprecated") == "yellow"
    assert line_style("torch.OutOfMemoryError: CUDA out of memory") == "bold red"
    assert line_style("errors: none") == ""


async def test_the_palette_lists_the_screens_actions_not_the_focused_log_panes_scrolling(runs_dir: Path) -> None:
    from tui_helpers import open_palette

    make_run(runs_dir, "crashed", epochs_done=1, state="failed")
    (runs_dir / "crashed" / LOG_FILE).write_text("epoch 1/5  train loss 0.5\nRuntimeError: boom\n")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        live = await open_live(pilot, runs_dir / "crashed")
        pane = live.query_one(LogPane)
        await wait_for(pilot, lambda: pane.display, what="the failed run's log open")
        pane.focus()
        await pilot.pause()
        titles = await open_palette(pilot, until=lambda t: "Log-y" in t)
        assert not any(t.startswith(("Scroll", "Page")) for t in titles), titles


async def test_the_logs_warnings_are_legible_in_a_light_theme(runs_dir: Path) -> None:
    """The log pane's warnings were yellow for a dark background, the live screen's own warning
    lines beside it made legible: about 2.1:1 on textual-light."""
    from tui_helpers import light_theme_contrasts

    make_run(runs_dir, "talky", epochs_done=1, state="finished")
    (runs_dir / "talky" / LOG_FILE).write_text("run talky -> somewhere\npetseg: warning: the GPU is busy\n"
                                              "RuntimeError: CUDA out of memory\n")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        live = await open_live(pilot, runs_dir / "talky")
        pane = live.query_one(LogPane)
        await pilot.press("L")
        await wait_for(pilot, lambda: "the GPU is busy" in widget_text(pane), what="the log shown")
        shown = await light_theme_contrasts(pilot, pane, ("the GPU is busy", "CUDA out of memory"))
        assert min(c for theme in shown.values() for c in theme.values()) >= 3.0, shown
