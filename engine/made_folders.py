"""Folders petseg makes for what a command writes, and the one rule for them: a folder it made
and then left empty (an error, nothing to write) is removed again, with the parents it made, so
a command that wrote nothing leaves no empty folder behind. A folder that was there before, or
that holds anything, is never touched.

Used by ``petseg infer``'s output folder (`engine.infer.outputs.made_folder`, which the run's
``eval/`` of ``petseg eval --worst`` and the dashboard's saved pictures use too), the run's
``export/`` (`engine.export.run_export`) and the dataset download's target folder
(`engine.data.download.download_oxford_pet`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path


def make_folder(folder: Path) -> list[Path]:
    """Make ``folder`` with its missing parents; returns the folders this made, deepest first
    (none when it existed). An `OSError` of ``mkdir`` is the caller's to word."""
    made = [p for p in (folder, *folder.parents) if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    return made


def remove_if_empty(made: Iterable[Path]) -> None:
    """Remove each of ``made`` (`make_folder`'s list, deepest first) that is still empty."""
    for path in made:
        with contextlib.suppress(OSError):
            path.rmdir()  # only ever an empty one
