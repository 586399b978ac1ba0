"""textual-image's sixel widget with two fixes that matter over SSH (through its own hooks).

* **Each picture is sent once.** textual-image re-creates its drawing child for every new
  picture, and Textual renders a newly mounted widget twice in consecutive frames, so every
  update wrote each sixel image twice (~100 KB per pane per update, measured in a pty: six
  sixel sequences for three panes). The terminal keeps the pixels of a sixel image until
  something is drawn over them, so the same sixel data at the same place within
  `RESEND_AFTER_S` is not written again. Anything that really covers a pane (a modal screen, a
  toast) lasts far longer, and when it goes the pane is drawn again.
* **Palette first.** textual-image's encoder defines each colour register the first time the
  image uses it, after pixels were already drawn; xterm (379, ``-ti vt340``) then shows a solid
  band above every image. `palette_first` moves every ``#N;2;R;G;B`` definition in front of the
  pixel data, which draws correctly. Reported upstream as written in docs/SIXEL.md.
"""

from __future__ import annotations

import re
import time
from typing import Any

from textual.app import ComposeResult
from textual.geometry import Region
from textual.strip import Strip
from textual_image._sixel import BackgroundColor, SixelOptions
from textual_image.widget.sixel import Image as _TextualImageSixel
from textual_image.widget.sixel import _ImageSixelImpl, _NoopRenderable

RESEND_AFTER_S = 0.5

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


class _PaletteFirstOnce(_ImageSixelImpl):
    def _image_to_sixels(
        self,
        image: Any,
        sixel_options: SixelOptions | None = None,
        background: BackgroundColor | None = None,
    ) -> str:
        return palette_first(super()._image_to_sixels(image, sixel_options, background))

    def render_lines(self, crop: Region) -> list[Strip]:
        lines = super().render_lines(crop)
        if not lines:
            return lines
        parent = self.parent
        if not isinstance(parent, SixelImage) or self._cached_sixels is None:
            return lines
        key = (hash(self._cached_sixels.sixel_data), crop, self.screen.find_widget(self).visible_region)
        now = time.monotonic()
        last = parent._last_sent
        if last is not None and last[0] == key and now - last[1] < RESEND_AFTER_S:
            return [Strip([])] * len(lines)  # the terminal still shows it: send nothing
        parent._last_sent = (key, now)
        return lines


class SixelImage(_TextualImageSixel, Renderable=_NoopRenderable):
    """Drop-in for ``textual_image.widget.SixelImage`` (see the module docstring)."""

    def __init__(self, image: Any = None, **kwargs: Any) -> None:
        self._last_sent: tuple[Any, float] | None = None  # (what, where, when) was last written
        super().__init__(image, **kwargs)

    def compose(self) -> ComposeResult:
        yield _PaletteFirstOnce(self.image, self._sixel_options)

