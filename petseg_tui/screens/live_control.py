"""Stop, pause and resume from the live screen: what it sends to the run, and when that is done.

A mixin of `LiveRunScreen` (its `snapshot`, `run_path`, `control_note` and `BINDINGS`, which own
the keys). The request goes to the `Trainer` object when the run trains in this app's process,
else to the run folder's control file (`engine.runs.request_control`), which every rank of a run
reads. Whether a resume of an ended run is still starting is a scan of the machine's processes
(psutil): it runs in a thread worker, so the screen never stands still while it looks.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import events, work
from textual.binding import Binding
from textual.worker import get_current_worker

from engine.runs import ControlAnswer, RunState, request_control
from petseg_tui.keys import binding_keys, key_label
from petseg_tui.live_follow import LiveSnapshot
from petseg_tui.screens.confirm import ConfirmScreen
from petseg_tui.screens.live_text import trained_by

# the actions whose keys, on a run that reads as ended, say when they will act on a resume still starting
WAIT_FOR_RESUME = frozenset({"stop", "pause"})

# what `request_control`'s answers other than written say (nothing was sent)
REFUSED = {
    ControlAnswer.RUN_ENDED: "{run} is not training any more: nothing to {action}",
    ControlAnswer.STOP_PENDING: "A stop is already on its way to {run}: not {action}d",
}


def starting_text(run: str, pid: int, key: str) -> str:
    """What x or p (``key``) says on a run whose resume (process ``pid``) is still starting."""
    return (f"{run} is being resumed by pid {pid}, still starting: it takes no request until it trains; press "
            f"{key} again in a moment, once its screen shows it running")


class RunControlActions:
    """`x` stop (asks first), `p` pause or resume, `R` resume or start again."""

    BINDINGS: ClassVar[list[Binding]]
    run_path: Path
    snapshot: LiveSnapshot | None
    control_note: str
    _control_action: str | None

    def _is_active(self) -> bool:
        snap = self.snapshot
        return bool(snap and (snap.active or snap.state == RunState.STARTING))

    def on_key(self, event: events.Key) -> None:
        # x and p are not offered on a run that reads as ended (check_action); pressed while a resume
        # of it is still starting (R: its process loads torch before it takes the run, and takes no
        # request until then), they say when they will act, where they did nothing
        binding = next((b for b in self.BINDINGS if b.action in WAIT_FOR_RESUME and event.key in binding_keys(b)), None)
        if binding is not None and not self._is_active():
            self._look_for_starting_resume(key_label(binding))

    @work(thread=True, exclusive=True, group="starting-resume", exit_on_error=False)
    def _look_for_starting_resume(self, key: str) -> None:
        """Look for a resume of the run still starting (every process's command line read: long on
        a busy machine) and say so on the screen, if there is one."""
        from engine.train.launch import starting_resume  # imports the config module, not torch

        pid = starting_resume(self.run_path)
        if pid is not None and not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._say_resume_starting, key, pid)

    def _say_resume_starting(self, key: str, pid: int) -> None:
        if self.is_attached and not self._is_active():  # not once it trains: the key then acts
            self.notify(starting_text(self.run_path.name, pid, key), markup=False)

    def action_stop(self) -> None:
        if not self._is_active():
            return
        trainer = self.petseg_app.trainer_for(self.run_path)
        snap = self.snapshot
        where = ("It trains in this app's process." if trainer is not None else
                 f"It trains in {trained_by(snap)}." if snap else "It trains in another process.")
        question = (
            f"Stop {self.run_path.name}?\n\n{where} The current batch finishes, last.pt is saved and the run "
            "is marked stopped; R resumes it later."
        )

        def answer(ok: bool | None) -> None:
            if ok:
                self.request("stop")

        self.app.push_screen(ConfirmScreen(question, yes="Stop run", no="Keep training"), answer)

    def action_pause(self) -> None:
        snap = self.snapshot
        if not self._is_active():
            return
        self.request("resume" if (snap and (snap.paused or snap.state == RunState.PAUSED)) else "pause")

    def action_resume_run(self) -> None:
        self._resume()

    def action_restart_run(self) -> None:
        self._resume()

    def _resume(self) -> None:
        snap = self.snapshot
        if snap is not None:
            self.petseg_app.confirm_resume(self.run_path, snap.resume.action, snap.state, snap.message,
                                           note=snap.resume.note, config=snap.config)

    def request(self, action: str) -> None:
        """Stop / pause / resume: the Trainer object if it lives here, else a control file."""
        trainer = self.petseg_app.trainer_for(self.run_path)
        try:
            if trainer is not None:
                getattr(trainer, action)()
            else:
                answer = request_control(self.run_path, action)
                if not answer:
                    self.notify(REFUSED[answer].format(run=self.run_path.name, action=action), markup=False)
                    return
        except OSError as exc:
            self.notify(f"Could not send {action}: {exc}", severity="error", markup=False)
            return
        verb = {"stop": "Stopping", "pause": "Pausing", "resume": "Resuming"}[action]
        self._control_action = action
        self.control_note = f"{verb} (after the current batch) …"
        self.notify(f"{verb} {self.run_path.name} after the current batch", timeout=3, markup=False)
        self.set_timer(8, self._clear_note)

    def _control_done(self, snap: LiveSnapshot) -> bool:
        paused = snap.paused or snap.state == RunState.PAUSED
        return {
            "pause": paused,
            "resume": not paused and snap.state == RunState.RUNNING,
            "stop": not snap.active,
        }.get(self._control_action or "", False)

    def _clear_note(self) -> None:
        self.control_note = ""
