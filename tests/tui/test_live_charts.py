"""The live and compare screens' charts as a user drives them: `a` autoscales to every point and
back, the predictions re-lay themselves out on a resize, and the ETA follows the recent epochs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tui_helpers import epoch_event, make_curve_run, open_live, wait_for, widget_text, write_previews

from engine.runs import RunState
from petseg_tui.app import PetsegApp
from petseg_tui.live_follow import LiveSnapshot

NORMAL = [round(0.8 * 0.9**i + 0.1, 4) for i in range(12)]
DICES = [round(0.3 + 0.05 * i, 3) for i in range(12)]


def _header(screen, chart_id: str) -> str:
    return " ".join(widget_text(screen.query_one(f"#{chart_id} .chart--header")).split())


async def test_a_autoscales_the_charts_to_every_point_and_back(runs_dir: Path) -> None:
    make_curve_run(runs_dir, "blowup", NORMAL + [1e4], DICES + [0.1])
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        live = await open_live(pilot, runs_dir / "blowup")
        # (a chart 39 columns wide beside the predictions: the short wording, "clipped 2 ↑11e3 · f: all")
        await wait_for(pilot, lambda: "clipped 2 ↑11e3 · f: all" in _header(live, "loss-chart"),
                       what="the diverged epoch clipped and said")
        assert "clipped" not in _header(live, "dice-chart")  # Dice 0.1 after 0.85: a real point, kept
        await pilot.press("f")
        await wait_for(pilot, lambda: "all points" in _header(live, "loss-chart"), what="autoscaled")
        assert "clipped" not in _header(live, "loss-chart")
        await pilot.press("f")
        await wait_for(pilot, lambda: "clipped 2 " in _header(live, "loss-chart"), what="robust again")


async def test_a_autoscales_the_compare_charts(runs_dir: Path) -> None:
    make_curve_run(runs_dir, "blowup", NORMAL + [1e4], DICES + [0.1])
    make_curve_run(runs_dir, "short", [1.4, 1.1, 0.9], [0.2, 0.3, 0.35])
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        app.open_compare([runs_dir / "blowup", runs_dir / "short"])
        await wait_for(pilot, lambda: len(getattr(app.screen, "snapshots", [])) == 2, what="compare data")
        await pilot.press("1")  # train loss
        screen = app.screen
        await wait_for(pilot, lambda: "clipped 1 outlier " in _header(screen, "compare-chart-0"),
                       what="only the diverged epoch clipped (the short run's 1.4 is kept)")
        await pilot.press("f")
        await wait_for(pilot, lambda: "all points" in _header(screen, "compare-chart-0"), what="autoscaled")


async def _chart_screen(app: PetsegApp, pilot, kind: str, runs: list[Path], metric_key: str, live_chart: str):
    """(screen, chart id): the live screen of ``runs[0]`` and its ``live_chart``, or the compare
    screen of ``runs`` with ``metric_key`` pressed (its one chart at this width)."""
    if kind == "live":
        return await open_live(pilot, runs[0]), live_chart
    app.open_compare(runs)
    await wait_for(pilot, lambda: len(getattr(app.screen, "snapshots", [])) == len(runs), what="compare data")
    await pilot.press(metric_key)
    return app.screen, "compare-chart-0"


@pytest.mark.parametrize("screen_kind", ["live", "compare"])
async def test_a_dice_among_near_zeros_is_drawn_never_clipped_as_an_outlier(runs_dir: Path, screen_kind) -> None:
    """Dice lies in [0, 1]: the one real valid Dice (0.134) of runs that otherwise scored ~1e-11
    was left out as an outlier ("clipped 1 outlier ↑0.134"), the chart a flat line at 9e-12."""
    late = [9e-12] * 7 + [0.134]
    make_curve_run(runs_dir, "late", NORMAL[:8], late)
    make_curve_run(runs_dir, "flat", NORMAL[:8], [9e-12] * 8)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        screen, chart = await _chart_screen(app, pilot, screen_kind, [runs_dir / "late", runs_dir / "flat"],
                                            "3", "dice-chart")  # 3: valid Dice
        await wait_for(pilot, lambda: "Dice" in _header(screen, chart), what="the Dice chart")
        await wait_for(pilot, lambda: "0.1" in widget_text(screen.query_one(f"#{chart} ChartPlot")),
                       what="the y axis reaching the real Dice")
        assert "clipped" not in _header(screen, chart) and "outlier" not in _header(screen, chart)


@pytest.mark.parametrize("screen_kind", ["live", "compare"])
async def test_smoothing_keys_step_the_same_ema_factors_on_both_chart_screens(runs_dir: Path, screen_kind) -> None:
    """`e` turns smoothing on at EMA 0.60, `+`/`-` step it within 0.30..0.95 (turning it on), `e`
    turns it off: the same on a run's screen (its loss chart) and the compare screen."""
    make_curve_run(runs_dir, "a", NORMAL, DICES)
    make_curve_run(runs_dir, "b", NORMAL[:6], DICES[:6])
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        screen, chart = await _chart_screen(app, pilot, screen_kind, [runs_dir / "a", runs_dir / "b"],
                                            "1", "loss-chart")  # 1: train loss
        await wait_for(pilot, lambda: "loss" in _header(screen, chart).lower(), what="the loss chart")
        assert "EMA" not in _header(screen, chart)
        for keys, shown in [("e", "EMA 0.60"), ("plus", "EMA 0.70"), (("minus",) * 6, "EMA 0.30"),
                            ("e", None), ("plus", "EMA 0.50"), (("plus",) * 9, "EMA 0.95")]:
            await pilot.press(*([keys] if isinstance(keys, str) else keys))
            if shown:
                await wait_for(pilot, lambda shown=shown: shown in _header(screen, chart), what=shown)
            else:
                await wait_for(pilot, lambda: "EMA" not in _header(screen, chart), what="smoothing off")


