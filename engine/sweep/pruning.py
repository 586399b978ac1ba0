"""The bridge between a trial's run folder and Optuna's pruner.

`TrialWatch` follows one trial's run (`engine.runs.RunFollower`), reports each new epoch's valid
Dice to Optuna, and when the pruner says so asks the run to stop through its control file (the
same request as the TUI's x); never at the run's last epoch, which is a complete result. Once the stopped run's process is gone, `mark_pruned` rewrites
its status to ``pruned``, so ``petseg runs`` and the TUI show why it ended.
"""

from __future__ import annotations

import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optuna.trial import Trial

from engine.runs import RunFollower, RunLock, RunState, request_control
from engine.runs.layout import CONFIG_FILE, STATUS_FILE, read_run_json, write_json_atomic
from engine.runs.lock import REWRITING_STATUS
from engine.sweep.study import PRUNED_AT_ATTR


@dataclass
class TrialWatch:
    """One running trial: its Optuna handle, its run folder, its process (None for a run whose
    sweep died and which this process adopted), and what has been reported so far."""

    trial: Trial
    run_path: Path
    slot: object
    popen: subprocess.Popen | None = None
    prune: bool = True
    pruned_at: int | None = None
    # a stop this trial's process cannot take yet: a resume still starting (the run's writer lock
    # not taken: `request_control` answers as if the run had ended), or a pruned trial a re-run
    # resumes (the stop left in its folder is not that process's to obey: `engine.runs.control`).
    # `poll` asks it again until the process holds the run (`ask_stop`)
    stop_owed: bool = False
    follower: RunFollower | None = field(default=None, repr=False)
    reported: set[int] = field(default_factory=set)
    spawned: float = field(default_factory=time.time)  # when this process started (or took over) the run

    @property
    def number(self) -> int:
        return self.trial.number

    def _follower(self) -> RunFollower | None:
        if self.follower is None and (self.run_path / CONFIG_FILE).exists():
            self.follower = RunFollower(self.run_path, keep_batches=0)
        return self.follower

    def poll(self) -> list[tuple[int, float]]:
        """Report the run's new epochs to Optuna; ask the run to stop if the pruner says so.
        Returns the (epoch, valid Dice) reported now."""
        self.ask_owed_stop()
        follower = self._follower()
        if follower is None:
            return []
        follower.poll()
        new = []
        done = set(self.trial.storage.get_trial(self.trial._trial_id).intermediate_values)
        for epoch, ended in sorted(follower.history.epochs.items()):
            if epoch in self.reported:
                continue
            self.reported.add(epoch)
            # a resumed or adopted trial's earlier epochs were reported (and printed) by the process
            # that ran them: returned again, a resume would print its 100 old epochs from epoch 1
            if epoch not in done:
                self.trial.report(float(ended.valid_dice), epoch)
                new.append((epoch, float(ended.valid_dice)))
            # never at the run's last epoch: nothing is left to save, the stop would land after the
            # run finished, and its full result is worth more to the study than a pruned one
            last = 0 < ended.total_epochs <= epoch  # 0: no epoch bound (a time budget alone) until the last
            if self.prune and self.pruned_at is None and not last and self.trial.should_prune():
                self.pruned_at = epoch
                self.trial.set_user_attr(PRUNED_AT_ATTR, epoch)
                self.ask_stop()  # a resumed trial's earlier epochs are read while its process may still start
                break
        return new

    def ask_stop(self) -> None:
        """Ask the trial's run to stop (it saves last.pt after its current batch), as the TUI's x.
        A process of this trial still starting a resume takes no request until it holds the run
        (refused as if the run had ended): the stop is owed (`stop_owed`), asked again at each
        `ask_owed_stop` until that process holds the run, or ends."""
        self.stop_owed = not request_control(self.run_path, "stop") and self._starting()

    def ask_owed_stop(self) -> None:
        """The owed stop (`ask_stop`), asked again: written once the process holds the run,
        dropped once it has ended (it never took the run, or ended before this asked)."""
        if self.stop_owed and (request_control(self.run_path, "stop") or not self._starting()):
            self.stop_owed = False

    def _starting(self) -> bool:
        """This process started the trial's process, which has not ended the run (see `ended`)."""
        return self.popen is not None and not self.ended()

    def ended(self) -> bool:
        """The trial's run has ended: it wrote its last event (finished, stopped, failed, diverged)
        since this process started it (or took it over), or its process is gone (of an adopted
        run: it reads as ended). The slot is free from then on: a child's exit after its last event
        (threads joined, torch torn down) takes seconds, and the next trial need not wait for it.
        An adopted resume that holds the run but has not written its start yet still shows its
        previous process's last event: that one is not its end."""
        terminal = self.terminal()
        if terminal is not None and terminal.t >= self.spawned:
            return True
        if self.popen is not None:
            return self.popen.poll() is not None
        follower = self._follower()
        return follower is None or not follower.history.state.is_active

    def terminal(self) -> Any:
        """The run's terminal event (RunFinished, RunStopped, ...) of its latest start, or None."""
        follower = self._follower()
        if follower is None:
            return None
        follower.poll()
        return follower.history.terminal

    def process_gone(self) -> bool:
        return self.popen is None or self.popen.poll() is not None

    def best(self) -> tuple[float | None, int | None]:
        """(best valid Dice, its epoch) of the run so far."""
        follower = self._follower()
        if follower is None:
            return None, None
        follower.poll()
        best = follower.history.best
        return (float(best.valid_dice), best.epoch) if best else (None, None)

    def done_epochs(self) -> int:
        """The epochs the trial's run has ended so far."""
        follower = self._follower()
        if follower is None:
            return 0
        follower.poll()
        last = follower.history.last_epoch
        return last.epoch if last else 0

    def run_state(self) -> RunState:
        follower = self._follower()
        if follower is None:
            return RunState.UNKNOWN
        follower.poll()
        return follower.summary().state

    def death(self) -> str:
        """How the trial's process died without a word in its run ("killed by SIGKILL (kill -9,
        or the out-of-memory killer)", "exited with code 3"); "" when this process did not start
        it (an adopted run) or it has not ended."""
        code = self.popen.poll() if self.popen is not None else None
        if code is None:
            return ""
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            hint = " (kill -9, or the out-of-memory killer)" if -code == signal.SIGKILL else ""
            return f"its process was killed by {name}{hint}"
        if code == 0:  # a clean exit, yet its run never said how it ended
            return "its process exited (code 0) without writing how its run ended"
        return f"its process exited with code {code}"


