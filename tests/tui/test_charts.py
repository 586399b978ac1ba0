"""Chart helpers: compact and round ticks (linear and log), a y range that leaves out only true
outliers, and the Chart widget drawing a spec (legend on its own row, clipped points said and
drawn as arrows, an epoch axis, autoscale)."""

from __future__ import annotations

import dataclasses
import random
from types import SimpleNamespace

import pytest
from tui_helpers import wait_for, widget_text
from textual.app import App

from petseg_tui.format import fmt_metric, fmt_sig
from petseg_tui.widgets import charts
from petseg_tui.widgets.chart_scale import log_ticks, nice_ticks, robust_range
from petseg_tui.widgets.chart_specs import (
    MARKERS,
    ChartSpec,
    RunCurves,
    Series,
    compare_spec,
    dice_spec,
    loss_spec,
)
from petseg_tui.widgets.charts import ABOVE, Chart, x_extent
from petseg_tui.widgets.line_points import dot_columns, line_points


def test_ticks_have_three_significant_digits_and_engineering_notation() -> None:
    assert [fmt_sig(v) for v in (0.123456, 3.81, 412.0, 1234.0, 0.0)] == ["0.123", "3.81", "412", "1234", "0"]
    assert fmt_sig(17211663743894.1) == "17.2e12"
    assert fmt_sig(0.00025) == "250e-6"
    assert fmt_sig(999_950.0) == "1e6"
    assert fmt_metric(0.91234) == "0.9123" and fmt_metric(17211663743894.0996) == "17.2e12"
    assert fmt_metric(None) == "—" and fmt_metric(float("nan")) == "—"
    # a Dice of an empty prediction reads as `petseg runs` prints it, not 2.14e-12
    assert fmt_metric(2.14e-12) == "0.0000" and fmt_metric(0.00049) == "0.0005"


