"""The live screen's loss and Dice charts: what they show for a snapshot, and when new data
redraws them (at most once a second, `CHART_INTERVAL_S`; a view key at once, with the data the
charts already show).

A mixin of `LiveRunScreen` (its `snapshot` and `ChartView`'s settings), as `live_control` is for
its stop / pause / resume. Both charts share the x range (epochs).
"""

from __future__ import annotations

import time
from dataclasses import replace

from textual.css.query import NoMatches
from textual.timer import Timer

from engine.runs import EVENTS_FILE, LOG_FILE, RunState
from engine.words import counted
from petseg_tui.live_follow import LiveSnapshot
from petseg_tui.widgets.chart_specs import ChartSpec, dice_spec, loss_spec
from petseg_tui.widgets.charts import Chart, x_extent

CHART_INTERVAL_S = 1.0  # new data redraws the charts at most once a second (a key at once): docs/PERFORMANCE.md
ENDED_BEFORE_AN_EPOCH = {  # what the empty charts say, for each state in which `RunState.ended_early`
    RunState.FAILED: "failed: {message}",
    RunState.DIVERGED: "diverged: {message}",
    RunState.BROKEN: "cannot read this run: {message}",
    RunState.STOPPED: "stopped before the first epoch ended",
    RunState.INTERRUPTED: "interrupted before the first epoch ended (the process is gone)",
}


class LiveCharts:
    """The `#loss-chart` and `#dice-chart` of the live screen, drawn from its snapshots."""

    snapshot: LiveSnapshot | None
    log_y: bool
    autoscale: bool
    ema_factor: float
    _chart_timer: Timer | None = None  # a pending chart redraw (new data within CHART_INTERVAL_S)
    _charts_drawn_at = -1e9
    _charted: LiveSnapshot | None = None  # the snapshot whose data the charts show

    def _schedule_charts(self) -> None:
        """Redraw the charts for new data: now, or when CHART_INTERVAL_S has passed since the last."""
        if self._chart_timer is not None:
            return  # already due: it will draw the newest snapshot
        wait = self._charts_drawn_at + CHART_INTERVAL_S - time.monotonic()
        if wait <= 0:
            self._draw_charts_safely()
        else:
            self._chart_timer = self.set_timer(wait, self._timed_charts)

    def _timed_charts(self) -> None:
        self._chart_timer = None
        self._draw_charts_safely()

    def _draw_charts_safely(self) -> None:
        try:
            self.draw_charts()
        except NoMatches:
            pass

    def chart_specs(self, snap: LiveSnapshot) -> tuple[ChartSpec, ChartSpec]:
        """What the loss and Dice charts show for ``snap`` with the current view settings."""
        ended = ENDED_BEFORE_AN_EPOCH.get(snap.state)
        empty = ended.format(message=snap.message or f"see {LOG_FILE}") if ended else None
        style = "red" if snap.state.is_error else ""
        if empty is None and snap.state in (RunState.FINISHED, RunState.PRUNED) and not snap.epochs:
            # it ended, yet no epoch can be read: nothing more will come, so say so, not "waiting"
            unreadable = f" ({counted(snap.bad_lines, 'unreadable line')})" if snap.bad_lines else ""
            empty, style = f"{snap.state}, but no epoch could be read from {EVENTS_FILE}{unreadable}", "yellow"
        words = {"empty": empty, "empty_style": style} if empty else {}
        loss = loss_spec(snap.epochs, snap.batches if snap.active else (), log_y=self.log_y, smoothing=self.ema_factor,
                         robust=not self.autoscale, **words)
        dice = dice_spec(snap.epochs, **words)
        shared = x_extent(loss, dice)  # one x range: the batches of this epoch run past the Dice points
        if shared is not None:
            lo, hi = min(1.0, shared[0]), max(shared[1], 2.0)
            if snap.active:  # room for the epoch in training: the axis (and the Dice chart) moves once an epoch, not each batch
                done = snap.done_epochs
                hi = max(hi, float(min(done + 1, snap.total_epochs or done + 1)))
            loss, dice = replace(loss, x_range=(lo, hi)), replace(dice, x_range=(lo, hi))
        return loss, dice

    def draw_charts(self, new_data: bool = True) -> None:
        """Both charts for the newest snapshot (a chart whose spec is unchanged does nothing).

        With ``new_data`` False (a view key: log-y, smoothing, ...) the charts keep the data they
        show and only the view changes: newer data waits for its timer, so a key press rebuilds
        the one chart it changes instead of both charts with new data (#20's key latency).
        """
        snap = self._charted if not new_data and self._charted is not None else self.snapshot
        if new_data and self._chart_timer is not None:
            self._chart_timer.stop()
            self._chart_timer = None
        if snap is None:
            return
        loss, dice = self.chart_specs(snap)
        drawn = self.query_one("#loss-chart", Chart).show(loss)
        drawn = self.query_one("#dice-chart", Chart).show(dice) or drawn
        self._charted = snap
        if drawn and new_data:
            self._charts_drawn_at = time.monotonic()
