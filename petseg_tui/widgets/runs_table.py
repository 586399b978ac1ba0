"""The runs table: one row per run folder, sortable, filterable, with a selection column.

The table keeps every `RunRow` it was told about; the rows on screen are the ones matching the
filter, in sort order. A poll that changes a few runs updates only their changed cells; the
table is rebuilt only when the set or order of visible rows changes.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from petseg_tui.format import (
    PALETTE,
    fmt_duration,
    fmt_epoch,
    fmt_float,
    fmt_rate,
    fmt_started,
    state_text,
)
from petseg_tui.watch import RunRow

STATE_ORDER = {s: i for i, s in enumerate(
    ("running", "paused", "interrupted", "failed", "diverged", "broken", "stopped", "finished")
)}


def _num(v: float | None) -> tuple[bool, float]:
    ok = v is not None and not (isinstance(v, float) and math.isnan(v))
    return (ok, float(v) if ok else 0.0)


# key, label, sort key (None-safe), right-aligned
COLUMNS: list[tuple[str, str, Callable[[RunRow, "RunsTable"], Any], bool]] = [
    ("sel", "✓", lambda r, t: (True, 0.0 if r.name in t.selected else 1.0), False),
    ("name", "Run", lambda r, t: (True, r.name.lower()), False),
    ("state", "Status", lambda r, t: (True, STATE_ORDER.get(r.state, 99)), False),
    ("epoch", "Epoch", lambda r, t: (True, r.summary.epoch), True),
    ("dice", "Best Dice", lambda r, t: _num(r.summary.best_dice), True),
    ("loss", "Loss", lambda r, t: _num(r.summary.last_train_loss), True),
    ("model", "Model", lambda r, t: (bool(r.summary.model), r.summary.model), False),
    ("ips", "img/s", lambda r, t: _num(r.summary.images_per_s), True),
    ("started", "Started", lambda r, t: _num(r.summary.started), False),
    ("duration", "Duration", lambda r, t: _num(r.summary.duration), True),
]
COLUMN_KEYS = [c[0] for c in COLUMNS]
COLUMN_LABELS = {c[0]: c[1] for c in COLUMNS}
_SORT_KEYS = {c[0]: c[2] for c in COLUMNS}
_RIGHT = {c[0] for c in COLUMNS if c[3]}


class RunsTable(DataTable):
    """DataTable of runs. Row keys are run names."""

    BINDINGS = [Binding("enter", "select_cursor", "Open")]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.rows_by_name: dict[str, RunRow] = {}
        self.selected: dict[str, None] = {}  # insertion-ordered set
        self.filter_text = ""
        self.sort_column = "started"
        self.sort_reverse = True  # newest first
        self._cells: dict[str, tuple[Any, ...]] = {}  # what the visible rows show now
        self._cell_cache: dict[str, tuple[Any, tuple[Any, ...]]] = {}
        self._visible: list[str] = []
        self.compare_colours: dict[str, str] = {}

    def on_mount(self) -> None:
        self._add_columns()

    # ---- cells -----------------------------------------------------------------------------
    def _add_columns(self) -> None:
        for key, label, _, right in COLUMNS:
            self.add_column(self._header(key), key=key)

    def _header(self, key: str) -> Text:
        label = COLUMN_LABELS[key]
        if key == self.sort_column:
            label += " ▼" if self.sort_reverse else " ▲"
        return Text(label, style="bold", justify="right" if key in _RIGHT else "left")

    def cells(self, row: RunRow) -> tuple[Any, ...]:
        """The row's cell values, cached until the row, its selection or its colour changes."""
        key = (row, row.name in self.selected, self.compare_colours.get(row.name))
        hit = self._cell_cache.get(row.name)
        if hit is not None and hit[0] == key:
            return hit[1]
        cells = self._make_cells(row)
        self._cell_cache[row.name] = (key, cells)
        return cells

    def _make_cells(self, row: RunRow) -> tuple[Any, ...]:
        s = row.summary
        mark = Text("✓", style="bold " + self.compare_colours.get(row.name, "")) if row.name in self.selected else Text(" ")
        r = lambda v: Text(v, justify="right")  # noqa: E731
        return (
            mark,
            Text(row.name, style="bold" if row.state in ("running", "paused") else ""),
            state_text(row.state),
            r(fmt_epoch(s.epoch, s.total_epochs)),
            r(fmt_float(s.best_dice)),
            r(fmt_float(s.last_train_loss)),
            s.model or "—",
            r(fmt_rate(s.images_per_s)),
            fmt_started(s.started),
            r(fmt_duration(s.duration)),
        )

    # ---- what is visible -------------------------------------------------------------------
    def matches(self, row: RunRow) -> bool:
        if not self.filter_text:
            return True
        hay = f"{row.name} {row.summary.model} {row.state}".lower()
        return all(part in hay for part in self.filter_text.lower().split())

    def _ordered_visible(self) -> list[str]:
        key = _SORT_KEYS[self.sort_column]
        rev = self.sort_reverse
        rows = [r for r in self.rows_by_name.values() if self.matches(r)]
        # missing values last in both directions; ties broken by name
        rows.sort(key=lambda r: r.name, reverse=False)
        rows.sort(key=lambda r: (key(r, self)[0] if rev else not key(r, self)[0], key(r, self)[1]), reverse=rev)
        return [r.name for r in rows]

    @property
    def highlighted_name(self) -> str | None:
        if not self._visible or self.cursor_row < 0 or self.cursor_row >= len(self._visible):
            return None
        try:
            return self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value
        except Exception:
            return None

    @property
    def highlighted(self) -> RunRow | None:
        name = self.highlighted_name
        return self.rows_by_name.get(name) if name else None

    @property
    def visible_names(self) -> list[str]:
        return list(self._visible)

    def rebuild(self) -> None:
        """Re-add the visible rows in order, keeping the cursor on the same run."""
        keep = self.highlighted_name
        order = self._ordered_visible()
        self._visible = order
        with self.app.batch_update():
            self.clear(columns=True)
            self._add_columns()
            cells = self._cells
            cells.clear()
            for name in order:
                c = self.cells(self.rows_by_name[name])
                cells[name] = c
                self.add_row(*c, key=name)
            if keep in order:
                self.move_cursor(row=order.index(keep), animate=False, scroll=True)

    # ---- updates from the poll thread ------------------------------------------------------
    def apply_updates(self, changed: list[RunRow], removed: list[str]) -> None:
        structural = bool(removed)
        visible = set(self._visible)
        sort_key = _SORT_KEYS[self.sort_column]
        for name in removed:
            self.rows_by_name.pop(name, None)
            self._cell_cache.pop(name, None)
            self.selected.pop(name, None)
        for row in changed:
            old = self.rows_by_name.get(row.name)
            self.rows_by_name[row.name] = row
            now_visible = self.matches(row)
            if (row.name in visible) != now_visible:
                structural = True
            elif now_visible and old is not None and sort_key(old, self) != sort_key(row, self):
                structural = True
        if structural:
            self.rebuild()
            return
        for row in changed:
            if row.name in visible:
                self.update_run_row(row.name)

    def update_run_row(self, name: str) -> None:
        """Update the changed cells of one visible row."""
        row = self.rows_by_name.get(name)
        if row is None or name not in self._cells:
            return
        new = self.cells(row)
        old = self._cells[name]
        for key, a, b in zip(COLUMN_KEYS, old, new):
            if a != b:
                self.update_cell(name, key, b)
        self._cells[name] = new

    # ---- user actions ----------------------------------------------------------------------
    def set_filter(self, text: str) -> None:
        text = text.strip()
        if text != self.filter_text:
            self.filter_text = text
            self.rebuild()

    def set_sort(self, column: str, reverse: bool | None = None) -> None:
        if reverse is None:
            reverse = not self.sort_reverse if column == self.sort_column else False
        self.sort_column, self.sort_reverse = column, reverse
        self.rebuild()

    def cycle_sort(self) -> None:
        i = COLUMN_KEYS.index(self.sort_column)
        self.set_sort(COLUMN_KEYS[(i + 1) % len(COLUMN_KEYS)], self.sort_reverse)

    def reverse_sort(self) -> None:
        self.set_sort(self.sort_column, not self.sort_reverse)

    def set_compare_colours(self) -> None:
        self.compare_colours = {n: PALETTE[i] for i, n in enumerate(self.selected) if i < len(PALETTE)}
        for name in self.selected:
            self.update_run_row(name)

    def toggle(self, name: str) -> None:
        if name in self.selected:
            del self.selected[name]
        else:
            self.selected[name] = None
        self.set_compare_colours()
        self.update_run_row(name)

    def toggle_highlighted(self) -> None:
        name = self.highlighted_name
        if name is None:
            return
        self.toggle(name)
        if self.cursor_row < len(self._visible) - 1:
            self.move_cursor(row=self.cursor_row + 1)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.set_sort(str(event.column_key.value))
