"""Counts, sizes and rates in words, as petseg prints them: `counted`, `byte_size`, `format_rate`
(img/s as `petseg runs` and the dashboard write it). No torch, no Textual."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun``, plural unless one: "1 photo", "0 photos", "2 test images"; ``plural``
    for a noun with another plural ("process", "processes")."""
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"


def byte_size(n: int) -> str:
    """A number of bytes as petseg's lines say it: "512 KiB", "20.5 MiB", "3 GiB" (a part of a
    KiB counts as one KiB; a whole MiB or GiB has no ".0": "larger than 8 MiB")."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20)):
        if n >= size:
            return f"{n // size} {unit}" if n % size == 0 else f"{n / size:.1f} {unit}"
    return f"{-(-n // 1024)} KiB"


def format_rate(value: float | None, missing: str = "—") -> str:
    """A rate (img/s, s/epoch): one decimal under 100, none from 100 (``38.5``, ``225``);
    ``missing`` when unknown. `petseg runs` printed 225.2 where the dashboard showed 225."""
    if value is None:
        return missing
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"
