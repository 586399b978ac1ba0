"""Plotext's output on screen, made cheap: `ansi_text` turns terminal output with SGR colour codes
into Rich `Text` (what ``Text.from_ansi`` returns) and `text_strips` turns such text into the
strips a widget draws (what Textual's text layout makes of it).

A chart is rebuilt about once a second while a run trains, and Rich's decoder parsed each of
plotext's builds in ~3 ms of a ~18 ms rebuild (docs/PERFORMANCE.md, "Dashboard cost"): it turns
every code into new `Style` objects, although plotext writes the same few codes (a reset and one
24-bit colour per series) thousands of times. Here each code is decoded once, by Rich's own
decoder, and reused; input with anything but SGR codes goes to ``Text.from_ansi`` unchanged.
Textual's general text layout (wrapping, alignment, links) then took about as long again at each
repaint of a new build; a chart's lines need none of it, only each span's style over the widget's.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from rich.ansi import AnsiDecoder
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.visual import Visual, visualize

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


def text_strips(widget: Any, text: Text, base: Any) -> list[Strip]:
    """``text``'s lines as strips in ``widget`` over ``base`` (its visual style): the cells
    ``Visual.to_strips`` makes of it for a text whose lines fit the widget, each span's style
    worked out once by Textual itself. Overlapping or unordered spans go to Textual's own path."""
    spans = text.spans
    if any(b.start < a.end for a, b in zip(spans, spans[1:])):
        width, height = widget.size
        return Visual.to_strips(widget, visualize(widget, text), width, height, base)
    styles: dict[Any, Style] = {}

    def cell_style(span_style: Any) -> Style:
        s = styles.get(span_style)
        if s is None:
            probe = Text.assemble(("x", span_style)) if span_style else Text("x")
            strip = Visual.to_strips(widget, visualize(widget, probe), 1, 1, base)[0]
            # without the probe's selection offset (0, 0): a chart's cells carry none (not selectable)
            s = styles[span_style] = next(iter(strip)).style.clear_meta_and_links()
        return s

    plain = text.plain
    lines: list[list[Segment]] = [[]]

    def emit(start: int, end: int, span_style: Any) -> None:
        for i, part in enumerate(plain[start:end].split("\n")):
            if i:
                lines.append([])
            if part:
                style, segments = cell_style(span_style), lines[-1]
                if segments and segments[-1].style is style:
                    segments[-1] = Segment(segments[-1].text + part, style)
                else:
                    segments.append(Segment(part, style))

    position = 0
    for span in spans:
        if span.start > position:
            emit(position, span.start, None)
        emit(span.start, span.end, span.style)
        position = span.end
    emit(position, len(plain), None)
    return [Strip(segments) for segments in lines]
