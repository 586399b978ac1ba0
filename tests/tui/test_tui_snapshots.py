"""SVG snapshots, one per screen state, at 80x24 and 160x48: runs, live (an epoch-1 outlier with its
epoch previews, a diverged run), compare (four runs: one chart, then the 2x2 grid), the new-run
form. Fixed event times, UTC, a relative runs path and finished runs only: nothing depends on
the clock. Update with --snapshot-update after looking at the new SVGs."""

from __future__ import annotations

from pathlib import Path

import pytest
from tui_helpers import open_live, settled, wait_for, write_previews

from petseg_tui.app import PetsegApp

SIZES = [(80, 24), (160, 48)]


def _app(runs: Path, monkeypatch) -> PetsegApp:
    monkeypatch.chdir(runs.parent)
    return PetsegApp(runs_dir=Path("runs"), image_mode="halfcell")


async def _loaded(pilot) -> None:
    await wait_for(pilot, lambda: pilot.app.screen.loaded, what="first scan")
    await settled(pilot)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_runs_screen(chart_runs: Path, monkeypatch, snap_compare, size) -> None:
    async def ready(pilot) -> None:
        await _loaded(pilot)
        table = pilot.app.screen.table
        table.move_cursor(row=table.visible_names.index("diverged-lr9"))
        await wait_for(pilot, lambda: "diverged-lr9" in str(pilot.app.screen.query_one("#run-detail").render()),
                       what="its detail line")
        await settled(pilot)

    assert snap_compare(_app(chart_runs, monkeypatch), terminal_size=size, run_before=ready)


def _open_live(name: str, previews: bool = False):
    async def ready(pilot) -> None:
        await _loaded(pilot)
        await open_live(pilot, Path("runs") / name)
        if previews and pilot.app.size.width >= 120:
            from petseg_tui.widgets.image_view import ImageView

            await wait_for(pilot, lambda: pilot.app.screen.query_one("#previews").query_one(ImageView).pil_image
                           is not None, what="previews drawn")
        await settled(pilot)

    return ready


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_live_outlier_with_previews(chart_runs: Path, monkeypatch, snap_compare, size) -> None:
    write_previews(chart_runs / "outlier", 3)
    assert snap_compare(_app(chart_runs, monkeypatch), terminal_size=size, run_before=_open_live("outlier", True))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_live_diverged(chart_runs: Path, monkeypatch, snap_compare, size) -> None:
    assert snap_compare(_app(chart_runs, monkeypatch), terminal_size=size, run_before=_open_live("diverged-lr9"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_compare_screen(chart_runs: Path, monkeypatch, snap_compare, size) -> None:
    async def ready(pilot) -> None:
        app = pilot.app
        await _loaded(pilot)
        table = app.screen.table
        for name in ("alpha", "bravo", "outlier", "diverged-lr9"):
            table.move_cursor(row=table.visible_names.index(name))
            await pilot.press("space")
        await pilot.press("c")
        await wait_for(pilot, lambda: len(getattr(app.screen, "snapshots", [])) == 4, what="compare data")
        await pilot.press("1")  # train loss: the outlier's 3.81 and the diverged 17.2e12 at once
        await wait_for(pilot, lambda: app.screen.metric == "train_loss", what="train loss chosen")
        await settled(pilot)

    assert snap_compare(_app(chart_runs, monkeypatch), terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_new_run_form(sample_runs: Path, monkeypatch, snap_compare, size) -> None:
    monkeypatch.setattr("engine.train.distributed.visible_gpu_count", lambda: 0)  # the same form on any box
    async def ready(pilot) -> None:
        await _loaded(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "NewRunScreen"
                       and pilot.app.screen.query("#start"), what="the form")
        await pilot.wait_for_scheduled_animations()

    assert snap_compare(_app(sample_runs, monkeypatch), terminal_size=size, run_before=ready)
