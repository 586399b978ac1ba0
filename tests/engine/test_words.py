"""`engine.words`: counts and byte sizes in the words petseg's lines use."""

from __future__ import annotations

import pytest

from engine.words import byte_size, counted


def test_counted_says_the_plural_unless_one() -> None:
    assert [counted(0, "photo"), counted(1, "photo"), counted(2, "process", "processes")] == [
        "0 photos", "1 photo", "2 processes"]


@pytest.mark.parametrize(("n", "said"), [
    (0, "0 KiB"), (1, "1 KiB"), (512 * 1024, "512 KiB"), ((1 << 20) - 1, "1024 KiB"),
    (1 << 20, "1 MiB"), (8 << 20, "8 MiB"), (41 << 19, "20.5 MiB"),
    (3 << 30, "3 GiB"), ((3 << 30) + (1 << 29), "3.5 GiB"),
])
def test_byte_size_words_a_number_of_bytes(n: int, said: str) -> None:
    assert byte_size(n) == said
