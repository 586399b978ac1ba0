"""Charts that read at 80x24: loss and Dice curves of one run, one metric of several runs.

A `Chart` is a header row (title, legend, notes) over a plotext plot; the legend never sits on
the curves. Each series has its colour AND its own marker glyph, drawn at its data points and
in the legend, so series differ without colour too. The y range is robust by default: an
epoch-1 spike or a diverged tail would crush the other points into a few rows, so points
beyond the fences of `robust_range` are drawn at the plot's edge as arrows and the header
says how many and how far (``l`` gives log-y, which shows everything). Tick labels have
three significant digits, engineering notation past 10^4 (`fmt_tick`).

What to draw is plain data (`ChartSpec` of `Series`), built by the screens; `Chart.show`
draws it, and draws it again on resize. Nothing here reads files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static
from textual_plotext import PlotextPlot

from petseg_tui.format import fmt_sig as fmt_tick

Colour = tuple[int, int, int]

SERIES_COLOURS: dict[str, Colour] = {
    "train": (78, 154, 241),
    "valid": (245, 166, 35),
    "batch": (150, 150, 150),
    "iou": (126, 211, 33),
}
# One glyph per series, in the order series are added (compare: run i gets MARKERS[i]).
MARKERS = ("●", "▲", "■", "◆", "▼", "✚", "✖")
ABOVE, BELOW = "↑", "↓"  # a point beyond the robust range, drawn at the plot's edge


def _hex(colour: Colour) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)


# ----------------------------------------------------------------------------------------------
# Pure helpers
# ----------------------------------------------------------------------------------------------


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


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Up to about ``count`` round values (steps of 1, 2, 2.5 or 5 × 10^k) within [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    mag = 10 ** math.floor(math.log10((hi - lo) / max(1, count - 1)))
    ticks: list[float] = []
    for m in (1, 2, 2.5, 5, 10, 20):  # the finest round step that gives at most `count` ticks
        step = m * mag
        first = math.ceil(lo / step - 1e-9) * step
        ticks = [round(first + i * step, 12) for i in range(int((hi - first) / step + 1e-9) + 1)]
        if len(ticks) <= count:
            break
    return ticks if len(ticks) >= 2 else [lo, hi]


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    pos = (len(sorted_values) - 1) * q
    i = int(pos)
    j = min(i + 1, len(sorted_values) - 1)
    return sorted_values[i] + (sorted_values[j] - sorted_values[i]) * (pos - i)


@dataclass(frozen=True)
class YRange:
    """The y range a chart draws: [lo, hi], and what falls outside it."""

    lo: float
    hi: float
    above: int = 0  # points drawn at the top edge
    below: int = 0
    max_value: float | None = None  # the largest value, when some are above
    min_value: float | None = None


def robust_range(values: Sequence[float], robust: bool = True) -> YRange | None:
    """The y range for ``values`` (non-finite ones ignored; None if there are none).

    Robust: fences at 3 IQR beyond the quartiles, and for positive data (losses, learning
    rates) at most 10× the median above, so an epoch-1 spike (3.81 among 0.2-0.6) or a
    diverged tail (1.7e13) is left out of the range, while a curve that falls steadily from
    1.2 to 0.2 keeps all its points. At least half the points always stay in range.
    """
    v = sorted(x for x in values if x is not None and math.isfinite(x))
    if not v:
        return None
    lo, hi = v[0], v[-1]
    if robust and len(v) >= 4:
        q1, med, q3 = _percentile(v, 0.25), _percentile(v, 0.5), _percentile(v, 0.75)
        spread = (q3 - q1) or abs(med) * 0.1 or 1e-12
        fence_hi, fence_lo = q3 + 3 * spread, q1 - 3 * spread
        if med > 0:
            fence_hi = min(fence_hi, med * 10)
        inside = [x for x in v if fence_lo <= x <= fence_hi]
        if len(inside) >= max(2, (len(v) + 1) // 2):
            lo, hi = inside[0], inside[-1]
    above = sum(1 for x in v if x > hi)
    below = sum(1 for x in v if x < lo)
    return YRange(lo, hi, above, below, v[-1] if above else None, v[0] if below else None)


# ----------------------------------------------------------------------------------------------
# What to draw
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    label: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    colour: Colour
    marker: str  # one glyph: at the data points and in the legend
    points: bool = True  # False: a line only (e.g. the running batch loss), legend shows "┄"
    style: str = ""  # extra Rich style for the legend label (e.g. "bold" for the highlighted run)


@dataclass(frozen=True)
class ChartSpec:
    title: str
    series: tuple[Series, ...] = ()
    log_y: bool = False
    robust: bool = True
    x_range: tuple[float, float] | None = None  # only points with lo <= x <= hi
    notes: tuple[str, ...] = ()  # shown dim in the header (smoothing, x window)
    empty: str = "no data yet"  # drawn in the plot when no series has a finite point
    empty_style: str = ""  # e.g. "red" for "failed: <reason>"
    legend: bool = True


def _visible(s: Series, spec: ChartSpec) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    lo_x, hi_x = spec.x_range if spec.x_range else (-math.inf, math.inf)
    for x, y in zip(s.xs, s.ys):
        if y is None or not isinstance(y, (int, float)) or not math.isfinite(y) or not lo_x <= x <= hi_x:
            continue
        if spec.log_y:
            if y <= 0:
                continue
            y = math.log10(y)
        xs.append(x)
        ys.append(y)
    return xs, ys


def header_text(spec: ChartSpec, yr: YRange | None) -> Text:
    t = Text()
    t.append(spec.title, style="bold")
    if spec.legend:
        for s in spec.series:
            t.append("  ")
            glyph = f"─{s.marker}" if s.points else "┄┄"
            t.append(glyph, style=f"bold {_hex(s.colour)}")
            t.append(" " + s.label, style=f"{_hex(s.colour)} {s.style}".strip())
    notes = list(spec.notes)
    if spec.log_y:
        notes.append("log y")
    if yr is not None and (yr.above or yr.below):
        parts = []
        if yr.above:
            parts.append(f"{ABOVE}{yr.above} above {fmt_tick(yr.hi)} (max {fmt_tick(yr.max_value or 0)})")
        if yr.below:
            parts.append(f"{BELOW}{yr.below} below {fmt_tick(yr.lo)} (min {fmt_tick(yr.min_value or 0)})")
        notes.append(", ".join(parts) + " · l: log y")
    if notes:
        t.append("  " + " · ".join(notes), style="dim")
    return t


def _epoch_ticks(lo: float, hi: float, width: int) -> list[int]:
    lo_i, hi_i = max(1, int(math.floor(lo))), max(1, int(math.ceil(hi)))
    n = hi_i - lo_i + 1
    slots = max(2, width // 6)  # a label every ~6 columns at most
    step = max(1, int(math.ceil(n / slots)))
    ticks = list(range(lo_i, hi_i + 1, step))
    return ticks if len(ticks) > 1 else [lo_i, lo_i + 1]


class Chart(Vertical):
    """A header row (title, legend, notes) over a plotext plot; `show` draws a `ChartSpec`."""

    DEFAULT_CSS = """
    Chart { height: 1fr; min-height: 6; }
    Chart > .chart--header { height: 2; padding: 0 1; }  /* 2 rows always: charts side by side line up */
    Chart > PlotextPlot { height: 1fr; }
    Chart > .chart--empty { height: 1fr; padding: 1 2; content-align: center middle; color: $text-muted; }
    Chart > .chart--empty.-error { color: $text-error; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.spec: ChartSpec | None = None
        self.y_range: YRange | None = None

    def compose(self) -> ComposeResult:
        yield Static("", classes="chart--header")
        yield PlotextPlot()
        yield Static("", classes="chart--empty")  # instead of the plot while there is nothing to draw

    @property
    def plot(self) -> PlotextPlot:
        return self.query_one(PlotextPlot)

    def on_resize(self) -> None:
        if self.spec is not None:
            self.show(self.spec)

    def show(self, spec: ChartSpec) -> None:
        self.spec = spec
        plot = self.plot
        plt = plot.plt
        plt.clear_figure()
        width, height = plot.size.width or 40, plot.size.height or 10
        shown = [(s, *_visible(s, spec)) for s in spec.series]
        ys_all = [y for _, _, ys in shown for y in ys]
        yr = robust_range(ys_all, robust=spec.robust and not spec.log_y)
        self.y_range = yr
        self.query_one(".chart--header", Static).update(header_text(spec, yr))
        empty = self.query_one(".chart--empty", Static)
        plot.display = yr is not None
        empty.display = yr is None
        if yr is None:  # said in words that wrap (plotext drops a text wider than the plot)
            empty.update(spec.empty)
            empty.set_class(bool(spec.empty_style), "-error")
            return
        pad = (yr.hi - yr.lo) * 0.04 or (abs(yr.hi) * 0.05 or 0.5)
        lo, hi = yr.lo - pad, yr.hi + pad
        xs_all = [x for _, xs, _ in shown for x in xs]
        x_lo, x_hi = (spec.x_range if spec.x_range else (min(xs_all), max(xs_all)))
        if x_hi <= x_lo:
            x_lo, x_hi = x_lo - 0.5, x_hi + 0.5
        marker_every = max(1, int(math.ceil(len({x for x in xs_all}) / max(1, width // 4))))
        for s, xs, ys in shown:
            if not xs:
                continue
            clamped = [min(max(y, yr.lo), yr.hi) for y in ys]
            plt.plot(xs, clamped, color=s.colour, marker="braille")
            if s.points:
                keep = [i for i in range(len(xs)) if i % marker_every == 0 or i == len(xs) - 1]
                inside = [i for i in keep if yr.lo <= ys[i] <= yr.hi]
                if inside:
                    plt.scatter([xs[i] for i in inside], [ys[i] for i in inside], color=s.colour, marker=s.marker)
            up = [i for i in range(len(xs)) if ys[i] > yr.hi]
            down = [i for i in range(len(xs)) if ys[i] < yr.lo]
            if up:
                plt.scatter([xs[i] for i in up], [hi] * len(up), color=s.colour, marker=ABOVE)
            if down:
                plt.scatter([xs[i] for i in down], [lo] * len(down), color=s.colour, marker=BELOW)
        plt.ylim(lo, hi)
        ticks = nice_ticks(yr.lo, yr.hi, max(2, min(6, (height - 2) // 2)))
        labels = [fmt_tick(10**t) if spec.log_y else fmt_tick(t) for t in ticks]
        if len(set(labels)) < len(labels):  # a nearly flat curve: say where it lies, once
            ticks, labels = ticks[:1], labels[:1]
        plt.yticks(ticks, labels)
        plt.xlim(x_lo - 0.02 * (x_hi - x_lo), x_hi + 0.02 * (x_hi - x_lo))
        plt.xticks(_epoch_ticks(x_lo, x_hi, width - max(len(lb) for lb in labels) - 2))
        plot.refresh()


# ----------------------------------------------------------------------------------------------
# Specs for the screens
# ----------------------------------------------------------------------------------------------


COMPARE_METRICS: dict[str, tuple[str, str]] = {
    # key: (label, field of EpochEnded); "higher" metrics are maximised
    "train_loss": ("train loss", "train_loss"),
    "valid_loss": ("valid loss", "valid_loss"),
    "valid_dice": ("valid Dice", "valid_dice"),
    "valid_iou": ("valid IoU", "valid_iou"),
    "lr": ("learning rate", "lr"),
}
HIGHER_IS_BETTER = {"valid_dice", "valid_iou"}


def smoothing_note(weight: float) -> tuple[str, ...]:
    return (f"EMA {weight:.2f}",) if weight else ()


@dataclass(frozen=True)
class RunCurves:
    """One run's epochs as a chart needs them (a subset of the run's history)."""

    name: str
    epochs: tuple = ()  # engine.events.EpochEnded
    batches: tuple = ()  # engine.events.BatchProgress of the current epoch (live runs)
    colour: Colour = SERIES_COLOURS["train"]
    marker: str = MARKERS[0]
    style: str = ""
    extra: dict = field(default_factory=dict)


def loss_spec(epochs: Sequence, batches: Sequence, *, log_y: bool = False, smoothing: float = 0.0,
              empty: str = "waiting for the first batch …", empty_style: str = "") -> ChartSpec:
    smooth = (lambda v: ema(v, smoothing)) if smoothing else list
    xs = tuple(float(e.epoch) for e in epochs)
    series = [
        Series("train", xs, tuple(smooth([e.train_loss for e in epochs])), SERIES_COLOURS["train"], MARKERS[0]),
        Series("valid", xs, tuple(smooth([e.valid_loss for e in epochs])), SERIES_COLOURS["valid"], MARKERS[1]),
    ]
    if batches:
        bx = tuple(b.epoch - 1 + b.batch / max(1, b.batches) for b in batches)
        series.append(Series("this epoch", bx, tuple(smooth([b.loss for b in batches])), SERIES_COLOURS["batch"],
                             "·", points=False))
    return ChartSpec("Loss", tuple(series), log_y=log_y, notes=smoothing_note(smoothing), empty=empty,
                     empty_style=empty_style)


def dice_spec(epochs: Sequence, *, empty: str = "waiting for the first epoch …", empty_style: str = "") -> ChartSpec:
    xs = tuple(float(e.epoch) for e in epochs)
    return ChartSpec("Dice / IoU", (
        Series("train Dice", xs, tuple(e.train_dice for e in epochs), SERIES_COLOURS["train"], MARKERS[0]),
        Series("valid Dice", xs, tuple(e.valid_dice for e in epochs), SERIES_COLOURS["valid"], MARKERS[1]),
        Series("valid IoU", xs, tuple(e.valid_iou for e in epochs), SERIES_COLOURS["iou"], MARKERS[2]),
    ), empty=empty, empty_style=empty_style)


def compare_spec(metric: str, runs: Sequence[RunCurves], *, log_y: bool = False, smoothing: float = 0.0,
                 x_range: tuple[float, float] | None = None, x_note: str = "", legend: bool = False) -> ChartSpec:
    label, attr = COMPARE_METRICS[metric]
    smooth = (lambda v: ema(v, smoothing)) if smoothing and metric != "lr" else list
    series = tuple(
        Series(r.name, tuple(float(e.epoch) for e in r.epochs), tuple(smooth([getattr(e, attr) for e in r.epochs])),
               r.colour, r.marker, style=r.style)
        for r in runs
    )
    notes = smoothing_note(smoothing if metric != "lr" else 0.0) + ((x_note,) if x_note else ())
    return ChartSpec(label, series, log_y=log_y, x_range=x_range, notes=notes, empty="no finished epochs yet",
                     legend=legend)


def with_title(spec: ChartSpec, title: str) -> ChartSpec:
    return replace(spec, title=title)
