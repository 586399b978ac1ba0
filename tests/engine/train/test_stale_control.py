"""A control request (control.json: the dashboard's x and p, petseg stop / pause, a sweep's prune)
is obeyed by the process it was asked of (`engine.runs.control`): one the run's previous process
left unread (asked just as it ended, or before it was killed) is dropped as a resume takes the
run; one asked while a launch is still starting, or once a resume holds the run, is obeyed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.cli import main
from engine.cli.common import EXIT_STOPPED
from engine.config import TrainConfig
from engine.runs import RunLock, RunStore, read_control, request_control


def _copied(finished_tiny_run: Path, tmp_path: Path) -> Path:
    runs = tmp_path / "runs"
    shutil.copytree(finished_tiny_run, runs / "r")
    return runs


def resume_drops_the_stale_stop(runs: Path, run: Path, capsys: pytest.CaptureFixture) -> None:
    """``petseg train --resume r --epochs 3`` trains to its end, the stop left for an earlier
    process dropped (and said so), not obeyed."""
    assert main(["train", "--runs", str(runs), "--resume", "r", "--epochs", "3"]) == 0
    history = RunStore(runs).load("r")
    assert history.state == "finished" and sorted(history.epochs) == [1, 2, 3]
    assert read_control(run) is None
    assert ("resume: a stop request asked of the run's previous process, which ended before reading it, was "
            "dropped") in capsys.readouterr().out

def test_a_request_left_by_the_runs_previous_process_is_not_obeyed_by_its_resume(
        finished_tiny_run: Path, tmp_path: Path, capsys) -> None:
    """petseg stop checked the run's writer lock while its process held it, and wrote control.json
    once that process had ended: the next ``petseg train --resume`` stopped after its first batch,
    a stop nobody asked of it."""
    runs = _copied(finished_tiny_run, tmp_path)
    run = runs / "r"
    ending = RunLock.acquire(run)  # the training process, about to end
    assert request_control(run, "stop")  # the lock was held: written
    ending.release()  # it ended without reading it
    assert read_control(run) == "stop"

    resume_drops_the_stale_stop(runs, run, capsys)


def test_a_resume_another_process_holds_leaves_its_request(finished_tiny_run: Path, tmp_path: Path) -> None:
    """A resume refused because the run trains elsewhere must not take that process's request."""
    runs = _copied(finished_tiny_run, tmp_path)
    training = RunLock.acquire(runs / "r")
    try:
        assert request_control(runs / "r", "pause")
        assert main(["train", "--runs", str(runs), "--resume", "r", "--epochs", "3"]) == 1
        assert read_control(runs / "r") == "pause"
    finally:
        training.release()


def test_a_stop_asked_once_a_resume_holds_the_run_is_obeyed(finished_tiny_run: Path, tmp_path: Path) -> None:
    """The dashboard's R returns once the resumed process holds the run; an x right then, before
    that process has read control.json (its data still decoding), is its stop."""
    from engine.train.trainer import Trainer

    runs = _copied(finished_tiny_run, tmp_path)
    trainer = Trainer(None, runs, "r", resume=True, overrides={"epochs": 4})
    assert request_control(trainer.run_path, "stop")
    assert trainer.run() == "stopped"
    assert RunStore(runs).load("r").state == "stopped" and read_control(runs / "r") is None


def test_a_stop_asked_while_a_detached_launch_is_still_starting_is_obeyed(tmp_path: Path, generated_data: str) -> None:
    """Asked the moment a detached ``petseg train`` is spawned (its folder holds train.log alone,
    the child still loads torch): the new run stops at its first batch."""
    from engine.train.launch import start_detached

    runs = tmp_path / "runs"
    config = TrainConfig(epochs=50, image_size=64, width=4, batch_size=8, max_train_images=16, workers=0,
                         device="cpu", data_path=generated_data)
    child = start_detached(config, runs, "r")
    assert request_control(runs / "r", "stop")
    assert child.wait(120) == EXIT_STOPPED
    history = RunStore(runs).load("r")
    assert history.state == "stopped" and not history.epochs


def test_a_prunes_stop_a_trial_finished_before_reading_is_not_obeyed_by_a_later_resume(
        finished_tiny_run: Path, tmp_path: Path, capsys) -> None:
    """A sweep's prune asked a trial to stop in its last moments, and the trial finished first:
    the sweep counts it complete and leaves the request (it cleared it itself, a copy of the rule
    `take_run` owns). ``petseg train --resume`` of that trial (training the winner longer) drops
    it as it takes the run, says so, and trains its new budget."""
    import optuna
    from optuna.trial import TrialState

    from engine.sweep.pruning import TrialWatch
    from engine.sweep.scheduler import Scheduler
    from engine.sweep.spec_build import build_spec

    runs = _copied(finished_tiny_run, tmp_path)
    run = runs / "r"
    ending = RunLock.acquire(run)  # the trial's process, finishing
    assert request_control(run, "stop")  # the prune's stop, written while it held the run
    ending.release()  # it finished without reading it
    study = optuna.create_study(direction="maximize")
    said: list[str] = []
    scheduler = Scheduler(build_spec({"name": "s", "params": ["learning_rate=log:1e-4:1e-2"]}), runs, study,
                          log=said.append, poll=0.01)
    scheduler.watches.append(TrialWatch(study.ask(), run, slot=None, pruned_at=1))
    scheduler.follow()
    assert study.trials[0].state == TrialState.COMPLETE
    assert said[-1].startswith("trial 0 finished (it ended before the prune's stop reached it): best valid Dice")
    capsys.readouterr()

    resume_drops_the_stale_stop(runs, run, capsys)
