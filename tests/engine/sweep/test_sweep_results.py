"""The leaderboard, the importances (and why there are none) and the best trial's test
evaluation, on an in-memory study: no process, no training."""

from __future__ import annotations

import socket
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from engine.sweep.results import evaluate_best, importances, leaderboard
from engine.sweep.study import EVAL_ATTR, HOST_ATTR, OWNER_ATTR, RUN_ATTR, SPEC_ATTR

LR = FloatDistribution(1e-4, 1e-2, log=True)


def _study(values: list[float | None]) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    for i, v in enumerate(values):
        state = TrialState.COMPLETE if v is not None else TrialState.PRUNED
        study.add_trial(create_trial(params={"learning_rate": 1e-4 * (i + 1)}, distributions={"learning_rate": LR},
                                     value=v, state=state, user_attrs={RUN_ATTR: f"s-t{i:03d}"},
                                     intermediate_values={1: 0.1} if v is None else {}))
    return study


def test_importances_need_two_completed_trials() -> None:
    imp, why = importances(_study([0.5, None]))
    assert imp == {} and why == "parameter importances need at least 2 completed trials (this sweep has 1)"
    imp, why = importances(_study([0.5, 0.6, 0.7, None]))
    assert why == "" and set(imp) == {"learning_rate"}


def test_importances_of_trials_with_one_same_dice_say_so_without_optunas_warning() -> None:
    """Every completed trial with the same valid Dice (tiny trials often do): one plain line, and
    no Optuna warning (the CLI prints each as ``petseg: warning: ...``)."""
    study = optuna.create_study(direction="maximize")
    width = CategoricalDistribution([8, 16])
    for i in range(3):
        study.add_trial(create_trial(params={"learning_rate": 1e-4 * (i + 1), "width": [8, 16][i % 2]},
                                     distributions={"learning_rate": LR, "width": width}, value=0.5651))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        imp, why = importances(study)
    assert [str(w.message) for w in caught] == []
    assert imp == {} and why == ("parameter importances: every completed trial has the same valid Dice (0.5651), "
                                 "so the parameters cannot be told apart")


def test_the_importances_line_names_the_method_that_computed_them(tmp_path: Path) -> None:
    """The line names the evaluator petseg asks for, whatever Optuna's default is (fANOVA before
    Optuna 5, which needs scikit-learn; PED-ANOVA from 5)."""
    from engine.cli.sweep import print_leaderboard

    lines: list[str] = []

    class Console:
        def print(self, text: str, markup: bool = True) -> None:
            lines.append(text)

    print_leaderboard(Console(), _study([0.5, 0.6, 0.7]), tmp_path)
    assert lines[-1] == "parameter importances (PED-ANOVA, for the best valid Dice): learning_rate 1.00"


def test_a_sweep_that_searches_epochs_heads_its_progress_column_apart(tmp_path: Path) -> None:
    """With ``--param epochs=...`` the leaderboard had two columns called "epochs": the searched
    value and the epochs trained of the planned ones. The second is "epoch", as in the runs table."""
    from optuna.distributions import IntDistribution

    from engine.cli.sweep import print_leaderboard

    study = optuna.create_study(direction="maximize")
    study.set_user_attr(SPEC_ATTR, {"name": "s", "params": ["epochs=int:2:4"], "base": {}})
    study.add_trial(create_trial(params={"epochs": 3}, distributions={"epochs": IntDistribution(2, 4)},
                                 value=0.5, intermediate_values={1: 0.4, 2: 0.45, 3: 0.5}))
    lines: list[str] = []

    class Console:
        def print(self, text: str, markup: bool = True) -> None:
            lines.append(text)

    print_leaderboard(Console(), study, tmp_path)
    header, row = lines[1].split(), lines[2].split()
    assert header == ["trial", "epochs", "valid", "Dice", "test", "Dice", "epoch", "status"]
    assert row == ["0", "3", "0.5000", "3/3", "finished"]


