"""Counts in words, as petseg prints them: `counted`. No torch, no Textual."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun``, plural unless one: "1 photo", "0 photos", "2 test images"; ``plural``
    for a noun with another plural ("process", "processes")."""
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"