def _rewrite_status(run_path: Path, ended_as: tuple[RunState, ...] | None, state: RunState, message: str) -> bool:
    """Rewrite a run's status as ``state`` with ``message`` when it reads one of ``ended_as``
    (None: any active state, a process that vanished), under the run's writer lock, so never
    over a resume that has begun; False when it was left as it was (another state, the folder
    gone or unreadable: the table says so itself)."""
    try:
        lock = RunLock.acquire(run_path, wait=2.0, purpose=REWRITING_STATUS)
    except Exception:
        return False
    try:
        status = read_run_json(run_path / STATUS_FILE)
        now = RunState.parse(str(status.get("state", "")))
        if not (now.is_active if ended_as is None else now in ended_as):
            return False
        status.update(state=str(state), message=message)
        write_json_atomic(run_path / STATUS_FILE, status)
        return True
    except Exception:
        return False
    finally:
        lock.release()


def mark_pruned(run_path: Path, epoch: int, dice: float | None) -> None:
    """Rewrite a stopped run's status as ``pruned``; the board keeps a run some process writes
    again as it is."""
    figure = f" (valid Dice {dice:.4f})" if dice is not None else ""
    _rewrite_status(run_path, (RunState.STOPPED, RunState.PRUNED), RunState.PRUNED,
                    f"pruned by its sweep at epoch {epoch}{figure}: below the median of the other trials at that epoch")


def mark_failed(run_path: Path, why: str) -> bool:
    """Rewrite the status of a run whose process vanished mid-training (a reader shows it
    ``interrupted``) as ``failed`` with ``why``, once its sweep has told Optuna the trial failed:
    the runs table, its filter (``status:failed``) and ``petseg sweep --show`` then say the same.
    It stays resumable (``petseg train --resume``). False when the status was left as it was (it
    wrote how it ended: that is what the table shows)."""
    return _rewrite_status(run_path, None, RunState.FAILED, why)
