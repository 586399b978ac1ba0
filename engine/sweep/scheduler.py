"""The sweep's loop: trials as ``petseg train`` child processes in the slots, the next one started
within a poll (POLL_SECONDS) of one ending, each trial's epochs reported to Optuna as they land.

Every trial is an ordinary run, started exactly like the TUI's detached launch
(`engine.train.launch.start_detached`: ``TrainConfig.to_argv()``, its own session, its output in
train.log), with its slot's environment (CUDA_VISIBLE_DEVICES) and its sweep record.
A drawn combination the trial's config refuses (`SweepSpec.trial_config`: e.g. warm-up >= epochs)
fails at once, told to Optuna with its reason, no process spawned, and is drawn again: it is not
a trial of the budget (a grid point refused is a point done) until `REFUSED_IN_A_ROW` draws in a
row are refused. If the first trials it starts (`GIVE_UP_AFTER`) all fail before an epoch with
one same error, every trial would: it stops asking for trials (`SchedulerStats.gave_up` says
why, in a line).

Crash recovery at start, the trials of a dead sweep process taken over, is `engine.sweep.recovery`'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, Trial, TrialState

from engine.errors import first_line
from engine.runs import RunFollower, RunState, clear_control
from engine.runs.layout import (
    CONFIG_FILE,
    LOG_FILE,
    is_unstarted_run,
    trial_run_name,
)
from engine.sweep.pruning import TrialWatch, mark_failed, mark_pruned
from engine.sweep.record import SweepRecord
from engine.sweep.recovery import TrialRecovery
from engine.sweep.slots import Slot, make_slots
from engine.sweep.spec import RefusedDraw, SweepSpec, value_text
from engine.sweep.study import (
    GAVE_UP_ATTR,
    REASON_ATTR,
    REFUSED_ATTR,
    RUN_ATTR,
    SPAWNED_ATTR,
    ask_within_budget,
    drop_unrun,
)

POLL_SECONDS = 0.2  # how often the loop looks at its children and their run folders
STOP_WAIT_SECONDS = 300.0  # Ctrl-C "stop": how long to wait for the trials to save last.pt and exit
# the first trials this process starts failing before their first epoch with one same error: the
# base flags cannot train (a device this machine lacks, ...); the sweep stops asking for trials
GIVE_UP_AFTER = 2
# random/TPE draws refused in a row (no process started) after which the space is taken for
# all but refused: a space refused half the time reaches it once in ~1000 draws
REFUSED_IN_A_ROW = 10


@dataclass
class SchedulerStats:
    """What the loop measured: each gap between a trial's process ending (as seen by the loop)
    and the next trial's start in its slot, in seconds; and the trials' outcomes."""

    gaps: list[float] = field(default_factory=list)
    started: int = 0
    adopted: int = 0
    resumed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    refused: int = 0  # draws whose combination the config refused (no process started)
    gave_up: str = ""  # why the sweep stopped asking for trials before its budget was spent (a line)


class Scheduler(TrialRecovery):
    """Runs a sweep's trials in its slots until the budget is spent and every trial has ended."""

    def __init__(self, spec: SweepSpec, runs_dir: Path, study: optuna.Study,
                 log: Callable[[str], None] = print, poll: float = POLL_SECONDS) -> None:
        import socket

        self.spec, self.runs_dir, self.study, self.log, self.poll = spec, Path(runs_dir).resolve(), study, log, poll
        self.host = socket.gethostname()
        self.slots = make_slots(spec)
        self.free: list[Slot] = list(self.slots)
        self.watches: list[TrialWatch] = []
        self.pending: list[tuple[FrozenTrial, str]] = []  # recovered trials to restart: (trial, "resume"|"fresh")
        self.exhausted = False
        self.stats = SchedulerStats()
        self._freed_at: list[float] = []  # when each free slot was freed (monotonic), for the gaps
        # trials told their outcome whose process is still exiting, with (epoch, Dice) to mark pruned
        self.exiting: list[tuple[TrialWatch, tuple[int, float | None] | None]] = []
        self._trained = False  # a trial of this process has ended an epoch
        self._begun: list[int] = []  # the first GIVE_UP_AFTER trials this process started
        self._refused_in_a_row = 0
        self._failed_starts: dict[int, tuple[str, str]] = {}  # of those: (error key, why) of each failed before an epoch

    # ---- the loop ----------------------------------------------------------------------------
    def run(self) -> SchedulerStats:
        """Recover a dead sweep's trials, then fill the slots until the budget is spent and the
        trials have ended. KeyboardInterrupt propagates with the trials untouched (see `interrupt`)."""
        if self.study.user_attrs.get(GAVE_UP_ATTR):  # an earlier process stopped; this one goes on
            self.study.set_user_attr(GAVE_UP_ATTR, "")
        self.recover()
        while True:
            self.step()
            if self.exhausted and not self.watches and not self.pending and not self.exiting:
                return self.stats
            time.sleep(self.poll)

    def step(self) -> None:
        """One pass: report new epochs, finish the trials whose process ended, fill free slots."""
        self._observe()
        self._fill()
        self._reap()

    def follow(self) -> None:
        """A pass that starts no trial: the running trials' new epochs reported to Optuna (which
        may prune them), the trials that ended told to the study. What runs while Ctrl-C's
        question waits for its answer (`engine.sweep.asking`)."""
        self._observe()
        self._reap()

    def _observe(self) -> None:
        for w in list(self.watches):
            for epoch, dice in w.poll():
                self._trained = True
                self.log(f"trial {w.number} epoch {epoch}: valid Dice {dice:.4f}" +
                         (" -> pruned, stopping it" if w.pruned_at == epoch else ""))
            if w.ended():
                self._finish(w)

    def _reap(self) -> None:
        """Children that ended their run and are still exiting: once gone, a pruned run's status
        becomes ``pruned`` (its writer lock is free then)."""
        for item in list(self.exiting):
            w, mark = item
            if not w.process_gone():
                continue
            self.exiting.remove(item)
            if mark is not None:
                mark_pruned(w.run_path, *mark)

    def _fill(self) -> None:
        while self.free and (self.pending or not self.exhausted):
            slot = self.free.pop(0)
            freed = self._freed_at.pop(0) if self._freed_at else None
            started = self._restart_pending(slot) if self.pending else self._start_new(slot)
            if not started:
                self.free.insert(0, slot)
                if freed is not None:
                    self._freed_at.insert(0, freed)
                if not self.pending and self.exhausted:
                    return
                continue
            if freed is not None:
                self.stats.gaps.append(time.monotonic() - freed)

    def _start_new(self, slot: Slot) -> bool:
        trial = ask_within_budget(self.study, self.spec, slot.label)
        if trial is None:
            self.exhausted = True
            return False
        values = dict(trial.params)
        try:
            config = self.spec.trial_config(values)
        except RefusedDraw as exc:  # a combination the config refuses (e.g. warm-up >= epochs)
            self._refused(trial, exc)
            return False
        self._refused_in_a_row = 0
        self._begin(trial.number)
        name = self._free_run_name(trial.number)
        trial.set_user_attr(RUN_ATTR, name)  # before the child exists: a crash right after still finds it
        trial.set_user_attr(SPAWNED_ATTR, time.time())
        from engine.train.launch import start_detached

        popen = start_detached(config, self.runs_dir, name,
                               env={**slot.env, **SweepRecord(self.spec.name, trial.number, values).to_env()})
        self.watches.append(TrialWatch(trial, self.runs_dir / name, slot, popen, prune=self.spec.prune != "none"))
        self.stats.started += 1
        shown = " ".join(f"{k}={value_text(k, v)}" for k, v in values.items())
        self.log(f"trial {trial.number} started: run {name} on {slot.label}: {shown}")
        return True

    def _free_run_name(self, number: int) -> str:
        """The trial's run folder name; a suffix if an unrelated run already took it."""
        base = trial_run_name(self.spec.name, number)
        name, k = base, 1
        while (self.runs_dir / name).exists() and not is_unstarted_run(self.runs_dir / name):
            k += 1
            name = f"{base}-{k}"
        return name

    def _finish(self, w: TrialWatch) -> None:
        """Tell the study how the trial ended (from its run's last event, else its state) and free
        its slot; the process may still be exiting (`_reap` waits for it)."""
        w.poll()
        terminal = w.terminal()
        kind = terminal.kind if terminal is not None else str(w.run_state())
        best, epoch = w.best()
        n = w.number
        mark = None
        if w.pruned_at is not None and kind in (RunState.STOPPED, RunState.PRUNED):
            dice = dict(w.trial.storage.get_trial(w.trial._trial_id).intermediate_values).get(w.pruned_at)
            mark = (w.pruned_at, dice)
            self.study.tell(w.trial, state=TrialState.PRUNED)
            # the stop lands an epoch or more after the pruner's decision: a best from then says so
            late = ", trained before the stop reached it" if epoch is not None and epoch > w.pruned_at else ""
            self.log(f"trial {n} pruned at epoch {w.pruned_at}"
                     + (f" (best valid Dice {best:.4f} at epoch {epoch}{late})" if best else ""))
            self._count("pruned")
        elif kind == RunState.FINISHED and best is not None:
            self.study.tell(w.trial, best)
            late = " (it ended before the prune's stop reached it)" if w.pruned_at is not None else ""
            self.log(f"trial {n} finished{late}: best valid Dice {best:.4f} at epoch {epoch}")
            self._count("finished")
        else:
            why = self._reason(w.run_path, RunState.parse(kind))
            if kind == RunState.INTERRUPTED:
                # its process vanished mid-run: said so in the run too, where the table (and its
                # status:failed filter) would have called the trial interrupted and the study failed
                done = w.done_epochs()
                why = (f"{w.death() or 'its process ended without a word'} "
                       f"{f'after epoch {done}' if done else 'before its first epoch ended'}; "
                       "the sweep counted the trial failed (petseg train --resume continues the run)")
                if mark_failed(w.run_path, why):
                    kind = str(RunState.FAILED)  # what its run and --show now say: so does this line
            w.trial.set_user_attr(REASON_ATTR, why)
            self.study.tell(w.trial, state=TrialState.FAIL)
            # no config.json: its petseg train refused to start (why: its train.log's error line);
            # a run that failed reads "trial N failed: why", as its --show row "failed: why" does
            how = ("at start" if not (w.run_path / CONFIG_FILE).exists()
                   else "" if kind == RunState.FAILED else f"({kind})")
            how = f" {how}" if how else ""
            self.log(f"trial {n} failed{how}: {why}")
            self._count("failed")
            if w.popen is not None and best is None:
                self._give_up_if_all_fail(n, why, why)
        self.watches.remove(w)
        self.exiting.append((w, mark))
        if w.slot is not None:
            self.free.append(w.slot)
            self._freed_at.append(time.monotonic())

    def _refused(self, trial: Trial, exc: RefusedDraw) -> None:
        """A draw whose combination the config refuses: failed at once, no process started. A
        random or TPE draw is not a trial of the budget (``refused``: the sampler draws again;
        a space partly refused still trains its budget) until `REFUSED_IN_A_ROW` draws in a row
        are refused: then the space is all but refused and the sweep stops in one line. A grid
        point refused is a point done (it always would be)."""
        trial.set_user_attr(REASON_ATTR, str(exc))
        trial.set_user_attr(REFUSED_ATTR, True)
        if self.spec.sampler == "grid":
            self.study.tell(trial, state=TrialState.FAIL)
        else:
            drop_unrun(self.study, trial)
        self.stats.refused += 1
        self._refused_in_a_row += 1
        self.log(f"trial {trial.number}: drawn values refused, nothing started: {exc}")
        if self.spec.sampler != "grid" and self._refused_in_a_row >= REFUSED_IN_A_ROW:
            self._give_up(f"sweep {self.spec.name} stopped: its last {self._refused_in_a_row} draws were "
                          f"all refused before they started ({exc}); change the search space so its "
                          "combinations are valid and run the same command again")

    def _begin(self, number: int) -> None:
        if len(self._begun) < GIVE_UP_AFTER:
            self._begun.append(number)

    def _give_up_if_all_fail(self, number: int, why: str, key: str) -> None:
        """Stop asking for trials once the first `GIVE_UP_AFTER` this process began all failed
        before an epoch with the same error (``key``): every trial would (the base flags cannot
        train)."""
        if number not in self._begun:
            return
        self._failed_starts[number] = (key, why)
        if (self._trained or self.exhausted or len(self._failed_starts) < GIVE_UP_AFTER
                or len({k for k, _ in self._failed_starts.values()}) > 1):
            return
        n = len(self._failed_starts)
        self._give_up(f"sweep {self.spec.name} stopped: its first {n} trials failed "
                      f"before an epoch with the same error ({why}); fix it and run the same command again")

    def _give_up(self, line: str) -> None:
        """Stop asking for trials, saying why in the log and in the study, where ``petseg sweep
        --show`` and the dashboard read it (the log alone was seen only by whoever watched it)."""
        self.exhausted = True
        self.stats.gave_up = line
        self.log(line)
        self.study.set_user_attr(GAVE_UP_ATTR, line)

    def _reason(self, run_path: Path, state: RunState) -> str:
        """Why a trial failed: its run's own message; else the error its process logged (a
        ``petseg train`` that refused to start says why in train.log alone, its folder has no
        config.json); else what is wrong with the folder."""
        from engine.console_log import logged_error

        try:
            f = RunFollower(run_path, keep_batches=0)
            f.poll()
            summary = f.summary()
            msg, broken = ("", summary.message) if summary.state == RunState.BROKEN else (summary.message, "")
        except Exception as exc:
            msg, broken = "", first_line(exc)
        return msg or logged_error(run_path) or broken or f"the run ended {state}; see {run_path / LOG_FILE}"

    def _count(self, outcome: str) -> None:
        self.stats.outcomes[outcome] = self.stats.outcomes.get(outcome, 0) + 1

    # ---- Ctrl-C ------------------------------------------------------------------------------
    def interrupt(self, action: str) -> int:
        """After a Ctrl-C: ``stop`` asks every running trial to stop (they save last.pt; the
        trials stay open in the study and a re-run of the same command resumes them) and waits
        for them; ``leave`` lets them train on (a re-run adopts them). Returns how many (for
        ``stop``: those still training when asked). The trials that ended by themselves meanwhile
        (finished, pruned or failed while the question waited) are told to the study first."""
        try:
            self.follow()
        except Exception as exc:  # the Ctrl-C cut a pass short (a trial told, not yet let go): a re-run records them
            self.log(f"the trials that ended could not all be recorded now ({first_line(exc)}); a re-run records them")
        if action != "stop":
            return len(self.watches)
        training = [w for w in self.watches if not w.ended()]  # one may end between the two looks
        for w in training:
            w.ask_stop()
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        try:
            # a trial pruned while the question waited is marked pruned once its process is gone
            while time.monotonic() < deadline and (any(mark for _, mark in self.exiting) or not all(
                    w.process_gone() and w.ended() for w in self.watches)):
                for w in self.watches:  # a resume still starting takes its stop once it holds the run
                    w.ask_owed_stop()
                self._reap()
                time.sleep(self.poll)
        except KeyboardInterrupt:
            pass  # a second Ctrl-C: stop waiting; the stop requests stand
        for w in training:
            if w.process_gone() and w.ended():  # a request that landed after the run's end must not act later:
                clear_control(w.run_path)  # `take_run` drops it for a resume, not for a trial a re-run starts afresh
            elif w.stop_owed:  # no request stands for a resume that never took the run while this waited
                self.log(f"trial {w.number}: its resumed run {w.run_path.name} was still starting and was not "
                         f"stopped; petseg stop {w.run_path.name} stops it")
        return len(training)

