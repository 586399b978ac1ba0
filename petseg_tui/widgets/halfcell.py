"""`HalfcellImage`: a picture drawn with "▀" cells (top pixel in the foreground colour, bottom
pixel in the background colour), the drawing that works in every truecolor terminal and tmux.

It draws what textual-image's half-cell widget draws (the picture resized to the widget's cells
with Pillow's default filter, one "▀" per cell), cell for cell, with two differences that matter
while a run trains and the live screen gets new predictions every epoch (docs/PERFORMANCE.md,
"Dashboard cost"):

* A new picture of the same size repaints this widget only. textual-image asks for a layout of
  the whole screen on every new picture, which re-renders every widget on it.
* The cells are built once per picture and size, with one `Style` per colour pair, and served
  through Textual's line API; textual-image rebuilt them through a Rich renderable (a `Style` and
  two `Color` objects per cell, then Rich's segment splitting) on every render.
"""

from __future__ import annotations

from typing import Any

from rich.color import Color, ColorType
from rich.color_triplet import ColorTriplet
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

HALF_BLOCK = "▀"


def halfcell_rows(image: Any, width: int, height: int) -> list[list[tuple[int, int]]]:
    """``image`` (PIL) resized to ``width`` x ``2 * height`` pixels as ``height`` rows of
    (top, bottom) colours per cell, each colour as 0xRRGGBB."""
    raw = image.convert("RGB").resize((width, 2 * height)).tobytes()
    codes = [int.from_bytes(raw[i:i + 3], "big") for i in range(0, len(raw), 3)]
    return [list(zip(codes[2 * y * width:(2 * y + 1) * width], codes[(2 * y + 1) * width:(2 * y + 2) * width]))
            for y in range(height)]


def halfcell_strips(image: Any, width: int, height: int, base: Style) -> list[Strip]:
    """The picture as ``height`` strips of ``width`` "▀" cells over ``base`` (the widget's style).

    A photo has nearly as many colours as cells, so what a cell costs matters: the colours are
    made directly (rich's ``Color.from_rgb`` is ~5x slower) and each colour pair's style once.
    """
    colours: dict[int, Color] = {}
    styles: dict[tuple[int, int], Style] = {}
    plain = base.without_color == Style()  # nothing but colours, which every cell sets anyway

    def colour(code: int) -> Color:
        c = colours.get(code)
        if c is None:
            triplet = ColorTriplet(code >> 16, (code >> 8) & 255, code & 255)
            c = colours[code] = Color(f"#{code:06x}", ColorType.TRUECOLOR, None, triplet)
        return c

    def style(pair: tuple[int, int]) -> Style:
        s = styles.get(pair)
        if s is None:
            s = Style.from_color(colour(pair[0]), colour(pair[1]))
            s = styles[pair] = s if plain else base + s
        return s

    return [Strip([Segment(HALF_BLOCK, style(pair)) for pair in row], width)
            for row in halfcell_rows(image, width, height)]


class HalfcellImage(Widget):
    """A PIL image in half cells, fitted to the widget's size; ``image`` sets or clears it."""

    DEFAULT_CSS = "HalfcellImage { width: 100%; height: 100%; }"

    def __init__(self, image: Any = None, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None, disabled: bool = False) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._image = image
        self._lines: list[Strip] = []
        self._lines_key: tuple[Any, ...] | None = None

    @property
    def image(self) -> Any:
        return self._image

    @image.setter
    def image(self, value: Any) -> None:
        if value is not None and not hasattr(value, "getbands"):  # a path, as textual-image takes
            from PIL import Image

            value = Image.open(value)
        self._image = value
        self._lines_key = None
        self.refresh()  # the widget keeps its size: no layout

    def render_lines(self, crop: Region) -> list[Strip]:
        self._build()  # once per repaint, then each line is looked up
        return super().render_lines(crop)

    def _build(self) -> None:
        width, height = self.size
        base = self.visual_style.rich_style  # what Textual puts under a renderable's own styles
        key = (width, height, base)
        if key == self._lines_key:
            return
        self._lines_key = key
        if self._image is None or width < 1 or height < 1:
            self._lines = []
            return
        self._lines = halfcell_strips(self._image, width, height, base)

    def render_line(self, y: int) -> Strip:
        if 0 <= y < len(self._lines):
            return self._lines[y]
        return Strip.blank(self.size.width, self.visual_style.rich_style)
