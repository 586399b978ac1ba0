"""`PathInput`: a text field for a file path that, while it is not being typed in, shows the end
of a path too long for it (the file name), not whatever part the cursor last left in view.

A plain Input keeps its horizontal scroll where the cursor left it: at 80 columns the inference
screen's path box, left after Home or narrowed by a resize, showed the folders
("ed_folder/great_pyrenee") and hid the file name, the part a user checks.
"""

from __future__ import annotations

from textual import events

from petseg_tui.widgets.in_order_input import InOrderInput


class PathInput(InOrderInput):
    """An `InOrderInput` whose view rests on the end of its value while it has no focus; focused,
    the cursor is where the user put it."""

    def show_end(self) -> None:
        """Scroll to the end of the value, unless the user is typing in the field."""
        if self.has_focus or not self.is_mounted:
            return
        self.cursor_position = len(self.value)  # a selection left behind would scroll back to its start
        self.scroll_to(x=self.max_scroll_x, animate=False, immediate=True)

    # Textual runs each class's `_on_*` handler down the MRO, this one first: Widget's, which
    # clears has_focus, has not run yet
    def _on_blur(self, event: events.Blur) -> None:
        self.call_later(self.show_end)

    def _on_resize(self, event: events.Resize) -> None:
        # the new width is laid out once this event is handled: the end is where it is after that
        self.call_after_refresh(self.show_end)
