"""`ColumnScrollTable`: a row-cursor `DataTable` whose ←/→ scroll a whole column at a time.

With fixed columns (the compare table's Run column), DataTable's ←/→ scrolled one cell at a
time, and the column under the fixed ones' right edge showed a fragment of its cells, their
start covered ("inished" of "finished", "hed"), read as a value of its own. Here the scrolled
part always begins with a whole column; its last stop is the first column start at or past the
table's end, so the last columns are shown whole too (blank after them), not cut at the left.
The mouse (a sideways wheel or shift+wheel, a drag of the scrollbar, a click on its track)
settles on a column start too: it scrolled by cells and left the same fragments.
"""

from __future__ import annotations

from textual.scrollbar import ScrollLeft, ScrollRight, ScrollTo
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

    def rest_near(self, x: float) -> None:
        """Scroll to the column start nearest ``x`` (a position kept while the table was filled
        again), once the table's new width is known: set at once, it was cut to the emptied
        table's width, 0."""
        self.call_after_refresh(lambda: self._rest_at(self._stop_near(x)))

    def _stop_near(self, x: float) -> int:
        return min(self.column_stops(), key=lambda stop: (abs(stop - x), stop))

    def _next_column(self) -> bool:
        following = next((s for s in self.column_stops() if s > self.scroll_x), None)
        if following is not None:
            self._rest_at(following)
        return following is not None

    def _previous_column(self) -> bool:
        before = [s for s in self.column_stops() if s < self.scroll_x]
        if before:
            self._rest_at(before[-1])
        return bool(before)

    def action_cursor_right(self) -> None:
        if self.cursor_type != "row":
            super().action_cursor_right()
            return
        self._set_hover_cursor(False)
        self._next_column()

    def action_cursor_left(self) -> None:
        if self.cursor_type != "row":
            super().action_cursor_left()
            return
        self._set_hover_cursor(False)
        self._previous_column()

    # ---- the mouse: a wheel notch is a column, a drag and a track click settle on a column start
    def _scroll_right_for_pointer(self, **kwargs: object) -> bool:
        return self._next_column() if self.cursor_type == "row" else super()._scroll_right_for_pointer(**kwargs)

    def _scroll_left_for_pointer(self, **kwargs: object) -> bool:
        return self._previous_column() if self.cursor_type == "row" else super()._scroll_left_for_pointer(**kwargs)

    def _on_scroll_to(self, message: ScrollTo) -> None:
        # the horizontal scrollbar's drag: the nearest column start, not the cell under the mouse
        # (Widget's own handler then scrolls there: the message is changed, not consumed)
        if message.x is not None and self.cursor_type == "row":
            message.x = self._stop_near(message.x)

    def _on_scroll_left(self, message: ScrollLeft) -> None:
        if self.cursor_type == "row":
            message.prevent_default()  # not Widget's page of cells
            message.stop()
            page = self.scroll_x - self._scrolled_width()
            # back a page, to the first column start inside it; at least one column
            inside = [s for s in self.column_stops() if page <= s < self.scroll_x]
            if inside:
                self._rest_at(inside[0])
            else:
                self._previous_column()

    def _on_scroll_right(self, message: ScrollRight) -> None:
        if self.cursor_type == "row":
            message.prevent_default()
            message.stop()
            page = self.scroll_x + self._scrolled_width()
            # on a page, to the last column start inside it; at least one column
            inside = [s for s in self.column_stops() if self.scroll_x < s <= page]
            if inside:
                self._rest_at(inside[-1])
            else:
                self._next_column()

    def _scrolled_width(self) -> int:
        """The width the scrolled columns are shown in (beside the fixed ones)."""
        fixed = sum(c.get_render_width(self) for c in self.ordered_columns[:self.fixed_columns])
        return max(1, self.scrollable_content_region.width - fixed)
