"""`RunState`: every state a run can be shown in, and what each one means for the CLI and the TUI.

A `StrEnum`, so status.json, events and ``petseg runs --json`` keep the plain strings
("running", "finished", ...) and old run folders read as before. The properties are the one
place that says which states are active, errors, resumable, ...; the call sites ask them instead
of retyping tuples of names. No torch import.
"""

from __future__ import annotations

from enum import StrEnum


class RunState(StrEnum):
    """What a run is doing or how it ended."""

    # written by the run's writer into status.json
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"
    DIVERGED = "diverged"
    # written by the sweep that stopped the run (engine.sweep.pruning): its valid Dice trailed
    # the other trials' at the same epoch
    PRUNED = "pruned"
    # concluded by a reader
    INTERRUPTED = "interrupted"  # status says running, but the writer is gone (no lock, no heartbeat)
    BROKEN = "broken"  # a file of the run folder is missing, not JSON, or holds a mistyped field
    UNKNOWN = "unknown"  # no state written and no start event yet
    STARTING = "starting"  # the TUI launched it; its folder is not written yet

    @classmethod
    def parse(cls, text: str) -> "RunState":
        """The state named ``text``; UNKNOWN for "" or a name this version does not know."""
        try:
            return cls(text)
        except ValueError:
            return cls.UNKNOWN

    @property
    def is_written(self) -> bool:
        """A state a writer records in status.json (the others are a reader's conclusion)."""
        return self in _WRITTEN

    @property
    def is_active(self) -> bool:
        """A process is training the run (or will go on when resumed): running or paused."""
        return self in (RunState.RUNNING, RunState.PAUSED)

    @property
    def is_error(self) -> bool:
        """Something went wrong that the run's message explains (shown in red): failed,
        diverged, broken."""
        return self in (RunState.FAILED, RunState.DIVERGED, RunState.BROKEN)

    @property
    def is_resumable(self) -> bool:
        """Training can continue from last.pt (or restart when there is none): stopped, failed,
        interrupted."""
        return self in (RunState.STOPPED, RunState.FAILED, RunState.INTERRUPTED)

    @property
    def ended_early(self) -> bool:
        """The run will not finish as it is (an error, or stopped short and resumable): its
        message, if any, says why."""
        return self.is_error or self.is_resumable

    @property
    def log_may_explain(self) -> bool:
        """The process failed or vanished, or the files are unreadable: train.log (a detached
        run's output) may hold the reason. Diverged and stopped say theirs in the message."""
        return self in (RunState.FAILED, RunState.INTERRUPTED, RunState.BROKEN)


_WRITTEN = frozenset({RunState.RUNNING, RunState.PAUSED, RunState.FINISHED, RunState.STOPPED, RunState.FAILED,
                      RunState.DIVERGED, RunState.PRUNED})

# written by a writer, in the order status.json's check names them
WRITTEN_STATES: tuple[RunState, ...] = tuple(s for s in RunState if s.is_written)
