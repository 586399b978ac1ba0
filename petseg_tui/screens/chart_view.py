"""The chart view both chart screens share (a run's live screen, the compare screen): log-y,
autoscale, smoothing with its EMA factor, and the actions their keys call. Each screen keeps its
own bindings (their tooltips and footer say what its charts are) and reacts to the changes with
``watch_*`` methods of its own.
"""

from __future__ import annotations

from textual.reactive import var

EMA_STEPS = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)  # the factors `+` and `-` step through


class ChartView:
    """Mixed into a `Screen`: the view settings of its charts, as reactive state."""

    log_y: var[bool] = var(False, init=False)
    autoscale: var[bool] = var(False, init=False)  # True: every point in the y range, outliers too
    smoothing_on: var[bool] = var(False, init=False)
    ema_index: var[int] = var(2, init=False)  # EMA 0.6 once smoothing is on

    @property
    def ema_factor(self) -> float:
        """The EMA factor the charts are drawn with: 0 while smoothing is off."""
        return EMA_STEPS[self.ema_index] if self.smoothing_on else 0.0

    def action_log_y(self) -> None:
        self.log_y = not self.log_y

    def autoscale_applies(self) -> bool:
        """Whether a chart on screen can leave outliers out (Dice and IoU charts never do)."""
        return True

    def action_autoscale(self) -> None:
        if not self.autoscale_applies():
            self.notify("Dice and IoU charts show every point already (they lie in 0..1); f is for the losses "
                        "and the learning rate", timeout=3)
            return
        self.autoscale = not self.autoscale
        self.notify("Charts: every point" if self.autoscale else "Charts: true outliers left out", timeout=1.5)

    def action_smoothing(self) -> None:
        self.smoothing_on = not self.smoothing_on
        self.notify(f"Smoothing: EMA {self.ema_factor:.2f}" if self.smoothing_on else "Smoothing: raw", timeout=1.5)

    def action_ema(self, step: int) -> None:
        self.ema_index = max(0, min(len(EMA_STEPS) - 1, self.ema_index + step))
        self.smoothing_on = True
        self.notify(f"Smoothing: EMA {self.ema_factor:.2f}", timeout=1.5)
