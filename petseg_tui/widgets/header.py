"""`PetsegHeader`: the one-line title bar (app title — screen or app sub-title).

Textual's Header updates its title from an async watcher scheduled when it mounts; a screen
popped before that callback ran (Enter then Esc in quick succession, measured: within ~0.1 s
on a busy machine) made it query its removed children and took the whole app down with
NoMatches. This header updates synchronously, so there is nothing left to run after it is gone.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class PetsegHeader(Static):
    DEFAULT_CSS = """
    PetsegHeader {
        dock: top;
        width: 100%;
        height: 1;
        background: $panel;
        color: $foreground;
        text-align: center;
        text-style: bold;
    }
    """

    def on_mount(self) -> None:
        for obj in (self.app, self.screen):
            self.watch(obj, "title", self._show_title)  # a plain function: runs now, never later
            self.watch(obj, "sub_title", self._show_title)

    def _show_title(self) -> None:
        title = self.screen.title if self.screen.title is not None else self.app.title
        sub = self.screen.sub_title if self.screen.sub_title is not None else self.app.sub_title
        # Text: a run folder "alpha [copy]" is shown as it is, never read as markup ("alpha")
        self.update(Text(f"{title} — {sub}" if sub else str(title)))
