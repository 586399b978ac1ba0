"""Charts that read at 80x24: loss and Dice curves of one run, one metric of several runs.

A `Chart` is a header (title and notes on one row, the legend on the next: it never sits on the
curves and never wraps) over a plotext plot with an "epoch" axis. Each series has its colour
AND its own marker glyph, drawn at its epochs and in the legend, so series differ without colour
too. The y range is robust by default: only true outliers (a diverged run's 1e4 loss) are left
out (`robust_range`); they are drawn at the plot's edge as arrows and the header says "clipped
N outliers"; ``f`` on the screens autoscales to every point. Log-y has round ticks
(`log_ticks`: 1e-3, 1e-2, ... or 1-2-5 steps; labelled 1e-7, not 100e-9: `fmt_log_tick`) and leaves
out the zeros it cannot draw, a Dice of 0 too, saying so (`zeros_left_out`); linear ticks have three significant digits,
engineering notation past 10^4 (`fmt_tick`).

What to draw is plain data (`chart_specs`: `ChartSpec` of `Series`), built by the screens;
`Chart.show` draws it and does nothing when the spec is the one already shown; the plot's text is
built once per (spec, size, theme) and kept (`ChartPlot`), so repaints and toggles back cost
nothing. Nothing here reads files.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import replace
from typing import Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult, RenderResult
from textual.containers import Vertical
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import Static
from textual_plotext import PlotextPlot

from petseg_tui.format import fmt_log_tick, legible, theme_background
from petseg_tui.format import fmt_sig as fmt_tick
from petseg_tui.widgets.ansi_text import ansi_text, text_strips
from petseg_tui.widgets.chart_scale import YRange, log_ticks, nice_ticks, robust_range
from petseg_tui.widgets.chart_specs import ChartSpec, Colour, Series
from petseg_tui.widgets.line_points import line_points

ABOVE, BELOW = "↑", "↓"  # a point beyond the robust range, drawn at the plot's edge
BOUNDED_ZERO = 5e-5  # a Dice or IoU below it prints as 0.0000 in the tables, and is labelled 0


def _hex(colour: Colour) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)


def _in_view(s: Series, spec: ChartSpec) -> list[tuple[float, float]]:
    """The finite points of ``s`` within the chart's x range."""
    lo_x, hi_x = spec.x_range if spec.x_range else (-math.inf, math.inf)
    return [(x, y) for x, y in zip(s.xs, s.ys)
            if isinstance(y, (int, float)) and math.isfinite(y) and lo_x <= x <= hi_x]


def _zero_on_log(spec: ChartSpec, y: float) -> bool:
    """A value a log axis cannot draw: y <= 0, or a Dice or IoU of 0, stored as its smoothing term
    (~2e-12): drawn, it stretched a Dice axis down to 1e-11, the real curves squeezed at its top."""
    return spec.log_y and (y <= 0 or (spec.bounded and y < BOUNDED_ZERO))


def _visible(s: Series, spec: ChartSpec) -> tuple[list[float], list[float]]:
    """The points of ``s`` the chart draws (raw y; a log chart drops its zeros, `_zero_on_log`)."""
    shown = [(x, y) for x, y in _in_view(s, spec) if not _zero_on_log(spec, y)]
    return [x for x, _ in shown], [y for _, y in shown]


def zeros_left_out(spec: ChartSpec) -> bool:
    """Whether the log chart ``spec`` leaves out points that are 0 (its header says so)."""
    return any(_zero_on_log(spec, y) for s in spec.series for _, y in _in_view(s, spec))


def spec_y_range(spec: ChartSpec) -> YRange | None:
    """The y range ``spec`` is drawn with (None: nothing to draw); each curve's first point shown
    is its start, which `robust_range` keeps in range (a run's normal first epochs)."""
    shown = [_visible(s, spec)[1] for s in spec.series]
    starts = [ys[0] for ys in shown if ys]
    return robust_range([y for ys in shown for y in ys], robust=spec.robust and not spec.bounded,
                        start=max(starts) if starts else None)


