"""`ImageView`: a titled pane that draws one PIL image with textual-image, fitted to its size.

The drawing widget is built by `petseg_tui.image_modes.make_image_widget`, so the protocol
(kitty, sixel or half-cell) can change at runtime with `set_mode`. An empty pane shows a
one-line hint instead of an image.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Container
from textual.widgets import Static

from petseg_tui.image_modes import make_image_widget, resolve_image_mode

# Bigger than any pane needs in half-cell mode (2 pixels per cell row), and enough for
# kitty/sixel on a large terminal; keeps re-rendering cheap for multi-megapixel photos.
DISPLAY_MAX_SIDE = 1024


def display_copy(image: Any, max_side: int = DISPLAY_MAX_SIDE) -> Any:
    """An RGB copy of a PIL image no larger than ``max_side`` (the original is left alone)."""
    img = image.convert("RGB") if image.mode != "RGB" else image.copy()
    if max(img.size) > max_side:
        img.thumbnail((max_side, max_side))
    return img


class ImageView(Container):
    """A bordered pane showing one image (or a hint when empty)."""

    DEFAULT_CSS = """
    ImageView {
        border: round $primary 60%;
        border-title-color: $text;
        align: center middle;
        width: 1fr;
        height: 1fr;
        min-width: 12;
    }
    ImageView > .image-view--image {
        width: auto;
        height: auto;
    }
    ImageView > .image-view--hint {
        width: 100%;
        height: auto;
        content-align: center middle;
        text-align: center;
        color: $text-muted;
    }
    """

    def __init__(
        self,
        title: str,
        *,
        mode: str = "halfcell",
        hint: str = "",
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = title
        self._mode = resolve_image_mode(mode)
        self._hint = hint
        self._pil: Any = None

    @property
    def mode(self) -> str:
        return self._mode

    @property
    def pil_image(self) -> Any:
        """The (display-sized) PIL image shown, or None."""
        return self._pil

    @property
    def image_widget(self) -> Any:
        """The textual-image widget, or None while the pane is empty."""
        found = self.query(".image-view--image")
        return found.first() if found else None

    def compose(self) -> ComposeResult:
        yield Static(self._hint, classes="image-view--hint")

    def set_hint(self, hint: str) -> None:
        self._hint = hint
        for s in self.query(".image-view--hint").results(Static):
            s.update(hint)

    def set_image(self, image: Any) -> None:
        """Show a PIL image (None: clear back to the hint)."""
        self._pil = display_copy(image) if image is not None else None
        self._rebuild()

    def set_mode(self, mode: str) -> None:
        """Draw with another protocol (rebuilds the drawing widget)."""
        mode = resolve_image_mode(mode)
        if mode == self._mode:
            return
        self._mode = mode
        if self._pil is not None:
            self._rebuild(force=True)

    def _rebuild(self, force: bool = False) -> None:
        current = self.image_widget
        if self._pil is None:
            if current is not None:
                current.remove()
            self.query(".image-view--hint").set(display=True)
            return
        self.query(".image-view--hint").set(display=False)
        if current is not None and not force:
            current.image = self._pil  # same protocol: just swap the picture
            return
        if current is not None:
            current.remove()
        self.mount(make_image_widget(self._mode, self._pil, classes="image-view--image"))
