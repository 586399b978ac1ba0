"""How a chart's axes are chosen: round ticks (linear and log) and the robust y range.

`robust_range` leaves out only true outliers (a diverged run's 1e4 loss), never a run's high
first epochs; the charts draw what it leaves out as arrows at the edge and say so. Plain data
in, plain data out: nothing here draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Up to about ``count`` round values (steps of 1, 2, 2.5 or 5 × 10^k) within [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    mag = 10 ** math.floor(math.log10((hi - lo) / max(1, count - 1)))
    best: list[float] = []
    # the finest round step that gives at most `count` ticks; the steps below `mag` are there for
    # a range that holds one multiple of `mag` alone (1.135-1.296 at two ticks: 1.15 1.2 1.25, not
    # the unround ends 1.14 and 1.3)
    for m in (0.5, 1, 2, 2.5, 5, 10, 20):
        step = m * mag
        first = math.ceil(lo / step - 1e-9) * step
        ticks = [round(first + i * step, 12) for i in range(max(0, math.floor((hi - first) / step + 1e-9) + 1))]
        if len(ticks) >= 2:
            best = ticks  # a round step with a tick or two more than asked beats unround ends
        if len(ticks) <= count:
            break
    return best if best else [lo, hi]


def log_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round values for a log axis over [lo, hi] (both > 0): decades (1e-3, 1e-2, ...), else
    1-3, 1-2-5 or 1..9 × 10^k, thinned to at most ``count``; fewer than two: `nice_ticks`."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0 or hi <= lo:
        return [lo]
    k_lo, k_hi = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    for mantissas in ((1,), (1, 3), (1, 2, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9)):
        ticks = [float(f"{m}e{k}") for k in range(k_lo, k_hi + 1) for m in mantissas]
        ticks = [t for t in ticks if lo * (1 - 1e-9) <= t <= hi * (1 + 1e-9)]
        if len(ticks) > count:  # every 2nd, 3rd ... of them: still round values
            ticks = ticks[:: math.ceil(len(ticks) / count)]
        if len(ticks) >= 2:
            return ticks
    return nice_ticks(lo, hi, count)


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

    @property
    def clipped(self) -> int:
        return self.above + self.below


OUTLIER_IQRS = 3.0  # a point is an outlier this many inter-quartile ranges beyond a quartile ...
MIN_OUTLIER_DECADES = 1.5  # ... and, for positive data, at least ~30x above the upper quartile
START_MAX_DECADES = 3.0  # a curve's start stays in range up to 1000x the upper quartile (a diverged 1e4 does not)


def robust_range(values: Sequence[float], robust: bool = True, start: float | None = None) -> YRange | None:
    """The y range for ``values`` (non-finite ones ignored; None if there are none).

    Robust: only true outliers are left out. Positive data (losses, learning rates, Dice) is
    judged on a log scale and only from above: a point is out when it lies more than 3
    inter-quartile ranges, and at least 1.5 decades, above the upper quartile (a diverged
    run's 1e4 loss among 0.1-0.9), never a run's high first epochs (3.8 among 0.2-0.6) nor a
    short run's whole curve beside long ones. Data with zeros or negatives: the same 3 IQR
    on a linear scale, the fence at least the data's own magnitude away. At least half the
    points always stay in range. ``robust=False``: everything.

    ``start``: the highest first value of the curves drawn (positive data). A long run's loss
    falls from 1.2 to a plateau of 0.03, 40x lower: the plateau fills the quartiles and its
    first epochs were clipped as outliers. Values up to ``start`` stay in range unless it lies
    more than 3 decades above the upper quartile (a run diverged from its first epoch).
    """
    v = sorted(x for x in values if x is not None and math.isfinite(x))
    if not v:
        return None
    lo, hi = v[0], v[-1]
    if robust and len(v) >= 4:
        if v[0] > 0:
            logs = [math.log10(x) for x in v]
            q1, q3 = _percentile(logs, 0.25), _percentile(logs, 0.75)
            fence_hi, fence_lo = 10 ** (q3 + max(OUTLIER_IQRS * (q3 - q1), MIN_OUTLIER_DECADES)), 0.0
            if start is not None and start > 0 and math.log10(start) <= q3 + START_MAX_DECADES:
                fence_hi = max(fence_hi, start)
        else:
            q1, q3 = _percentile(v, 0.25), _percentile(v, 0.75)
            spread = max(OUTLIER_IQRS * (q3 - q1), abs(q1), abs(q3), 1e-12)
            fence_hi, fence_lo = q3 + spread, q1 - spread
        inside = [x for x in v if fence_lo <= x <= fence_hi]
        if len(inside) >= max(2, (len(v) + 1) // 2):
            lo, hi = inside[0], inside[-1]
    above = sum(1 for x in v if x > hi)
    below = sum(1 for x in v if x < lo)
    return YRange(lo, hi, above, below, v[-1] if above else None, v[0] if below else None)
