"""Crash recovery of a sweep, at its start: `TrialRecovery`, a mixin of the loop's `Scheduler`.

A RUNNING trial whose owning sweep process on this host is dead is taken over. If its run is
still training (the children outlive a killed sweep: they have their own session), or its child
is still starting (loading torch, its run not written yet, or a resume of it not holding the run
yet: waited for), it is adopted and followed to its end, a trial it had pruned asked to stop
again; if the run finished or was pruned meanwhile, the study is told so; if its process died
too, the run is resumed (``petseg train --resume``, from its last.pt) under the same trial
number. A run that failed or diverged on its own is told failed. So no trial runs twice and the
budget counts every trial asked.

`recover` sorts the dead sweep's trials; `_restart_pending`, called from the loop as a slot frees,
starts those it put in ``pending`` again. The mixin uses the scheduler's `spec`, `runs_dir`,
`study`, `host`, `poll`, `log`, `stats`, its slots (`free`), trials (`watches`, `pending`) and its
`_finish`, `_free_run_name` and `_begin`.
"""

from __future__ import annotations

import time
from pathlib import Path

from optuna.trial import FrozenTrial, TrialState

from engine.errors import PetsegError
from engine.runs import RunFollower, RunState
from engine.runs.layout import CONFIG_FILE, STATUS_FILE
from engine.sweep.pruning import TrialWatch
from engine.sweep.record import SweepRecord
from engine.sweep.slots import Slot
from engine.sweep.study import (
    HOST_ATTR,
    PRUNED_AT_ATTR,
    REASON_ATTR,
    RUN_ATTR,
    SLOT_ATTR,
    SPAWNED_ATTR,
    SURPLUS_ATTR,
    claim,
    live_trial,
    trial_owner,
)

# how long a dead sweep's child that has not written its run yet (loading torch) is waited for
START_WAIT_SECONDS = 120.0


class TrialRecovery:
    """The trials of a dead sweep process on this host taken over: `recover`, `_restart_pending`."""

    def recover(self) -> None:
        """Take over the RUNNING trials of a dead sweep process on this host (see the module doc):
        each one followed, told to the study, or in `pending` to start again."""
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if t.user_attrs.get(SURPLUS_ATTR) or t.user_attrs.get(HOST_ATTR) != self.host:
                continue
            if trial_owner(t) == "other":
                continue  # another sweep process on this machine is running it
            self._recover_one(t)

    def _recover_one(self, t: FrozenTrial) -> None:
        run = t.user_attrs.get(RUN_ATTR)
        live = live_trial(self.study, t)
        claim(live, str(t.user_attrs.get(SLOT_ATTR, "")))
        path = self.runs_dir / run if isinstance(run, str) else None
        if path is not None:
            self._await_start(path)
        if path is None or not (path / CONFIG_FILE).exists():
            self.pending.append((t, "fresh"))  # died before its run was written: start it now
            return
        f = RunFollower(path, keep_batches=0)
        f.poll()
        state = f.summary().state
        pruned_at = t.user_attrs.get(PRUNED_AT_ATTR)
        if state.is_active:
            slot = self._take_slot(str(t.user_attrs.get(SLOT_ATTR, "")))
            w = TrialWatch(live, path, slot, None, prune=self.spec.prune != "none", pruned_at=pruned_at)
            self.watches.append(w)
            if pruned_at is not None:  # the dead sweep's stop may have been owed to a resume that had not taken the run
                w.ask_stop()
            self.stats.adopted += 1
            self.log(f"trial {t.number}: its run {run} is still training; following it")
        elif state == RunState.FINISHED or (pruned_at is not None and state in (RunState.STOPPED, RunState.PRUNED)):
            w = TrialWatch(live, path, None, None, pruned_at=pruned_at)
            self.watches.append(w)
            self._finish(w)
        elif state in (RunState.FAILED, RunState.DIVERGED, RunState.BROKEN):
            w = TrialWatch(live, path, None, None)
            self.watches.append(w)
            self._finish(w)
        else:  # interrupted, stopped by a Ctrl-C, unknown: continue it from its last.pt
            self.pending.append((t, "resume"))

    def _await_start(self, path: Path) -> None:
        """Wait while a ``petseg train`` of this run (the dead sweep's child, loading torch) is alive
        and has not written its run, or a resume of it has not taken the run: then it is followed
        like any run training; a second child in the folder would fail on its writer lock, and the
        trial with it, while the first one trained unobserved."""
        from engine.train.launch import await_resume, starting_resume, starting_train

        deadline = time.monotonic() + START_WAIT_SECONDS
        while not (path / STATUS_FILE).exists() and time.monotonic() < deadline:
            if starting_train(self.runs_dir, path.name) is None:
                return
            time.sleep(self.poll)
        resume = starting_resume(path) if (path / STATUS_FILE).exists() else None
        if resume is not None:
            await_resume(resume, path, max(0.0, deadline - time.monotonic()))

    def _take_slot(self, label: str) -> Slot | None:
        for s in self.free:
            if s.label == label:
                self.free.remove(s)
                return s
        return self.free.pop(0) if self.free else None

    def _restart_pending(self, slot: Slot) -> bool:
        t, how = self.pending.pop(0)
        live = live_trial(self.study, t)
        claim(live, slot.label)
        live.set_user_attr(SPAWNED_ATTR, time.time())
        values = dict(t.params)
        name = t.user_attrs.get(RUN_ATTR) or self._free_run_name(t.number)
        from engine.train.launch import start_detached, start_resume

        try:
            if how == "resume":
                popen = start_resume(self.runs_dir, name, env=dict(slot.env))
            else:
                live.set_user_attr(RUN_ATTR, name)
                popen = start_detached(self.spec.trial_config(values), self.runs_dir, name,
                                       env={**slot.env, **SweepRecord(self.spec.name, t.number, values).to_env()})
        except PetsegError as exc:
            live.set_user_attr(REASON_ATTR, str(exc))
            self.study.tell(t.number, state=TrialState.FAIL)
            self.log(f"trial {t.number} could not be restarted: {exc}")
            return False
        pruned_at = t.user_attrs.get(PRUNED_AT_ATTR)
        self.watches.append(TrialWatch(live, self.runs_dir / name, slot, popen, prune=self.spec.prune != "none",
                                       pruned_at=pruned_at, stop_owed=how == "resume" and pruned_at is not None))
        self.stats.resumed += 1
        self._begin(t.number)
        self.log(f"trial {t.number}: {'resuming' if how == 'resume' else 'starting'} its run {name} on {slot.label}")
        return True
