"""`ColumnScrollTable`: a row-cursor `DataTable` whose ←/→ scroll a whole column at a time.

With fixed columns (the compare table's Run column), DataTable's ←/→ scrolled one cell at a
time, and the column under the fixed ones' right edge showed a fragment of its cells, their
start covered ("inished" of "finished", "hed"), read as a value of its own. Here the scrolled
part always begins with a whole column; its last stop is the first column start at or past the
table's end, so the last columns are shown whole too (blank after them), not cut at the left.
The mouse wheel and the scrollbar still scroll by cells.
"""

from __future__ import annotations

from textual.widgets import DataTable


class ColumnScrollTable(DataTable):
    """A DataTable that ←/→ scroll column by column (with ``cursor_type="row"``)."""

    def column_stops(self) -> list[int]:
        """Where ←/→ leave ``scroll_x``: the start of each scrolled column (0: the first one
        beside the fixed ones), up to the first at or past the table's end; a last column wider
        than the scrolled part ends at the end instead."""
        end = super().max_scroll_x
        stops, x = [], 0
        for column in self.ordered_columns[self.fixed_columns:]:
            stops.append(x)
            if x >= end:
                return stops
            x += column.get_render_width(self)
        return stops + [end] if stops else [0]  # (the last column reaches past the end)

    @property
    def max_scroll_x(self) -> int:
        """The last stop, past the table's end where its last column starts beyond it (blank
        after it): every scroll, the cursor's keeping its row in view and End included, ends
        there and not at a fragment of the column before it."""
        return self.column_stops()[-1]

    def _rest_at(self, x: int) -> None:
        self.scroll_target_x = x
        self.scroll_x = x

    def action_cursor_right(self) -> None:
        if self.cursor_type != "row":
            super().action_cursor_right()
            return
        self._set_hover_cursor(False)
        following = next((s for s in self.column_stops() if s > self.scroll_x), None)
        if following is not None:
            self._rest_at(following)

    def action_cursor_left(self) -> None:
        if self.cursor_type != "row":
            super().action_cursor_left()
            return
        self._set_hover_cursor(False)
        before = [s for s in self.column_stops() if s < self.scroll_x]
        if before:
            self._rest_at(before[-1])
