"""What opening a screen costs: the CPU from the key to the screen ready, headless.

    python bench/tui_screen_open.py [--size 160x48] [--repeat 5]

From the runs table (one finished run, highlighted), each key opens its screen and `escape`
goes back: Enter (the run's live screen), n (the new-run form), ? (help). Timed from the key
until Pilot's press returns (the key handled and every widget's messages processed) and the new
screen is the current one, as CPU seconds of this process (Textual's work is on one thread).
The first open of a screen also imports its modules; the median of the later ones is what the
user waits for each time after that. The tests check the behaviour; these figures are for a
quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "tests" / "tui")]

from _machine import load  # noqa: E402
from tui_helpers import highlight, make_run, wait_for  # noqa: E402

from petseg_tui.app import PetsegApp  # noqa: E402

KEYS = {"enter": "live screen", "n": "new-run form", "question_mark": "help"}


async def measure(root: Path, size: tuple[int, int], repeat: int) -> dict[str, list[float]]:
    cpu: dict[str, list[float]] = {key: [] for key in KEYS}
    app = PetsegApp(runs_dir=root)
    async with app.run_test(size=size) as pilot:
        runs = app.screen
        await wait_for(pilot, lambda: runs.loaded, what="the runs table")
        await highlight(pilot, runs.table, "alpha")
        for _ in range(repeat):
            for key in KEYS:
                c0 = time.process_time()
                await pilot.press(key)
                await wait_for(pilot, lambda: app.screen is not runs, what=KEYS[key])
                cpu[key].append(time.process_time() - c0)
                await pilot.pause(0.3)
                await pilot.press("escape")
                await wait_for(pilot, lambda: app.screen is runs, what="the runs table again")
                await pilot.pause(0.3)
    return cpu


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="160x48", help="terminal size, COLSxROWS")
    p.add_argument("--repeat", type=int, default=5, help="opens of each screen")
    args = p.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="petseg-open-") as tmp:
        make_run(Path(tmp), "alpha", epochs_done=5, total=5)
        cpu = asyncio.run(measure(Path(tmp), size, args.repeat))
    print(f"opening a screen from the runs table at {args.size}, CPU ms (first open; median of the other "
          f"{args.repeat - 1}):")
    for key, values in cpu.items():
        later = values[1:] or values
        print(f"  {key:14s} {KEYS[key]:14s} first {1000 * values[0]:5.0f}  then {1000 * statistics.median(later):5.0f}")
    print(load())


if __name__ == "__main__":
    main()
