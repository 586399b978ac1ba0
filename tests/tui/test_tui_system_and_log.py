"""The live screen's system strip and console log pane, and the runs table's GPU column (issue 20):
a run's system.jsonl and train.log as a user sees them. The GPU figures are written as the
sampler writes them (no GPU here)."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

from tui_helpers import make_run, open_live, rendered, wait_for, widget_text

from engine.runs.layout import LOG_FILE
from engine.runs.system_log import SystemLogWriter
from engine.sysmetrics.record import GpuSample, SystemSample
from petseg_tui.app import PetsegApp
from petseg_tui.widgets.log_pane import LogPane, line_style
from petseg_tui.widgets.system_strip import SystemStrip

GIB = 1 << 30


def _write_samples(run: Path, gpus: int, n: int = 5, t_end: float | None = None) -> None:
    writer = SystemLogWriter(run)
    t_end = time.time() if t_end is None else t_end
    for k in range(n):
        writer.append(SystemSample(
            t=t_end - 2 * (n - 1 - k),
            gpus=tuple(GpuSample(index=i, util=40.0 + 50 * i + k, mem_used=(10 + i) * GIB, mem_total=80 * GIB,
                                 power_w=250.0, temp_c=60.0, rank=i if gpus > 1 else None) for i in range(gpus)),
            gpu_note="" if gpus else "no GPU", cpu_percent=150.0 + k, rss=3 * GIB, ram_used=20 * GIB,
            ram_total=64 * GIB, data_wait=0.1 * k, disk_free=500 * GIB))


def _strip_text(live) -> str:
    """The strip's labels on screen now (its cells' first lines)."""
    from textual.widgets import Static

    shown = [st for st in live.query_one(SystemStrip).query(Static)
             if st.display and (st.parent is None or st.parent.display)]
    return " | ".join(rendered(st) for st in shown)


async def test_strip_shows_the_runs_memory_with_shared_pages_once_where_it_was_read(runs_dir: Path) -> None:
    """A sample with PSS shows it ("PSS"), not the RSS sum that counts a forked worker's shared
    pages again; an older system.jsonl without it still shows its RSS."""
    for name, pss in (("new", GIB // 2), ("old", None)):
        writer = make_run(runs_dir, name, epochs_done=1, state="running", close=False)
        writer.start_heartbeat(0.5)
        try:
            log = SystemLogWriter(runs_dir / name)
            for k in range(3):
                log.append(SystemSample(t=time.time() - 2 * (2 - k), gpu_note="no GPU", cpu_percent=90.0,
                                        rss=3 * GIB, pss=pss, disk_free=500 * GIB))
            app = PetsegApp(runs_dir=runs_dir)
            async with app.run_test(size=(120, 36)) as pilot:
                live = await open_live(pilot, runs_dir / name)
                await wait_for(pilot, lambda: "CPU" in _strip_text(live), what="the strip")
                text = _strip_text(live)
                assert ("PSS 512M" in text and "RSS" not in text) if pss else "RSS 3.0G" in text, text
        finally:
            writer.close()


def _bars(live, key: str) -> str:
    """The sparkline of the strip's cell ``key`` as drawn (its bar characters)."""
    import io

    from rich.console import Console
    from textual.widgets import Sparkline

    spark = live.query_one(f"#strip-{key}").query_one(Sparkline)
    console = Console(width=spark.size.width, file=io.StringIO(), color_system=None)
    with console.capture() as captured:
        console.print(spark.render(), end="")
    return captured.get()


async def test_strip_sparklines_stand_on_zero_so_a_tiny_change_is_not_a_plunge(runs_dir: Path) -> None:
    """A 2-rank CPU run at 80x24: the free disk moved by a few MB of 31.5 GB and its sparkline fell
    from full bars to empty ones, "disk filling up"; PSS easing from 1.6 to 1.5 GB drew as memory
    gone. Bars are now each value against the series' largest."""
    writer = make_run(runs_dir, "dp", epochs_done=1, state="running", close=False)
    writer.start_heartbeat(0.5)
    try:
        log = SystemLogWriter(runs_dir / "dp")
        n = 12
        for k in range(n):
            log.append(SystemSample(t=time.time() - 2 * (n - 1 - k), gpu_note="no GPU", cpu_percent=100.0 + k,
                                    rss=6 * GIB, pss=int((1.6 if k < 8 else 1.5) * GIB),
                                    disk_free=int(31.5 * GIB) - k * (1 << 20)))
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            live = await open_live(pilot, runs_dir / "dp")
            await wait_for(pilot, lambda: "disk" in _strip_text(live) and _bars(live, "disk").strip(), what="the strip")
            disk, pss = _bars(live, "disk").strip(), _bars(live, "rss").strip()
            assert set(disk) == {"█"}, disk  # a few MB of 31.5 GB: level
            assert pss and set(pss) <= {"▇", "█"}, pss  # 1.5 of 1.6 GB: a little lower at most, not empty
    finally:
        writer.close()


