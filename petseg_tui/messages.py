"""Custom messages: how the poll threads hand file-system news to the UI thread, and how a screen
asks the app for what only the app does (start a run)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

from petseg_tui.live_follow import LiveSnapshot
from petseg_tui.watch import RunRow

if TYPE_CHECKING:  # pragma: no cover
    from engine.config import TrainConfig


class RunsUpdated(Message):
    """Rows of the runs table that changed (or appeared) and names of runs that disappeared."""

    def __init__(self, changed: list[RunRow], removed: list[str], first: bool = False) -> None:
        super().__init__()
        self.changed = changed
        self.removed = removed
        self.first = first  # the first full scan of the runs folder


class LiveUpdated(Message):
    """A new snapshot of the run shown on the live-run screen."""

    def __init__(self, snapshot: LiveSnapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class CompareUpdated(Message):
    """Fresh histories of the compared runs."""

    def __init__(self, snapshots: list[LiveSnapshot]) -> None:
        super().__init__()
        self.snapshots = snapshots


class StartRun(Message):
    """The new-run form's answer: start this run. It bubbles to the app, which starts it and pops the
    form once it has started (a refused start leaves the form up, as the user filled it)."""

    def __init__(self, config: TrainConfig, run_name: str | None, detached: bool) -> None:
        super().__init__()
        self.config = config
        self.run_name = run_name
        self.detached = detached
