"""SVG snapshots, one per screen state, at 80x24 and 160x48: runs, live (an epoch-1 outlier with its
epoch previews and its system metrics' strip, a failed run open on its console log, a diverged run), compare (four runs: one chart, then the 2x2 grid; three runs
named as petseg names them, at 80 columns), the new-run
form; the runs table's own states: an empty folder, long names at 80 columns, a filter with
metric terms, archived runs shown. Fixed event times, UTC, a relative runs path and finished runs only: nothing depends on
the clock. Update with --snapshot-update after looking at the new SVGs."""

from __future__ import annotations

from pathlib import Path

import pytest
from tui_helpers import T0, make_curve_run, open_live, settled, wait_for, write_cpu_system_log, write_previews

from engine.runs.layout import LOG_FILE

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
    # its system metrics as the sampler wrote them over its 30 epochs: the strip's figures and sparklines
    write_cpu_system_log(chart_runs / "outlier", T0 + 10_000, T0 + 10_900)
    assert snap_compare(_app(chart_runs, monkeypatch), terminal_size=size, run_before=_open_live("outlier", True))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_live_failed_run_on_its_log(sample_runs: Path, monkeypatch, snap_compare, size) -> None:
    """A failed run opens on its console log (train.log), the traceback's last line in red."""
    (sample_runs / "charlie" / LOG_FILE).write_text(
        "device: cpu (bfloat16)  train: 269  valid: 29\n"
        "epoch 1/4  train loss 0.9120  dice 0.6600  valid loss 0.8800  dice 0.7000  iou 0.5400  lr 1.00e-03\n"
        "petseg: warning: 2 of 269 training photos could not be read and are left out\n"
        "epoch 2/4  train loss 0.8400  dice 0.7100  valid loss 0.8100  dice 0.7400  iou 0.5900  lr 9.00e-04\n"
        "Traceback (most recent call last):\n  File \"engine/train/train_loop.py\", line 171, in train_one_epoch\n"
        "RuntimeError: CUDA out of memory\n")  # the fixture's failure, as its status line says it

    async def ready(pilot) -> None:
        await _loaded(pilot)
        screen = await open_live(pilot, Path("runs") / "charlie")
        await wait_for(pilot, lambda: screen.log_shown, what="the log pane")
        await settled(pilot)

    assert snap_compare(_app(sample_runs, monkeypatch), terminal_size=size, run_before=ready)


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


def test_snapshot_compare_settings_narrow(runs_dir: Path, monkeypatch, snap_compare) -> None:
    """Three runs named as petseg names them, differing in learning rate and width, at 80x24:
    the compact table keeps both settings on screen (the names cut to the part that differs)."""
    runs = {"unet-20261206-191801": (1e-3, 8), "unet-20261206-191815": (3e-4, 8), "unet-20261206-191842": (1e-3, 16)}
    for i, (name, (lr, width)) in enumerate(runs.items()):
        make_curve_run(runs_dir, name, [0.9, 0.6, 0.5], [0.5, 0.6 + 0.05 * i, 0.65 + 0.05 * i], t0=T0 + 60 * i,
                       learning_rate=lr, width=width)

    async def ready(pilot) -> None:
        await _loaded(pilot)
        await pilot.press("a", "c")
        await wait_for(pilot, lambda: len(getattr(pilot.app.screen, "snapshots", [])) == 3, what="compare data")
        await settled(pilot)

    assert snap_compare(_app(runs_dir, monkeypatch), terminal_size=(80, 24), run_before=ready)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_new_run_form(sample_runs: Path, monkeypatch, snap_compare, size) -> None:
    monkeypatch.setattr("engine.train.devices_request.visible_gpu_count", lambda: 0)  # the same form on any box
    async def ready(pilot) -> None:
        await _loaded(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "NewRunScreen"
                       and pilot.app.screen.query("#start"), what="the form")
        await pilot.wait_for_scheduled_animations()

    assert snap_compare(_app(sample_runs, monkeypatch), terminal_size=size, run_before=ready)


# ---- the runs table's states (issue 20): empty, long names at 80 columns, metric filter, archived ----

def _with_long_names(runs: Path, archived: int = 0) -> Path:
    from engine.runs import RunLabels, write_labels

    for i in range(6):
        name = f"unet-lr{(1e-4, 3e-4, 1e-3)[i % 3]:.0e}-bs16-sweep-2026-12-04T21{i:02d}-trial-{i:03d}"
        make_curve_run(runs, name, [0.9, 0.5, 0.4], [0.6 + 0.05 * i, 0.7 + 0.04 * i, 0.72 + 0.04 * i],
                       t0=T0 + 20_000 + 60 * i, learning_rate=(1e-4, 3e-4, 1e-3)[i % 3])
        if i < archived:
            write_labels(runs / name, RunLabels(archived=True, tags=("old",)))
    return runs


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_runs_empty_folder(runs_dir: Path, monkeypatch, snap_compare, size) -> None:
    assert snap_compare(_app(runs_dir, monkeypatch), terminal_size=size, run_before=_loaded)


def test_snapshot_runs_long_names_narrow(chart_runs: Path, monkeypatch, snap_compare) -> None:
    assert snap_compare(_app(_with_long_names(chart_runs), monkeypatch), terminal_size=(80, 24), run_before=_loaded)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_runs_filter_metric_terms(chart_runs: Path, monkeypatch, snap_compare, size) -> None:
    async def ready(pilot) -> None:
        await _loaded(pilot)
        await pilot.press("slash", *"lr<1e-3 dice>0.8 model:unet", "enter")
        await settled(pilot)

    assert snap_compare(_app(_with_long_names(chart_runs), monkeypatch), terminal_size=size, run_before=ready)


def test_snapshot_runs_archived_shown(chart_runs: Path, monkeypatch, snap_compare) -> None:
    async def ready(pilot) -> None:
        await _loaded(pilot)
        await pilot.press("h")
        await settled(pilot)

    assert snap_compare(_app(_with_long_names(chart_runs, archived=2), monkeypatch), terminal_size=(80, 24),
                        run_before=ready)
