"""Custom messages: how the poll threads hand file-system news to the UI thread."""

from __future__ import annotations

from textual.message import Message

from petseg_tui.watch import LiveSnapshot, RunRow


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
