"""What a chart draws, as plain data: `ChartSpec` of `Series` (each with its colour and marker
glyph), and the specs the screens build from a run's epochs (`loss_spec`, `dice_spec`, and
`compare_spec` over several runs' `RunCurves`). No widget and no drawing here: `charts.Chart`
draws a spec; nothing here reads files.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

Colour = tuple[int, int, int]

SERIES_COLOURS: dict[str, Colour] = {
    "train": (78, 154, 241),
    "valid": (245, 166, 35),
    "batch": (150, 150, 150),
    "iou": (126, 211, 33),
}
# One glyph per series, in the order series are added (compare: run i gets MARKERS[i]).
MARKERS = ("●", "▲", "■", "◆", "▼", "✚", "✖")


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


@dataclass(frozen=True)
class Series:
    label: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    colour: Colour
    marker: str  # one glyph: at the data points and in the legend
    points: bool = True  # False: a line only (e.g. the running batch loss), legend shows "┄"
    style: str = ""  # extra Rich style for the legend label (e.g. "bold" for the highlighted run)
    short: str = ""  # the label where the full one does not fit the legend's row
    front: bool = False  # drawn over the other series where they share cells (the chart's headline curve)


@dataclass(frozen=True)
class ChartSpec:
    title: str
    series: tuple[Series, ...] = ()
    log_y: bool = False
    robust: bool = True  # False: autoscaled to every point ("f")
    bounded: bool = False  # True: values in [0, 1] (Dice, IoU), where no point is an outlier to leave out
    x_range: tuple[float, float] | None = None  # only points with lo <= x <= hi; also the axis
    notes: tuple[str, ...] = ()  # shown dim in the header (smoothing, x window)
    empty: str = "no data yet"  # drawn in the plot when no series has a finite point
    empty_style: str = ""  # e.g. "red" for "failed: <reason>"
    legend: bool = True
    log_key: bool = True  # the screen's `l` toggles this chart's log-y (the header may say so)


COMPARE_METRICS: dict[str, tuple[str, str]] = {
    # key: (label, field of EpochEnded); "higher" metrics are maximised
    "train_loss": ("train loss", "train_loss"),
    "valid_loss": ("valid loss", "valid_loss"),
    "valid_dice": ("valid Dice", "valid_dice"),
    "valid_iou": ("valid IoU", "valid_iou"),
    "lr": ("learning rate", "lr"),
}
HIGHER_IS_BETTER = {"valid_dice", "valid_iou"}
# Dice and IoU lie in [0, 1]: none of their values is an outlier to leave out of the range (a
# run's one real Dice of 0.13 among ~1e-11 was clipped as one, the chart a flat line at 9e-12)
BOUNDED_METRICS = {"valid_dice", "valid_iou"}


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
              robust: bool = True, x_range: tuple[float, float] | None = None,
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
                             "·", points=False, short="epoch"))
    return ChartSpec("Loss", tuple(series), log_y=log_y, robust=robust, x_range=x_range,
                     notes=smoothing_note(smoothing), empty=empty, empty_style=empty_style)


def dice_spec(epochs: Sequence, *, x_range: tuple[float, float] | None = None,
              empty: str = "waiting for the first epoch …", empty_style: str = "") -> ChartSpec:
    xs = tuple(float(e.epoch) for e in epochs)
    return ChartSpec("Dice / IoU", (
        Series("train Dice", xs, tuple(e.train_dice for e in epochs), SERIES_COLOURS["train"], MARKERS[0], short="train"),
        Series("valid Dice", xs, tuple(e.valid_dice for e in epochs), SERIES_COLOURS["valid"], MARKERS[1], short="valid",
               front=True),
        Series("valid IoU", xs, tuple(e.valid_iou for e in epochs), SERIES_COLOURS["iou"], MARKERS[2], short="IoU"),
    ), bounded=True, x_range=x_range, empty=empty, empty_style=empty_style, log_key=False)


def compare_spec(metric: str, runs: Sequence[RunCurves], *, log_y: bool = False, smoothing: float = 0.0,
                 x_range: tuple[float, float] | None = None, x_note: str = "", legend: bool = False,
                 robust: bool = True) -> ChartSpec:
    label, attr = COMPARE_METRICS[metric]
    smooth = (lambda v: ema(v, smoothing)) if smoothing and metric != "lr" else list
    series = tuple(
        Series(r.name, tuple(float(e.epoch) for e in r.epochs), tuple(smooth([getattr(e, attr) for e in r.epochs])),
               r.colour, r.marker, style=r.style)
        for r in runs
    )
    notes = smoothing_note(smoothing if metric != "lr" else 0.0) + ((x_note,) if x_note else ())
    return ChartSpec(label, series, log_y=log_y, robust=robust, bounded=metric in BOUNDED_METRICS, x_range=x_range,
                     notes=notes, empty="no finished epochs yet", legend=legend)


def with_title(spec: ChartSpec, title: str) -> ChartSpec:
    return replace(spec, title=title)
