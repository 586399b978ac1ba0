"""Fixtures shared by the engine tests: a tiny UNet checkpoint, as training writes them."""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Iterator
from typing import Any, Callable

import pytest
import torch

from engine.checkpoint import FORMAT, save_checkpoint
from engine.models import build_model


def _tiny_state(**changes: Any) -> dict[str, Any]:
    torch.manual_seed(0)
    state = {"format": FORMAT, "arch": {"name": "unet", "kwargs": {"width": 4}},
             "model": build_model("unet", width=4).state_dict(), "image_size": 64, "mask_rule": "pet_border",
             "epoch": 1, "best_dice": 0.5, "valid_precision": "fp32", "config": {}}  # as training writes it
    state.update(changes)
    return state


@pytest.fixture
def one_thread() -> Iterator[None]:
    """torch on one intra-op thread for the test: bitwise comparisons need the same reduction
    order in both runs, and one thread avoids oversubscribing a shared 2-core machine (10x slower
    batches measured with 2 threads)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def write_checkpoint() -> Callable[..., Path]:
    """``write_checkpoint(path, **changes)``: a UNet width-4, 64 px checkpoint with fields replaced."""

    def write(path: Path, **changes: Any) -> Path:
        save_checkpoint(_tiny_state(**changes), path)
        return path

    return write


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained UNet width-4, 64 px checkpoint, written once per session (read-only: tests never modify it)."""
    path = tmp_path_factory.mktemp("ck") / "best.pt"
    save_checkpoint(_tiny_state(), path)
    return path


@pytest.fixture
def read_only_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder no file can be created in, as a read-only mount or a folder of another user is.
    The mode bits do it for a normal user; root ignores them, so there creating a file in it
    fails the way it does for everyone else (EACCES), through the one call petseg creates
    files with (``tempfile.mkstemp`` probes, ``atomic_write`` temps)."""
    import tempfile

    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):  # root: the mode bits bind nobody
        real = tempfile.mkstemp

        def mkstemp(*args: Any, dir: Any = None, **kwargs: Any) -> Any:
            if dir is not None and Path(dir).resolve() == folder.resolve():
                raise PermissionError(13, "Permission denied")
            return real(*args, dir=dir, **kwargs)

        monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    yield folder
    folder.chmod(0o755)


@pytest.fixture
def unreadable(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], Path]]:
    """``unreadable(path)``: take every permission away from the file or folder ``path`` (mode
    000, as another user's file or one a ``chmod -R`` went wrong on), so it cannot be opened and
    nothing in a folder can be listed, stat'ed or opened. Root ignores the mode bits; there the
    calls petseg reaches files through (``os.stat``, ``os.scandir``, ``open``, ``os.open``) fail
    with EACCES as the kernel makes them fail for everyone else."""
    import builtins
    import errno
    import io

    locked: list[Path] = []

    def denied(path: Any, itself: bool) -> bool:
        if isinstance(path, int):  # a file descriptor: opened before, or a dir_fd call
            return False
        p = Path(os.fsdecode(path)).absolute()
        return any((itself and p == f) or f in p.parents for f in locked)

    def guard(real: Callable[..., Any], itself: bool) -> Callable[..., Any]:
        def call(path: Any, *args: Any, **kwargs: Any) -> Any:
            if denied(path, itself):
                raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(path))
            return real(path, *args, **kwargs)
        return call

    def take_away(path: Path) -> Path:
        path.chmod(0)
        locked.append(path.absolute())
        if len(locked) == 1 and os.access(path, os.R_OK):  # root: the mode bits bind nobody
            monkeypatch.setattr(os, "stat", guard(os.stat, itself=False))  # a 000 file still stats
            for module, name in ((os, "scandir"), (os, "open"), (io, "open"), (builtins, "open")):
                monkeypatch.setattr(module, name, guard(getattr(module, name), itself=True))
        return path

    yield take_away
    for path in locked:
        path.chmod(0o755 if path.is_dir() else 0o644)