async def test_a_share_and_the_memory_are_drawn_against_their_whole_scale(runs_dir: Path) -> None:
    """A steady 4 % wait drew full bars (each value against the series' largest), as if the loop
    waited on its data all the time, and 0.9 GB used of 24 GB stood as full as memory running out.
    A share is drawn against 100 %, the memory against the host's."""
    writer = make_run(runs_dir, "steady", epochs_done=1, state="running", close=False)
    writer.start_heartbeat(0.5)
    try:
        log = SystemLogWriter(runs_dir / "steady")
        n = 12
        for k in range(n):
            log.append(SystemSample(t=time.time() - 2 * (n - 1 - k), gpu_note="no GPU", cpu_percent=190.0,
                                    rss=GIB, pss=int(0.9 * GIB), ram_total=24 * GIB, data_wait=0.04,
                                    disk_free=500 * GIB))
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            live = await open_live(pilot, runs_dir / "steady")
            await wait_for(pilot, lambda: "wait" in _strip_text(live) and _bars(live, "wait").strip(), what="the strip")
            assert set(_bars(live, "wait").strip()) == {"▁"}, _bars(live, "wait")
            assert set(_bars(live, "rss").strip()) == {"▁"}, _bars(live, "rss")
            assert set(_bars(live, "cpu").strip()) == {"█"}, _bars(live, "cpu")  # no whole scale: its own level
    finally:
        writer.close()


async def test_a_first_sample_of_nothing_draws_a_low_bar_not_a_full_one(runs_dir: Path) -> None:
    """A run's first system sample (wait 0 %): its sparkline stood as a full block, as if the
    training loop waited on its data all the time; a lone CPU figure is its own level, full."""
    writer = make_run(runs_dir, "new", epochs_done=1, state="running", close=False)
    writer.start_heartbeat(0.5)
    try:
        SystemLogWriter(runs_dir / "new").append(SystemSample(t=time.time(), gpu_note="no GPU", cpu_percent=90.0,
                                                              rss=GIB, data_wait=0.0, disk_free=500 * GIB))
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            live = await open_live(pilot, runs_dir / "new")
            await wait_for(pilot, lambda: "wait" in _strip_text(live) and _bars(live, "wait").strip(), what="the strip")
            assert set(_bars(live, "wait").strip()) == {"▁"}, _bars(live, "wait")
            assert set(_bars(live, "cpu").strip()) == {"█"}, _bars(live, "cpu")
    finally:
        writer.close()


async def test_strip_shows_every_ranks_gpu_of_a_running_run(runs_dir: Path) -> None:
    writer = make_run(runs_dir, "ddp", epochs_done=1, state="running", close=False, devices="2")
    writer.start_heartbeat(0.5)
    try:
        _write_samples(runs_dir / "ddp", gpus=2)
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(120, 36)) as pilot:
            live = await open_live(pilot, runs_dir / "ddp")
            await wait_for(pilot, lambda: "r1:94" in _strip_text(live), what="both GPUs in the strip")
            text = _strip_text(live)
            assert "GPU r0:44 r1:94%" in text and "mem 10.0G 11.0G/80.0G" in text
            assert "CPU 154%" in text and "RSS 3.0G" in text and "wait 40%" in text and "disk 500G" in text
            assert "no GPU" not in text
    finally:
        writer.close()


async def test_strip_says_no_gpu_and_a_finished_runs_averages(runs_dir: Path) -> None:
    make_run(runs_dir, "cpu-run", epochs_done=2)
    _write_samples(runs_dir / "cpu-run", gpus=0, t_end=time.time() - 3600)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await open_live(pilot, runs_dir / "cpu-run")
        await wait_for(pilot, lambda: "GPU: no GPU" in _strip_text(live), what="no GPU said")
        assert "CPU avg 152%" in _strip_text(live)  # the run is over: its mean, not its last sample


