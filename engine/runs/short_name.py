"""How a run name too long for its column is shown: cut in the middle, the same in ``petseg runs``
and in the dashboard's tables (whose status line has the whole name)."""

from __future__ import annotations

from rich.cells import cell_len

ELLIPSIS = "…"
NAME_MIN = 16  # cells a run name keeps before a table drops optional columns or cuts it further


def shorten(name: str, width: int) -> str:
    """``name`` in at most ``width`` cells, cut in the middle: runs often share a prefix
    (``unet-lr3e-4-...``) and differ at the end (a time, a trial number), so the tail keeps
    two thirds. Cells, not characters: a wide (CJK) character takes two, and a name counted in
    characters ran past its column."""
    if cell_len(name) <= width:
        return name
    if width <= 1:
        return ELLIPSIS[:width]
    keep = width - 1
    head = keep // 3
    return _first_cells(name, head) + ELLIPSIS + _first_cells(name[::-1], keep - head)[::-1]


def _first_cells(text: str, cells: int) -> str:
    """The longest start of ``text`` that fits in ``cells`` cells."""
    used = 0
    for i, char in enumerate(text):
        used += cell_len(char)
        if used > cells:
            return text[:i]
    return text
