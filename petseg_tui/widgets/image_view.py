"""`ImageView`: a titled pane that draws one PIL image with textual-image, fitted to its size.

The drawing widget is built by `petseg_tui.image_modes.make_image_widget`, so the protocol
(kitty, sixel or half-cell) can change at runtime with `set_mode`. An empty pane says what
to do in its bottom border.

The picture is fitted to the pane by width AND height, keeping its aspect ratio, and
letterboxed into a pane-sized canvas (textual-image's ``auto`` size fitted the width only, so
a portrait photo overflowed or left 40 % of a pane empty). The drawing widget always fills the
pane and is created once: a new picture changes no layout, which over SSH means one sixel
or kitty image per changed pane (see `petseg_tui.widgets.sixel`); the same picture set again
is not sent at all.
"""

from __future__ import annotations

import hashlib
from typing import Any

from textual.app import ComposeResult
from textual.containers import Container
from textual.geometry import Size

from petseg_tui.image_modes import cell_pixels, make_image_widget, resolve_image_mode

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


def letterbox(image: Any, box: Size, cell: tuple[int, int], background: tuple[int, int, int]) -> Any:
    """``image`` scaled to fit a canvas of ``box`` cells (``cell`` pixels each), centred on
    ``background``: the pane's picture, whatever the photo's aspect ratio."""
    from PIL import Image

    cw, ch = cell
    canvas = Image.new("RGB", (max(1, box.width * cw), max(1, box.height * ch)), background)
    w, h = fit_cells(image.size, box, ch / cw)
    if w and h:
        scaled = image.resize((w * cw, h * ch), Image.BILINEAR)
        canvas.paste(scaled, ((box.width - w) // 2 * cw, (box.height - h) // 2 * ch))
    return canvas


class ImageView(Container):
    """A bordered pane showing one image (or a hint when empty)."""

    DEFAULT_CSS = """
    ImageView {
        border: round $primary 60%;
        border-title-color: $text;
        border-subtitle-color: $text-muted;
        width: 1fr;
        height: 1fr;
        min-width: 12;
    }
    ImageView > .image-view--image {
        width: 100%;
        height: 100%;
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
        self.border_subtitle = hint
        self._mode = resolve_image_mode(mode)
        self._hint = hint
        self._pil: Any = None
        self._digest: str | None = None
        self._drawn: tuple[Any, ...] | None = None  # (digest, size, mode) on the drawing widget
        self._widget: Any = make_image_widget(self._mode, None, classes="image-view--image")

    @property
    def mode(self) -> str:
        return self._mode

    @property
    def pil_image(self) -> Any:
        """The (display-sized) PIL image shown, or None."""
        return self._pil

    @property
    def image_widget(self) -> Any:
        """The textual-image widget that draws the picture."""
        return self._widget

    def compose(self) -> ComposeResult:
        yield self._widget

    def set_hint(self, hint: str) -> None:
        self._hint = hint
        if self._pil is None and self.border_subtitle != hint:  # the same text again would repaint the pane
            self.border_subtitle = hint

    def set_image(self, image: Any) -> None:
        """Show a PIL image (None: clear back to the hint). The same picture again is a no-op."""
        if image is None:
            if self._pil is not None:
                self._pil, self._digest = None, None
                self.border_subtitle = self._hint
                self._draw()
            return
        digest = image_digest(image)
        if digest == self._digest:
            return
        self._pil, self._digest = display_copy(image), digest
        self.border_subtitle = ""
        self._draw()

    def set_mode(self, mode: str) -> None:
        """Draw with another protocol (a new drawing widget)."""
        mode = resolve_image_mode(mode)
        if mode == self._mode:
            return
        self._mode = mode
        self._widget.remove()
        self._widget = make_image_widget(mode, None, classes="image-view--image")
        self._drawn = None
        self.mount(self._widget)
        self.call_after_refresh(self._draw)

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        widget = self._widget
        size = self.content_size
        key = (self._digest, size, self._mode)
        if key == self._drawn:
            return
        if self._pil is None:
            self._drawn = key
            widget.image = None
            return
        if size.width < 1 or size.height < 1:
            return  # not laid out yet: on_resize draws it
        self._drawn = key
        background = self.background_colors[1].rgb
        widget.image = letterbox(self._pil, size, cell_pixels(), background)
