"""Studies as a stopped sweep leaves them, made without training: for the tests of resuming a
sweep from its record (test_sweep_resume.py) and of ``petseg sweep --resume`` (test_sweep_resume_cli.py),
and of how ``--show`` and the sweeps screen word a trial stopped one way or the other."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from optuna.trial import TrialState

from engine.config import TrainConfig
from engine.events import STOPPED_BY_USER, EpochEnded, RunFinished, RunStarted, RunStopped
from engine.runs import RunState, RunStore
from engine.runs.layout import trial_run_name
from engine.sweep.record import SWEEP_KEY, SweepRecord
from engine.sweep.spec_build import build_spec
from engine.sweep.study import OWNER_ATTR, REASON_ATTR, RUN_ATTR, ask_within_budget, open_study


def dead_pid() -> int:
    """The pid of a process that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@contextmanager
def sweep_process(runs: Path, name: str) -> Iterator[int]:
    """A harmless process recorded as running sweep ``name`` (its pid file, "sweep" in its command
    line as a petseg sweep's), for as long as the block lasts; its pid."""
    from engine.runs.layout import sweep_pid_file, write_json_atomic

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "sweep"])
    try:
        sweep_pid_file(runs, name).parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(sweep_pid_file(runs, name), {"pid": proc.pid, "host": socket.gethostname()})
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def stopped_sweep(runs: Path, settings: dict, asked: int, completed: int) -> None:
    """What a sweep process stopped by x (SIGTERM, --on_interrupt stop) leaves in its study:
    ``completed`` trials told, the others of the ``asked`` still running, owned by a process that
    has ended."""
    spec = build_spec(settings)
    study = open_study(spec, runs)
    gone = dead_pid()
    for i in range(asked):
        trial = ask_within_budget(study, spec, "cpu")
        if i < completed:
            study.tell(trial, 0.5)
        else:
            trial.set_user_attr(OWNER_ATTR, gone)


BOTH_STOPS = {"name": "halt", "params": ["width=choice:8,16"], "trials": 4, "sampler": "random", "parallel": 2,
              "eval_best": "no", "base": {"epochs": 3, "image_size": 64}}


def stopped_both_ways(runs: Path) -> None:
    """Sweep "halt" (`BOTH_STOPS`) with its run folders: trial 0 finished; trial 1 stopped by its
    sweep's Ctrl-C (its run "stopped by user" after epoch 1, still open in the study, its sweep
    process ended: a re-run resumes it); trial 2 stopped by its user (x on its live screen,
    ``petseg stop``) while the sweep ran: the same run, counted failed by the study."""
    spec = build_spec(BOTH_STOPS)
    study = open_study(spec, runs)
    gone = dead_pid()
    for number in range(3):
        trial = ask_within_budget(study, spec, "cpu")
        run = trial_run_name("halt", number)
        trial.set_user_attr(RUN_ATTR, run)
        _trial_run(runs, run, SweepRecord("halt", number, dict(trial.params)), finished=number == 0)
        if number == 0:
            study.tell(trial, 0.6)
        elif number == 1:
            trial.set_user_attr(OWNER_ATTR, gone)
        else:  # as the sweep's scheduler tells a trial whose run its user stopped
            trial.set_user_attr(REASON_ATTR, STOPPED_BY_USER)
            study.tell(trial, state=TrialState.FAIL)


def killed_sweep_trial(runs: Path, epochs: int, pruned: bool, prune: str = "median", stop_left: bool = False) -> str:
    """Sweep "p" of one trial (``learning_rate``, ``epochs`` epochs at 64 px, pruner ``prune``) as
    a SIGKILLed sweep process leaves it: the trial's run ended epoch 1 (valid Dice 0.1, reported
    to the study), then was stopped by an earlier Ctrl-C, or (``pruned``) was pruned there and its
    process killed before it read the stop (``stop_left``: the prune's stop request left unread in
    its folder). Returns the run's name."""
    import json

    from engine.runs import request_control
    from engine.sweep.study import PRUNED_AT_ATTR

    spec = build_spec({"name": "p", "params": ["learning_rate=log:1e-4:1e-2"], "trials": 1, "eval_best": "no",
                       "prune": prune, "base": {"epochs": epochs, "image_size": 64}})
    study = open_study(spec, runs)
    trial = ask_within_budget(study, spec, "cpu")
    name = trial_run_name("p", 0)
    trial.set_user_attr(RUN_ATTR, name)
    writer = RunStore(runs).create(TrainConfig(epochs=epochs, image_size=64, **trial.params).to_dict(), name)
    writer.append(RunStarted(run=name, total_epochs=epochs, start_epoch=1, train_size=16, valid_size=4,
                             device="cpu", data="fake", resumed=False), sync=True)
    writer.append(EpochEnded(epoch=1, total_epochs=epochs, train_loss=0.5, train_dice=0.1, valid_loss=0.5,
                             valid_dice=0.1, valid_iou=0.1, valid_dice_per_image=0.1, valid_iou_per_image=0.1,
                             lr=1e-3, seconds=1.0, images_per_s=16.0, best_dice=0.1, best_epoch=1), sync=True)
    trial.report(0.1, 1)
    if pruned:
        trial.set_user_attr(PRUNED_AT_ATTR, 1)
        if stop_left:
            assert request_control(writer.path, "stop")
        writer.close()
        status = json.loads((writer.path / "status.json").read_text())
        (writer.path / "status.json").write_text(json.dumps({**status, "pid": dead_pid()}))  # killed
    else:
        writer.append(RunStopped(epoch=1), sync=True)
        writer.set_status(RunState.STOPPED, STOPPED_BY_USER)
        writer.close()
    trial.set_user_attr(OWNER_ATTR, dead_pid())  # and its sweep too
    return name


def _trial_run(runs: Path, name: str, record: SweepRecord, finished: bool) -> None:
    """A trial's run folder, written by the run store's writer: 3 epochs and finished, or stopped
    by its user after epoch 1."""
    config = {**TrainConfig(epochs=3, image_size=64, **record.params).to_dict(), SWEEP_KEY: record.to_dict()}
    writer = RunStore(runs).create(config, name)
    writer.append(RunStarted(run=name, total_epochs=3, start_epoch=1, train_size=16, valid_size=4, device="cpu",
                             data="fake", resumed=False), sync=True)
    for epoch in range(1, 4 if finished else 2):
        dice = 0.5 + 0.04 * epoch
        writer.append(EpochEnded(epoch=epoch, total_epochs=3, train_loss=0.5, train_dice=dice, valid_loss=0.5,
                                 valid_dice=dice, valid_iou=dice * 0.85, valid_dice_per_image=dice,
                                 valid_iou_per_image=dice * 0.85, lr=1e-3, seconds=1.0, images_per_s=16.0,
                                 best_dice=dice, best_epoch=epoch), sync=True)
    if finished:
        writer.append(RunFinished(epochs=3, best_dice=0.62, best_epoch=3, seconds=3.0), sync=True)
        writer.set_status(RunState.FINISHED)
    else:
        writer.append(RunStopped(epoch=1), sync=True)
        writer.set_status(RunState.STOPPED, STOPPED_BY_USER)
    writer.close()
