"""The runs table: one row per run folder, sortable, filterable, with a selection column.

The table keeps every `RunRow` it was told about; the rows on screen are the ones matching the
filter (`engine.runs.parse_query`: name words, ``lr<1e-3 dice>0.8 model:unet tag:best``) and
not archived (unless `show_archived`), in sort order. A poll that changes a few runs updates
only their changed cells; the table is rebuilt when the set or order of visible rows changes, the
columns do, a value outgrows its column ("interrupted" replacing "running"), a run's new state
leaves a column wider than its values ("interrupted" back to "running"), or a column shown only
when a listed run has something for it (`Column.shows_if`: the GPU column, only while a listed
run has GPU figures) comes or goes: the columns and widths stay those a fresh start gives.
Such a column sorts only while it shows (`sort_refusal`, the one rule: the sort menu, its palette
entries and a sort already chosen follow it), so the order never follows values no one sees.

Columns (`runs_columns`) follow the width: the essentials at 80 columns; model, img/s and start time from 120;
valid loss, IoU, LR peak (the configured rate) and seconds per epoch from 160. Within that, the
table fits its own width: Status, Epoch and Best Dice always show, the optional columns drop in
`DROP_ORDER` when the run name would get fewer than `NAME_MIN` cells, and a long name is cut in
the middle (`shorten`), keeping its distinguishing tail. The selection mark and the run name stay
pinned when the table scrolls sideways.
"""

from __future__ import annotations

from typing import Any, Callable

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from engine.runs import Query, hidden_by_archive, ordered, parse_query
from engine.runs.query import config_keys
from engine.runs.short_name import NAME_MIN, shorten
from petseg_tui.format import PALETTE, run_colour, state_text, theme_background
from petseg_tui.watch import RunRow
from petseg_tui.widgets.runs_columns import (
    COLUMN_LABELS,
    COLUMNS,
    DROP_ORDER,
    Column,
    cell_len,
    columns_for,
    has_values,
    same_cell,
)

_BY_KEY = {c.key: c for c in COLUMNS}
DEFAULT_SORT = ("started", True)  # (column, reverse): newest first


