"""A data-parallel rank's scratch folder in the temp dir: the one place a rank > 0 writes (the run
folder is rank 0's alone), where it keeps its traceback when it fails; and the tidying that
removes such folders when they are no longer needed (`tidy_scratch`, at each rank's start).
"""

from __future__ import annotations

import re
import time
from typing import Any

from engine.train.distributed import DistContext

# a rank's scratch folder (`rank_scratch`: the traceback a failed rank > 0 points to) is kept for the
# user, for this many days after its last write; then the next data-parallel launch on the machine
# removes it (`tidy_scratch`), as it does at once with the scratch of the run it trains
SCRATCH_KEEP_DAYS = 7
_SCRATCH_NAME = re.compile(r"petseg-[A-Za-z0-9._-]+-rank\d+")


def scratch_path(ctx: DistContext, run_name: str) -> Any:
    """Rank ``ctx.rank``'s scratch folder of run ``run_name`` in the temp dir (not created)."""
    import tempfile
    from pathlib import Path

    return Path(tempfile.gettempdir()) / f"petseg-{run_name}-rank{ctx.rank}"


def rank_scratch(ctx: DistContext, run_name: str) -> Any:
    """A folder of rank ``ctx.rank``'s own outside the run folder (which only rank 0 writes), in
    the temp dir: where a rank > 0 keeps its traceback when it fails."""
    path = scratch_path(ctx, run_name)
    path.mkdir(parents=True, exist_ok=True)
    return path


def tidy_scratch(ctx: DistContext, run_name: str, now: float | None = None) -> None:
    """At a rank's start: its scratch folder of this run goes (a traceback of an earlier attempt,
    which the run no longer names), and local rank 0 removes every rank's scratch folder on this
    machine older than `SCRATCH_KEEP_DAYS`. Only folders of that name holding only the logs a rank
    writes are touched. They were never removed: one /tmp/petseg-RUN-rankN per failed rank, forever."""
    import shutil

    from engine.runs.layout import ERROR_LOG, LOG_BACKUP, LOG_FILE

    own = scratch_path(ctx, run_name)
    candidates = [own]
    if ctx.local_rank == 0:
        try:
            candidates += [p for p in own.parent.iterdir() if _SCRATCH_NAME.fullmatch(p.name) and p != own]
        except OSError:
            return
    cutoff = (time.time() if now is None else now) - SCRATCH_KEEP_DAYS * 86400
    for path in candidates:
        try:
            if not path.is_dir() or path.is_symlink():
                continue
            files = list(path.iterdir())
            if any(f.name not in (ERROR_LOG, LOG_FILE, LOG_BACKUP) or not f.is_file() for f in files):
                continue  # not a rank's scratch as petseg writes it: not ours to remove
            newest = max([path.stat().st_mtime, *(f.stat().st_mtime for f in files)])
            if path == own or newest < cutoff:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:  # another rank or machine tidied it first: nothing to do
            continue
