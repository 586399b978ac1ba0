"""Atomic file replacement: write a temp file beside the target, fsync, rename over it.

Used for every file a crash must never leave half-written (checkpoints, status/config JSON,
saved PNGs). Temp names are ``.NAME.PID.TID.tmp`` so `engine.store.remove_stale_temp_files`
can tell a dead writer's leftovers from a write in progress.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import BinaryIO, Callable

from engine import faults


def atomic_write(path: Path, write: Callable[[BinaryIO], object], *, fault_point: str | None = None) -> None:
    """Call ``write(fh)`` on a temp file, then replace ``path`` with it in one rename.

    On any error the temp file is removed and the exception propagates; ``path`` keeps its
    previous content. ``fault_point`` names the TEST-ONLY kill point between write and rename.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if fault_point:
            faults.maybe_kill(fault_point)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
