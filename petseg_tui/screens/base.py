"""`PetsegScreen`: what every full screen of the app shares: a footer that fits 80 columns.

Below the screen's `FULL_FOOTER_FROM` columns (default `NARROW_BELOW`) the footer is compact,
leaves out the command-palette key and the screen's `NARROW_FOOTER_HIDES` actions (they still
work; ``?`` and ``ctrl+p`` list them), so Quit and Help always show, from 80 columns up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual import events
from textual.app import ComposeResult
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

if TYPE_CHECKING:  # pragma: no cover
    from petseg_tui.app import PetsegApp

NARROW_BELOW = 120  # columns


class PetsegFooter(Footer):
    """Textual's footer that drops the keys its screen says have no room at this width."""

    narrow: reactive[bool] = reactive(False, recompose=True)
    hidden: reactive[frozenset[str]] = reactive(frozenset(), recompose=True)

    def watch_narrow(self, narrow: bool) -> None:
        self.compact = narrow
        self.show_command_palette = not narrow

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if isinstance(widget, FooterKey) and widget.action in self.hidden:
                continue
            yield widget


class PetsegScreen(Screen):
    # Actions whose keys the footer leaves out below FULL_FOOTER_FROM columns.
    NARROW_FOOTER_HIDES: ClassVar[frozenset[str]] = frozenset()
    FULL_FOOTER_FROM: ClassVar[int] = NARROW_BELOW  # columns the full footer needs
    IS_FORM: ClassVar[bool] = False  # a form: the app keeps letter keys (q) inert on it

    @property
    def has_edits(self) -> bool:
        """True when quitting would lose what the user typed here (forms say)."""
        return False

    @property
    def petseg_app(self) -> "PetsegApp":
        return cast("PetsegApp", self.app)

    def footer_hides(self, width: int) -> frozenset[str]:
        """The actions whose keys the footer leaves out at this width."""
        return self.NARROW_FOOTER_HIDES if width < self.FULL_FOOTER_FROM else frozenset()

    def on_resize(self, event: events.Resize) -> None:
        for footer in self.query(PetsegFooter):
            footer.narrow = event.size.width < self.FULL_FOOTER_FROM
            footer.hidden = self.footer_hides(event.size.width)