def test_leaderboard_best_first_with_missing_run_folders(tmp_path: Path) -> None:
    rows = leaderboard(_study([0.5, None, 0.7]), tmp_path)
    # the pruned trial's folder is elsewhere: its Dice and epochs are what it reported to the study
    assert [(r.number, r.status, r.dice, r.epochs) for r in rows] == [
        (2, "finished", 0.7, 0), (0, "finished", 0.5, 0), (1, "pruned", 0.1, 1)]


def test_a_trial_run_on_another_machine_shows_the_epochs_it_reported(tmp_path: Path) -> None:
    study = optuna.create_study(direction="maximize")
    study.set_user_attr(SPEC_ATTR, {"name": "s", "base": {"epochs": 40}})
    study.add_trial(create_trial(params={"learning_rate": 1e-3}, distributions={"learning_rate": LR},
                                 state=TrialState.PRUNED, user_attrs={RUN_ATTR: "s-t000"},
                                 intermediate_values={1: 0.42, 2: 0.61, 3: 0.58}))
    (row,) = leaderboard(study, tmp_path)
    assert (row.status, row.best_dice, row.epochs, row.total_epochs) == ("pruned", 0.61, 3, 40)


def _finished_run(runs: Path, name: str, epochs: int = 2) -> None:
    """A run folder written by the run store as a trial's ``petseg train`` leaves it, finished."""
    from engine.config import TrainConfig
    from engine.events import EpochEnded, RunFinished, RunStarted
    from engine.runs import RunState, RunStore

    writer = RunStore(runs).create({**TrainConfig(epochs=epochs).to_dict()}, name)
    writer.append(RunStarted(run=name, total_epochs=epochs, start_epoch=1, train_size=16, valid_size=4,
                             device="cpu", data="fake", resumed=False), sync=True)
    for e in range(1, epochs + 1):
        writer.append(EpochEnded(epoch=e, total_epochs=epochs, train_loss=0.5, train_dice=0.5, valid_loss=0.5,
                                 valid_dice=0.5651, valid_iou=0.4, valid_dice_per_image=0.5, valid_iou_per_image=0.4,
                                 lr=1e-3, seconds=1.0, images_per_s=16.0, best_dice=0.5651, best_epoch=1), sync=True)
    writer.append(RunFinished(epochs=epochs, best_dice=0.5651, best_epoch=1, seconds=2.0), sync=True)
    writer.set_status(RunState.FINISHED)
    writer.close()


