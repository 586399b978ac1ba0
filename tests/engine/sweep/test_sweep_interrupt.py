"""`Scheduler.interrupt`: Ctrl-C's "stop" asks the trials still training to stop, and leaves no
stop request in a run that ended meanwhile (the prompt can wait while trials finish); on run
folders written by the run store's own writer and an in-memory study (no process)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import optuna

from engine.config import TrainConfig
from engine.events import EpochEnded, RunFinished, RunStarted, RunStopped
from engine.runs import RunState, RunStore, read_control
from engine.sweep.pruning import TrialWatch
from engine.sweep.scheduler import Scheduler
from engine.sweep.spec_build import build_spec


def _run(runs: Path, name: str, finished: bool):
    writer = RunStore(runs).create(TrainConfig(epochs=2).to_dict(), name)
    writer.append(RunStarted(run=name, total_epochs=2, start_epoch=1, train_size=16, valid_size=4,
                             device="cpu", data="fake", resumed=False), sync=True)
    for epoch in (1, 2) if finished else (1,):
        writer.append(EpochEnded(epoch=epoch, total_epochs=2, train_loss=0.5, train_dice=0.5, valid_loss=0.5,
                                 valid_dice=0.5, valid_iou=0.4, valid_dice_per_image=0.5, valid_iou_per_image=0.4,
                                 lr=1e-3, seconds=1.0, images_per_s=16.0, best_dice=0.5, best_epoch=1), sync=True)
    if finished:
        writer.append(RunFinished(epochs=2, best_dice=0.5, best_epoch=1, seconds=2.0), sync=True)
        writer.set_status(RunState.FINISHED)
        writer.close()
    return writer


def test_stop_leaves_no_request_in_a_run_that_finished_while_the_prompt_waited(tmp_path: Path) -> None:
    """A stale request would stop the run's next `petseg train --resume` (training the winner
    longer) at once: "stopped after epoch 2" with nothing trained."""
    study = optuna.create_study(direction="maximize")
    spec = build_spec({"name": "s", "params": ["learning_rate=log:1e-4:1e-2"]})
    scheduler = Scheduler(spec, tmp_path, study, log=lambda line: None, poll=0.01)
    _run(tmp_path, "s-t000", finished=True)
    training = _run(tmp_path, "s-t001", finished=False)
    scheduler.watches += [TrialWatch(study.ask(), tmp_path / "s-t000", slot=None),
                          TrialWatch(study.ask(), tmp_path / "s-t001", slot=None)]

    def obey() -> None:  # the trial still training reads the request and stops, as petseg train does
        deadline = time.monotonic() + 10
        while read_control(training.path) != "stop" and time.monotonic() < deadline:
            time.sleep(0.01)
        training.append(RunStopped(epoch=1), sync=True)
        training.set_status(RunState.STOPPED, "stopped by user")
        training.close()

    t = threading.Thread(target=obey)
    t.start()
    assert scheduler.interrupt("stop") == 1  # only the trial still training was asked
    t.join()
    assert read_control(tmp_path / "s-t000") is None


def test_stop_records_a_trial_that_finished_while_the_prompt_waited(tmp_path: Path) -> None:
    """Its end was left to a re-run ("records them and goes on"): the study kept it running, and
    --show and the dashboard said so, until someone ran the sweep again."""
    from optuna.trial import TrialState

    study = optuna.create_study(direction="maximize")
    spec = build_spec({"name": "s", "params": ["learning_rate=log:1e-4:1e-2"]})
    scheduler = Scheduler(spec, tmp_path, study, log=lambda line: None, poll=0.01)
    _run(tmp_path, "s-t000", finished=True)
    scheduler.watches.append(TrialWatch(study.ask(), tmp_path / "s-t000", slot=None))
    assert scheduler.interrupt("stop") == 0
    (trial,) = study.trials
    assert (trial.state, trial.value) == (TrialState.COMPLETE, 0.5)


def test_stop_reaches_a_trial_whose_resume_is_still_starting(tmp_path: Path, monkeypatch) -> None:
    """A re-run resumes a stopped trial; Ctrl-C's stop came while its process was still starting
    (loading torch, the run's writer lock not taken yet). The request was refused as if the run had
    ended, so nothing was written and the trial trained to its end after the sweep said it was
    stopped. It is asked again once the process holds the run: it stops, and the interrupt waits
    for it as for the others."""
    from tests.engine.sweep.fake_sweep import start_fake_resume, stopped_trial_run

    study = optuna.create_study(direction="maximize")
    spec = build_spec({"name": "s", "params": ["learning_rate=log:1e-4:1e-2"]})
    scheduler = Scheduler(spec, tmp_path, study, log=lambda line: None, poll=0.01)
    run = stopped_trial_run(tmp_path, "s-t000", total=20)
    resume = start_fake_resume(tmp_path, "s-t000", monkeypatch, start_seconds=1.5, epoch_seconds=0.2)
    scheduler.watches.append(TrialWatch(study.ask(), run, slot=None, popen=resume))
    assert read_control(run) is None

    assert scheduler.interrupt("stop") == 1
    assert resume.poll() is not None  # waited for, as the trials that held their run
    history = RunStore(tmp_path).load("s-t000")
    assert history.state == RunState.STOPPED and max(history.epochs) < 20
    assert read_control(run) is None


def test_a_second_ctrl_c_before_a_resume_takes_its_run_says_that_trial_was_not_stopped(tmp_path: Path,
                                                                                        monkeypatch) -> None:
    """A second Ctrl-C ends the wait: a trial whose resume had not taken its run yet has no stop
    request standing, and trains on; the sweep says so and how to stop it, where "stopped 1
    running trial" alone was not true of it."""
    import engine.sweep.scheduler as scheduler_module
    from tests.engine.sweep.fake_sweep import start_fake_resume, stopped_trial_run

    study = optuna.create_study(direction="maximize")
    spec = build_spec({"name": "s", "params": ["learning_rate=log:1e-4:1e-2"]})
    said: list[str] = []
    scheduler = Scheduler(spec, tmp_path, study, log=said.append, poll=0.01)
    run = stopped_trial_run(tmp_path, "s-t000", total=20)
    resume = start_fake_resume(tmp_path, "s-t000", monkeypatch, start_seconds=30)
    try:
        trial = study.ask()
        trial.report(0.1, 1)  # the sweep process that ran epoch 1 reported it
        scheduler.watches.append(TrialWatch(trial, run, slot=None, popen=resume))

        def second_ctrl_c(seconds: float) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(scheduler_module.time, "sleep", second_ctrl_c)
        assert scheduler.interrupt("stop") == 1
    finally:
        resume.kill()
        resume.wait()
    assert said == ["trial 0: its resumed run s-t000 was still starting and was not stopped; petseg stop s-t000 "
                    "stops it"]
    assert read_control(run) is None


def test_stop_reaches_a_resumed_trial_of_a_run_an_older_petseg_wrote(tmp_path: Path, monkeypatch) -> None:
    """A run written by an older petseg has no writer.lock. Ctrl-C's stop while its resume was
    still starting found no lock file, took the run for a new launch still starting, and wrote the
    request; the resume then took the run and dropped it as an earlier process's (`take_run`): the
    trial trained on, unstopped, while the sweep waited for it. Such a run is taken as ended until
    the resume holds it, so the stop is owed and asked again then: the trial stops."""
    from engine.runs.layout import LOCK_FILE
    from tests.engine.sweep.fake_sweep import start_fake_resume, stopped_trial_run

    study = optuna.create_study(direction="maximize")
    spec = build_spec({"name": "s", "params": ["learning_rate=log:1e-4:1e-2"]})
    scheduler = Scheduler(spec, tmp_path, study, log=lambda line: None, poll=0.01)
    run = stopped_trial_run(tmp_path, "s-t000", total=20)
    (run / LOCK_FILE).unlink()  # as an older petseg left it
    resume = start_fake_resume(tmp_path, "s-t000", monkeypatch, start_seconds=1.5, epoch_seconds=0.2)
    scheduler.watches.append(TrialWatch(study.ask(), run, slot=None, popen=resume))
    try:
        assert scheduler.interrupt("stop") == 1
    finally:
        if resume.poll() is None:
            resume.kill()
            resume.wait()
    history = RunStore(tmp_path).load("s-t000")
    assert history.state == RunState.STOPPED and max(history.epochs) < 20
    assert read_control(run) is None


def test_stop_leaves_no_request_for_a_trial_whose_child_died_before_writing_its_run(
        tmp_path: Path, fake_trainer: None, monkeypatch) -> None:
    """Ctrl-C's stop reached a trial whose child was still loading torch (its folder: train.log
    alone, so the request is written for the new run), and the child died there. A re-run starts
    that trial afresh in the same folder (`TrialRecovery.recover`), and a new run obeys a request: a
    resume drops one left by an earlier process (`take_run`), a fresh start cannot. So the stop
    is taken back once the child is gone, and the trial the re-run starts trains its budget."""
    from engine.train.launch import start_detached

    study = optuna.create_study(direction="maximize")
    spec = build_spec({"name": "s", "params": ["learning_rate=log:1e-4:1e-2"]})
    scheduler = Scheduler(spec, tmp_path, study, log=lambda line: None, poll=0.01)
    config = TrainConfig(epochs=2)
    monkeypatch.setenv("FAKE_START_SECONDS", "30")
    child = start_detached(config, tmp_path, "s-t000")
    scheduler.watches.append(TrialWatch(study.ask(), tmp_path / "s-t000", slot=None, popen=child))

    def die_loading_torch() -> None:  # killed (out of memory, say) once the stop was written
        deadline = time.monotonic() + 10
        while read_control(tmp_path / "s-t000") != "stop" and time.monotonic() < deadline:
            time.sleep(0.01)
        child.kill()

    t = threading.Thread(target=die_loading_torch)
    t.start()
    try:
        assert scheduler.interrupt("stop") == 1
    finally:
        t.join()
        child.kill()
        child.wait()
    assert read_control(tmp_path / "s-t000") is None
    monkeypatch.setenv("FAKE_START_SECONDS", "0")
    monkeypatch.setenv("FAKE_EPOCH_SECONDS", "0.1")
    again = start_detached(config, tmp_path, "s-t000")  # as the re-run's recovery starts it afresh
    assert again.wait(30) == 0
    history = RunStore(tmp_path).load("s-t000")
    assert history.state == RunState.FINISHED and sorted(history.epochs) == [1, 2]
