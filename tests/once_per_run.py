"""`made_once`: a folder the whole test run makes once, however many xdist workers ask for it.

Each xdist worker is a session of its own, so a session fixture is built once per worker: with
`-n logical` (three workers on CI's 2 cores) the tiny run was trained, and exported, up to three
times. The workers share their base temp folder's parent (pytest-xdist's documented way to share
data between workers), so the first worker to ask makes the folder there under a file lock and
the others wait for it and read it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock

# filelock: torch's own dependency, installed wherever the engine is

DONE = ".made"


def made_once(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]) -> Path:
    """The folder ``name``, filled by ``make(folder)`` by the first process of this test run that
    asks; read-only for everyone. A ``make`` that raises leaves no folder: the next one tries again."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = shared / name
    with FileLock(str(shared / f"{name}.lock")):
        if not (folder / DONE).exists():
            shutil.rmtree(folder, ignore_errors=True)  # a make that failed part-way
            folder.mkdir()
            make(folder)
            (folder / DONE).touch()
    return folder
