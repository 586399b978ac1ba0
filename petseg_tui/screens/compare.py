"""Several runs overlaid on shared axes, with the hyperparameters that differ between them.

Run i has palette colour i and marker i, in the legend, the charts and the table. The metric
is chosen with 1-5 / m (or the Select); `e` and `+`/`-` smooth the curves (EMA), `z` narrows
the epochs shown (all, the epochs every run has, the last N), `l` gives log-y, `f` autoscales
to every point (true outliers, such as a diverged run's loss, are otherwise left out and
counted in the chart's header). From 160 columns four metrics show at once in a 2x2 grid, the
chosen one highlighted (the title and the selector say so). A chart whose data and view did not
change is not redrawn. Below 120 columns the table is compact (`TableLayout`), so the settings that differ stay on screen.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal
from textual.reactive import var
from textual.widgets import DataTable, Select, Static
from textual.worker import get_current_worker

from engine.runs.query import flatten
from engine.runs.short_name import NAME_MIN, shorten
from engine.words import counted
from petseg_tui.exit_mount import PetsegSelect
from petseg_tui.format import (
    PALETTE,
    fmt_lr,
    fmt_metric,
    packed_lines,
    palette_rgb,
    run_colour,
    shown_state_text,
    theme_background,
)
from petseg_tui.live_follow import LiveFollower, LiveSnapshot
from petseg_tui.messages import CompareUpdated
from petseg_tui.screens.base import PetsegFooter, PetsegScreen
from petseg_tui.screens.chart_view import ChartView
from petseg_tui.screens.compare_table import (
    TableLayout,
    XWindow,
    differing_keys,
    distinct_cells,
    setting_value,
    x_windows,
)
from petseg_tui.widgets.chart_specs import (
    BOUNDED_METRICS,
    COMPARE_METRICS,
    HIGHER_IS_BETTER,
    MARKERS,
    RunCurves,
    compare_spec,
)
from petseg_tui.widgets.charts import Chart
from petseg_tui.widgets.column_table import ColumnScrollTable
from petseg_tui.widgets.header import PetsegHeader
from petseg_tui.widgets.runs_columns import cell_len

POLL_S = 2.0
METRIC_KEYS = list(COMPARE_METRICS)
class CompareScreen(ChartView, PetsegScreen):
    """Overlay up to 7 runs; pick the metric with 1-5 / m or the Select."""

    HELP = "Selected runs overlaid; colours and markers match the legend and the table."
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="Back to the runs"),
        # the table's own Enter (and a click on its highlighted row) comes here as RowSelected
        Binding("enter", "open_run", "Open", show=False, tooltip="Open the highlighted run (its live view or history)"),
        Binding("m", "next_metric", "Next metric", tooltip="Next metric"),
        Binding("1", "metric(0)", "Train loss", show=False, tooltip="Train loss"),
        Binding("2", "metric(1)", "Valid loss", show=False, tooltip="Valid loss"),
        Binding("3", "metric(2)", "Valid Dice", show=False, tooltip="Valid Dice"),
        Binding("4", "metric(3)", "Valid IoU", show=False, tooltip="Valid IoU"),
        Binding("5", "metric(4)", "LR", show=False, tooltip="Learning rate"),
        Binding("e", "smoothing", "Smoothing", tooltip="Smoothing on/off (EMA)"),
        Binding("plus,equals_sign", "ema(1)", "EMA +", key_display="+", show=False, tooltip="More smoothing"),
        Binding("minus", "ema(-1)", "EMA −", key_display="-", show=False, tooltip="Less smoothing"),
        Binding("z", "x_range", "Epochs", tooltip="Epochs shown: all, the epochs every run has, the last 20/10/5"),
        Binding("l", "log_y", "Log-y", tooltip="Log scale on the y axis"),
        Binding("f", "autoscale", "All points", tooltip="Autoscale to every point (outliers included) or leave "
                                                        "true outliers out again"),
    ]
    NARROW_FOOTER_HIDES = frozenset({"smoothing"})

    metric: var[str] = var("valid_dice", init=False)
    x_window: var[XWindow | None] = var(None, init=False)
    grid: var[bool] = var(False, init=False)

    def __init__(self, run_paths: list[Path], metric: str = "valid_dice") -> None:
        super().__init__()
        self.run_paths = [Path(p) for p in run_paths][: len(PALETTE)]
        self.set_reactive(CompareScreen.metric, metric)
        self.snapshots: list[LiveSnapshot] = []
        self._stop_event = threading.Event()
        self._table_key: tuple | None = None
        self._title_text = ""  # the title before the note that the table scrolls
        self._title_why = ""  # what its note means, said where the title bar has room
        self._data_version = 0  # +1 for each CompareUpdated (they come only when the runs changed)

    def compose(self) -> ComposeResult:
        yield PetsegHeader()
        with Horizontal(id="compare-top"):
            # in the grid the selector picks the highlighted chart (and the table's figures) of the
            # four shown: "3 valid Dice" alone read as if it were the only metric on screen
            yield Static("highlight", id="metric-role")
            yield PetsegSelect(
                [(f"{i + 1}  {label}", key) for i, (key, (label, _)) in enumerate(COMPARE_METRICS.items())],
                value=self.metric,
                allow_blank=False,
                compact=True,
                id="metric-select",
            )
            yield Static(self._legend(), id="legend")
        with Grid(id="compare-charts"):
            for i in range(4):
                yield Chart(id=f"compare-chart-{i}", classes="compare-chart")
        # the Run column stays as ←/→ scroll the settings: scrolled, the rows were figures of no run
        yield ColumnScrollTable(id="compare-table", cursor_type="row", zebra_stripes=True, fixed_columns=1)
        yield PetsegFooter()

    def on_mount(self) -> None:
        self.sub_title = f"compare {counted(len(self.run_paths), 'run')}"
        self.redraw()
        table = self.query_one("#compare-table", DataTable)
        table.focus()
        # whether the table runs past the right edge is known once it is laid out: its columns'
        # width (virtual_size) against its own
        for size in ("virtual_size", "size"):
            self.watch(table, size, lambda _size: self._show_title(), init=False)
        self.app.theme_changed_signal.subscribe(self, self._recolour)
        self._poll()

    def on_unmount(self) -> None:
        self._stop_event.set()

    def _recolour(self, _theme: object) -> None:
        """A theme chosen from the palette: the legend's and the table's run names and states in
        colours for its background (the charts redraw themselves)."""
        if self.is_mounted:
            self.query_one("#legend", Static).update(self._legend())
            self._table_key = None
            self._fill_table()

    def watch_width_class(self) -> None:
        super().watch_width_class()
        self.grid = self.at_least("-widest")  # 160 columns: four metrics at once
        if self.is_mounted:
            self._fill_table()  # compact below 120 columns
            self.query_one("#legend", Static).update(self._legend())

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
                    # only the figures the compare view shows count as a change; "folder gone"
                    # among them: a poll amid an rm -r read the run as broken, and the gone
                    # folder (broken too) then said "broken" for good
                    if last[i] is None or (snap.epochs, snap.state, snap.gone, snap.config) != (
                        last[i].epochs, last[i].state, last[i].gone, last[i].config
                    ):
                        changed = True
                    last[i] = snap
            if changed:
                self.post_message(CompareUpdated([s for s in last if s is not None]))
            self._stop_event.wait(POLL_S)

    def on_compare_updated(self, message: CompareUpdated) -> None:
        self.snapshots = message.snapshots
        self._data_version += 1
        windows = x_windows([s.done_epochs for s in self.snapshots])
        if self.x_window not in windows:
            self.x_window = None
        self.refresh_bindings()  # z: offered once there are epoch ranges to choose from
        self.redraw()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "x_range":
            # runs of the same length, 5 epochs or fewer: "all" is the only range, and z said
            # "Epochs: all" each time, changing nothing
            return len(x_windows([s.done_epochs for s in self.snapshots])) > 1
        return True

    # ---- state --------------------------------------------------------------------------------
    def _redraw(self) -> None:
        if self.is_mounted:
            self.redraw()

    watch_log_y = watch_autoscale = watch_smoothing_on = watch_ema_index = watch_x_window = watch_grid = _redraw

    def watch_metric(self, metric: str) -> None:
        sel = self.query_one("#metric-select", Select)
        if sel.value != metric:
            sel.value = metric
        self._redraw()

    # ---- drawing ------------------------------------------------------------------------------
    def _layout(self) -> TableLayout:
        return TableLayout(compact=not self.at_least("-wide"))

    def _legend(self) -> Text:
        """Each run's marker and name in its colour; compact, the start the names share said once
        and then each name's rest (the names stay whole: the start and the rest). Where the line
        is too narrow, it breaks between entries, never inside one: wrapped at its spaces, a
        marker ended a line and its name began the next."""
        names = [p.name for p in self.run_paths]
        start = self._layout().shared_start(names)
        width = self.query_one("#legend", Static).content_region.width if self.is_mounted else 0

        def fit(text: str, room: int) -> str:
            # a name longer than the legend's line is cut in the middle, as the tables cut it:
            # wrapped, its marker stood alone on a line and the name broke mid-word over two more
            return shorten(text, max(room, NAME_MIN)) if width else text

        entries: list[Text] = []
        if start:
            entries.append(Text(fit(start, width - 1) + "…", style="dim"))
        background = theme_background(self.app)
        for i, name in enumerate(names):
            colour = run_colour(i, background)
            entry = Text()  # (a base style would dim every name after it)
            entry.append(f"─{MARKERS[i]} ", style=f"bold {colour}")
            entry.append(fit(name[len(start):], width - 3), style=colour)
            entries.append(entry)
        return packed_lines(entries, width)

    def _relegend(self) -> None:
        if self.is_mounted:
            self.query_one("#legend", Static).update(self._legend())

    def autoscale_applies(self) -> bool:
        return any(m not in BOUNDED_METRICS for m in self.chart_metrics())

    def chart_metrics(self) -> list[str]:
        """The metric of each chart: one, or four in the grid (the chosen one always among them)."""
        if not self.grid:
            return [self.metric]
        four = ["train_loss", "valid_loss", "valid_dice", "valid_iou"]
        return four if self.metric in four else four[:3] + [self.metric]

    def redraw(self) -> None:
        curves = [
            RunCurves(s.name, s.epochs, colour=palette_rgb(i), marker=MARKERS[i])
            for i, s in enumerate(self.snapshots)
        ]
        window = self.x_window
        metrics = self.chart_metrics()
        for i in range(4):
            chart = self.query_one(f"#compare-chart-{i}", Chart)
            chart.display = i < len(metrics)
            if i >= len(metrics):
                continue
            metric = metrics[i]
            spec = compare_spec(metric, curves, log_y=self.log_y, smoothing=self.ema_factor,
                                x_range=(window.lo, window.hi) if window else None,
                                x_note=window.label if window else "", robust=not self.autoscale)
            chart.set_class(self.grid and metric == self.metric, "-chosen")
            chart.show(spec)
        self.query_one("#compare-charts").set_class(self.grid, "-grid")
        self.query_one("#metric-role").display = self.grid
        self._fill_table()

    def _fill_table(self) -> None:
        layout = self._layout()
        key = (self.metric, self._data_version, layout, self.grid)
        if key == self._table_key:
            return
        self._table_key = key
        table = self.query_one("#compare-table", ColumnScrollTable)
        label, field = COMPARE_METRICS[self.metric]
        snaps = self.snapshots
        keys = differing_keys([s.config for s in snaps])
        flats = [flatten(s.config) for s in snaps]
        best_label = "max" if self.metric == "lr" else "best"
        headers: list[tuple[Any, str]] = [
            ("Run", "run"), ("Status", "state"),
            (Text(layout.figure_header(best_label, label), justify="right"), "best"),
            (Text(layout.figure_header("last", label), justify="right"), "last"),
        ] + [(Text(layout.setting_header(k)), f"cfg:{k}") for k in keys]  # Text: config.json's text is never markup
        fmt = fmt_lr if self.metric == "lr" else fmt_metric
        names = layout.names([s.name for s in snaps])
        rows = []
        background = theme_background(self.app)
        for i, s in enumerate(snaps):
            values = [getattr(e, field) for e in s.epochs]
            if not values:
                best = None
            elif self.metric in HIGHER_IS_BETTER or self.metric == "lr":
                best = max(values)
            else:
                best = min(values)
            colour = run_colour(i % len(PALETTE), background)
            name = Text(f"{MARKERS[i]} ", style=f"bold {colour}")
            name.append(names[i], style=colour)
            best_txt = Text(fmt(best), justify="right")
            if best is not None and self.metric != "lr":
                ep = next(e.epoch for e in s.epochs if getattr(e, field) == best)
                best_txt.append(f" @{ep}", style="dim")
            row = [
                name,
                shown_state_text(s.state, s.gone, background),
                best_txt,
                Text(fmt(values[-1] if values else None), justify="right"),
            ]
            rows.append((s.name, row))
        for k in keys:  # a column at a time: how a value is cut depends on the others
            for (_, row), cell in zip(rows, distinct_cells([setting_value(s.config, f, k) for s, f in zip(snaps, flats)])):
                row.append(Text(cell))  # as written: a str cell is Rich markup ("/data/pets[v2]" read "/data/pets")
        # clear() sends the table back to its first column and row: switching the metric lost the
        # settings the user had scrolled to, and the run the cursor was on
        scrolled, cursor = table.scroll_x, table.cursor_row
        table.clear(columns=True)
        for j, (header, key) in enumerate(headers):
            # explicit widths: auto-width columns kept their first, narrower width after a resize
            table.add_column(header, key=key, width=max([cell_len(header), *(cell_len(r[j]) for _, r in rows)]))
        for name, row in rows:
            table.add_row(*row, key=name)
        if scrolled:
            table.rest_near(scrolled)
        if 0 < cursor < len(rows):
            table.move_cursor(row=cursor)
        note, why = ("" if keys or len(snaps) < 2 else "  (identical hyperparameters)"), ""
        if "mask_rule" in keys and set(self.chart_metrics()) - {"lr"}:
            # pet_only scores the border band as background, pet_border as pet: the same model
            # reads apart by the rule alone (petseg eval's headline, border ignored, compares them)
            note, why = " · mask rules differ", ": each scored by its own"
        # the grid shows four metrics: the title names them all, the chosen one as highlighted
        shown = f"{len(self.chart_metrics())} metrics, {label} highlighted" if self.grid else label
        self._title_text = f"compare {counted(len(self.run_paths), 'run')} · {shown}{note}"
        self._title_why = why
        self._show_title()  # again as the table's laid out width or its content's changes (on_mount)

    def _show_title(self) -> None:
        """The title, and where the table runs past the right edge, that ←/→ scroll it: a column
        cut at the edge read as another ("devices" as "device", beside "device"). The why of a
        note goes first where the title bar is too narrow for both: at 80 columns "mask rules
        differ: each scored by its own" took the whole bar and the ←/→ note was cut off."""
        if not self.is_mounted:
            return
        table = self.query_one("#compare-table", DataTable)
        more = " · ←/→ more columns" if table.max_scroll_x > 0 else ""
        full = self._title_text + self._title_why + more
        room = self.size.width - cell_len(f"{self.app.title} — ")  # the header says "petseg — title"
        self.sub_title = full if cell_len(full) <= room else self._title_text + more

    def on_resize(self, event: events.Resize) -> None:
        # (PetsegScreen's on_resize, the width class, runs too: Textual calls each class's handler)
        self.call_after_refresh(self._relegend)  # its lines break at the legend's width

    # ---- keys ---------------------------------------------------------------------------------
    def set_metric(self, metric: str) -> None:
        self.metric = metric

    @on(Select.Changed, "#metric-select")
    def _metric_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.metric = event.value

    def action_metric(self, index: int) -> None:
        self.metric = METRIC_KEYS[index]

    def action_next_metric(self) -> None:
        self.metric = METRIC_KEYS[(METRIC_KEYS.index(self.metric) + 1) % len(METRIC_KEYS)]


    def action_x_range(self) -> None:
        windows = x_windows([s.done_epochs for s in self.snapshots])
        i = windows.index(self.x_window) if self.x_window in windows else 0
        self.x_window = windows[(i + 1) % len(windows)]
        self.notify(f"Epochs: {self.x_window.label if self.x_window else 'all'}", timeout=1.5)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_run()

    def action_open_run(self) -> None:
        table = self.query_one("#compare-table", DataTable)
        if not table.row_count:
            return
        name = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        path = next((s.path for s in self.snapshots if s.name == name), None)
        if path is not None:
            self.petseg_app.open_run(path)

    def action_back(self) -> None:
        self.app.pop_screen()
