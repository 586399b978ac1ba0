"""`TrialWatch`: a trial's epochs from its run folder to Optuna's pruner, and the stop it asks for;
on a run folder written by the run store's own writer and an in-memory study (no process)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from engine.config import TrainConfig
from engine.events import EpochEnded, RunStarted
from engine.runs import RunStore, read_control
from engine.sweep.pruning import TrialWatch


class _AlwaysPrune(optuna.pruners.BasePruner):
    """A pruner that stops every trial at every epoch it is asked about."""

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return True


def _run_with_epochs(runs: Path, epochs: int, total: int):
    writer = RunStore(runs).create(TrainConfig(epochs=total).to_dict(), "w-t000")
    writer.append(RunStarted(run="w-t000", total_epochs=total, start_epoch=1, train_size=16, valid_size=4,
                             device="cpu", data="fake", resumed=False), sync=True)
    for epoch in range(1, epochs + 1):
        writer.append(EpochEnded(epoch=epoch, total_epochs=total, train_loss=0.5, train_dice=0.1, valid_loss=0.5,
                                 valid_dice=0.1 * epoch, valid_iou=0.1, valid_dice_per_image=0.1,
                                 valid_iou_per_image=0.1, lr=1e-3, seconds=1.0, images_per_s=16.0,
                                 best_dice=0.1 * epoch, best_epoch=epoch), sync=True)
    return writer


def test_a_trial_is_never_pruned_at_its_last_epoch(tmp_path: Path) -> None:
    """At the last epoch the run has nothing left to train: a stop would land after it finished
    (it ended 'complete' after 'pruned, stopping it'). Its full result counts; earlier epochs prune."""
    study = optuna.create_study(direction="maximize", pruner=_AlwaysPrune())
    writer = _run_with_epochs(tmp_path, epochs=2, total=2)
    watch = TrialWatch(study.ask(), tmp_path / "w-t000", slot=None)
    watch.reported.add(1)  # epoch 1 was reported (and not pruned: a warm-up, say) earlier
    assert watch.poll() == [(2, 0.2)]
    assert watch.pruned_at is None and read_control(writer.path) is None
    writer.close()


def test_a_trial_is_pruned_before_its_last_epoch(tmp_path: Path) -> None:
    study = optuna.create_study(direction="maximize", pruner=_AlwaysPrune())
    writer = _run_with_epochs(tmp_path, epochs=1, total=3)
    watch = TrialWatch(study.ask(), tmp_path / "w-t000", slot=None)
    assert watch.poll() == [(1, 0.1)]
    assert watch.pruned_at == 1 and read_control(writer.path) == "stop"
    writer.close()


def test_a_stopped_trial_marked_pruned_never_reads_as_running_meanwhile(tmp_path: Path, monkeypatch) -> None:
    """The sweep rewrites a stopped trial's status as "pruned" under the run's lock; a dashboard
    polling at that moment must see "stopped" (then "pruned"), never "running"."""
    import engine.sweep.pruning as pruning

    writer = _run_with_epochs(tmp_path, epochs=1, total=3)
    writer.set_status("stopped", "stopped")
    writer.close()
    run = tmp_path / "w-t000"
    seen: list[str] = []
    real_write = pruning.write_json_atomic

    def write_after_a_poll(path, data):  # under the sweep's lock, before the new status lands
        seen.append(str(RunStore(tmp_path).summary(run).state))
        real_write(path, data)

    monkeypatch.setattr(pruning, "write_json_atomic", write_after_a_poll)
    pruning.mark_pruned(run, epoch=1, dice=0.1)
    assert seen == ["stopped"]
    assert str(RunStore(tmp_path).summary(run).state) == "pruned"


def test_a_trial_process_that_exits_0_without_ending_its_run_is_not_called_a_plain_exit(tmp_path: Path) -> None:
    """The sweep marks a trial failed when its run reads interrupted; its process having exited 0
    read "its process exited with code 0", which says nothing went wrong."""
    study = optuna.create_study(direction="maximize")
    for code, said in [(0, "its process exited (code 0) without writing how its run ended"),
                       (3, "its process exited with code 3")]:
        proc = subprocess.Popen([sys.executable, "-c", f"raise SystemExit({code})"])
        proc.wait()
        watch = TrialWatch(trial=study.ask(), run_path=tmp_path / "run", slot=None, popen=proc)
        assert watch.death() == said


def test_a_resumed_trial_returns_only_the_epochs_new_to_the_study(tmp_path: Path) -> None:
    """`petseg sweep --resume` of a trial stopped at epoch 2 printed "trial 0 epoch 1", "epoch 2"
    again before its new epochs, as if the trial had restarted; only epoch 3 is new."""
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    trial.report(0.1, 1)  # the sweep process that ran epochs 1 and 2 reported them
    trial.report(0.2, 2)
    writer = _run_with_epochs(tmp_path, epochs=3, total=5)
    watch = TrialWatch(trial, tmp_path / "w-t000", slot=None, prune=False)
    assert watch.poll() == [(3, pytest.approx(0.3))]
    writer.close()


def test_a_pruned_trial_a_rerun_resumes_is_asked_to_stop_again_and_ends_pruned(tmp_path: Path, monkeypatch) -> None:
    """The pruner stopped trial 0 at epoch 1, and its process (with its sweep) died before it read
    the stop. A re-run resumes it; the stop left in its folder is not the resumed process's to obey
    (`engine.runs.control`), so the sweep asks it again: the trial ends pruned, as it did when that
    left request stopped it, rather than trained to its end."""
    from optuna.trial import TrialState

    from engine.cli import main
    from engine.sweep.study import load_study
    from engine.train import launch
    from tests.engine.sweep.fake_sweep import FAKE
    from tests.engine.sweep.stopped_studies import killed_sweep_trial

    monkeypatch.setattr(launch, "resume_command", lambda runs_dir, run_name: [
        sys.executable, str(FAKE), "train", "--runs", str(runs_dir), "--resume", run_name])
    monkeypatch.setenv("FAKE_EPOCH_SECONDS", "1")
    name = killed_sweep_trial(tmp_path, epochs=5, pruned=True, stop_left=True)  # the prune's stop never read
    assert str(RunStore(tmp_path).summary(name).state) == "interrupted"

    assert main(["sweep", "--runs", str(tmp_path), "--resume", "p"]) == 0
    (told,) = load_study("p", tmp_path).trials
    assert told.state == TrialState.PRUNED
    assert str(RunStore(tmp_path).summary(name).state) == "pruned"
    assert max(RunStore(tmp_path).load(name).epochs) < 5


def test_a_prune_asked_while_a_resumed_trials_process_is_still_starting_stops_it(tmp_path: Path, monkeypatch) -> None:
    """A re-run resumes a trial; its first poll reads the run's earlier epochs and the pruner (the
    median moved since) prunes it there, while its process is still starting. The stop was refused
    as if the run had ended, and the trial trained to its end ("it ended before the prune's stop
    reached it"); it is asked again once the process holds the run."""
    import time

    from tests.engine.sweep.fake_sweep import start_fake_resume, stopped_trial_run

    study = optuna.create_study(direction="maximize", pruner=_AlwaysPrune())
    trial = study.ask()
    trial.report(0.1, 1)  # the sweep process that ran epoch 1 reported it
    run = stopped_trial_run(tmp_path, "w-t000", total=20)
    resume = start_fake_resume(tmp_path, "w-t000", monkeypatch, start_seconds=1.5, epoch_seconds=0.2)
    watch = TrialWatch(trial, run, slot=None, popen=resume)
    watch.poll()
    assert watch.pruned_at == 1
    deadline = time.monotonic() + 60
    while not watch.ended() and time.monotonic() < deadline:
        watch.poll()
        time.sleep(0.05)
    assert resume.wait(30) is not None
    history = RunStore(tmp_path).load("w-t000")
    assert history.state == "stopped" and max(history.epochs) < 20
