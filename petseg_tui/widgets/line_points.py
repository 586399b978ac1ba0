"""The points a line chart needs at its resolution: M4 (first, min, max, last per dot column).

A 1000-epoch run drawn 70 cells wide has ~7 epochs per braille dot column, yet plotext's cost
grows with every point (docs/PERFORMANCE.md, "Charts of long runs"). Keeping, in each dot
column, the first, lowest, highest and last point (in their order) draws the same line: within
a column the dropped points lay on the vertical run between the lowest and the highest, and the
joins to the neighbouring columns start and end where they did (Jugel et al., "M4: A
Visualization-Oriented Time Series Data Aggregation", VLDB 2014). The columns come from
plotext's own mapping (`get_matrix_data`), so the drawing is the same dot for dot.
"""

from __future__ import annotations

from typing import Sequence

from plotext._utility import get_matrix_data

M4_PER_COLUMN = 4  # at most the first, min, max and last point of a column


def dot_columns(xs: Sequence[float], x_lim: tuple[float, float], columns: int) -> list[int]:
    """The dot column (0 .. columns-1) plotext draws each x in, for an x axis ``x_lim``."""
    return get_matrix_data(list(xs), list(x_lim), columns)


def line_points(xs: Sequence[float], ys: Sequence[float], x_lim: tuple[float, float],
                columns: int) -> tuple[list[float], list[float]]:
    """``xs``/``ys`` (in drawing order) reduced to at most 4 points per dot column of a plot
    ``columns`` dots wide over ``x_lim``; the same points when there are few enough already."""
    n = len(xs)
    if columns < 2 or n <= M4_PER_COLUMN * columns or not x_lim[1] > x_lim[0]:
        return list(xs), list(ys)
    keep: list[int] = []
    current = first = lo = hi = last = -1

    def close() -> None:
        if current != -1:
            keep.extend(sorted({first, lo, hi, last}))

    for i, c in enumerate(dot_columns(xs, x_lim, columns)):
        if c != current:
            close()
            current, first, lo, hi, last = c, i, i, i, i
            continue
        if ys[i] < ys[lo]:
            lo = i
        if ys[i] > ys[hi]:
            hi = i
        last = i
    close()
    return [xs[i] for i in keep], [ys[i] for i in keep]
