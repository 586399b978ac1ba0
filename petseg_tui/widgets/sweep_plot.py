"""`SweepPlot`: a titled plotext scatter for the sweep screen: best valid Dice against the trial
number (each trial a point, the best so far a step line), or one searched parameter against Dice
(a log axis for a log-searched value, the choices in order for a categorical one).

What to draw is plain data (`ScatterSpec`), built by `scatter_for_best` / `scatter_for_param`
from a `engine.sweep.board.SweepBoard`; nothing here reads files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static
from textual_plotext import PlotextPlot

from petseg_tui.format import fmt_sig, legible, theme_background
from petseg_tui.widgets.chart_scale import nice_ticks

# for a dark background; drawn on a light theme's, darker (`legible`: the orange read at 1.5:1)
POINT_COLOUR = (245, 166, 35)
LINE_COLOUR = (78, 154, 241)
# the least Dice span the y axis shows: trials a few 1e-5 apart are one flat row at their value,
# not stretched over the whole plot with every tick reading the same three digits
MIN_Y_SPAN = 0.01


def tick_labels(ticks: list[float]) -> list[str]:
    """Three significant digits (`fmt_sig`), or as many decimals as make every label distinct."""
    labels = [fmt_sig(t) for t in ticks]
    for decimals in range(3, 10):
        if len(set(labels)) == len(labels):
            break
        labels = [f"{t:.{decimals}f}" for t in ticks]
    return labels


def dice_tick_labels(ticks: list[float]) -> list[str]:
    """`tick_labels` for a Dice axis, whose values are read as decimals everywhere else: where
    those labels turn to powers (an all-zero sweep's 0 / 5e-3 / 0.01), the decimals the round
    ticks need (0.000 / 0.005 / 0.010)."""
    labels = tick_labels(ticks)
    if not any("e" in label for label in labels):
        return labels
    decimals = next((d for d in range(3, 7) if all(abs(round(t, d) - t) < 1e-12 for t in ticks)), 6)
    return [f"{t:.{decimals}f}" for t in ticks]


def y_span(ys: tuple[float, ...]) -> tuple[float, float]:
    """The y range for Dice values ``ys``: their own, widened about their middle to `MIN_Y_SPAN`
    and kept within [0, 1] when they are."""
    lo, hi = min(ys), max(ys)
    if hi - lo >= MIN_Y_SPAN:
        return lo, hi
    mid = (lo + hi) / 2
    lo, hi = mid - MIN_Y_SPAN / 2, mid + MIN_Y_SPAN / 2
    if min(ys) >= 0 and lo < 0:
        lo, hi = 0.0, MIN_Y_SPAN
    elif max(ys) <= 1 and hi > 1:
        lo, hi = 1 - MIN_Y_SPAN, 1.0
    return lo, hi


def steps(points: list[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """A best-so-far curve as a step line: flat until the trial that raised it, then straight up
    (a line through the points alone would ramp between trials)."""
    out: list[tuple[float, float]] = []
    for x, y in points:
        if out and y != out[-1][1]:
            out.append((x, out[-1][1]))
        out.append((x, y))
    return tuple(out)


@dataclass(frozen=True)
class ScatterSpec:
    title: str
    xs: tuple[float, ...] = ()
    ys: tuple[float, ...] = ()
    line: tuple[tuple[float, float], ...] = ()  # drawn as a line under the points (best so far)
    x_ticks: tuple[tuple[float, str], ...] = ()  # (position, label); empty: plotext's own
    empty: str = "no trial has a valid Dice yet"


def scatter_for_best(board: Any) -> ScatterSpec:
    pts = [(t.trial, t.best_dice) for t in board.trials if t.best_dice is not None]
    best = board.best_so_far()
    ticks: tuple[tuple[float, str], ...] = ()
    if pts:  # trial numbers are integers: label some of them, never 0.9
        lo, hi = min(x for x, _ in pts), max(x for x, _ in pts)
        step = max(1, math.ceil((hi - lo + 1) / 8))
        ticks = tuple((float(n), str(n)) for n in range(lo, hi + 1, step))
    return ScatterSpec("best valid Dice vs trial  ● a trial  ─ best so far",
                       tuple(float(x) for x, _ in pts), tuple(y for _, y in pts),
                       steps([(float(x), y) for x, y in best]), ticks)


def scatter_for_param(board: Any, name: str, log: bool = False) -> ScatterSpec:
    """``name`` against valid Dice; categorical values (text, or few distinct) at their index."""
    points = board.param_points(name)
    title = f"{name} vs valid Dice"
    if not points:
        return ScatterSpec(title)
    values = [v for v, _ in points]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if numeric and log and all(v > 0 for v in values):
        xs = [math.log10(v) for v in values]
        lo, hi = math.floor(min(xs)), math.ceil(max(xs))
        ticks = tuple((float(e), f"1e{e}") for e in range(lo, hi + 1))
        return ScatterSpec(title + " (log x)", tuple(xs), tuple(d for _, d in points), (), ticks)
    if numeric:
        return ScatterSpec(title, tuple(float(v) for v in values), tuple(d for _, d in points))
    order = sorted({str(v) for v in values})
    return ScatterSpec(title, tuple(float(order.index(str(v))) for v in values), tuple(d for _, d in points), (),
                       tuple((float(i), c) for i, c in enumerate(order)))


class SweepPlot(Vertical):
    """A title row over a plotext scatter; `show` draws a `ScatterSpec` (again on resize)."""

    DEFAULT_CSS = """
    SweepPlot { height: 1fr; min-height: 6; }
    SweepPlot > .sweep-plot--title { height: 1; padding: 0 1; text-style: bold; }
    SweepPlot > PlotextPlot { height: 1fr; }
    SweepPlot > .sweep-plot--empty { height: 1fr; content-align: center middle; color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.spec: ScatterSpec | None = None

    def compose(self) -> ComposeResult:
        yield Static("", classes="sweep-plot--title")
        yield PlotextPlot()
        yield Static("", classes="sweep-plot--empty")

    def on_mount(self) -> None:
        # a theme chosen from the palette: the colours are drawn again for its background
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def _theme_changed(self, _theme: object) -> None:
        if self.spec is not None:
            self.show(self.spec)

    def on_resize(self) -> None:
        if self.spec is not None:
            self.show(self.spec)

    def show(self, spec: ScatterSpec) -> None:
        self.spec = spec
        self.query_one(".sweep-plot--title", Static).update(spec.title)
        plot = self.query_one(PlotextPlot)
        empty = self.query_one(".sweep-plot--empty", Static)
        has = bool(spec.xs)
        plot.display, empty.display = has, not has
        if not has:
            empty.update(spec.empty)
            return
        plt = plot.plt
        plt.clear_figure()
        background = theme_background(self.app)
        if spec.line:
            plt.plot([x for x, _ in spec.line], [y for _, y in spec.line], color=legible(LINE_COLOUR, background),
                     marker="braille")
        plt.scatter(list(spec.xs), list(spec.ys), color=legible(POINT_COLOUR, background), marker="●")
        lo, hi = y_span(spec.ys)
        pad = (hi - lo) * 0.08
        plt.ylim(lo - pad, hi + pad)
        # round values, not a Dice of 2.14e-12, and never two ticks that read the same
        ticks = nice_ticks(lo, hi, count=3)
        plt.yticks(ticks, dice_tick_labels(ticks))
        x_lo, x_hi = min(spec.xs), max(spec.xs)
        if spec.x_ticks:
            x_lo, x_hi = min(x_lo, spec.x_ticks[0][0]), max(x_hi, spec.x_ticks[-1][0])
            plt.xticks([p for p, _ in spec.x_ticks], [label for _, label in spec.x_ticks])
        else:  # a searched value's own scale: plotext's ticks read 0.000 for every learning rate
            x_ticks = nice_ticks(x_lo, x_hi, count=4) if x_hi > x_lo else [x_lo]
            plt.xticks(x_ticks, tick_labels(x_ticks))
        # one value (the first trial, or every trial alike): a range about it, not ±0.06 about it
        # (a learning rate of 1.8e-4 sat at "0.000" on an axis from -0.060 to 0.060)
        span = (x_hi - x_lo) or abs(x_lo) * 0.5 or 1.0
        plt.xlim(x_lo - 0.06 * span, x_hi + 0.06 * span)
        plot.refresh()
