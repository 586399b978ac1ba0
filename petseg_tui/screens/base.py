"""`PetsegScreen`: what every full screen of the app shares (a footer that fits 80 columns)."""

from __future__ import annotations

from textual import events
from textual.screen import Screen
from textual.widgets import Footer

COMPACT_FOOTER_BELOW = 120  # columns; below this the footer drops its padding so every key shows


class PetsegScreen(Screen):
    def on_resize(self, event: events.Resize) -> None:
        for footer in self.query(Footer):
            footer.compact = event.size.width < COMPACT_FOOTER_BELOW