def on_background(spec: ChartSpec, background: Colour) -> ChartSpec:
    """``spec`` with each series' colour as drawn on ``background`` (`legible`): the bright colours
    chosen for a dark theme, darker on a light one (the valid curve's orange read at 1.5:1 there)."""
    series = tuple(replace(s, colour=legible(s.colour, background)) for s in spec.series)
    return spec if series == spec.series else replace(spec, series=series)


def x_extent(*specs: ChartSpec) -> tuple[float, float] | None:
    """The smallest and largest x of the points of ``specs``: a range charts side by side share."""
    xs = [x for spec in specs for s in spec.series for x, y in zip(s.xs, s.ys)
          if isinstance(y, (int, float)) and math.isfinite(y)]
    return (min(xs), max(xs)) if xs else None


def _legend(spec: ChartSpec, width: int) -> Text:
    """The legend on one row: full labels, else the short ones, else the glyphs alone (never wraps)."""
    def build(labels: Sequence[str]) -> Text:
        t = Text(no_wrap=True, overflow="ellipsis")
        for i, (s, label) in enumerate(zip(spec.series, labels)):
            if i:
                t.append("  ")
            t.append(f"─{s.marker}" if s.points else "┄┄", style=f"bold {_hex(s.colour)}")
            if label:
                t.append(" " + label, style=f"{_hex(s.colour)} {s.style}".strip())
        return t

    for labels in ([s.label for s in spec.series], [s.short or s.label for s in spec.series]):
        t = build(labels)
        if width <= 0 or t.cell_len <= width:
            return t
    return build([""] * len(spec.series))


def _header_notes(spec: ChartSpec, yr: YRange | None, room: int) -> list[str]:
    """The header's notes (what is clipped, log y, smoothing, the keys), in at most ``room``
    cells when a shorter wording fits (0: no limit). At 80 columns the live loss chart's row
    was cut to "clipped 2 outliers ↑10e3 · f: a…": the key that shows every point, which the
    narrow footer leaves out, was not readable; the short wording keeps it."""
    others = ["all points"] if not spec.robust and not spec.bounded else []  # a bounded chart shows every point
    others += (["log y, zeros left out"] if zeros_left_out(spec) else ["log y"]) if spec.log_y else []
    others += list(spec.notes)
    if yr is None or not yr.clipped:
        return others
    n = yr.clipped
    extreme = f"{ABOVE if yr.above else BELOW}{fmt_tick((yr.max_value if yr.above else yr.min_value) or 0)}"
    long_clip, short_clip = f"clipped {n} outlier{'s' if n > 1 else ''} {extreme}", f"clipped {n} {extreme}"
    keys = "f: all" + (" · l: log y" if spec.log_key and not spec.log_y else "")
    wordings = ([long_clip, *others, keys], [long_clip, *others, "f: all"], [short_clip, *others, "f: all"])
    fits = [w for w in wordings if room <= 0 or cell_len(" · ".join(w)) <= room]
    return fits[0] if fits else wordings[-1]  # none fits: the shortest, cut at the edge


def header_text(spec: ChartSpec, yr: YRange | None, width: int = 0) -> Text:
    """Two rows: the title with its notes (what is clipped, log y, smoothing), then the legend."""
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(spec.title, style="bold")
    notes = " · ".join(_header_notes(spec, yr, width - 2 - cell_len(spec.title) - 2 if width > 0 else 0))
    if notes:
        t.append("  " + notes, style="dim")
    if spec.legend and spec.series:
        t.append("\n")
        t.append_text(_legend(spec, width - 2))
    return t


EPOCH_STEPS = (1, 2, 5, 10, 20, 25, 50)  # x 10^k: the epoch axis's steps


