"""The UI's stalls while torch trains in the TUI's own process (a run started from the form with
the detached switch off): a 50 ms timer records how late each tick fires.

    .venv/bin/python bench/tui_stall.py [--epochs 4] [--image-size 64] [--width 8]   (headless)

Prints the ticks' worst, p99 and median lateness while the run is starting (torch's import and
the first batches hold the GIL) and while it trains. Figures only: they depend on the machine's
load, so this lives here and not in the tests (which check that such a run starts, draws its
charts and stops).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path


async def measure(runs_dir: Path, epochs: int, image_size: int, width: int) -> list[tuple[str, float]]:
    """Start a tiny real run from the form, wait for ``epochs`` epochs, stop it; (phase, lateness) per tick."""
    from textual.widgets import Switch

    from engine.config import GENERATED_DATA
    from petseg_tui.app import PetsegApp
    from petseg_tui.screens.live_run import LiveRunScreen
    from petseg_tui.screens.new_run import NewRunScreen

    lateness: list[tuple[str, float]] = []
    app = PetsegApp(runs_dir=runs_dir)

    async def until(cond, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise TimeoutError("the run did not get there in time")
            await pilot.pause(0.05)

    async with app.run_test(size=(100, 30)) as pilot:
        last = [time.monotonic()]

        def tick() -> None:
            now = time.monotonic()
            lateness.append(("training" if isinstance(app.screen, LiveRunScreen) and app.screen.snapshot
                             and app.screen.snapshot.current_batch else "starting", now - last[0] - 0.05))
            last[0] = now

        await pilot.press("n")
        await until(lambda: isinstance(app.screen, NewRunScreen))
        form = app.screen
        fields = dict(epochs=str(epochs + 100), image_size=str(image_size), width=str(width), batch_size="8",
                      max_train_images="32", workers="0", run_name="stall", data_path=GENERATED_DATA, device="cpu")
        for field, value in fields.items():
            form.query_one(f"#f-{field}").value = value
        form.query_one("#f-detached", Switch).value = False
        await pilot.pause()
        app.set_interval(0.05, tick)
        await pilot.press("ctrl+s")
        await until(lambda: isinstance(app.screen, LiveRunScreen))
        live = app.screen
        await until(lambda: live.snapshot is not None and len(live.snapshot.epochs) >= epochs)
        trainer = app.trainers[live.run_path]
        trainer.stop()
        await until(lambda: not trainer.is_alive())
    return lateness


def main() -> None:
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=4, help="epochs to measure before stopping the run")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--width", type=int, default=8)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lateness = asyncio.run(measure(Path(tmp), args.epochs, args.image_size, args.width))
    for phase in ("starting", "training"):
        lates = sorted(late for p, late in lateness if p == phase)
        if lates:
            print(f"UI timer while {phase}: {len(lates)} ticks, worst lateness {lates[-1] * 1000:.0f} ms, "
                  f"p99 {lates[int(len(lates) * 0.99)] * 1000:.0f} ms, median {lates[len(lates) // 2] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
