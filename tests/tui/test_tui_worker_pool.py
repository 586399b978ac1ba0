"""The app's thread workers never wait for a free thread: each open screen's followers (the runs
watcher, a live screen's poll, system strip and log pane, the compare poll) hold one for as long as
the screen is open, and the next screen's (or an export's) work must still start at once."""

from __future__ import annotations

from pathlib import Path

from tui_helpers import make_run, open_live, wait_for

from petseg_tui.app import PetsegApp


async def test_a_live_screen_opened_over_a_stack_of_screens_is_drawn(runs_dir: Path) -> None:
    """Runs -> a's screen -> compare -> b's screen: with Python's default pool (6 threads on a
    2-core box) b's poll was queued behind the followers of the screens under it, and its screen
    stayed empty (no state beside its name) until one of them was closed."""
    for name in ("a", "b"):
        make_run(runs_dir, name, epochs_done=2, total=4)
    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
        await open_live(pilot, runs_dir / "a")
        app.open_compare([runs_dir / "a", runs_dir / "b"])
        await wait_for(pilot, lambda: type(app.screen).__name__ == "CompareScreen", what="compare")
        live_b = await open_live(pilot, runs_dir / "b")  # waits until b's screen has drawn its state
        assert live_b.snapshot is not None and live_b.snapshot.name == "b"