def test_nice_ticks() -> None:
    assert nice_ticks(0.65, 3.52, 6) == [1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
    assert nice_ticks(0.0, 1.0, 5) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert len(nice_ticks(-0.19, 13.2, 4)) <= 4
    assert nice_ticks(0.08, 0.816, 2) == [0.25, 0.5, 0.75]  # round ticks, one more than asked, not the ends


def test_log_ticks_are_round() -> None:
    assert log_ticks(1e-4, 0.1, 5) == [1e-4, 1e-3, 1e-2, 0.1]
    assert log_ticks(2e-5, 1e3, 4) == [1e-4, 1e-2, 1.0, 100.0]  # every other decade when there are many
    assert log_ticks(0.15, 4.19, 5) == [0.3, 1.0, 3.0]  # less than two decades: 1-3 steps
    assert log_ticks(0.3, 0.6, 4) == [0.3, 0.4, 0.5, 0.6]  # within a decade: 1..9 × 10^k
    for lo, hi in ((1e-6, 3e-3), (0.2, 0.9), (1.5, 1.9e4)):
        ticks = log_ticks(lo, hi, 5)
        assert 2 <= len(ticks) <= 5
        assert all(float(f"{t:.0e}") == t for t in ticks)  # one significant digit: 1e-3, 2, 5e4 ...


def test_robust_range_clips_only_true_outliers() -> None:
    # a run's high first epochs are part of its curve, not outliers
    loss = [3.81, 1.9] + [0.6 * 0.9**i + 0.15 for i in range(20)]
    yr = robust_range(loss)
    assert (yr.hi, yr.clipped) == (3.81, 0)
    # a diverged run's 1e4 loss among 0.1-0.9 is
    normal = [0.9 * 0.9**i + 0.1 for i in range(20)]
    diverged = normal + [1e4]
    yr = robust_range(diverged)
    assert yr.above == 1 and yr.max_value == 1e4 and yr.hi == max(normal)
    assert robust_range(normal + [5.0]).clipped == 0  # a 5x jump is a bad epoch, drawn as it is
    assert robust_range([0.9, 0.7, 0.65, 3.2, 412.0, 17211663743894.1]).max_value == 17211663743894.1
    # a whole short run beside long ones keeps its points (compare: every run's values in one list)
    long_runs = [0.5 * 0.95**i + 0.05 for i in range(60)] * 3
    short = [1.4, 1.1, 0.9]
    assert robust_range(long_runs + short).clipped == 0
    # Dice and IoU (0..1, a first epoch at 0) never lose a point
    dice = [0.0, 0.02, 0.3] + [0.85 + 0.001 * i for i in range(30)]
    assert robust_range(dice).clipped == 0 and robust_range(dice[1:]).clipped == 0
    steady = [1.2 - 0.05 * i for i in range(20)]  # a curve that falls steadily keeps every point
    yr = robust_range(steady)
    assert (yr.lo, yr.hi, yr.above, yr.below) == (min(steady), max(steady), 0, 0)
    assert robust_range(diverged, robust=False).hi == 1e4  # autoscale: everything
    assert robust_range([float("nan"), float("inf")]) is None
    assert robust_range([0.5]).lo == 0.5


def test_live_charts_share_their_x_extent() -> None:
    epochs = [E(i, 1.0 / i, 0.5) for i in range(1, 4)]
    batches = [SimpleNamespace(epoch=4, batch=b, batches=10, loss=0.3) for b in (2, 5)]
    assert x_extent(loss_spec(epochs, batches), dice_spec(epochs)) == (1.0, 3.5)


async def run_chart(spec: ChartSpec, size=(60, 16)) -> tuple[str, str]:
    """(header text, plot text) of a Chart showing ``spec`` (the header's rows joined by spaces)."""

    class ChartApp(App):
        def compose(self):
            yield Chart(id="c")

    app = ChartApp()
    async with app.run_test(size=size) as pilot:
        chart = app.query_one(Chart)
        chart.show(spec)
        shown = lambda: chart.plot if chart.plot.display else chart.query_one(".chart--empty")  # noqa: E731
        await wait_for(pilot, lambda: shown().region.height > 0 and widget_text(shown()).strip() != ""
                       and widget_text(chart.query_one(".chart--header")).strip() != "", what="the chart laid out")
        header = " ".join(widget_text(chart.query_one(".chart--header")).split())  # as read, wrapped or not
        if chart.plot.display:
            return header, widget_text(chart.plot)
        return header, " ".join(widget_text(chart.query_one(".chart--empty")).split())


class E:
    """The EpochEnded fields the specs read."""

    def __init__(self, epoch: int, loss: float, dice: float) -> None:
        self.epoch, self.train_loss, self.valid_loss = epoch, loss, loss * 1.1
        self.train_dice = self.valid_dice = dice
        self.valid_iou, self.lr = dice * 0.8, 1e-3


async def test_chart_says_what_it_leaves_out_and_draws_it_at_the_edge() -> None:
    epochs = [E(1, 3.81, 0.1)] + [E(i, 0.6 * 0.9**i + 0.15, 0.9 - 0.5 * 0.8**i) for i in range(2, 21)] + [E(21, 1e4, 0.1)]
    header, plot = await run_chart(loss_spec(epochs, ()))
    assert f"{MARKERS[0]} train" in header and f"{MARKERS[1]} valid" in header  # legend above, with markers
    assert "clipped 2 outliers ↑11e3" in header and "f: all" in header and "l: log y" in header
    assert ABOVE in plot and MARKERS[1] in plot  # (train's markers lie under valid's here)
    assert "train" not in plot  # nothing covers the curves
    assert "epoch" in plot.splitlines()[-1]  # the x axis is titled
    labels = [line.split("┤")[0].strip() for line in plot.splitlines() if "┤" in line]
    assert labels and all(len(label) <= 5 for label in labels)  # compact tick labels
    assert "3.5" in labels or "4" in labels  # the epoch-1 loss (3.81) is inside the range
    header, plot = await run_chart(loss_spec(epochs, (), robust=False))
    assert "all points" in header and "clipped" not in header and ABOVE not in plot
    header, plot = await run_chart(loss_spec(epochs, (), log_y=True))
    assert "log y" in header and "clipped 2" in header and "l: log y" not in header
    labels = [line.split("┤")[0].strip() for line in plot.splitlines() if "┤" in line]
    assert set(labels) <= {"0.1", "0.2", "0.3", "0.5", "1", "2", "3", "5", "10", "20", "30", "50"}, labels


async def test_log_y_ticks_far_below_one_read_as_round_powers() -> None:
    """A log-y chart down to 1e-12 (a Dice of 0 gives such a curve): its ticks read 1e-12, 1e-9 ...,
    not the engineering 100e-9 / 10e-12 of the linear axis."""
    import re

    epochs = [E(i, 10.0 ** -(i - 1), 0.5) for i in range(1, 14)]  # train loss 1 .. 1e-12
    header, plot = await run_chart(loss_spec(epochs, (), log_y=True, robust=False), size=(60, 20))
    labels = [line.split("┤")[0].strip() for line in plot.splitlines() if "┤" in line]
    assert len(labels) >= 2 and any("e-" in label for label in labels), labels
    assert all(re.fullmatch(r"[1-9](e-?\d+)?|0\.\d+", label) for label in labels), labels


async def test_a_log_y_dice_chart_leaves_out_dice_0_and_says_so() -> None:
    """A Dice of 0 is stored as its smoothing term (~2e-12): `l` on the compare screen's Dice chart
    drew it, the axis went down to 1e-11 (Dice values the tables print 0.0000) and the real
    curves were squeezed at its top. A log chart leaves the zeros out, as it does y <= 0, and its
    header says so; a chart of zeros alone says why it draws nothing."""
    learning = RunCurves("learning", tuple(E(i, 1.0, d) for i, d in enumerate((2.1e-12, 0.2, 0.45, 0.6), 1)))
    stuck = RunCurves("stuck", tuple(E(i, 1.0, 2.1e-12) for i in range(1, 5)), marker=MARKERS[1])
    header, plot = await run_chart(compare_spec("valid_dice", [learning, stuck], log_y=True), size=(60, 20))
    labels = [line.split("┤")[0].strip() for line in plot.splitlines() if "┤" in line]
    assert labels and min(float(label) for label in labels) >= 0.1, labels
    assert "zeros left out" in header
    header, plot = await run_chart(compare_spec("valid_dice", [stuck], log_y=True), size=(60, 20))
    assert "every value is 0" in " ".join(plot.split())
    header, plot = await run_chart(compare_spec("valid_dice", [learning], log_y=False), size=(60, 20))
    assert "zeros left out" not in header and MARKERS[0] in plot


async def test_legend_keeps_to_one_row() -> None:
    epochs = [E(i, 1.0 / i, 0.5 + 0.01 * i) for i in range(1, 6)]
    for width, shown in ((80, "train Dice"), (40, "train"), (16, MARKERS[2])):
        class ChartApp(App):
            def compose(self):
                yield Chart(id="c")

        app = ChartApp()
        async with app.run_test(size=(width, 16)) as pilot:
            chart = app.query_one(Chart)
            chart.show(dice_spec(epochs))
            await wait_for(pilot, lambda: widget_text(chart.query_one(".chart--header")).strip() != "",
                           what="the header")
            await pilot.pause()
            rows = widget_text(chart.query_one(".chart--header")).splitlines()
            assert rows[0].startswith("Dice / IoU")
            assert shown in rows[1] and MARKERS[0] in rows[1] and MARKERS[2] in rows[1], rows


async def test_failed_run_says_so_in_the_chart() -> None:
    header, plot = await run_chart(loss_spec((), (), empty="failed: /data: dataset folder does not exist",
                                       empty_style="red"))
    assert "failed: /data: dataset folder does not exist" in plot and "waiting" not in plot


async def test_a_warning_in_the_chart_is_not_drawn_as_an_error() -> None:
    """'finished, but no epoch could be read' is a warning (yellow): it was drawn in the error colour."""

    class ChartApp(App):
        def compose(self):
            yield Chart(id="c")

    colours = {}
    async with ChartApp().run_test(size=(60, 16)) as pilot:
        chart = pilot.app.query_one(Chart)
        for style in ("red", "yellow", ""):
            chart.show(loss_spec((), (), empty=f"said in {style or 'plain'}", empty_style=style))
            await pilot.pause()
            empty = chart.query_one(".chart--empty")
            colours[style] = {seg.style.color for y in range(empty.size.height) for seg in empty.render_line(y)
                              if "said in" in seg.text}
    assert len({frozenset(c) for c in colours.values()}) == 3, colours


@pytest.mark.parametrize("window", [None, (3.0, 5.0)])
async def test_compare_spec_smoothing_and_x_window(window) -> None:
    from petseg_tui.widgets.chart_specs import RunCurves

    runs = [RunCurves("a", tuple(E(i, 1.0 / i, 0.5) for i in range(1, 11)), marker=MARKERS[0]),
            RunCurves("b", tuple(E(i, 2.0 / i, 0.6) for i in range(1, 5)), marker=MARKERS[1])]
    spec = compare_spec("train_loss", runs, smoothing=0.6, x_range=window, x_note="x" if window else "")
    assert spec.notes[0] == "EMA 0.60"
    assert spec.series[0].ys[1] == pytest.approx(0.6 * 1.0 + 0.4 * 0.5)  # EMA applied
    header, plot = await run_chart(spec)
    assert "EMA 0.60" in header
    if window:
        bottom = plot.splitlines()[-2]  # the tick labels, above the axis title
        assert "3" in bottom and "5" in bottom and "10" not in bottom


async def test_series_points_are_marked_and_the_batch_line_is_not() -> None:
    spec = ChartSpec("t", (Series("s", (1.0, 2.0, 3.0), (1.0, 2.0, 3.0), (200, 0, 0), "◆"),
                           Series("b", (1.0, 2.0), (1.0, 2.0), (90, 90, 90), "·", points=False)))
    header, plot = await run_chart(spec)
    assert "─◆ s" in header and "┄┄ b" in header and "◆" in plot and "·" not in plot


def test_line_points_keep_each_dot_columns_first_lowest_highest_and_last() -> None:
    rng = random.Random(0)
    xs = [float(i) for i in range(1, 5001)]
    ys = [rng.gauss(0.0, 1.0) for _ in xs]
    x_lim, columns = (0.0, 5001.0), 120
    kept_x, kept_y = line_points(xs, ys, x_lim, columns)
    assert len(kept_x) <= 4 * columns and kept_x == sorted(kept_x)  # in drawing order
    assert all(ys[int(x) - 1] == y for x, y in zip(kept_x, kept_y))  # real points, not averages
    columns_of = {}
    for x, y, column in zip(xs, ys, dot_columns(xs, x_lim, columns)):
        columns_of.setdefault(column, []).append((x, y))
    kept = set(zip(kept_x, kept_y))
    for points in columns_of.values():
        assert {points[0], points[-1], min(points, key=lambda p: p[1]), max(points, key=lambda p: p[1])} <= kept
    assert line_points(xs[:400], ys[:400], x_lim, columns) == (xs[:400], ys[:400])  # few enough: all


@pytest.mark.parametrize("view", ["loss", "log", "dice-window"])
async def test_a_long_run_draws_dot_for_dot_what_every_point_draws(view: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """3000 epochs (one diverged) and this epoch's batches, at two sizes: the chart drawn from at
    most four points per dot column reads as the chart drawn from every point."""
    rng = random.Random(1)
    epochs = [E(i, (1e4 if i == 700 else 1.0 / (1 + 0.05 * i) + 0.2 * rng.random()), 0.9 - 0.5 / (1 + 0.1 * i))
              for i in range(1, 3001)]
    batches = [SimpleNamespace(epoch=3000, batch=j, batches=400, loss=0.3 + 0.1 * rng.random()) for j in range(1, 400)]
    spec = {"loss": loss_spec(epochs, batches), "log": loss_spec(epochs, batches, log_y=True, smoothing=0.6),
            "dice-window": dataclasses.replace(dice_spec(epochs), x_range=(100.0, 2500.0))}[view]
    for size in ((70, 20), (150, 40)):
        fast = await run_chart(spec, size)
        with monkeypatch.context() as m:
            m.setattr(charts, "line_points", lambda xs, ys, x_lim, columns: (list(xs), list(ys)))
            every_point = await run_chart(spec, size)
        assert fast == every_point


async def test_a_short_chart_labels_its_y_axis_with_round_values() -> None:
    """At 80x24 the live loss chart has room for two ticks; a loss between 1.135 and 1.276 holds
    one multiple of 0.1 alone (1.2): the axis read 1.14 and 1.28, the data's own ends, not round
    values at their rows. It now steps by 0.05."""
    epochs = [E(1, 1.135, 0.3), E(2, 1.15, 0.4), E(3, 1.16, 0.5)]  # valid loss 1.1 x train: up to 1.276
    _, plot = await run_chart(loss_spec(epochs, ()), size=(40, 18))
    labels = [line.split("┤")[0].strip() for line in plot.splitlines() if "┤" in line]
    assert len(labels) >= 2, plot
    assert all(round(float(label) * 20, 9).is_integer() for label in labels), labels  # multiples of 0.05
    assert nice_ticks(1.135, 1.276, 2) == [1.15, 1.2, 1.25]


@pytest.mark.parametrize("size", [(60, 20), (100, 24), (200, 40)])
async def test_the_epoch_axis_labels_round_epochs(size) -> None:
    """A 40-epoch run's axis read 1 5 9 13 ... 37 (every 4th epoch from the first): neither round
    nor the last epoch. The labels are now multiples of a round step (and 1 when 2 is not one)."""
    epochs = [E(i, 1.0 / i, 0.5) for i in range(1, 41)]
    _, plot = await run_chart(dice_spec(epochs), size=size)
    labels = [int(word) for word in plot.splitlines()[-2].split()]  # the tick labels, above the axis title
    assert labels[-1] == 40, labels
    rounds = labels[1:] if labels[0] == 1 else labels  # the first epoch, when far from the first multiple
    step = rounds[1] - rounds[0]
    assert step in (2, 5, 10, 20) and all(label % step == 0 for label in rounds), labels  # multiples of it
    assert rounds[0] == step


async def test_valid_dice_keeps_its_markers_in_a_four_row_chart() -> None:
    """The Dice chart of the live screen at 80x24 has four rows of cells. A real 300-epoch run
    (train Dice 0.97, valid Dice 0.81, valid IoU 0.68 at the end) showed train's ● and IoU's ■
    but no ▲: valid IoU's line, drawn after valid Dice's markers in the same row, covered them,
    so nothing said where valid Dice, the run's headline, was. Lines come first now, then the
    markers, valid Dice's last."""

    class Ep:
        def __init__(self, i: int) -> None:
            ramp = 1 - 0.97 ** i
            self.epoch = i
            self.train_dice, self.valid_dice, self.valid_iou = 0.97 * ramp, 0.81 * ramp, 0.68 * ramp

    _, plot = await run_chart(dice_spec([Ep(i) for i in range(1, 301)]), size=(38, 18))
    rows = [line for line in plot.splitlines() if "┤" in line or "│" in line[:6]]
    assert len(rows) == 4, plot
    assert sum(line.count(MARKERS[1]) for line in rows) >= 5, plot  # valid Dice: ▲ along its curve


async def test_a_dice_of_zero_reads_zero_not_its_smoothing_term() -> None:
    """A short CPU run validates at Dice 0 (README), stored as the metric's smoothing term,
    2.14e-12: the compare screen's flat valid Dice chart was labelled "2.14e-12" beside a table
    that says 0.0000. It reads 0."""
    epochs = [E(i, 1.26, 2.1378027663122093e-12) for i in (1, 2)]
    for spec in (dice_spec(epochs), compare_spec("valid_dice", [RunCurves("first", tuple(epochs))])):
        _, plot = await run_chart(spec, size=(60, 16))
        labels = [line.split("┤")[0].strip() for line in plot.splitlines() if "┤" in line]
        assert labels == ["0"], plot


def _braille_cells(plot: str) -> set[tuple[int, int]]:
    return {(r, c) for r, line in enumerate(plot.splitlines()) for c, ch in enumerate(line) if 0x2800 < ord(ch) < 0x2900}


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_each_marker_sits_on_its_own_line(seed: int) -> None:
    """plotext draws a marker glyph by rounding at cell resolution and a braille line at 2x4
    dots a cell: near either end of the axis the two disagreed, and a run's ◆ sat a row above
    (or a column beside) the line it marks. Every marker is in a cell its line passes through."""
    rng = random.Random(seed)
    for size in ((60, 16), (100, 20)):
        xs = tuple(float(i) for i in range(1, rng.randint(8, 20)))
        ys = tuple(rng.random() for _ in xs)
        _, marked = await run_chart(ChartSpec("t", (Series("s", xs, ys, (200, 0, 0), "◆"),)), size)
        _, line = await run_chart(ChartSpec("t", (Series("s", xs, ys, (200, 0, 0), "◆", points=False),)), size)
        markers = {(r, c) for r, row in enumerate(marked.splitlines()) for c, ch in enumerate(row) if ch == "◆"}
        assert markers and markers <= _braille_cells(line), (size, sorted(markers - _braille_cells(line)), marked)


@pytest.mark.parametrize("epochs, x_hi, size", [(10, 11, (37, 12)), (10, 10, (37, 12)), (8, 8, (39, 12))])
async def test_each_labelled_epoch_tick_is_in_its_markers_column(epochs: int, x_hi: int, size) -> None:
    """The live charts at 80x24 (about 38 columns each): epoch 1's ● sat a column left of the
    axis tick labelled 1, epoch 10's a column right of its 10. An epoch's tick, its marker and
    its line's dots are now in one column."""
    import math

    xs = tuple(float(i) for i in range(1, epochs + 1))
    ys = tuple(1.0 + 0.1 * (i % 3) for i in range(epochs))
    _, plot = await run_chart(ChartSpec("t", (Series("s", xs, ys, (200, 0, 0), "◆"),), x_range=(1.0, float(x_hi))),
                              size)
    lines = plot.splitlines()
    axis = next(i for i, line in enumerate(lines) if "└" in line)
    ticks = dict(zip((int(w) for w in lines[axis + 1].split()), (c for c, ch in enumerate(lines[axis]) if ch == "┬")))
    markers = sorted({c for line in lines[:axis] for c, ch in enumerate(line) if ch == "◆"})
    every = max(1, math.ceil(epochs / (size[0] // 4)))  # the chart marks every k-th epoch when dense
    marked = [e for e in range(1, epochs + 1) if (e - 1) % every == 0 or e == epochs]
    assert len(marked) == len(markers), plot
    column = dict(zip(marked, markers))
    labelled = [e for e in ticks if e in column]
    assert labelled and all(ticks[e] == column[e] for e in labelled), (ticks, column, plot)


async def test_a_narrow_chart_still_says_what_it_clipped_and_the_key_for_every_point() -> None:
    """The live loss chart at 80x24 is 39 columns: its row read "clipped 2 outliers ↑10e3 · f: a…",
    and the narrow footer leaves f out, so nothing on screen named the key. A shorter wording
    fits now; a wide chart keeps the long one with the log-y key."""
    epochs = [E(i, 1.3 - 0.05 * i, 0.5) for i in range(1, 9)]
    epochs[4] = E(5, 1e4, 0.5)
    header, _ = await run_chart(loss_spec(epochs, ()), size=(39, 16))
    assert "Loss clipped 2 ↑11e3 · f: all" in header and "…" not in header, header  # valid loss: 1.1e4
    header, _ = await run_chart(loss_spec(epochs, ()), size=(80, 16))
    assert "clipped 2 outliers ↑11e3 · f: all · l: log y" in header, header


async def test_a_long_runs_first_epochs_stay_in_its_loss_range() -> None:
    """A 300-epoch run's loss falls from 1.2 to a plateau of 0.03 (40x lower): the plateau filled
    the quartiles and its first epochs were clipped as outliers ("clipped 3 outliers ↑1.35").
    A curve's start stays in range; a diverged epoch (1e4) is still left out, as is a run that
    starts at 1e4 beside normal ones."""
    import math

    from petseg_tui.widgets.charts import spec_y_range

    epochs = [E(i, 0.03 + 1.2 * math.exp(-(i - 1) / 5), 0.9) for i in range(1, 301)]
    yr = spec_y_range(loss_spec(epochs, ()))
    assert yr.clipped == 0 and yr.hi == epochs[0].valid_loss, yr
    header, _ = await run_chart(loss_spec(epochs, ()), size=(80, 16))
    assert "clipped" not in header, header
    spiked = epochs[:100] + [E(101, 1e4, 0.1)] + epochs[101:]
    yr = spec_y_range(loss_spec(spiked, ()))
    assert yr.above == 2 and yr.hi == epochs[0].valid_loss, yr  # train and valid at 1e4 left out
    runs = [RunCurves("normal", tuple(epochs[:30])), RunCurves("blown", tuple(E(i, 1e4, 0.0) for i in (1, 2, 3)))]
    yr = spec_y_range(compare_spec("train_loss", runs))
    assert yr.above == 3 and yr.max_value == 1e4, yr
