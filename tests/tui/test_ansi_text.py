"""`ansi_text` gives what `Text.from_ansi` gives: on the charts plotext builds and on other codes."""

from __future__ import annotations

import random
from types import SimpleNamespace

import plotext
import pytest
from rich.text import Text

from petseg_tui.widgets import chart_specs, charts
from petseg_tui.widgets.ansi_text import ansi_text


def built_chart(spec: chart_specs.ChartSpec, width: int, height: int) -> str:
    charts.draw_plot(plotext, spec, charts.spec_y_range(spec), width, height)
    plotext.plotsize(width, height)
    plotext.theme("clear")
    return plotext.build()


def epochs(n: int, seed: int) -> list:
    rng = random.Random(seed)
    return [SimpleNamespace(epoch=i, train_loss=1 / (1 + 0.05 * i) + 0.2 * rng.random(), valid_loss=0.9 / i,
                            train_dice=0.9 - 0.5 / i, valid_dice=0.8 - 0.5 / i, valid_iou=0.7 - 0.5 / i, lr=1e-3)
            for i in range(1, n + 1)]


@pytest.mark.parametrize("n", [1, 7, 300])
def test_same_text_as_rich_on_the_charts(n: int) -> None:
    batches = [SimpleNamespace(epoch=n + 1, batch=b, batches=9, loss=0.5) for b in range(1, 6)]
    for spec in (chart_specs.loss_spec(epochs(n, n), batches), chart_specs.loss_spec(epochs(n, n), (), log_y=True),
                 chart_specs.dice_spec(epochs(n, n))):
        ansi = built_chart(spec, 60, 16)
        assert "\x1b[38;2;" in ansi  # coloured series: the codes are exercised
        assert ansi_text(ansi) == Text.from_ansi(ansi)


@pytest.mark.parametrize("ansi", [
    "",
    "plain\n",
    "\x1b[1mbold \x1b[31mred\x1b[0m\nnext \x1b[48;2;1;2;3mbg\x1b[39m still bg\n\n\x1b[0m",  # styles carry across lines
    "\x1b[38;5;208morange\x1b[;1m both\x1b[m reset",
    "over\rwritten \x1b[32mgreen",  # a carriage return: Rich's decoder keeps what follows it
    "\x1b]8;;https://example.org\x1b\\link\x1b]8;;\x1b\\ \x1b[2Jcleared",  # a link and a cursor code
])
def test_same_text_as_rich_on_other_codes(ansi: str) -> None:
    assert ansi_text(ansi) == Text.from_ansi(ansi)
    assert ansi_text(ansi).tab_size == Text.from_ansi(ansi).tab_size


def cells(strips, height: int) -> list[list[tuple]]:
    """Each cell's character and style (without Textual's text-selection offsets)."""
    return [[(ch, seg.style.clear_meta_and_links() if seg.style else seg.style) for seg in strip for ch in seg.text]
            for strip in strips[:height]]


@pytest.mark.parametrize("size", [(80, 24), (40, 12), (25, 8), (160, 48)])
async def test_chart_lines_are_the_cells_textual_lays_out(size: tuple[int, int]) -> None:
    from textual.app import App
    from textual.visual import Visual, visualize

    from petseg_tui.widgets.ansi_text import text_strips

    class OneChart(App):
        def compose(self):
            yield charts.Chart(id="c")

    runs = epochs(12, 3)
    runs[-1].train_loss = 1e4  # an outlier arrow and its note
    app = OneChart()
    async with app.run_test(size=size) as pilot:
        chart = app.query_one(charts.Chart)
        chart.show(chart_specs.loss_spec(runs, ()))
        await pilot.pause()
        plot = chart.query_one(charts.ChartPlot)
        text, (width, height) = plot.render(), plot.size
        theirs = Visual.to_strips(plot, visualize(plot, text), width, height, plot.visual_style)
        ours = text_strips(plot, text, plot.visual_style)
        assert len(theirs) == height and cells(ours, height) == cells(theirs, height)
        assert [plot.render_line(y).text for y in range(height)] == [strip.text for strip in theirs]
