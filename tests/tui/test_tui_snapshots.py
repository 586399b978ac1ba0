"""SVG snapshots of the runs and compare screens at 100x30 (fixed event times, UTC, relative
runs path, finished runs only: nothing depends on the clock). Update with --snapshot-update."""

from __future__ import annotations

from pathlib import Path

from conftest import wait_for

from petseg_tui.app import PetsegApp


def _app(sample_runs: Path, monkeypatch) -> PetsegApp:
    monkeypatch.chdir(sample_runs.parent)
    return PetsegApp(runs_dir=Path("runs"))


def test_snapshot_runs_screen(sample_runs: Path, monkeypatch, snap_compare) -> None:
    async def ready(pilot) -> None:
        await wait_for(pilot, lambda: pilot.app.screen.loaded, what="first scan")
        await pilot.pause(0.1)

    assert snap_compare(_app(sample_runs, monkeypatch), terminal_size=(100, 30), run_before=ready)


def test_snapshot_compare_screen(sample_runs: Path, monkeypatch, snap_compare) -> None:
    async def ready(pilot) -> None:
        app = pilot.app
        await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
        table = app.screen.table
        for name in ("alpha", "bravo", "charlie"):
            table.move_cursor(row=table.visible_names.index(name))
            await pilot.press("space")
        await pilot.press("c")
        await wait_for(pilot, lambda: len(getattr(app.screen, "snapshots", [])) == 3, what="compare data")
        await pilot.pause(0.1)

    assert snap_compare(_app(sample_runs, monkeypatch), terminal_size=(100, 30), run_before=ready)
