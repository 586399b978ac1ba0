"""The runs table's columns: what each shows of a run (its cell), how it sorts, from which screen
width it shows, and the cell helpers the table and the compare screen measure values with.

`COLUMNS` in table order; `DROP_ORDER` the optional ones, the first dropped first when the run name
would get too few cells (the fitting itself is `RunsTable`'s); `columns_for` those a screen width
class shows; `has_values` whether listed rows give a column shown only with something to show
(`Column.shows_if`: GPU) its values. A sort value is the engine's rule for the same key
(`engine.runs.sort_value`, as ``petseg runs --sort``), so the table and the CLI order runs alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text

from engine.runs import sort_value
from engine.sysmetrics.sampler import NO_GPU
from petseg_tui.format import (
    LR_PEAK,
    fmt_bytes,
    fmt_duration,
    fmt_lr,
    fmt_metric,
    fmt_rate,
    fmt_started,
    state_text,
)
from petseg_tui.watch import RunRow

if TYPE_CHECKING:
    from petseg_tui.widgets.runs_table import RunsTable

MEDIUM, WIDE = "-wide", "-widest"  # the screen width classes (120, 160 columns) that add columns
# optional columns, the first dropped first when the width is short (Status, Epoch, Best Dice never)
DROP_ORDER = ("started", "model", "ips", "eps", "lr", "vloss", "iou", "loss", "duration")


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    sort_key: Callable[[RunRow, RunsTable], Any]  # (has a value, value): `engine.runs.sort_value`
    cell: Callable[[RunRow], Any]
    right: bool = False
    shows_from: str = "-narrow"  # the screen width class from which the column shows
    # None: always shown (width allowing); else shown only while a listed row has something for it.
    # A column every cell of which is blank (the GPU column on a CPU box) took cells the names needed.
    shows_if: Callable[[RunRow], bool] | None = None
    hidden_why: str = ""  # with shows_if: why the column is not shown, the words for a sort it refuses then


def has_values(column: Column, rows: Iterable[RunRow]) -> bool:
    """Whether ``rows`` give ``column`` something to show: always, unless it has `Column.shows_if`.
    The table shows such a column, and sorts by it, only then."""
    return column.shows_if is None or any(column.shows_if(r) for r in rows)


def cell_len(value: Any) -> int:
    """Cells a table value takes (Text or str)."""
    return value.cell_len if isinstance(value, Text) else Text(str(value)).cell_len


def same_cell(a: Any, b: Any) -> bool:
    """Whether two cell values draw alike. Rich's Text equality compares the characters and the
    spans, not the text's own style: a ✓ that changed colour, a name no longer bold once its run
    ended, compared equal and were never redrawn."""
    return a == b and getattr(a, "style", None) == getattr(b, "style", None)


def _r(text: str) -> Text:
    return Text(text, justify="right")


def gpu_cell(row: RunRow) -> Text:
    """The GPU column: utilisation and memory of a running run's GPU(s), from its newest system
    sample ("87% 31.0G", "87% 512M" in the live screen's units; a data-parallel run: "4×87% 31.0G",
    the mean and the most any GPU uses);
    "no GPU" for a run on the CPU, "N/A" (as nvidia-smi says) for a GPU that could not be read."""
    sample = row.system if row.active else None
    if sample is None:
        return _r("")
    if not sample.gpus:  # on the CPU, or a GPU that could not be read (the live screen's strip says why)
        return _r("no GPU" if sample.gpu_note in ("", NO_GPU) else "N/A")
    mems = [g.mem_used for g in sample.gpus if g.mem_used is not None]
    util = "—" if sample.gpu_util is None else f"{sample.gpu_util:.0f}%"
    count = f"{len(sample.gpus)}×" if len(sample.gpus) > 1 else ""
    return _r(f"{count}{util} {fmt_bytes(max(mems))}" if mems else f"{count}{util}")


def has_gpu_figures(row: RunRow) -> bool:
    """Whether the GPU column has figures for the row: a running run whose sampler read a GPU. A
    run on the CPU ("no GPU") alone does not show the column: on a CPU box every row would say so,
    which the live screen's system strip already does; beside a GPU run it tells the two apart."""
    return row.active and row.system is not None and bool(row.system.gpus)


def _by(key: str) -> Callable[[RunRow, RunsTable], tuple[bool, Any]]:
    """The column's sort value: the engine's rule for sort key ``key`` (as ``petseg runs --sort``)."""
    return lambda r, t: sort_value(key, r.summary)


COLUMNS: tuple[Column, ...] = (
    Column("sel", "✓", lambda r, t: (True, 0.0 if r.name in t.selected else 1.0), lambda r: None),
    Column("name", "Run", _by("name"), lambda r: Text(r.name, style="bold" if r.active else "")),  # shortened
    Column("state", "Status", _by("status"), lambda r: state_text(r.state)),  # coloured for the theme: _make_cells
    Column("epoch", "Epoch", _by("epoch"), lambda r: _r(r.summary.epoch_progress.count), True),
    Column("dice", "Best Dice", _by("dice"), lambda r: _r(fmt_metric(r.summary.best_dice)), True),
    Column("iou", "IoU", _by("iou"), lambda r: _r(fmt_metric(r.summary.best_iou)), True, WIDE),
    Column("loss", "Train loss", _by("loss"), lambda r: _r(fmt_metric(r.summary.last_train_loss)), True),
    Column("vloss", "Valid loss", _by("vloss"), lambda r: _r(fmt_metric(r.summary.last_valid_loss)), True, WIDE),
    # the run's learning rate, as `lr<1e-3` filters it: the last epoch's scheduled rate (what it
    # showed before) ranked a cosine run by how far it had annealed, not by its recipe
    Column("lr", LR_PEAK, _by("lr"), lambda r: _r(fmt_lr(r.summary.learning_rate)), True, WIDE),
    # Text: a value from config.json is shown as written, never read as markup ("unet[/]" crashed the table)
    Column("model", "Model", _by("model"), lambda r: Text(r.summary.model_label or "—"), False, MEDIUM),
    Column("gpu", "GPU", _by("gpu"), gpu_cell, True, MEDIUM, has_gpu_figures,
           "no listed run has GPU figures (the column shows while one trains on a GPU)"),
    Column("ips", "img/s", _by("ips"), lambda r: _r(fmt_rate(r.summary.images_per_s)), True, MEDIUM),
    Column("eps", "s/epoch", _by("eps"), lambda r: _r(fmt_rate(r.summary.epoch_seconds)), True, WIDE),
    Column("started", "Started", _by("started"), lambda r: fmt_started(r.summary.started), False, MEDIUM),
    Column("duration", "Time", _by("duration"), lambda r: _r(fmt_duration(r.summary.duration)), True),
)
COLUMN_KEYS = [c.key for c in COLUMNS]
COLUMN_LABELS = {c.key: c.label for c in COLUMNS}


def columns_for(at_least: Callable[[str], bool]) -> list[Column]:
    """The columns shown on a screen; ``at_least(width_class)`` says if it is that wide."""
    return [c for c in COLUMNS if at_least(c.shows_from)]