async def test_f_on_the_compare_dice_chart_says_it_already_shows_every_point(runs_dir: Path) -> None:
    """Dice and IoU charts never leave a point out: `f` there said "Charts: every point" and nothing
    changed. It says why; on a loss chart it toggles as before."""
    from tui_helpers import toasts

    make_curve_run(runs_dir, "blowup", NORMAL + [1e4], DICES + [0.1])
    make_curve_run(runs_dir, "short", [1.4, 1.1, 0.9], [0.2, 0.3, 0.35])
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        app.open_compare([runs_dir / "blowup", runs_dir / "short"])
        await wait_for(pilot, lambda: len(getattr(app.screen, "snapshots", [])) == 2, what="compare data")
        await pilot.press("3", "f")  # valid Dice
        await wait_for(pilot, lambda: "show every point already" in toasts(app), what="the Dice note")
        assert "Charts: every point" not in toasts(app)
        await pilot.press("1", "f")  # train loss
        await wait_for(pilot, lambda: "Charts: every point" in toasts(app), what="the loss chart's toggle")


async def test_predictions_re_lay_themselves_out_when_the_terminal_is_resized(runs_dir: Path) -> None:
    make_curve_run(runs_dir, "seen", NORMAL[:3], DICES[:3])
    write_previews(runs_dir / "seen", 3)

    from petseg_tui.widgets.image_view import ImageView
    from petseg_tui.widgets.previews import PreviewPanel

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(160, 22)) as pilot:
        live = await open_live(pilot, runs_dir / "seen")
        view = live.query_one(PreviewPanel).query_one(ImageView)

        def aspect() -> float:
            image = view.pil_image
            return image.width / image.height if image is not None else 0.0

        await wait_for(pilot, lambda: aspect() > 2.5, what="a low, wide panel: the four images in a row")
        await pilot.resize_terminal(160, 60)
        await wait_for(pilot, lambda: 0 < aspect() < 1.5, what="a tall panel: the images 2x2")


def test_eta_follows_the_recent_epochs_when_they_slow_down() -> None:
    """Five epochs of 10 s, then five of 20 s, ten to go: 200 s (the median of all said 150 s)."""
    epochs = tuple(replace(epoch_event(i, 20, 1000.0 + i), seconds=10.0 if i <= 5 else 20.0) for i in range(1, 11))
    snap = LiveSnapshot(name="slow", path=None, state=RunState.RUNNING, epochs=epochs, total_epochs=20,
                        current_epoch=10, epoch_seconds=15.0)
    assert snap.recent_epoch_seconds() == 20.0
    assert snap.eta_seconds() == 200.0
    # one slow epoch among fast ones moves the pace by a third of its excess, not all of it
    bumpy = epochs[:9] + (replace(epochs[9], seconds=50.0),)
    assert replace(snap, epochs=bumpy).eta_seconds() == 10 * (20 + 20 + 50) / 3


