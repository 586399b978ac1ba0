"""The live screen's charts as keys and the run change them: a view key redraws at once, new
data waits for its timer, a failed run's empty charts say why; the EMA they smooth with."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tui_helpers import (
    epoch_event,
    footer_text,
    make_run,
    open_live,
    wait_for,
    widget_text,
)

from petseg_tui.app import PetsegApp
from petseg_tui.widgets.chart_specs import ema
from petseg_tui.widgets.charts import Chart


def test_ema() -> None:
    assert ema([1.0, 1.0, 1.0], 0.9) == [1.0, 1.0, 1.0]
    out = ema([0.0, 1.0], 0.5)
    assert out == [0.0, 0.5]


async def test_failed_run_says_failed_in_the_charts_and_offers_no_stop(runs_dir: Path) -> None:
    from engine.events import RunFailed

    w = make_run(runs_dir, "oops", epochs_done=0, total=5, state="running", close=False)
    w.append(RunFailed(message="/data: dataset folder does not exist"))
    w.set_status("failed", "/data: dataset folder does not exist")
    w.close()

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        live = await open_live(pilot, runs_dir / "oops")
        for chart in ("#loss-chart", "#dice-chart"):
            def text() -> str:
                return " ".join(widget_text(live.query_one(chart, Chart).query_one(".chart--empty")).split())

            await wait_for(pilot, lambda: "failed: /data: dataset folder does not exist" in text(), what=chart)
            assert "waiting" not in text()
        await wait_for(pilot, lambda: "R Start again" in footer_text(live), what="R in the footer")
        assert "Stop" not in footer_text(live) and "Pause" not in footer_text(live)


async def test_every_view_key_redraws_the_chart_at_once_on_a_finished_run(runs_dir: Path) -> None:
    """A finished run sends no new data: l on and l off both redraw the loss chart by themselves
    (the off press used to wait for the next snapshot, which a finished run never sends)."""
    make_run(runs_dir, "done", epochs_done=4, state="finished")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        live = await open_live(pilot, runs_dir / "done")
        header = live.query_one("#loss-chart", Chart).query_one(".chart--header")
        for shown in (True, False, True, False):
            await pilot.press("l")
            # no new data comes: without a redraw of its own the chart never changes (the wait's
            # bound only ends a failure, and a loaded machine may take seconds)
            await wait_for(pilot, lambda: ("log y" in widget_text(header)) == shown,
                           what=f"log y {'on' if shown else 'off'}")


@pytest.mark.slow
async def test_a_view_key_keeps_the_charts_data_until_the_new_data_is_due(runs_dir: Path, monkeypatch) -> None:
    # A key redraws only what it changes: an epoch that arrived since the charts were drawn waits
    # for its timer (new data redraws the charts at most every CHART_INTERVAL_S), so the key does
    # not pay for rebuilding both charts with new data (#20's key-to-redraw latency).
    from petseg_tui.screens import live_charts

    monkeypatch.setattr(live_charts, "CHART_INTERVAL_S", 4.0)
    writer = make_run(runs_dir, "mike", epochs_done=3, total=6, state="running", t0=time.time(), close=False)
    try:
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(120, 36)) as pilot:
            live = await open_live(pilot, runs_dir / "mike")
            loss = live.query_one("#loss-chart", Chart)

            def charted_epochs() -> int:
                return len(loss.spec.series[0].xs) if loss.spec is not None else 0

            await wait_for(pilot, lambda: charted_epochs() == 3, what="three epochs charted")
            writer.append(epoch_event(4, 6, time.time()))
            await wait_for(pilot, lambda: len(live.snapshot.epochs) == 4, what="the fourth epoch read")
            assert charted_epochs() == 3  # the new epoch waits for its timer
            await pilot.press("l")
            await wait_for(pilot, lambda: loss.spec.log_y, what="log y")
            assert charted_epochs() == 3, "the key drew the newer data, not only the new view"
            await wait_for(pilot, lambda: charted_epochs() == 4, timeout=15, what="the new epoch on its timer")
            assert loss.spec.log_y
    finally:
        writer.close()