async def test_a_run_that_goes_quiet_turns_to_its_averages_on_screen(runs_dir: Path, monkeypatch) -> None:
    """The screen is open when the run's last sample comes: with no new sample to trigger a
    redraw, the strip still turns from the newest figures to the run's averages."""
    from petseg_tui.widgets import system_strip

    # the samples are written once the screen is up: on a slow machine, opening it could take
    # longer than the window, and the newest figures would never show
    monkeypatch.setattr(system_strip, "LIVE_WITHIN_S", 4.0)
    writer = make_run(runs_dir, "ending", epochs_done=2, state="running", close=False)  # its status: running
    writer.start_heartbeat(0.5)
    app = PetsegApp(runs_dir=runs_dir)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            live = await open_live(pilot, runs_dir / "ending")
            await wait_for(pilot, lambda: "no sample yet" in _strip_text(live), what="the strip's note")
            _write_samples(runs_dir / "ending", gpus=0)
            await wait_for(pilot, lambda: "CPU 154%" in _strip_text(live), what="the newest sample")
            await wait_for(pilot, lambda: "CPU avg 152%" in _strip_text(live), timeout=10, what="the averages")
    finally:
        writer.close()


async def test_a_run_stopped_on_screen_shows_its_averages_at_once(runs_dir: Path) -> None:
    """x on a run's screen (seen in tmux at 80x24): "stopped", and beside it "CPU 63%", its last
    sample unlabelled as if it still trained, for the next 15 s, and again on every reopening
    within them. Once the run is over the strip says its averages, as it does later."""
    from engine.events import RunStopped

    writer = make_run(runs_dir, "halted", epochs_done=2, state="running", close=False)
    writer.start_heartbeat(0.5)
    _write_samples(runs_dir / "halted", gpus=0)
    app = PetsegApp(runs_dir=runs_dir)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            live = await open_live(pilot, runs_dir / "halted")
            await wait_for(pilot, lambda: "CPU 154%" in _strip_text(live), what="the newest sample")
            writer.append(RunStopped(epoch=2))
            writer.set_status("stopped", "stopped by user")
            writer.close()
            await wait_for(pilot, lambda: "CPU avg 152%" in _strip_text(live), timeout=5, what="the averages")
            app.go_home()
            await pilot.pause()
            live = await open_live(pilot, runs_dir / "halted")  # reopened at once: the averages from the start
            await wait_for(pilot, lambda: "CPU" in _strip_text(live), what="the strip")
            assert "CPU avg 152%" in _strip_text(live), _strip_text(live)
    finally:
        writer.close()


async def test_a_run_without_system_metrics_says_what_is_true_for_its_state(runs_dir: Path) -> None:
    """No sample: an ended run recorded none (killed before its first, or from a petseg before
    system metrics: nothing says which, so no claim of an older petseg); a training run has none yet."""
    make_run(runs_dir, "old", epochs_done=2)
    writer = make_run(runs_dir, "starting", epochs_done=0, state="running", close=False)
    writer.start_heartbeat(0.5)
    app = PetsegApp(runs_dir=runs_dir)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            live = await open_live(pilot, runs_dir / "old")
            await wait_for(pilot, lambda: "no samples recorded for this run (system.jsonl was not written)"
                           in _strip_text(live), what="the ended run's note")
            assert "older petseg" not in _strip_text(live)
            app.go_home()
            await pilot.pause()
            live = await open_live(pilot, runs_dir / "starting")
            await wait_for(pilot, lambda: "no sample yet" in _strip_text(live), what="the training run's note")
            assert "older petseg" not in _strip_text(live) and "recorded" not in _strip_text(live)
    finally:
        writer.close()


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


async def test_runs_table_shows_gpu_of_running_runs_only(runs_dir: Path) -> None:
    writer = make_run(runs_dir, "busy", epochs_done=1, state="running", close=False)
    writer.start_heartbeat(0.5)
    make_run(runs_dir, "done", epochs_done=2)
    _write_samples(runs_dir / "done", gpus=1)
    try:
        _write_samples(runs_dir / "busy", gpus=1)
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(160, 40)) as pilot:
            await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
            table = app.screen.table
            await wait_for(pilot, lambda: "busy" in table.rows and "GPU" in [str(c.label) for c in
                                                                             table.columns.values()],
                           what="the GPU column")
            await wait_for(pilot, lambda: str(table.get_cell("busy", "gpu")) == "44% 10G", what="busy's GPU")
            assert str(table.get_cell("done", "gpu")) == ""  # a finished run's GPU is not in use
    finally:
        writer.close()


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