def test_a_trial_another_sweep_process_runs_says_so(tmp_path: Path) -> None:
    """Two sweep processes share a study: the one that ends first shows the trials the other one
    runs as that process's, with its run folder's state once the run has ended, never a
    contradiction such as "running (finished)"."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # a live sweep process
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()  # a sweep process that has ended (killed): a re-run takes its trials over
    try:
        here = socket.gethostname()
        study = optuna.create_study(direction="maximize")
        owners = [(other.pid, here), (other.pid, here), (ended.pid, here), (other.pid, "elsewhere")]
        for i, (pid, host) in enumerate(owners):
            study.add_trial(create_trial(params={"learning_rate": 1e-4 * (i + 1)}, distributions={"learning_rate": LR},
                                         state=TrialState.RUNNING,
                                         user_attrs={RUN_ATTR: f"s-t{i:03d}", OWNER_ATTR: pid, HOST_ATTR: host}))
        _finished_run(tmp_path, "s-t000")  # ended; the other process has yet to tell the study
        _finished_run(tmp_path, "s-t002")
        rows = {r.number: r.status for r in leaderboard(study, tmp_path)}
    finally:
        other.kill()
        other.wait()
    assert rows == {0: "finished (other process)", 1: "running (other process)",
                    2: "finished (its sweep process ended)", 3: "running (on elsewhere)"}


@dataclass(frozen=True)
class _Figures:
    dice: float = 0.91
    iou: float = 0.84


@dataclass
class _Evaluation:
    headline: _Figures = field(default_factory=_Figures)
    n_images: int = 198

    def label(self, resolution: str) -> str:
        return "photo size, border ignored"


def test_best_trial_is_evaluated_once_and_shown(tmp_path: Path) -> None:
    study = _study([0.5, 0.8])
    (tmp_path / "s-t001" / "checkpoints").mkdir(parents=True)
    (tmp_path / "s-t001" / "checkpoints" / "best.pt").write_bytes(b"stand-in")
    calls, lines = [], []

    def evaluate(ckpt: Path, data: object, split: str, ignore_border: bool) -> _Evaluation:
        calls.append((ckpt.parent.parent.name, split))
        return _Evaluation()

    record = evaluate_best(study, tmp_path, log=lines.append, evaluate=evaluate)
    assert calls == [("s-t001", "test")] and record["test_dice"] == 0.91 and study.user_attrs[EVAL_ATTR] == record
    assert lines == ["best trial 1 (run s-t001): test Dice 0.9100  IoU 0.8400 on 198 test images at photo size, "
                     "border ignored"]
    assert evaluate_best(study, tmp_path, log=lines.append, evaluate=evaluate) == record and len(calls) == 1
    assert [r.test_dice for r in leaderboard(study, tmp_path)] == [0.91, None]


def test_a_trial_whose_child_has_not_written_its_run_yet_shows_running(tmp_path: Path) -> None:
    """Between a trial's start and its ``petseg train`` child's first write (seconds: torch loads)
    the run folder holds train.log alone; the trial is starting, not a broken run."""
    import os

    study = optuna.create_study(direction="maximize")
    study.set_user_attr(SPEC_ATTR, {"name": "s", "base": {"epochs": 40}})
    study.add_trial(create_trial(params={"learning_rate": 1e-3}, distributions={"learning_rate": LR},
                                 state=TrialState.RUNNING,
                                 user_attrs={RUN_ATTR: "s-t000", OWNER_ATTR: os.getpid(),
                                             HOST_ATTR: socket.gethostname()}))
    (tmp_path / "s-t000").mkdir()
    (tmp_path / "s-t000" / "train.log").write_text("")  # as engine.train.launch leaves it at the spawn
    (row,) = leaderboard(study, tmp_path)
    # its planned epochs from the sweep's flags ("0/0" in `petseg sweep --show` before)
    assert (row.status, row.dice, row.epochs, row.total_epochs) == ("running", None, 0, 40)


def test_unwritten_trials_are_only_those_of_this_machine(tmp_path: Path) -> None:
    """A sweep shared through --storage URL: a trial another machine ran keeps its run folder
    there. The sweeps screen listed such a trial, once failed (even at its last epoch), as
    failed before its run was written, 0/N epochs, while that machine's finished trials had no
    row at all; only this machine's trials can be told apart as never written."""
    from engine.sweep.results import unwritten_trials

    study = optuna.create_study(direction="maximize")
    for i, host in enumerate([socket.gethostname(), "gpu-b"]):
        study.add_trial(create_trial(params={"learning_rate": 1e-3}, distributions={"learning_rate": LR},
                                     state=TrialState.FAIL,
                                     user_attrs={RUN_ATTR: f"s-t{i:03d}", HOST_ATTR: host, OWNER_ATTR: 1}))
    assert [(t.trial, t.name) for t in unwritten_trials(study, tmp_path)] == [(0, "s-t000")]


def test_a_drawn_none_reads_none_in_the_leaderboard_as_the_flag_takes_it(tmp_path: Path) -> None:
    """``--param pretrained=choice:imagenet,none``: --show printed the none trial's value as "-"
    (the mark of a value not drawn) and the dashboard's leaderboard as Python's "None"."""
    from engine.cli.sweep import print_leaderboard

    study = optuna.create_study(direction="maximize")
    study.set_user_attr(SPEC_ATTR, {"name": "s", "params": ["pretrained=choice:imagenet,none"], "base": {}})
    pretrained = CategoricalDistribution(["imagenet", None])
    for i, choice in enumerate(["imagenet", None]):
        study.add_trial(create_trial(params={"pretrained": choice}, distributions={"pretrained": pretrained},
                                     value=0.5 + 0.1 * i, intermediate_values={1: 0.5 + 0.1 * i}))
    lines: list[str] = []

    class Console:
        def print(self, text: str, markup: bool = True) -> None:
            lines.append(text)

    print_leaderboard(Console(), study, tmp_path)
    assert [line.split()[:2] for line in lines[2:4]] == [["1", "none"], ["0", "imagenet"]]