def _epoch_ticks(lo: float, hi: float, width: int) -> list[int]:
    """The epochs labelled on the x axis: multiples of a round step (5: 5 10 15 ... 40), with the
    first epoch too when it is not one and lies far enough from the first multiple; a label
    every ~6 columns at most."""
    lo_i, hi_i = max(1, math.ceil(lo - 1e-9)), max(1, math.floor(hi + 1e-9))
    hi_i = max(hi_i, lo_i)
    n = hi_i - lo_i + 1
    slots = max(2, width // 6)
    step = next(m * 10 ** k for k in range(12) for m in EPOCH_STEPS if math.ceil(n / (m * 10 ** k)) <= slots)
    ticks = list(range(-(-lo_i // step) * step, hi_i + 1, step))
    if not ticks or ticks[0] - lo_i > step / 2:
        ticks.insert(0, lo_i)
    return ticks if len(ticks) > 1 else [lo_i, lo_i + 1]


# rows of a plot that are not its canvas: plotext's two frame lines, the epoch ticks and the
# axis title under them (no title above: the header is the chart's own)
PLOT_ROWS_AROUND = 4
BRAILLE_DOTS = (2, 4)  # a braille cell's dots across and up


def on_dot_cell(values: Sequence[float], lim: tuple[float, float], cells: int, dots: int) -> list[float]:
    """``values`` moved to the middle of the cell that plotext's braille line draws them in, so
    that a one-cell glyph (a series' marker) lands in that cell too. plotext places a glyph by
    rounding at cell resolution and a braille dot at ``dots`` a cell, then takes the dot's cell:
    the two disagree by a cell near either end of the axis (a ◆ sat a row above its line)."""
    lo, hi = lim
    if cells < 2 or hi <= lo:
        return list(values)

    def cell(v: float) -> int:  # plotext's get_matrix_data at dot resolution, then hd_group's cell
        return math.floor(round(0.5 + (dots * cells - 1) * (v - lo) / (hi - lo), 8)) // dots

    return [lo + cell(v) * (hi - lo) / (cells - 1) for v in values]


def draw_plot(plt, spec: ChartSpec, yr: YRange, width: int, height: int) -> None:
    """Put ``spec`` on the plotext figure ``plt`` (cleared first), for a plot ``width`` x ``height``."""
    plt.clear_figure()
    log = spec.log_y
    ty = (lambda y: math.log10(y)) if log else (lambda y: y)  # noqa: E731  (plotext draws log10(y))
    shown = [(s, *_visible(s, spec)) for s in spec.series]
    t_lo, t_hi = ty(yr.lo), ty(yr.hi)
    pad = (t_hi - t_lo) * 0.04 or (abs(t_hi) * 0.05 or 0.5)
    lo, hi = t_lo - pad, t_hi + pad
    xs_all = [x for _, xs, _ in shown for x in xs]
    x_lo, x_hi = spec.x_range if spec.x_range else (min(xs_all), max(xs_all))
    if x_hi <= x_lo:
        x_lo, x_hi = x_lo - 0.5, x_hi + 0.5
    count = max(2, min(6, (height - 3) // 2))
    values = log_ticks(yr.lo, yr.hi, count) if log else nice_ticks(yr.lo, yr.hi, count)
    labels = [(fmt_log_tick if log else fmt_tick)(v) for v in values]
    if spec.bounded and not log:  # a Dice of 0 is stored as its smoothing term (~2e-12): the
        # tables print it 0.0000, and a flat line of them was labelled "2.14e-12"
        labels = ["0" if abs(v) < BOUNDED_ZERO else label for v, label in zip(values, labels)]
    ticks = [ty(v) for v in values]
    if len(set(labels)) < len(labels):  # a nearly flat curve: say where it lies, once
        ticks, labels = ticks[:1], labels[:1]
    canvas = width - max(len(lb) for lb in labels) - 2  # plotext's: the y labels and two frame lines
    x_lim = (x_lo - 0.02 * (x_hi - x_lo), x_hi + 0.02 * (x_hi - x_lo))
    marker_every = max(1, int(math.ceil(len(set(xs_all)) / max(1, width // 4))))
    # every line first, then every series' markers, the `front` series last: a line drawn after
    # another series' markers overwrote them where the curves share a row of cells (at 80x24 the
    # Dice chart has four rows: train Dice's line hid its own markers' neighbours, and valid IoU,
    # in valid Dice's row, drew over it, so no ▲ said where valid Dice was)
    shown = sorted(shown, key=lambda item: item[0].front)  # stable: the spec's order otherwise
    for s, xs, ys in shown:
        if xs:
            clamped = [ty(min(max(y, yr.lo), yr.hi)) for y in ys]
            plt.plot(*line_points(xs, clamped, x_lim, 2 * canvas), color=s.colour, marker="braille")  # braille: 2 dots a cell
    for s, xs, ys in shown:
        if not xs:
            continue
        if s.points:
            # every k-th epoch when they are dense; k counts epochs (x), not list positions
            keep = [i for i in range(len(xs)) if round(xs[i] - xs[0]) % marker_every == 0 or i == len(xs) - 1]
            inside = [i for i in keep if yr.lo <= ys[i] <= yr.hi]
            if inside:  # in the cells of the line's dots, not a cell beside them
                plt.scatter(on_dot_cell([xs[i] for i in inside], x_lim, canvas, BRAILLE_DOTS[0]),
                            on_dot_cell([ty(ys[i]) for i in inside], (lo, hi), height - PLOT_ROWS_AROUND,
                                        BRAILLE_DOTS[1]),
                            color=s.colour, marker=s.marker)
        up = [i for i in range(len(xs)) if ys[i] > yr.hi]
        down = [i for i in range(len(xs)) if ys[i] < yr.lo]
        on_cells = on_dot_cell(xs, x_lim, canvas, BRAILLE_DOTS[0])  # the arrows in their line's column too
        if up:
            plt.scatter([on_cells[i] for i in up], [hi] * len(up), color=s.colour, marker=ABOVE)
        if down:
            plt.scatter([on_cells[i] for i in down], [lo] * len(down), color=s.colour, marker=BELOW)
    plt.ylim(lo, hi)
    plt.yticks(ticks, labels)
    plt.xlim(*x_lim)
    # each epoch's tick in the column its line's dots (and so its marker) are drawn in: plotext
    # rounds a tick at cell resolution, and at 80 columns an epoch's marker sat a column beside it
    epochs = _epoch_ticks(x_lo, x_hi, canvas)
    plt.xticks(on_dot_cell(epochs, x_lim, canvas, BRAILLE_DOTS[0]), [str(e) for e in epochs])
    plt.xlabel("epoch")


class ChartPlot(PlotextPlot):
    """The plot of a `Chart`: plotext's text built once per (spec, size, theme) and kept.

    Building a plot (plotext, then parsing its ANSI output) is the costly part of a chart; a
    repaint, a resize back to an earlier size or a toggle back to an earlier view reuses the
    text built before.
    """

    CACHE = 6  # views kept per chart: e.g. linear/log x autoscaled or not, at the current size
    ALLOW_SELECT = False  # braille art, not text to copy: its cells carry no selection offsets

    def __init__(self) -> None:
        super().__init__()
        self.spec: ChartSpec | None = None
        self.y_range: YRange | None = None
        self._cache: OrderedDict[tuple, Text] = OrderedDict()
        self._strips: list[Strip] = []
        self._strips_text: object = None  # the Text those strips are of (identity: it is cached)
        self._strips_base: object = None

    def draw(self, spec: ChartSpec, yr: YRange) -> None:
        if (spec, yr) != (self.spec, self.y_range):
            self.spec, self.y_range = spec, yr
            self.refresh()

    def render(self) -> RenderResult:
        spec, yr = self.spec, self.y_range
        if spec is None or yr is None:
            return Text()
        width, height = self.size.width, self.size.height
        theme = self._get_plotext_theme_name(self.app.theme)
        key = (spec, yr, width, height, theme)
        text = self._cache.get(key)
        if text is None:
            text = self._build(spec, yr, width, height, theme)
            self._cache[key] = text
            while len(self._cache) > self.CACHE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return text

    def render_lines(self, crop: Region) -> list[Strip]:
        """Textual's line API: the built text's lines as strips, made once per build and style
        instead of at each repaint through Textual's general text layout (wrapping, alignment,
        links), which cost about as much as plotext's build (docs/PERFORMANCE.md). Looked up
        once per repaint, not per line: the lookup hashes the spec, every point of the run."""
        text, base = self.render(), self.visual_style
        if text is not self._strips_text or base != self._strips_base:
            self._strips = text_strips(self, text, base)
            self._strips_text, self._strips_base = text, base
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        if 0 <= y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width, self.visual_style.rich_style)

    def _build(self, spec: ChartSpec, yr: YRange, width: int, height: int, theme: str) -> Text:
        plt = self.plt
        draw_plot(plt, spec, yr, width, height)
        plt.plotsize(width, height)
        plt._set_size(width, height)  # as PlotextPlot.render does (textual-plotext issue 5)
        # "clear": no colours of plotext's own; the widget's background and text colour show
        # through (both themes), and the ANSI text is a third as long to parse and paint
        plt.theme("clear")
        return ansi_text(plt.build())


class Chart(Vertical):
    """A header (title and notes, then the legend) over a plot; `show` draws a `ChartSpec`.

    `show` with the spec already shown does nothing, so a screen may call it on every poll.
    """

    DEFAULT_CSS = """
    Chart { height: 1fr; min-height: 6; }
    /* 2 rows always (charts side by side line up): the title and notes, then the legend; never wrapped */
    Chart > .chart--header { height: 2; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    Chart > ChartPlot { height: 1fr; }
    Chart > .chart--empty { height: 1fr; padding: 1 2; content-align: center middle; color: $text-muted; }
    Chart > .chart--empty.-error { color: $text-error; }
    Chart > .chart--empty.-warning { color: $text-warning; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.spec: ChartSpec | None = None
        self.y_range: YRange | None = None
        self._header_key: tuple | None = None

    def compose(self) -> ComposeResult:
        yield Static("", classes="chart--header")
        yield ChartPlot()
        yield Static("", classes="chart--empty")  # instead of the plot while there is nothing to draw

    @property
    def plot(self) -> ChartPlot:
        return self.query_one(ChartPlot)

    def on_mount(self) -> None:
        # a theme chosen from the palette: the colours are drawn again for its background
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def _theme_changed(self, _theme: object) -> None:
        if self.spec is not None:
            self._show(self.spec)

    def on_resize(self) -> None:
        if self.spec is not None:
            self._show(self.spec)

    def show(self, spec: ChartSpec) -> bool:
        """Draw ``spec``; False (and nothing done) when it is the spec already shown."""
        if spec == self.spec:
            return False
        self._show(spec)
        return True

    def _show(self, spec: ChartSpec) -> None:
        self.spec = spec  # as the screen made it: `show` compares the next one with it
        yr = spec_y_range(spec)
        spec = on_background(spec, theme_background(self.app))
        self.y_range = yr
        legend = tuple((x.label, x.short, x.marker, x.colour, x.points, x.style) for x in spec.series)
        header_key = (spec.title, legend if spec.legend else (), spec.notes, spec.log_y, spec.robust,
                      spec.legend, yr and (yr.above, yr.below, yr.max_value, yr.min_value), self.size.width,
                      zeros_left_out(spec))
        if header_key != self._header_key:  # the header changes far less often than the curves
            self._header_key = header_key
            self.query_one(".chart--header", Static).update(header_text(spec, yr, self.size.width), layout=False)
        plot = self.plot
        empty = self.query_one(".chart--empty", Static)
        # both checked: a chart whose first spec has data (compare's extra charts when the
        # terminal widens to 160) kept its blank placeholder beside the plot, at half its height
        if plot.display != (yr is not None) or empty.display != (yr is None):
            plot.display = yr is not None
            empty.display = yr is None
        if yr is None:  # said in words that wrap (plotext drops a text wider than the plot)
            only_zeros = spec.log_y and x_extent(spec) is not None  # points, none a log axis can draw
            empty.update("every value is 0: nothing to draw on a log scale (l)" if only_zeros else spec.empty)
            # the spec's colour word as the theme's: a warning ("yellow") was drawn as an error
            empty.set_class(spec.empty_style == "yellow", "-warning")
            empty.set_class(bool(spec.empty_style) and spec.empty_style != "yellow", "-error")
            return
        plot.draw(spec, yr)
