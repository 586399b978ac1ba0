"""Several runs overlaid on shared axes, with the hyperparameters that differ between them."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Header, Select, Static
from textual.worker import get_current_worker

from engine.config import TrainConfig
from petseg_tui.screens.base import PetsegScreen
from petseg_tui.format import PALETTE, fmt_float, fmt_lr, state_text
from petseg_tui.messages import CompareUpdated
from petseg_tui.watch import LiveFollower, LiveSnapshot
from petseg_tui.widgets.charts import COMPARE_METRICS, HIGHER_IS_BETTER, CompareChart

POLL_S = 2.0
METRIC_KEYS = list(COMPARE_METRICS)
IGNORED_KEYS = {"argv"}  # differs between any two runs and says nothing about the model


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in config.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def differing_keys(configs: list[dict[str, Any]]) -> list[str]:
    """Config keys (flattened, dotted) whose values are not all equal, in a stable order."""
    flat = [flatten(c) for c in configs]
    keys: list[str] = []
    for f in flat:
        for k in f:
            if k not in keys and k not in IGNORED_KEYS:
                keys.append(k)
    if len(flat) < 2:
        return []
    missing = object()
    diff = [k for k in keys if len({repr(f.get(k, missing)) for f in flat}) > 1]
    # hyperparameters first, in TrainConfig's order; bookkeeping (versions, data source …) after
    order = {name: i for i, name in enumerate(f.name for f in dataclasses.fields(TrainConfig))}
    return sorted(diff, key=lambda k: (k not in order, order.get(k, 0), keys.index(k)))


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if v is None:
        return "—"
    s = str(v)
    return s if len(s) <= 28 else s[:27] + "…"


class CompareScreen(PetsegScreen):
    """Overlay up to 7 runs; pick the metric with 1-5 / m or the Select."""

    HELP = "Selected runs overlaid; colours match the legend and the table."
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("m", "next_metric", "Next metric"),
        Binding("1", "metric(0)", "Train loss", show=False),
        Binding("2", "metric(1)", "Valid loss", show=False),
        Binding("3", "metric(2)", "Valid Dice", show=False),
        Binding("4", "metric(3)", "Valid IoU", show=False),
        Binding("5", "metric(4)", "LR", show=False),
        Binding("l", "log_y", "Log-y"),
    ]

    def __init__(self, run_paths: list[Path], metric: str = "valid_dice") -> None:
        super().__init__()
        self.run_paths = [Path(p) for p in run_paths][: len(PALETTE)]
        self.metric = metric
        self.log_y = False
        self.snapshots: list[LiveSnapshot] = []
        self._stop_event = threading.Event()

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="compare-top"):
            yield Select(
                [(f"{i + 1}  {label}", key) for i, (key, (label, _)) in enumerate(COMPARE_METRICS.items())],
                value=self.metric,
                allow_blank=False,
                compact=True,
                id="metric-select",
            )
            yield Static(self._legend(), id="legend")
        yield CompareChart(id="compare-chart")
        yield DataTable(id="compare-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"compare {len(self.run_paths)} runs"
        self.query_one(CompareChart).update_data(self.metric, [])
        self.query_one("#compare-table", DataTable).focus()
        self._poll()

    def on_unmount(self) -> None:
        self._stop_event.set()

    @work(thread=True, exclusive=True, group="compare-poll")
    def _poll(self) -> None:
        followers = [LiveFollower(p) for p in self.run_paths]
        last: list[LiveSnapshot | None] = [None] * len(followers)
        worker = get_current_worker()
        while not (worker.is_cancelled or self._stop_event.is_set()):
            changed = False
            for i, f in enumerate(followers):
                try:
                    snap = f.snapshot()
                except Exception as exc:
                    snap = LiveSnapshot(name=f.path.name, path=f.path, exists=True, state="broken", message=str(exc))
                if snap is not None:
                    # only the figures the compare view shows count as a change
                    if last[i] is None or (snap.epochs, snap.state, snap.config) != (
                        last[i].epochs, last[i].state, last[i].config
                    ):
                        changed = True
                    last[i] = snap
            if changed:
                self.post_message(CompareUpdated([s for s in last if s is not None]))
            self._stop_event.wait(POLL_S)

    def on_compare_updated(self, message: CompareUpdated) -> None:
        self.snapshots = message.snapshots
        self.redraw()

    # ---- drawing ------------------------------------------------------------------------------
    def _legend(self) -> Text:
        t = Text()
        for i, p in enumerate(self.run_paths):
            if i:
                t.append("  ")
            t.append("━━ ", style=f"bold {PALETTE[i]}")
            t.append(p.name, style=PALETTE[i])
        return t

    def redraw(self) -> None:
        self.query_one(CompareChart).update_data(
            self.metric, [(s.name, s.epochs) for s in self.snapshots], log_y=self.log_y
        )
        self._fill_table()

    def _fill_table(self) -> None:
        table = self.query_one("#compare-table", DataTable)
        label, field = COMPARE_METRICS[self.metric]
        snaps = self.snapshots
        keys = differing_keys([s.config for s in snaps])
        flats = [flatten(s.config) for s in snaps]
        table.clear(columns=True)
        table.add_column("Run", key="run")
        table.add_column("Status", key="state")
        best_label = "max" if self.metric == "lr" else "best"
        table.add_column(Text(f"{best_label} {label}", justify="right"), key="best")
        table.add_column(Text(f"last {label}", justify="right"), key="last")
        for k in keys:
            table.add_column(k, key=f"cfg:{k}")
        fmt = fmt_lr if self.metric == "lr" else fmt_float
        for i, s in enumerate(snaps):
            values = [getattr(e, field) for e in s.epochs]
            if not values:
                best = None
            elif self.metric in HIGHER_IS_BETTER or self.metric == "lr":
                best = max(values)
            else:
                best = min(values)
            colour = PALETTE[i % len(PALETTE)]
            name = Text("■ ", style=f"bold {colour}")
            name.append(s.name, style=colour)
            best_txt = Text(fmt(best), justify="right")
            if best is not None and self.metric != "lr":
                ep = next(e.epoch for e in s.epochs if getattr(e, field) == best)
                best_txt.append(f" @{ep}", style="dim")
            row = [
                name,
                state_text(s.state),
                best_txt,
                Text(fmt(values[-1] if values else None), justify="right"),
            ]
            row += [_fmt_value(flats[i].get(k)) for k in keys]
            table.add_row(*row, key=s.name)
        note = "" if keys or len(snaps) < 2 else "  (identical hyperparameters)"
        self.sub_title = f"compare {len(self.run_paths)} runs · {label}{note}"

    # ---- keys ---------------------------------------------------------------------------------
    def set_metric(self, metric: str) -> None:
        if metric == self.metric:
            return
        self.metric = metric
        sel = self.query_one("#metric-select", Select)
        if sel.value != metric:
            sel.value = metric
        self.redraw()

    @on(Select.Changed, "#metric-select")
    def _metric_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.set_metric(event.value)

    def action_metric(self, index: int) -> None:
        self.set_metric(METRIC_KEYS[index])

    def action_next_metric(self) -> None:
        self.set_metric(METRIC_KEYS[(METRIC_KEYS.index(self.metric) + 1) % len(METRIC_KEYS)])

    def action_log_y(self) -> None:
        self.log_y = not self.log_y
        self.redraw()

    def action_back(self) -> None:
        self.app.pop_screen()
