"""Control requests: how the TUI (or another shell) stops, pauses or resumes a run in any
process. The request is a file in the run folder; the trainer polls it between batches."""

from __future__ import annotations

import json
import time
from enum import Enum
from pathlib import Path

from engine.runs.layout import CONTROL_FILE, write_json_atomic
from engine.runs.lock import writer_lock_state

CONTROL_ACTIONS = ("stop", "pause", "resume")


class ControlAnswer(Enum):
    """What `request_control` did with a request; each front end words it its own way.

    True only when WRITTEN, so that ``if request_control(...)`` reads "was it written"."""

    WRITTEN = "written"  # the run obeys after its current batch
    RUN_ENDED = "run ended"  # no process trains the run any more: nothing written
    STOP_PENDING = "stop pending"  # a pause or resume not written: a stop not read yet stands

    def __bool__(self) -> bool:
        return self is ControlAnswer.WRITTEN


def request_control(run_path: str | Path, action: str) -> ControlAnswer:
    """Ask the process training ``run_path`` to stop, pause or resume (it polls each batch).

    Writes nothing and says why when
    - no process holds the run's writer lock (RUN_ENDED): the run has ended (a second dashboard
      stopped it, it finished while a "Stop?" question was open), and a request left behind would
      act on the next ``--resume`` of the run, which stopped after its first batch;
    - a pause or resume would replace a stop the trainer has not read yet (STOP_PENDING): the
      run would train on, its stop lost. A stop replaces anything pending.
    A folder with no lock file yet (a launch still starting) takes the request."""
    if action not in CONTROL_ACTIONS:
        raise ValueError(f"unknown control action {action!r}")
    if writer_lock_state(run_path) is False:
        return ControlAnswer.RUN_ENDED
    if action != "stop" and read_control(run_path) == "stop":
        return ControlAnswer.STOP_PENDING
    write_json_atomic(Path(run_path) / CONTROL_FILE, {"action": action, "t": time.time()})
    return ControlAnswer.WRITTEN


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
