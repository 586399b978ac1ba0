"""`ansi_text`: terminal output with SGR colour codes as Rich `Text`, what ``Text.from_ansi``
returns, made cheap for the charts.

A chart is rebuilt about once a second while a run trains, and Rich's decoder parsed each of
plotext's builds in ~3 ms of a ~18 ms rebuild (docs/PERFORMANCE.md, "Dashboard cost"): it turns
every code into new `Style` objects, although plotext writes the same few codes (a reset and one
24-bit colour per series) thousands of times. Here each code is decoded once, by Rich's own
decoder, and reused; input with anything but SGR codes goes to ``Text.from_ansi`` unchanged.
"""

from __future__ import annotations

import re
from functools import lru_cache

from rich.ansi import AnsiDecoder
from rich.style import Style
from rich.text import Text

_SGR = re.compile(r"\x1b\[([0-9;]*)m")


@lru_cache(maxsize=256)
def _after(style: Style, codes: str) -> Style:
    """The decoder's style after ``ESC [ codes m`` when it was ``style``."""
    decoder = AnsiDecoder()
    decoder.style = style
    decoder.decode_line(f"\x1b[{codes}m")
    return decoder.style


def ansi_text(ansi: str) -> Text:
    """``Text.from_ansi(ansi)`` (equal plain text and spans), decoding each distinct code once."""
    if "\r" in ansi or ansi.count("\x1b") != sum(1 for _ in _SGR.finditer(ansi)):
        return Text.from_ansi(ansi)  # carriage returns, links or cursor codes: Rich's full decoder
    text = Text(tab_size=8)  # as from_ansi makes it
    append = text.append
    style = Style.null()
    for i, line in enumerate(re.split(r"(?<=\n)", ansi)):
        if i:
            append("\n")
        pieces = _SGR.split(line.rstrip("\n"))  # plain, codes, plain, codes, ..., plain
        for j, piece in enumerate(pieces):
            if j % 2:
                style = _after(style, piece)
            elif piece:
                append(piece, style or None)
    return text
