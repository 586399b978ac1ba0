"""Control requests: how the TUI (or another shell) stops, pauses or resumes a run in any
process. The request is a file in the run folder; the trainer polls it between batches."""

from __future__ import annotations

import json
import time
from pathlib import Path

from engine.runs.layout import CONTROL_FILE, write_json_atomic
from engine.runs.lock import writer_lock_state

CONTROL_ACTIONS = ("stop", "pause", "resume")


def request_control(run_path: str | Path, action: str) -> bool:
    """Ask the process training ``run_path`` to stop, pause or resume (it polls each batch).

    Returns False, writing nothing, when no process holds the run's writer lock: the run has
    ended (a second dashboard stopped it, it finished while a "Stop?" question was open), and a
    request left behind would act on the next ``--resume`` of the run, which stopped after its
    first batch. A folder with no lock file yet (a launch still starting) takes the request."""
    if action not in CONTROL_ACTIONS:
        raise ValueError(f"unknown control action {action!r}")
    if writer_lock_state(run_path) is False:
        return False
    write_json_atomic(Path(run_path) / CONTROL_FILE, {"action": action, "t": time.time()})
    return True


def read_control(run_path: str | Path) -> str | None:
    """The pending control action, if any (consumed by the trainer with `clear_control`)."""
    p = Path(run_path) / CONTROL_FILE
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    action = data.get("action") if isinstance(data, dict) else None
    return action if action in CONTROL_ACTIONS else None


def clear_control(run_path: str | Path) -> None:
    try:
        (Path(run_path) / CONTROL_FILE).unlink()
    except FileNotFoundError:
        pass