def test_a_failed_trial_whose_run_was_deleted_says_so(tmp_path: Path) -> None:
    """`petseg delete --filter 'sweep:s status:...'` of a trial that trained and failed: --show
    still sent the user to its train.log ("see runs/s-t000/train.log", deleted with it), and the
    sweeps screen listed it again as a run that "failed before its run was written"."""
    from engine.sweep.results import unwritten_trials
    from engine.sweep.study import REASON_ATTR

    study = optuna.create_study(direction="maximize")
    study.set_user_attr(SPEC_ATTR, {"name": "s", "base": {"epochs": 40}})
    study.add_trial(create_trial(params={"learning_rate": 1e-3}, distributions={"learning_rate": LR},
                                 state=TrialState.FAIL, intermediate_values={1: 0.5, 2: 0.6},
                                 user_attrs={RUN_ATTR: "s-t000", HOST_ATTR: socket.gethostname(), OWNER_ATTR: 1,
                                             REASON_ATTR: f"the run ended interrupted; see {tmp_path}/s-t000/train.log"}))
    (row,) = leaderboard(study, tmp_path)
    assert row.said == "failed: the run ended interrupted (run folder s-t000 deleted)"
    assert unwritten_trials(study, tmp_path) == []


def test_a_finished_trial_whose_run_was_deleted_says_so_and_keeps_its_studys_row(tmp_path: Path) -> None:
    """`petseg sweep --show` listed a finished trial whose run folder was deleted as plain
    "finished", and the sweeps screen left it out while its title counted it ("3 of 3 trials"
    over two rows): both now show its row from the study, saying the folder was deleted."""
    from engine.runs import RunState
    from engine.sweep.results import deleted_trials

    study = optuna.create_study(direction="maximize")
    study.set_user_attr(SPEC_ATTR, {"name": "s", "base": {"epochs": 2}})
    for i in range(2):
        study.add_trial(create_trial(params={"learning_rate": 1e-3 * (i + 1)}, distributions={"learning_rate": LR},
                                     value=0.6 + 0.1 * i, intermediate_values={1: 0.5, 2: 0.6 + 0.1 * i},
                                     user_attrs={RUN_ATTR: f"s-t{i:03d}"}))
    (tmp_path / "s-t000").mkdir()  # trial 0's run is here (its child still starting); trial 1's is deleted
    rows = leaderboard(study, tmp_path)
    assert [(r.number, r.said) for r in rows] == [(1, "finished (run folder s-t001 deleted)"), (0, "finished")]
    (gone,) = deleted_trials(rows, tmp_path)
    assert (gone.trial, gone.name, gone.state, gone.params, gone.best_dice, gone.epoch, gone.total_epochs) == \
        (1, "s-t001", RunState.FINISHED, {"learning_rate": 2e-3}, 0.7, 2, 2)
    assert gone.deleted and gone.status == "finished (run folder s-t001 deleted)"


def test_a_trial_with_no_epoch_budget_known_reads_as_the_runs_table_reads_it(tmp_path: Path) -> None:
    """A trial whose run folder is not here and which reported no epochs read "0/0"; the runs table
    (`engine.runs.epoch_progress`) reads such a run "—"."""
    from engine.cli.sweep import print_leaderboard

    lines: list[str] = []

    class Console:
        def print(self, text: str, markup: bool = True) -> None:
            lines.append(text)

    print_leaderboard(Console(), _study([0.5, 0.6]), tmp_path)
    rows = [line.split() for line in lines if line.split() and line.split()[0] in ("0", "1")]
    assert len(rows) == 2 and all("—" in row and "0/0" not in row for row in rows), lines
