"""The sweeps screen's plots: the best Dice against trials (a step line, ticks that read apart
and round), a searched parameter against Dice on its own scale (log for a log search), the
trials' points legible in a light theme, and P with no other plot to show."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tui_helpers import make_sweep_runs, toasts, wait_for, widget_text
from tui_sweep import _app, _open_sweeps


async def test_a_scatter_whose_trials_share_one_dice_has_a_round_tick() -> None:
    """Every trial at the same near-zero Dice (empty predictions) labels its one tick 0, not 2.14e-12."""
    from textual.app import App
    from textual_plotext import PlotextPlot

    from petseg_tui.widgets.sweep_plot import ScatterSpec, SweepPlot

    class Host(App):
        def compose(self):
            yield SweepPlot()

    async with Host().run_test(size=(60, 20)) as pilot:
        pilot.app.query_one(SweepPlot).show(ScatterSpec("best Dice", xs=(0.0, 1.0), ys=(2.14e-12, 2.14e-12)))
        await pilot.pause()
        drawn = pilot.app.query_one(PlotextPlot).plt.build()
        assert "e-12" not in drawn and "0.000┤" in drawn
        # and the axis reads in decimals as every Dice does, not 5e-3 (user7)
        assert "0.005┤" in drawn and "e-3" not in drawn


async def test_the_trials_points_are_legible_in_a_light_theme() -> None:
    """The trials' orange points were drawn for a dark background: 1.5:1 on textual-light's grey."""
    from textual.app import App
    from textual_plotext import PlotextPlot
    from tui_helpers import contrast_of

    from petseg_tui.widgets.sweep_plot import ScatterSpec, SweepPlot

    class Host(App):
        def compose(self):
            yield SweepPlot()

    async with Host().run_test(size=(60, 20)) as pilot:
        pilot.app.query_one(SweepPlot).show(ScatterSpec("best Dice", xs=(0.0, 1.0, 2.0), ys=(0.5, 0.7, 0.6),
                                                        line=((0.0, 0.5), (1.0, 0.7), (2.0, 0.7))))
        pilot.app.theme = "textual-light"  # after the first drawing, as the command palette switches it
        await pilot.pause()
        await pilot.pause()
        assert contrast_of(pilot.app.query_one(PlotextPlot), "●") >= 3.0


async def test_p_on_a_sweep_of_one_parameter_says_there_is_no_other_plot(runs_dir: Path, monkeypatch) -> None:
    """One searched parameter, both plots shown (120 columns and up): P has no other plot to show
    and says so (it did nothing and said nothing)."""
    make_sweep_runs(runs_dir, "solo")
    for d in runs_dir.iterdir():  # the trials record only their width
        config = json.loads((d / "config.json").read_text())
        config["sweep"]["params"] = {"width": config["sweep"]["params"]["width"]}
        (d / "config.json").write_text(json.dumps(config))
    async with _app(runs_dir, monkeypatch).run_test(size=(160, 48), notifications=True) as pilot:
        await _open_sweeps(pilot)
        await wait_for(pilot, lambda: pilot.app.screen.board.param_names == ["width"], what="the one parameter")
        await pilot.press("P")
        await wait_for(pilot, lambda: "searches one parameter (width)" in toasts(pilot.app), what="the toast")


def test_best_so_far_is_a_step_line() -> None:
    """The best-so-far line stays flat until the trial that beat it, then rises (it ramped
    diagonally from one trial's best to the next)."""
    from engine.sweep.board import SweepBoard, TrialRun
    from engine.runs.state import RunState
    from petseg_tui.widgets.sweep_plot import scatter_for_best

    board = SweepBoard("tiny", tuple(TrialRun(i, f"tiny-t{i:03d}", Path(f"tiny-t{i:03d}"), RunState.FINISHED,
                                              best_dice=d) for i, d in enumerate([0.5, 0.4, 0.7])))
    assert scatter_for_best(board).line == ((0.0, 0.5), (1.0, 0.5), (2.0, 0.5), (2.0, 0.7))


async def test_dice_a_few_1e_5_apart_get_distinct_y_ticks() -> None:
    """Trials at 0.565073, 0.565073, 0.565093: the y axis spans at least 0.01 and its ticks read
    differently (both read 0.565, the 2e-5 difference stretched over the plot's height)."""
    import re

    from textual.app import App
    from textual_plotext import PlotextPlot

    from petseg_tui.widgets.sweep_plot import ScatterSpec, SweepPlot

    class Host(App):
        def compose(self):
            yield SweepPlot()

    async with Host().run_test(size=(60, 20)) as pilot:
        ys = (0.565073, 0.565073, 0.565093)
        pilot.app.query_one(SweepPlot).show(ScatterSpec("best Dice", xs=(0.0, 1.0, 2.0), ys=ys))
        await pilot.pause()
        drawn = pilot.app.query_one(PlotextPlot).plt.build()
        labels = re.findall(r"([0-9][0-9.e-]*)┤", re.sub(r"\x1b\[[0-9;]*m", "", drawn))
        assert len(labels) >= 2 and len(set(labels)) == len(labels), labels
        assert max(map(float, labels)) - min(map(float, labels)) >= 0.004


@pytest.mark.parametrize(("xs", "expected"), [
    ((0.000177,), ["177e-6"]),  # the first trial of a learning-rate sweep
    ((0.0001764, 0.0001772), None),  # two trials close together: distinct labels
    ((32.0,), ["32"]),
])
async def test_a_searched_value_is_read_on_its_own_scale(xs: tuple[float, ...], expected: list[str] | None) -> None:
    """The parameter plot (P) of a numeric search on a linear axis labels the values searched. One
    trial at learning rate 1.77e-4 sat at "0.000" on an axis from -0.060 to 0.060 (plotext's ticks
    about a range of ±0.06), one trial at width 32 on 31.940 ... 32.060; close values keep
    distinct labels."""
    import re

    from textual.app import App
    from textual_plotext import PlotextPlot

    from petseg_tui.widgets.sweep_plot import ScatterSpec, SweepPlot

    class Host(App):
        def compose(self):
            yield SweepPlot()

    async with Host().run_test(size=(80, 14)) as pilot:
        pilot.app.query_one(SweepPlot).show(ScatterSpec("learning_rate vs valid Dice", xs=xs, ys=(0.5,) * len(xs)))
        await pilot.pause()
        drawn = re.sub(r"\x1b\[[0-9;]*m", "", pilot.app.query_one(PlotextPlot).plt.build())
        labels = drawn.rstrip("\n").splitlines()[-1].split()
        assert labels, drawn
        assert all(not label.startswith("-") for label in labels), labels
        assert all(min(xs) * 0.9 <= float(label) <= max(xs) * 1.1 for label in labels), labels
        assert len(set(labels)) == len(labels), labels
        if expected is not None:
            assert labels == expected


async def test_a_log_searched_parameter_is_plotted_on_a_log_axis(runs_dir: Path, monkeypatch) -> None:
    """`petseg sweep --param learning_rate=log:1e-4:1e-2 --trials 3` drew 2.3e-4, 5.4e-4 and 2.1e-3:
    the screen plotted them on a linear axis labelled 500e-6 1e-3 1.5e-3 2e-3 (it took a log axis
    only for draws a decade apart), though the sweep searched them log-uniformly."""
    from tui_helpers import T0, make_curve_run

    from engine.runs import RunStore
    from engine.runs.layout import write_json_atomic
    from engine.sweep.spec_build import build_spec
    from engine.sweep.study import open_study

    for trial, lr in enumerate((2.3e-4, 5.4e-4, 2.1e-3)):
        run = f"tiny-t{trial:03d}"
        make_curve_run(runs_dir, run, [0.8, 0.7], [0.3, 0.4], total=2, t0=T0 + 60 * trial, learning_rate=lr)
        config = RunStore(runs_dir).load(run).config
        config["sweep"] = {"name": "tiny", "trial": trial, "params": {"learning_rate": lr}}
        write_json_atomic(runs_dir / run / "config.json", config)
    open_study(build_spec({"name": "tiny", "params": ["learning_rate=log:1e-4:1e-2"]}), runs_dir)
    async with _app(runs_dir, monkeypatch).run_test(size=(160, 48)) as pilot:
        await _open_sweeps(pilot)
        title = pilot.app.screen.query_one("#sweep-param .sweep-plot--title")
        await wait_for(pilot, lambda: widget_text(title).strip() == "learning_rate vs valid Dice (log x)",
                       what="the log axis", timeout=10)
