"""Stop and resume from the sweeps screen: `x` stops the sweep shown (asks first), `R` resumes
it (`petseg_tui.sweep_resume`), and what each says when it cannot act (no process runs it, it
runs, its study cannot say, nothing is left).

A mixin of `SweepScreen` (its `board`, and what its poll thread read: `running`, `resume`,
`unresumable`, `refusal`), as `live_control` is for a run's stop / pause / resume on the live
screen. A sweep that runs or has nothing left is said in ``petseg sweep --resume``'s words
(`engine.sweep.resume.resume_refusal`), then this screen's way on.
"""

from __future__ import annotations

import threading

from textual import events

from engine.runs.state import RunState
from engine.sweep.board import SweepBoard


class SweepControlActions:
    """`x` stop the sweep (asks first), `R` resume it; pressed when they cannot act, they say why."""

    board: SweepBoard
    running: bool  # a process runs the sweep shown
    resume: str  # what R would do, "" when it does nothing
    unresumable: str  # why R cannot resume the sweep from its study, "" if it can
    refusal: str  # why R does nothing now: it runs, or nothing is left ("" if it may resume)
    _wake: threading.Event  # wakes the poll thread: the sweep's state is read again at once

    def not_running_text(self) -> str:
        """What x says on a sweep no process runs: nothing to stop, and how its trials ended."""
        counts = ", ".join(f"{n} {s}" for s, n in sorted(self.board.counts().items()))
        return f"sweep {self.board.name} is not running: nothing to stop" + (f" (trials: {counts})" if counts else "")

    def can_resume(self) -> bool:
        """R acts: the sweep shown runs in no process and has something left to do, or its
        study cannot give its settings while a trial of it stopped (R then says why)."""
        if not self.board.name or self.running:
            return False
        stopped = any(t.state in (RunState.STOPPED, RunState.INTERRUPTED) for t in self.board.trials)
        return bool(self.resume) or (bool(self.unresumable) and stopped)

    def not_resumable_text(self) -> str:
        """What R says on a sweep it cannot resume: it runs, its study cannot say, or nothing is left."""
        if self.refusal and self.running:
            return f"{self.refusal} (x stops it)"
        if self.refusal:
            counts = ", ".join(f"{n} {s}" for s, n in sorted(self.board.counts().items()))
            return self.refusal + (f" (trials: {counts})" if counts else "")
        return self.unresumable or f"sweep {self.board.name}: its study could not be read just now; try R again in a moment"

    def on_key(self, event: events.Key) -> None:
        # x is not offered on a sweep that no process runs (check_action); pressed anyway, it says why
        if event.key == "x" and self.board.name and not self.running:
            event.stop()
            self.notify(self.not_running_text(), severity="information")
        # nor R on one it cannot resume: it says why, as x does
        if event.key == "R" and self.board.name and not self.can_resume():
            event.stop()
            self.notify(self.not_resumable_text(), severity="information", markup=False)

    def action_stop_sweep(self) -> None:
        from petseg_tui.screens.confirm import ConfirmScreen

        name = self.board.name
        if not name:
            return
        if not self.running:
            self.notify(self.not_running_text(), severity="information")
            return
        runs_dir = self.petseg_app.runs_dir

        def answer(ok: bool | None) -> None:
            if ok:
                from engine.sweep.launch import stop_sweep, sweep_running

                # it may have ended while the question was up (its best trial's test scored): as x
                # says then, not "not running here (no readable NAME.pid)"
                said = stop_sweep(runs_dir, name) if sweep_running(runs_dir, name) else self.not_running_text()
                self.notify(said, markup=False)
                self._wake.set()

        question = (f"Stop sweep {name}?\n\nIts running trials save last.pt and stop, and it starts no more; "
                    "R on this screen resumes them (or the same petseg sweep command).")
        self.app.push_screen(ConfirmScreen(question, yes="Stop sweep", no="Keep going"), answer)

    def action_resume_sweep(self) -> None:
        from petseg_tui.sweep_resume import resume_sweep

        if not self.can_resume():
            self.notify(self.not_resumable_text(), severity="information", markup=False)
            return
        if self.unresumable:  # said before anything is asked: the settings cannot be read
            self.notify(self.unresumable, title="Cannot resume", severity="warning", markup=False)
            return
        resume_sweep(self.app, self.board.name, started=self._wake.set)
