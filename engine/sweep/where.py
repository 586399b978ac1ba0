"""Where a sweep kept with ``--storage`` has its study, for the dashboard: the sweep process
records it in ``<runs>/.sweeps/NAME.storage.json`` (`engine.runs.layout.sweep_storage_record`)
each time it opens the study, so the sweeps screen reads the same study as
``petseg sweep --show NAME --storage URL`` (the best trial's test Dice, the budget).

A URL is recorded without its password (`engine.sweep.storage.without_password`: never on disk
in clear; a PostgreSQL login then takes PGPASSWORD or ~/.pgpass) and a relative sqlite file or
journal path as an absolute one (the dashboard may run in another folder). No Optuna, no torch.
"""

from __future__ import annotations

import re
from pathlib import Path

from engine.errors import RunStoreError
from engine.runs.layout import (
    SWEEP_STORAGE_SUFFIX,
    SWEEPS_DIR,
    read_run_json,
    sweep_storage_record,
    write_json_atomic,
)

STORAGE_KEY = "storage"


def shareable(storage: str) -> str:
    """``storage`` as the record keeps it: a URL without its password, paths absolute."""
    from engine.sweep.storage import without_password

    if "://" not in storage:
        return str(Path(storage).expanduser().resolve())
    url = without_password(storage)
    m = re.match(r"(sqlite(?:\+\w+)?:///)([^?]*)(.*)", url)
    if m and m.group(2) and m.group(2) != ":memory:" and not m.group(2).startswith(("/", "file:")):
        url = m.group(1) + str(Path(m.group(2)).resolve()) + m.group(3)
    return url


def record_storage(runs_dir: str | Path, name: str, storage: str | None) -> None:
    """Record (or, for the default journal, remove the record of) the storage sweep ``name`` uses."""
    path = sweep_storage_record(runs_dir, name)
    if not storage:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, {STORAGE_KEY: shareable(storage)})


def recorded_storage(runs_dir: str | Path, name: str) -> str | None:
    """The storage recorded for sweep ``name``; None for the default journal or an unreadable record."""
    try:
        value = read_run_json(sweep_storage_record(runs_dir, name)).get(STORAGE_KEY)
    except RunStoreError:
        return None
    return value if isinstance(value, str) and value else None


def recorded_sweeps(runs_dir: str | Path) -> list[str]:
    """Every sweep with a storage record in the runs folder, by name."""
    folder = Path(runs_dir) / SWEEPS_DIR
    if not folder.is_dir():
        return []
    return sorted(p.name[: -len(SWEEP_STORAGE_SUFFIX)] for p in folder.glob(f"*{SWEEP_STORAGE_SUFFIX}"))
