"""`ImageView`: a titled pane that draws one PIL image with textual-image, fitted to its size.

The drawing widget is built by `petseg_tui.image_modes.make_image_widget`, so the protocol
(kitty, sixel or half-cell) can change at runtime with `set_mode`. An empty pane shows a
one-line hint instead of an image.

The picture is fitted to the pane by width AND height, keeping its aspect ratio (textual-image's
``auto`` size fits the width only, so a portrait photo in a wide pane overflowed or left 40 % of
the pane empty). Over SSH every byte counts: the same picture set again is not sent again,
and the drawing widget is only resized when the fitted size changes.
"""

from __future__ import annotations

import hashlib
from typing import Any

from textual.app import ComposeResult
from textual.containers import Container
from textual.geometry import Size
from textual.widgets import Static

from petseg_tui.image_modes import cell_aspect, make_image_widget, resolve_image_mode

# Bigger than any pane needs in half-cell mode (2 pixels per cell row), and enough for
# kitty/sixel on a large terminal; keeps re-rendering cheap for multi-megapixel photos.
DISPLAY_MAX_SIDE = 1024


def display_copy(image: Any, max_side: int = DISPLAY_MAX_SIDE) -> Any:
    """An RGB copy of a PIL image no larger than ``max_side`` (the original is left alone)."""
    img = image.convert("RGB") if image.mode != "RGB" else image.copy()
    if max(img.size) > max_side:
        img.thumbnail((max_side, max_side))
    return img


def image_digest(image: Any) -> str:
    """What identifies a picture's content (size, mode and pixels)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{image.mode}{image.size}".encode())
    h.update(image.tobytes())
    return h.hexdigest()


def fit_cells(image_size: tuple[int, int], box: Size, aspect: float) -> tuple[int, int]:
    """The largest (width, height) in cells that fits ``box`` and keeps the picture's aspect
    ratio; ``aspect`` is a cell's height / width in pixels (about 2)."""
    w_px, h_px = image_size
    if box.width < 1 or box.height < 1 or w_px < 1 or h_px < 1:
        return (0, 0)
    ratio = (w_px / h_px) * aspect  # cells across per cell down
    width = min(box.width, max(1, round(box.height * ratio)))
    height = min(box.height, max(1, round(width / ratio)))
    return (width, height)


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
        self._digest: str | None = None
        self._fitted: tuple[int, int] = (0, 0)

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
        """Show a PIL image (None: clear back to the hint). The same picture again is a no-op."""
        if image is None:
            if self._pil is None:
                return
            self._pil, self._digest = None, None
            self._rebuild()
            return
        digest = image_digest(image)
        if digest == self._digest:
            return
        self._pil, self._digest = display_copy(image), digest
        self._rebuild()

    def set_mode(self, mode: str) -> None:
        """Draw with another protocol (rebuilds the drawing widget)."""
        mode = resolve_image_mode(mode)
        if mode == self._mode:
            return
        self._mode = mode
        if self._pil is not None:
            self._rebuild(force=True)

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        widget = self.image_widget
        if widget is None or self._pil is None:
            return
        fitted = fit_cells(self._pil.size, self.content_size, cell_aspect())
        if fitted != self._fitted and all(fitted):
            self._fitted = fitted
            widget.styles.width, widget.styles.height = fitted

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
            self._fit()
            return
        if current is not None:
            current.remove()
        widget = make_image_widget(self._mode, self._pil, classes="image-view--image")
        self._fitted = fit_cells(self._pil.size, self.content_size, cell_aspect())
        if all(self._fitted):
            widget.styles.width, widget.styles.height = self._fitted
        else:  # not laid out yet: on_resize fits it
            widget.styles.width = widget.styles.height = "auto"
        self.mount(widget)
