"""Control requests: how the TUI (or another shell) stops, pauses or resumes a run in any
process. The request is a file in the run folder; the trainer polls it between batches.

A request is written only while a process holds the run's writer lock, or before a new run has
one (a launch still starting: a folder no writer has opened yet). A run an older petseg wrote has
no lock file either: it takes a request only while its status says a process of that petseg
trains it; else it has ended, and a resume of it still starting is asked once it holds the run
(`engine.train.launch.starting_resume`), as any resume. So a resume that takes the run finds no
request meant for it: one there was asked of an earlier process, which ended (or was killed)
before it read it, and is removed as the resume takes the run (`take_run`), never obeyed as a
pause or stop nobody asked of this one. Writing a request and taking the run are one step
against each other (the run folder's ``flock``): a request is wholly before the resume (removed)
or after (obeyed)."""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TypeVar

from engine.atomic import folder_lock
from engine.errors import RunStoreError
from engine.runs.history import is_stale
from engine.runs.layout import CONTROL_FILE, STATUS_FILE, is_run_folder, read_run_json, write_json_atomic
from engine.runs.lock import writer_lock_state
from engine.runs.state import RunState

T = TypeVar("T")

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
    A folder with no lock file yet (a launch still starting) takes the request; a run with none
    that an older petseg wrote, only while a process trains it (`_unlocked_run_ended`)."""
    if action not in CONTROL_ACTIONS:
        raise ValueError(f"unknown control action {action!r}")
    with folder_lock(Path(run_path)):  # the lock checked and the request written as one step (`take_run`)
        lock = writer_lock_state(run_path)
        if lock is False or (lock is None and _unlocked_run_ended(Path(run_path))):
            return ControlAnswer.RUN_ENDED
        if action != "stop" and read_control(run_path) == "stop":
            return ControlAnswer.STOP_PENDING
        write_json_atomic(Path(run_path) / CONTROL_FILE, {"action": action, "t": time.time()})
    return ControlAnswer.WRITTEN


def _unlocked_run_ended(run_path: Path) -> bool:
    """A folder with no writer lock file that a writer has opened (`is_run_folder`): a run an
    older petseg wrote, which made none. It has ended unless its status says it trains, in a
    process that lives and beats (`is_stale`): a request written while a resume of it starts was
    dropped by that resume as it took the run (`take_run`), the stop of a sweep's Ctrl-C lost."""
    if not is_run_folder(run_path):
        return False  # a launch still starting: the request is the new run's
    try:
        status = read_run_json(run_path / STATUS_FILE)
    except RunStoreError:
        return True
    return not (RunState.parse(str(status.get("state", ""))).is_active and not is_stale(status, lock=None))


def take_run(run_path: str | Path, claim: Callable[[], T]) -> tuple[T, str | None]:
    """``claim()`` (a resume taking the run's writer lock), then the request an earlier process of
    the run left unread removed, as one step against `request_control` (see the module
    docstring): it was asked of a process that has ended (it checked the lock just before that
    process ended, or that process was killed before it read it). Returns claim's value and the
    removed request's action (None: there was none). Nothing is removed if ``claim`` raises (the
    run is another process's, and so may be the request)."""
    with folder_lock(Path(run_path)):
        claimed = claim()
        left = read_control(run_path)
        clear_control(run_path)
    return claimed, left


def read_control(run_path: str | Path) -> str | None:
    """The pending control action, if any (consumed by the trainer with `clear_control`). Read as
    any file of the run (`read_run_json`): a FIFO there hung the trainer between two batches and
    `petseg stop`, and a symlink out of the run was obeyed; either is no request (the next one
    written replaces it)."""
    try:
        data = read_run_json(Path(run_path) / CONTROL_FILE)
    except RunStoreError:
        return None
    action = data.get("action")
    return action if action in CONTROL_ACTIONS else None


def clear_control(run_path: str | Path) -> None:
    try:
        (Path(run_path) / CONTROL_FILE).unlink()
    except FileNotFoundError:
        pass
