"""Plotext charts: a run's loss and Dice curves, and several runs overlaid.

Each chart keeps its own data and redraws (rebuilds the plotext figure) only when told; the
screens call `redraw()` from a throttled timer, never per event.
"""

from __future__ import annotations

import math
from typing import Sequence

from textual_plotext import PlotextPlot

from engine.events import BatchProgress, EpochEnded
from petseg_tui.format import palette_rgb

SERIES_COLOURS = {
    "train": (78, 154, 241),
    "valid": (245, 166, 35),
    "batch": (150, 150, 150),
    "iou": (126, 211, 33),
}


def ema(values: Sequence[float], weight: float) -> list[float]:
    """Exponential moving average; ``weight`` 0 is raw, 0.9 is very smooth."""
    out: list[float] = []
    s: float | None = None
    for v in values:
        if v is None or not math.isfinite(v):
            out.append(v)
            continue
        s = v if s is None else weight * s + (1 - weight) * v
        out.append(s)
    return out


def _finite(xs: Sequence[float], ys: Sequence[float]) -> tuple[list[float], list[float]]:
    px, py = [], []
    for x, y in zip(xs, ys):
        if y is not None and isinstance(y, (int, float)) and math.isfinite(y):
            px.append(x)
            py.append(y)
    return px, py


class _Chart(PlotextPlot):
    DEFAULT_CSS = """
    _Chart { min-height: 6; }
    """

    def _empty(self, title: str, note: str) -> None:
        plt = self.plt
        plt.clear_figure()
        plt.title(title)
        plt.text(note, 0.5, 0.5, alignment="center")
        plt.xlim(0, 1)
        plt.ylim(0, 1)
        plt.xticks([])
        plt.yticks([])

    def _epoch_ticks(self, max_x: float) -> None:
        n = max(1, int(math.ceil(max_x)))
        step = max(1, int(math.ceil(n / 10)))
        self.plt.xticks(list(range(1, n + 1, step)) if n > 1 else [0, 1])


class LossChart(_Chart):
    """Train & valid loss per epoch plus the current epoch's running batch loss."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.log_y = False
        self.smoothing = 0.0  # EMA weight; 0 = raw

    def update_data(self, epochs: Sequence[EpochEnded], batches: Sequence[BatchProgress]) -> None:
        plt = self.plt
        if not epochs and not batches:
            self._empty("Loss", "waiting for the first batch …")
            self.refresh()
            return
        plt.clear_figure()
        title = "Loss" + (" (log)" if self.log_y else "") + (f"  EMA {self.smoothing:.2f}" if self.smoothing else "")
        plt.title(title)
        xs = [e.epoch for e in epochs]
        smooth = (lambda v: ema(v, self.smoothing)) if self.smoothing else list
        max_x = max(xs, default=0)
        for label, values, colour in (
            ("train", [e.train_loss for e in epochs], SERIES_COLOURS["train"]),
            ("valid", [e.valid_loss for e in epochs], SERIES_COLOURS["valid"]),
        ):
            px, py = _finite(xs, smooth(values))
            if self.log_y:
                px, py = zip(*[(x, y) for x, y in zip(px, py) if y > 0]) if any(y > 0 for y in py) else ([], [])
            if px:
                plt.plot(list(px), list(py), label=label, color=colour, marker="braille")
        if batches:
            bx = [b.epoch - 1 + b.batch / max(1, b.batches) for b in batches]
            px, py = _finite(bx, smooth([b.loss for b in batches]))
            if self.log_y:
                keep = [(x, y) for x, y in zip(px, py) if y > 0]
                px, py = [k[0] for k in keep], [k[1] for k in keep]
            if px:
                plt.plot(px, py, label="batch (epoch mean so far)", color=SERIES_COLOURS["batch"], marker="braille")
                max_x = max(max_x, px[-1])
        if self.log_y:
            plt.yscale("log")
        plt.xlabel("epoch")
        self._epoch_ticks(max_x)
        self.refresh()


class DiceChart(_Chart):
    """Train Dice, valid Dice and valid IoU per epoch."""

    def update_data(self, epochs: Sequence[EpochEnded]) -> None:
        plt = self.plt
        if not epochs:
            self._empty("Dice / IoU", "waiting for the first epoch …")
            self.refresh()
            return
        plt.clear_figure()
        plt.title("Dice / IoU")
        xs = [e.epoch for e in epochs]
        for label, values, colour in (
            ("train Dice", [e.train_dice for e in epochs], SERIES_COLOURS["train"]),
            ("valid Dice", [e.valid_dice for e in epochs], SERIES_COLOURS["valid"]),
            ("valid IoU", [e.valid_iou for e in epochs], SERIES_COLOURS["iou"]),
        ):
            px, py = _finite(xs, values)
            if px:
                plt.plot(px, py, label=label, color=colour, marker="braille")
        plt.xlabel("epoch")
        self._epoch_ticks(max(xs))
        self.refresh()


COMPARE_METRICS: dict[str, tuple[str, str]] = {
    # key: (label, field of EpochEnded); "higher" metrics are maximised
    "train_loss": ("train loss", "train_loss"),
    "valid_loss": ("valid loss", "valid_loss"),
    "valid_dice": ("valid Dice", "valid_dice"),
    "valid_iou": ("valid IoU", "valid_iou"),
    "lr": ("learning rate", "lr"),
}
HIGHER_IS_BETTER = {"valid_dice", "valid_iou"}


class CompareChart(_Chart):
    """One metric of several runs on shared axes; run i is drawn in palette colour i."""

    def update_data(self, metric: str, runs: Sequence[tuple[str, Sequence[EpochEnded]]], log_y: bool = False) -> None:
        plt = self.plt
        label, field = COMPARE_METRICS[metric]
        if not any(eps for _, eps in runs):
            self._empty(label, "no finished epochs yet")
            self.refresh()
            return
        plt.clear_figure()
        plt.title(label + (" (log)" if log_y else ""))
        max_x = 0
        for i, (name, eps) in enumerate(runs):
            xs = [e.epoch for e in eps]
            px, py = _finite(xs, [getattr(e, field) for e in eps])
            if log_y:
                keep = [(x, y) for x, y in zip(px, py) if y > 0]
                px, py = [k[0] for k in keep], [k[1] for k in keep]
            if px:
                # legend lives in the screen (plotext's legend box would cover the curves)
                plt.plot(px, py, color=palette_rgb(i), marker="braille")
                max_x = max(max_x, max(px))
        if log_y:
            plt.yscale("log")
        plt.xlabel("epoch")
        self._epoch_ticks(max_x)
        self.refresh()
