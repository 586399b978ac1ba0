"""The live screen's system strip and the runs table's GPU column (issue 20): a run's system.jsonl
as a user sees it (memory, every rank's GPU, sparklines against a fitting scale, a finished or
quiet run's averages, a run without samples). The GPU figures are written as the sampler writes
them (no GPU here)."""

from __future__ import annotations

import time
from pathlib import Path

from tui_helpers import make_run, open_live, rendered, seen_at, wait_for

from engine.runs.system_log import SystemLogWriter
from engine.sysmetrics.record import GpuSample, SystemSample
from petseg_tui.app import PetsegApp
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
            await wait_for(pilot, lambda: str(table.get_cell("busy", "gpu")) == "44% 10.0G", what="busy's GPU")
            assert str(table.get_cell("done", "gpu")) == ""  # a finished run's GPU is not in use
    finally:
        writer.close()


async def test_the_hosts_memory_in_use_is_shown_where_there_is_room(runs_dir: Path) -> None:
    """system.jsonl records the host's RAM in use (issue 20: "host RAM") but the strip never showed
    it: only the run's own memory, drawn against the host's total. From 160 columns it has a cell
    of its own, "RAM used/total" (the peak once the run is over); narrower, the other cells keep its
    room and their figures whole."""
    make_run(runs_dir, "done", epochs_done=2)
    _write_samples(runs_dir / "done", gpus=1, t_end=time.time() - 3600)
    for size, shown in (((160, 48), True), ((120, 36), False)):
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=size) as pilot:
            live = await open_live(pilot, runs_dir / "done")
            await wait_for(pilot, lambda: "CPU avg" in _strip_text(live), what="the strip")
            await pilot.pause(0.2)
            cells = {key: seen_at(app, live.query_one(f"#strip-{key}")) for key in ("gpu", "gpumem", "rss", "ram")}
            if shown:
                assert cells["ram"].startswith("RAM 20.0G/64.0G peak"), cells
            else:
                assert "RAM" not in " ".join(cells.values()), cells
            assert cells["gpumem"].startswith("mem 10.0G/80.0G") and cells["rss"].startswith("RSS 3.0G peak"), cells