class RunsTable(DataTable):
    """DataTable of runs. Row keys are run names."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Open", tooltip="Open the run (live view, or history when finished)"),
        Binding("home", "scroll_top", "First run", show=False, tooltip="Go to the first run"),
        Binding("end", "scroll_bottom", "Last run", show=False, tooltip="Go to the last run"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, fixed_columns=2, **kwargs)
        self.rows_by_name: dict[str, RunRow] = {}
        self.selected: dict[str, None] = {}  # insertion-ordered set
        self.filter_text = ""
        self.query: Query = Query()
        self.show_archived = False
        self.sort_column, self.sort_reverse = DEFAULT_SORT
        self._cells: dict[str, tuple[Any, ...]] = {}  # what the visible rows show now
        self._cell_cache: dict[str, tuple[Any, tuple[Any, ...]]] = {}
        self._visible: list[str] = []
        self.compare_colours: dict[str, str] = {}
        self.state_background: tuple[int, int, int] | None = None  # what the state colours are drawn on (on_mount)
        # the 80-column set until the screen says its width (fit_columns)
        self.class_columns: list[Column] = columns_for(lambda width_class: width_class == "-narrow")
        self.shown_columns: list[Column] = list(self.class_columns)
        self.name_width = NAME_MIN
        self._fitted_for: tuple[int, bool] = (0, True)  # (width, scrollbar) the columns were fitted to
        self._wanted_at_fit: set[str] = {c.key for c in self.class_columns}  # `_wanted` when last fitted

    def on_mount(self) -> None:
        self._add_columns()
        self.state_background = theme_background(self.app)
        # a theme chosen from the palette: the selection marks and the states in colours for its background
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def _theme_changed(self, _theme: object) -> None:
        before, self.state_background = self.state_background, theme_background(self.app)
        self.set_compare_colours()
        if before != self.state_background:
            self.rebuild()  # every row's state: the cells are cached with the background they were made for

    class Toggled(Message):
        """A run was ticked or unticked by a click on its ✓ cell (its screen updates its lines)."""

    def on_click(self, event: events.Click) -> None:
        # a click on a row's ✓ cell ticks it, as space does; not DataTable's click, which
        # highlighted the row and, on the highlighted one, opened the run
        meta = event.style.meta
        row = meta.get("row", -1)
        if meta.get("column") != 0 or not 0 <= row < len(self._visible):
            return
        event.prevent_default()
        self.move_cursor(row=row, animate=False)
        self.toggle(self._visible[row])
        self.post_message(self.Toggled())

    def on_key(self, event: events.Key) -> None:
        # Keys the app handed to the table before / moved the focus belong to the filter (its
        # screen decides): stopped here, they never reach the app, where the bindings fire.
        take = getattr(self.screen, "key_for_filter", None)
        if take is not None and take(event):
            event.stop()
            event.prevent_default()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # an empty table offers no Open (the screen then says what to do next)
        if action in ("select_cursor", "scroll_top", "scroll_bottom") and not self._visible:
            return False
        return super().check_action(action, parameters)

    def fit_columns(self, at_least: Callable[[str], bool]) -> None:
        """Show the columns the screen's width class has room for (its screen calls this)."""
        shown = columns_for(at_least)
        if [c.key for c in shown] != [c.key for c in self.class_columns]:
            self.class_columns = shown
            self.rebuild()

    def on_resize(self) -> None:
        if (self.size.width, self._scrollbar(len(self._visible))) != self._fitted_for:
            self.call_after_refresh(self.rebuild)

    def _width(self) -> int:
        return self.size.width or (self.screen.size.width if self.is_attached else 0) or 80

    def _scrollbar(self, rows: int) -> bool:
        """Whether ``rows`` runs and the header overflow the table's height: its vertical scrollbar
        takes 2 cells of the width (not yet laid out: assume it does)."""
        return not self.size.height or rows + (self.header_height if self.show_header else 0) > self.size.height

    def _fit(self, names: list[str]) -> None:
        """Choose the shown columns and the name's width for this table width and these rows."""
        rows = [self.rows_by_name[n] for n in names]
        width = self._width()
        scrollbar = self._scrollbar(len(rows))
        self._fitted_for = (self.size.width, scrollbar)
        room = width - 2 * scrollbar  # a few runs: no scrollbar, its 2 cells go to the names
        self._wanted_at_fit = self._wanted(rows)
        shown = [c for c in self.class_columns if c.key in self._wanted_at_fit]
        natural = {
            c.key: max([self._header(c.key).cell_len, *(cell_len(c.cell(r)) for r in rows)]) if c.key != "sel" else 1
            for c in shown if c.key != "name"
        }

        def used() -> int:  # cells of the columns but the name, each with its padding of 2
            return sum(natural[c.key] + 2 for c in shown if c.key != "name") + 2

        for key in DROP_ORDER:
            if room - used() >= NAME_MIN:
                break
            shown = [c for c in shown if c.key != key]
        longest = max([len(n) for n in names] + [len(COLUMN_LABELS["name"]) + 2])
        self.name_width = max(min(longest, room - used()), min(NAME_MIN, longest))
        if [c.key for c in shown] != [c.key for c in self.shown_columns]:
            self.shown_columns = shown

    def _wanted(self, rows: list[RunRow]) -> set[str]:
        """The keys of the screen width's columns that ``rows`` give something to show."""
        return {c.key for c in self.class_columns if has_values(c, rows)}

    # ---- cells -----------------------------------------------------------------------------
    def _add_columns(self, rows: list[tuple[Any, ...]] = ()) -> None:
        # Explicit widths (the widest cell or header): Textual's pinned columns keep drawing
        # with the width they were first drawn at when auto-width columns grow afterwards.
        for i, c in enumerate(self.shown_columns):
            header = self._header(c.key)
            width = max([header.cell_len, *(cell_len(r[i]) for r in rows)])
            self.add_column(header, key=c.key, width=width)

    def _header(self, key: str) -> Text:
        label = COLUMN_LABELS[key]
        if key == self.sort_column:
            label += " ▼" if self.sort_reverse else " ▲"
        return Text(label, style="bold", justify="right" if _BY_KEY[key].right else "left")

    def cells(self, row: RunRow) -> tuple[Any, ...]:
        """The row's cell values, cached until the row, its selection or its colour changes."""
        key = (row, row.name in self.selected, self.compare_colours.get(row.name), self.name_width,
               tuple(c.key for c in self.shown_columns), self.state_background)
        hit = self._cell_cache.get(row.name)
        if hit is not None and hit[0] == key:
            return hit[1]
        cells = self._make_cells(row)
        self._cell_cache[row.name] = (key, cells)
        return cells

    def _make_cells(self, row: RunRow) -> tuple[Any, ...]:
        mark = Text("✓", style="bold " + self.compare_colours.get(row.name, "")) if row.name in self.selected else Text(" ")
        name = Text(shorten(row.name, self.name_width),
                    style="bold" if row.active else "dim italic" if row.labels.archived else "")
        state = state_text(row.state, self.state_background)  # legible on a light theme's rows
        return tuple(mark if c.key == "sel" else name if c.key == "name" else state if c.key == "state" else c.cell(row)
                     for c in self.shown_columns)

    # ---- what is visible -------------------------------------------------------------------
    def matches(self, row: RunRow) -> bool:
        if hidden_by_archive(row.labels, row.active) and not self.show_archived:
            return False
        return self.query.matches(row.summary, row.labels)

    @property
    def archived_hidden(self) -> int:
        """How many runs the table leaves out because they are archived."""
        return 0 if self.show_archived else sum(1 for r in self.rows_by_name.values()
                                                if hidden_by_archive(r.labels, r.active))

    def _ordered_visible(self) -> list[str]:
        rows = sorted((r for r in self.rows_by_name.values() if self.matches(r)), key=lambda r: r.name)
        gone = self.sort_refusal(self.sort_column, rows)
        if gone:  # sorted by the GPU column, whose last figures went: the default order, said once
            self.sort_column, self.sort_reverse = DEFAULT_SORT
            self.notify(f"Sorted by {COLUMN_LABELS[self.sort_column]} again: {gone}", timeout=6, markup=False)
        key = _BY_KEY[self.sort_column].sort_key
        rev = self.sort_reverse
        # missing values last in both directions (`ordered`); ties stay in name order
        return [r.name for r in ordered(rows, lambda r: key(r, self), descending=rev)]

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
        """Re-add the visible rows in order, keeping the cursor on the same run; when that run
        is gone (deleted, archived, filtered out), on the row that took its place, the next run
        (the previous one after the last): where the user was, not back at the top."""
        keep, keep_row = self.highlighted_name, self.cursor_row
        self._unselect_archived_hidden()
        order = self._ordered_visible()
        self._visible = order
        self._fit(order)
        with self.app.batch_update():
            self.clear(columns=True)
            cells = self._cells
            cells.clear()
            for name in order:
                cells[name] = self.cells(self.rows_by_name[name])
            self._add_columns(list(cells.values()))
            for name in order:
                self.add_row(*cells[name], key=name)
            if keep in order:
                self.move_cursor(row=order.index(keep), animate=False, scroll=True)
            elif keep is not None and order:
                self.move_cursor(row=min(max(keep_row, 0), len(order) - 1), animate=False, scroll=True)

    # ---- updates from the poll thread ------------------------------------------------------
    def apply_updates(self, changed: list[RunRow], removed: list[str]) -> None:
        structural = bool(removed)
        visible = set(self._visible)
        sort_key = _BY_KEY[self.sort_column].sort_key
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
        """Update the changed cells of one visible row (a column widens if a value needs it)."""
        row = self.rows_by_name.get(name)
        if row is None or name not in self._cells:
            return
        if self._wanted([self.rows_by_name[n] for n in self._visible]) != self._wanted_at_fit:
            self.rebuild()  # a column shown only with something to show: its first value came, or its last went
            return
        new = self.cells(row)
        old = self._cells[name]
        if any(cell_len(b) > self.columns[c.key].width for c, b in zip(self.shown_columns, new) if c.key in self.columns):
            self.rebuild()  # a value outgrew its column ("interrupted" replacing "running")
            return
        if self._widest_went(name, old, new):
            self.rebuild()  # the column narrows again: its cells back to the name, as at a fresh start
            return
        for column, a, b in zip(self.shown_columns, old, new):
            if not same_cell(a, b):
                self.update_cell(name, column.key, b)
        self._cells[name] = new

    def _widest_went(self, name: str, old: tuple[Any, ...], new: tuple[Any, ...]) -> bool:
        """Whether a column is wider than any of its values now that row ``name`` shows ``new``:
        its widest value shrank (a run's "no GPU" gone blank as it ended). The column kept the
        width, the name stayed cut to fit it, and a fresh start showed the table otherwise. Asked
        when the run's state changes (it ended, resumed, was interrupted): a training run's figures
        that go up and down each poll ("100%" and "87%") do not rebuild the table every second."""
        keys = [c.key for c in self.shown_columns]
        state = keys.index("state") if "state" in keys else None  # Status always shows (DROP_ORDER)
        if state is None or str(old[state]) == str(new[state]):
            return False
        for i, (column, a, b) in enumerate(zip(self.shown_columns, old, new)):
            if column.key == "name" or column.key not in self.columns:
                continue  # the name's width is the table's room, not its values'
            width = self.columns[column.key].width
            if cell_len(b) < cell_len(a) == width:
                others = (cell_len(cells[i]) for n, cells in self._cells.items() if n != name)
                if max([self._header(column.key).cell_len, cell_len(b), *others]) < width:
                    return True
        return False

    # ---- user actions ----------------------------------------------------------------------
    def set_filter(self, text: str) -> str:
        """Filter the rows; returns the one-line hint about terms left out ("" when none)."""
        text = text.strip()
        if text != self.filter_text:
            self.filter_text = text
            self.query = parse_query(text, extra_keys=config_keys(r.summary for r in self.rows_by_name.values()))
            self.rebuild()
        return self.query.hint

    def set_show_archived(self, show: bool) -> None:
        if show != self.show_archived:
            self.show_archived = show
            self.rebuild()

    def sort_refusal(self, column: str, rows: list[RunRow] | None = None) -> str:
        """Why the table cannot sort by ``column`` now, "" when it can: a column shown only while
        a listed run has something for it (`Column.shows_if`: GPU) sorts only then; sorted by
        values no one sees, the order changed for no visible reason. ``rows``: the listed ones."""
        listed = [self.rows_by_name[n] for n in self._visible if n in self.rows_by_name] if rows is None else rows
        shown = _BY_KEY[column]
        return "" if has_values(shown, listed) else shown.hidden_why or "no listed run has a value for it"

    def set_sort(self, column: str, reverse: bool | None = None) -> str:
        """Sort by ``column``; choosing the sorted column again reverses it (a header click too).
        A new column starts in its natural direction: names A→Z, figures largest first. A column
        the table cannot sort by now (`sort_refusal`) leaves the order: returns the line saying
        why ("" when sorted)."""
        why = self.sort_refusal(column)
        if why:
            return f"Not sorted by {COLUMN_LABELS[column]}: {why}"
        if reverse is None:
            reverse = not self.sort_reverse if column == self.sort_column else column not in ("name", "state", "model")
        self.sort_column, self.sort_reverse = column, reverse
        self.rebuild()
        return ""

    def reverse_sort(self) -> None:
        self.set_sort(self.sort_column, not self.sort_reverse)

    def _unselect_archived_hidden(self) -> None:
        # an archived run out of sight leaves the selection: it stayed ticked unseen, "2 selected"
        # beside one ✓, and c compared the run the user had just put away. Out of sight as `matches`
        # says (`hidden_by_archive`): one that trains stays listed, and ticked
        if self.show_archived:
            return
        rows = self.rows_by_name
        gone = [n for n in self.selected if n in rows and hidden_by_archive(rows[n].labels, rows[n].active)]
        for name in gone:
            del self.selected[name]
        if gone:
            self.compare_colours = self._compare_colours()

    def _compare_colours(self) -> dict[str, str]:
        # legible on what the ✓ column is drawn on (a pinned column: the table's fixed-column
        # background, a mid blue on textual-light), so the marks read in a light theme too
        fixed = self.get_component_rich_style("datatable--fixed", partial=True).bgcolor
        background = tuple(fixed.get_truecolor()) if fixed is not None else theme_background(self.app)
        return {n: run_colour(i, background) for i, n in enumerate(self.selected) if i < len(PALETTE)}

    def set_compare_colours(self) -> None:
        self.compare_colours = self._compare_colours()
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
