"""What one chart build costs as a run grows: the live screen's loss and Dice charts, by epochs.

    python bench/chart_cost.py [--size 70x20] [--epochs 10,100,400,1000,3000,10000] [--repeat 5]

A chart is rebuilt (plotext draws it, Rich parses its ANSI text) at most once a second while
new epochs arrive, and on a view key (log y, smoothing, autoscale), so its build time is both
CPU the dashboard spends on a training run and latency a key press waits for. Each row builds
the loss and the Dice chart of a run with that many epochs (noisy, decaying curves), the
median of ``--repeat`` builds, at the size of one chart in a 160x48 terminal by default:
drawn from at most four points per braille dot column (`petseg_tui.widgets.line_points`, what
the app does) and from every point (what it did before), beside each other.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from _machine import cpu_model, load  # noqa: E402


def run_epochs(n: int, seed: int = 0) -> list[SimpleNamespace]:
    rng = random.Random(seed)
    return [SimpleNamespace(epoch=i, train_loss=1 / (1 + 0.05 * i) + 0.05 * rng.random(),
                            valid_loss=1.1 / (1 + 0.05 * i) + 0.08 * rng.random(),
                            train_dice=1 - 1 / (2 + 0.1 * i), valid_dice=1 - 1 / (2 + 0.1 * i) - 0.05 * rng.random(),
                            valid_iou=0.8 - 1 / (3 + 0.1 * i)) for i in range(1, n + 1)]


def build_ms(spec, width: int, height: int, repeat: int) -> float:
    from petseg_tui.widgets.charts import ChartPlot, spec_y_range

    plot, yr, times = ChartPlot(), spec_y_range(spec), []
    for _ in range(repeat):
        t = time.perf_counter()
        plot._build(spec, yr, width, height, "textual-dark")  # the part of a repaint that grows with the data
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="70x20", help="one chart's plot, COLSxROWS")
    p.add_argument("--epochs", default="10,100,400,1000,3000,10000")
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    from petseg_tui.widgets import chart_specs, charts

    reduced = charts.line_points
    print(f"{cpu_model()}; chart {width}x{height}; ms per build (median of {args.repeat})")
    print(f"{'epochs':>7} {'loss M4':>8} {'loss all':>9} {'Dice M4':>8} {'Dice all':>9}")
    for n in (int(v) for v in args.epochs.split(",")):
        epochs = run_epochs(n)
        row = []
        for spec in (chart_specs.loss_spec(epochs, ()), chart_specs.dice_spec(epochs)):
            for points in (reduced, lambda xs, ys, x_lim, columns: (list(xs), list(ys))):
                charts.line_points = points
                try:
                    row.append(build_ms(spec, width, height, args.repeat))
                finally:
                    charts.line_points = reduced
        print(f"{n:>7} {row[0]:>8.1f} {row[1]:>9.1f} {row[2]:>8.1f} {row[3]:>9.1f}")
    print(load())


if __name__ == "__main__":
    main()
