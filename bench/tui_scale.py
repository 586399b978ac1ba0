"""How fast the TUI answers with many runs, and how often the live screen draws.

    python bench/tui_scale.py [--runs N]

Prints (headless, 100x30): the time to list N finished runs (default 500), to filter them by a
key and to clear the filter, to sort; the CPU of one cursor move down the table (the detail
line and the keys offered follow the highlighted run; before the footer kept its keys when they
did not change, each move rebuilt it: docs/PERFORMANCE.md); then the live screen's draws per second while another
thread writes a batch event every 40 ms (the screen draws a new snapshot at most every 0.25 s
poll, so about 4/s or less). The tests check the behaviour; these figures are for a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "tui")]

from _machine import load  # noqa: E402
from tui_helpers import wait_for  # noqa: E402  (the tests' wait: poll a condition, no fixed sleeps)
from tui_helpers import BackgroundWriter  # noqa: E402  (a detached run's epochs, appended by a thread)
from tui_helpers import write_small_runs  # noqa: E402  (many small finished runs, written directly)

from petseg_tui.app import PetsegApp  # noqa: E402


async def many_runs(root: Path, n: int) -> dict[str, float]:
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    app = PetsegApp(runs_dir=root)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, timeout=120, what=f"{n} runs")
        timings["load"] = time.monotonic() - t0
        table = screen.table
        await pilot.press("slash")
        t1 = time.monotonic()
        await pilot.press("4")
        await wait_for(pilot, lambda: table.row_count < n, what="filtered")
        timings["filter key"] = time.monotonic() - t1
        t1 = time.monotonic()
        await pilot.press("backspace")
        await wait_for(pilot, lambda: table.row_count == n, what="unfiltered")
        timings["unfilter key"] = time.monotonic() - t1
        t1 = time.monotonic()
        await pilot.press("escape", "s", "d")  # the sort menu, then d: best Dice
        await wait_for(pilot, lambda: table.sort_column == "dice", what="sorted")
        timings["sort key"] = time.monotonic() - t1
        await pilot.pause(0.5)
        c0 = time.process_time()
        for i in range(40):  # 20 down, 20 up: the detail line and footer of each run on the way
            await pilot.press("down" if i < 20 else "up")
        timings["cursor move (CPU)"] = (time.process_time() - c0) / 40
    return timings


async def live_draw_rate(root: Path, seconds: float = 3.0) -> tuple[float, int]:
    bg = BackgroundWriter(root, "live")
    app = PetsegApp(runs_dir=root)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
            app.open_run(root / "live")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "LiveRunScreen", what="live screen")
            live = app.screen
            bg.thread.start()
            await wait_for(pilot, lambda: live.snapshot is not None and live.snapshot.batches, what="batches")
            log = root / "live" / "events.jsonl"
            t0, r0, events0 = time.monotonic(), live.redraws, len(log.read_bytes().splitlines())
            await pilot.pause(seconds)
            rate = (live.redraws - r0) / (time.monotonic() - t0)
            return rate, len(log.read_bytes().splitlines()) - events0
    finally:
        bg.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=500)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="petseg-bench-") as tmp:
        root = Path(tmp) / "many"
        root.mkdir()
        write_small_runs(root, args.runs)
        timings = asyncio.run(many_runs(root, args.runs))
        print(f"{args.runs} runs: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in timings.items()))
        live_root = Path(tmp) / "live"
        live_root.mkdir()
        rate, events = asyncio.run(live_draw_rate(live_root))
        print(f"live screen: {rate:.1f} draws/s while {events} events were written (3 s)")
    print(load())


if __name__ == "__main__":
    main()
