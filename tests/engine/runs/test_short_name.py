"""How a run or photo name too long for its column is cut: in the middle, counted in cells."""

from __future__ import annotations

from rich.cells import cell_len

from engine.runs.short_name import shorten


def test_a_name_is_cut_in_the_middle_to_the_width() -> None:
    assert shorten("abcdefghij", 10) == "abcdefghij"
    assert shorten("abcdefghijkl", 7) == "ab…ijkl"


def test_wide_characters_count_two_cells_so_the_name_fits_its_column() -> None:
    """A photo named in Chinese (two cells a character) was cut by characters and ran past the
    inference tree's edge and the runs table's column."""
    name = "猫の写真_アビシニアン_2026年12月_001.jpg"
    for width in (8, 12, 16, 21):
        short = shorten(name, width)
        head, tail = short.split("…")
        assert cell_len(short) <= width and name.startswith(head) and name.endswith(tail)
    assert shorten("猫猫", 4) == "猫猫"  # exactly its width: kept whole
