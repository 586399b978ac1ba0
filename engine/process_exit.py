"""`end_process`: how a petseg process (the `petseg` commands, the dashboard) ends once its work is
done or a signal ended it. No torch, no Textual."""

from __future__ import annotations

import atexit
import os
import sys


def end_process(code: int, flush: bool = True) -> None:
    """End this process with ``code``, from any thread: the exit handlers first (threads joined,
    temp folders removed, loader workers killed: `engine.data.loaders`, the files being written
    finished: `engine.exit_writes`), the streams flushed (a
    closed or hung-up one skipped), then `os._exit`, skipping the interpreter's teardown of torch's
    modules: 1.4 s for a bare ``import torch``, 4.6 s after a short training on a loaded 2-core
    machine (docs/RELIABILITY.md, round three).

    ``flush`` False leaves the streams as they are: one whose terminal stopped reading would
    wait there for good, and so would a flush from another thread while a write to it waits
    (the dashboard ended by a signal on a stalled terminal)."""
    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr) if flush else ():
            try:
                if stream is not None:
                    stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
