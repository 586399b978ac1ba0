"""textual-image's sixel widget with two fixes that matter over SSH (through its own hooks).

* **Each picture is sent once.** textual-image mounts a new drawing child for every new
  picture (``refresh(recompose=True)``); Textual draws a newly mounted (or resized) widget,
  then repaints the whole screen once the layout has settled, which blanks the cells and
  needs the picture again: every update wrote each sixel image twice (docs/SIXEL.md). Here
  the drawing child stays and only its
  picture changes, and `ImageView` keeps the widget the size of its pane (the picture is
  letterboxed into it), so a new picture changes no layout: one sixel sequence per changed
  pane. (Skipping a repeated render instead is not safe: a full repaint writes spaces over
  the picture first, and the panes stayed blank in xterm.)
* **Palette first.** textual-image's encoder defines each colour register where the image
  first uses it, after pixels were already drawn; xterm 379 (``-ti vt340``) then draws the
  first 6-pixel band of the image in the wrong colour. `palette_first` moves every
  ``#N;2;R;G;B`` definition in front of the pixel data, which draws correctly. Reported
  upstream with the reproduction in docs/SIXEL.md.
"""

from __future__ import annotations

import re
from typing import Any

from textual.app import ComposeResult
from textual_image._sixel import BackgroundColor, SixelOptions
from textual_image.widget._base import Image as _BaseImage
from textual_image.widget.sixel import Image as _TextualImageSixel
from textual_image.widget.sixel import _ImageSixelImpl, _NoopRenderable

_DEFINE = re.compile(r"#(\d+);2;(\d+);(\d+);(\d+)")


def palette_first(sixel: str) -> str:
    """The same sixel image with every colour register defined before the first pixel."""
    start = sixel.find("#")
    if start < 0:
        return sixel
    header, body = sixel[:start], sixel[start:]
    defined: dict[str, str] = {}
    for m in _DEFINE.finditer(body):
        defined.setdefault(m.group(1), m.group(0))
    return header + "".join(defined.values()) + _DEFINE.sub(r"#\1", body)


class _PaletteFirst(_ImageSixelImpl):
    def _image_to_sixels(
        self,
        image: Any,
        sixel_options: SixelOptions | None = None,
        background: BackgroundColor | None = None,
    ) -> str:
        return palette_first(super()._image_to_sixels(image, sixel_options, background))


class SixelImage(_TextualImageSixel, Renderable=_NoopRenderable):
    """Drop-in for ``textual_image.widget.SixelImage`` (see the module docstring)."""

    @property  # type: ignore[override]
    def image(self) -> Any:
        return _BaseImage.image.fget(self)  # type: ignore[attr-defined]

    @image.setter
    def image(self, value: Any) -> None:
        _BaseImage.image.fset(self, value)  # type: ignore[attr-defined]
        for child in self.query(_PaletteFirst):  # swap the picture, keep the widget
            child.image = value
            child.refresh()

    def compose(self) -> ComposeResult:
        yield _PaletteFirst(self.image, self._sixel_options)