def test_a_time_budget_runs_eta_is_what_is_left_of_its_budget() -> None:
    """--time_budget 5m with 10 epochs of 20 s done (200 s trained) and --epochs 50 as the upper
    bound: ~100 s left, not 40 more epochs (800 s). A budget longer than the epochs: the epochs."""
    epochs = tuple(replace(epoch_event(i, 50, 1000.0 + i), seconds=20.0) for i in range(1, 11))
    snap = LiveSnapshot(name="budget", path=None, state=RunState.RUNNING, epochs=epochs, total_epochs=50,
                        current_epoch=10, config={"time_budget": "5m"})
    assert snap.eta_seconds() == 100.0
    assert replace(snap, config={"time_budget": "2h"}).eta_seconds() == 40 * 20.0
    assert replace(snap, state=RunState.FINISHED).eta_seconds() is None


async def test_the_dice_chart_keeps_its_axis_through_an_epochs_batches(runs_dir: Path) -> None:
    """The charts share one x range; a running epoch's batch points must not move the Dice chart's
    axis (a rebuild with no new Dice data, every batch event) but reach the epoch in training."""
    from engine.events import BatchProgress

    make_curve_run(runs_dir, "r", NORMAL[:5], DICES[:5], total=12)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        live = await open_live(pilot, runs_dir / "r")
        await wait_for(pilot, lambda: live.snapshot is not None, what="the run read")
        running = replace(live.snapshot, state=RunState.RUNNING)
        batches = [BatchProgress(epoch=6, batch=b, batches=10, loss=0.3, images_per_s=10.0) for b in range(1, 11)]
        specs = [live.chart_specs(replace(running, batches=tuple(batches[:k]))) for k in range(1, 11)]
        assert len({dice for _, dice in specs}) == 1
        assert len({loss for loss, _ in specs}) == 10  # the loss chart does get each batch
        assert all(loss.x_range == dice.x_range == (1.0, 6.0) for loss, dice in specs)
        finished = live.chart_specs(replace(running, state=RunState.FINISHED))
        assert finished[1].x_range == (1.0, 5.0)  # nothing in training: the axis ends at the last epoch


async def test_a_finished_run_whose_epochs_cannot_be_read_says_so(runs_dir: Path) -> None:
    """A finished run's events.jsonl cut after its first line, mid-way through the next: the torn
    line counts as unreadable (no writer will finish it) and the charts say no epoch can be read,
    not "waiting for the first epoch"."""
    from engine.runs import EVENTS_FILE, RunFollower

    make_curve_run(runs_dir, "cut", NORMAL[:3], DICES[:3])
    events = runs_dir / "cut" / EVENTS_FILE
    lines = events.read_bytes().splitlines(keepends=True)
    events.write_bytes(lines[0] + lines[1][: len(lines[1]) // 2])
    follower = RunFollower(runs_dir / "cut")
    follower.poll()
    assert follower.bad_lines == 1
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        live = await open_live(pilot, runs_dir / "cut")
        await wait_for(pilot, lambda: live.snapshot is not None, what="the run read")
        assert live.snapshot.state == RunState.FINISHED and live.snapshot.bad_lines == 1
        loss, dice = live.chart_specs(live.snapshot)
        assert loss.empty == dice.empty == f"finished, but no epoch could be read from {EVENTS_FILE} (1 unreadable line)"


async def test_the_curves_and_their_legend_are_legible_in_a_light_theme(runs_dir: Path) -> None:
    """The valid (orange) and IoU (green) curves were bright colours for a dark background: on
    textual-light's grey they read at 1.5:1 and 1.4:1, curve, markers and legend alike."""
    from tui_helpers import contrast_of

    from petseg_tui.widgets.charts import ChartPlot

    make_curve_run(runs_dir, "light", NORMAL, DICES)
    app = PetsegApp(runs_dir=runs_dir, theme="textual-light")
    async with app.run_test(size=(120, 36)) as pilot:
        live = await open_live(pilot, runs_dir / "light")
        loss, dice = live.query_one("#loss-chart"), live.query_one("#dice-chart")
        await wait_for(pilot, lambda: "IoU" in _header(live, "dice-chart"), what="the charts drawn")
        await pilot.pause()
        assert contrast_of(loss.query_one(".chart--header"), "valid") >= 3.0
        assert contrast_of(dice.query_one(".chart--header"), "IoU") >= 3.0
        assert contrast_of(loss.query_one(ChartPlot), "▲") >= 3.0  # the valid loss's markers
        assert contrast_of(dice.query_one(ChartPlot), "■") >= 3.0  # the IoU's
