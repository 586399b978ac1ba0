"""How far a run got in its epoch budget, in the words every view uses: `EpochProgress`.

The one rule: a count "N/total" is always the epochs *finished* (the runs table's Epoch column,
`petseg runs`, the live screen's epoch row and its bar). An epoch begun and not finished is named
by its number alone, after the run's message ("stopped by user · in epoch 16"), never as a count:
the live screen read "Epoch 16/300" for a run stopped during epoch 16 (15 finished, its bar at
5 %) while the runs table read "15/300".
No torch, no Textual.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.runs.state import RunState


@dataclass(frozen=True)
class EpochProgress:
    """A run's epochs: ``done`` finished of ``total`` (0: no budget known yet), ``current`` the
    epoch last begun (0: none)."""

    done: int
    total: int
    current: int = 0
    state: RunState = RunState.UNKNOWN

    @property
    def count(self) -> str:
        """The finished epochs of the budget: "15/300"; "15" with no budget known, "—" for nothing."""
        if self.total:
            return f"{self.done}/{self.total}"
        return str(self.done) if self.done else "—"

    @property
    def unfinished(self) -> int | None:
        """The epoch begun and not finished: under way while the run trains, cut short once it ended."""
        return self.current if self.current > self.done else None

    def noted(self, message: str) -> str:
        """A run's message with the epoch it was cut in: "stopped by user · in epoch 16"; as it is
        when no epoch is unfinished (or the run is still in it) or it names that epoch already
        ("… at epoch 16, batch 3")."""
        n = self.unfinished
        if n is None or self.state.is_active or not message or re.search(rf"\bepoch {n}\b", message):
            return message
        return f"{message} · in epoch {n}"

    def of_total(self, epoch: int) -> str:
        """One epoch named against the budget, never as a count: "epoch 15 of 300" ("epoch 15"
        with no budget known). The live screen's predictions say which epoch they show so, beside
        its "15/300 done": "epoch 15 (15/15, newest)" there read as a second, different count."""
        return f"epoch {epoch} of {self.total}" if self.total else f"epoch {epoch}"

    @property
    def label(self) -> str:
        """The count as a label of at most 14 characters (the live screen's epoch row): "15/300 done"."""
        return f"{self.count} done" if self.total or self.done else "Epochs —"
