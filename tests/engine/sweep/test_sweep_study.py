"""The study a sweep keeps across re-runs of its name: the budget it was asked for last, and a
re-run whose search space or base train flags differ refused in one line before anything starts.
(Trials are asked and told here directly: no process, no training.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.cli import main
from engine.sweep.spec_build import build_spec
from engine.sweep.spec_file import load_toml
from engine.sweep.study import open_study, suggest

PARAM = "learning_rate=log:1e-4:1e-2"


def _run_trials(runs: Path, trials: int, n: int) -> None:
    """What `petseg sweep --name sw --trials TRIALS` leaves in the study after N trials complete."""
    spec = build_spec({"name": "sw", "params": [PARAM], "trials": trials, "base": {"epochs": 2}})
    study = open_study(spec, runs)
    for _ in range(n):
        trial = study.ask()
        suggest(trial, spec.params[0])
        study.tell(trial, 0.5)


def test_show_gives_the_budget_asked_for_last(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--trials 3, then the same sweep again with --trials 5: the study holds 5 of a budget of 5."""
    _run_trials(tmp_path, trials=3, n=3)
    _run_trials(tmp_path, trials=5, n=2)
    assert main(["sweep", "--runs", str(tmp_path), "--show", "sw"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "sweep sw: 5 of 5 trials"
    _run_trials(tmp_path, trials=2, n=0)  # a smaller budget than the study holds: nothing more runs
    assert main(["sweep", "--runs", str(tmp_path), "--show", "sw"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "sweep sw: 5 of 5 trials"


@pytest.mark.parametrize("flags, message", [
    (["--param", "learning_rate=log:1e-3:1e-2", "--epochs", "2"],
     "--param learning_rate=log:1e-3:1e-2: sweep sw searches learning_rate=log:0.0001:0.01"),
    (["--param", PARAM, "--param", "width=choice:8,16", "--epochs", "2"],
     "--param width=choice:8,16: sweep sw does not search width (it searches learning_rate=log:0.0001:0.01)"),
    (["--param", "width=choice:8,16", "--epochs", "2"],
     "--param width=choice:8,16: sweep sw does not search width"),
    (["--param", PARAM, "--epochs", "20"], "--epochs 20: sweep sw's trials train with --epochs 2"),
    (["--param", PARAM], "--epochs not given (default 10): sweep sw's trials train with --epochs 2"),
    (["--param", PARAM, "--epochs", "2", "--image_size", "64"],
     "--image_size 64: sweep sw's trials train with --image_size 256"),
    # each trial a 2-process data-parallel run: a global batch twice as large, another experiment
    (["--param", PARAM, "--epochs", "2", "--devices_per_trial", "2"],
     "--devices_per_trial 2: sweep sw's trials train as 1 process each (--devices_per_trial 1)"),
])
def test_a_rerun_with_another_experiment_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch, flags: list[str],
                                                    message: str) -> None:
    """The same name with another search space or other base flags would mix two experiments in
    one leaderboard (and one pruner median): one line naming what differs, and nothing runs."""
    from engine.train import launch

    def no_trial(*args: object, **kwargs: object) -> None:  # a sweep that is not refused starts no real training
        raise AssertionError("a trial was started")

    monkeypatch.setattr(launch, "start_detached", no_trial)
    _run_trials(tmp_path, trials=3, n=1)
    assert main(["sweep", "--runs", str(tmp_path), "--name", "sw", "--trials", "4", *flags]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"petseg: error: {message}") and "\n" not in err, err
    assert err.endswith("give sweep sw the same search space and train flags to go on with it, "
                        "or another --name for a new sweep")
    assert not list(tmp_path.glob("sw-t*"))


def test_a_rerun_may_change_the_budget_sampler_and_slots(tmp_path: Path) -> None:
    _run_trials(tmp_path, trials=3, n=1)
    spec = build_spec({"name": "sw", "params": [PARAM], "trials": 8, "sampler": "random", "parallel": 2,
                       "prune": "none", "base": {"epochs": 2}})
    assert open_study(spec, tmp_path).user_attrs["spec"]["trials"] == 8


def test_a_difference_in_a_spec_file_names_the_file_and_key(tmp_path: Path) -> None:
    from engine.errors import ConfigError

    _run_trials(tmp_path, trials=3, n=1)
    toml = tmp_path / "sw.toml"
    toml.write_text(f'name = "sw"\n[params]\nlearning_rate = "{PARAM.partition("=")[2]}"\n[train]\nepochs = 3\n')
    with pytest.raises(ConfigError, match=f"^--spec {toml}: train.epochs = 3: sweep sw's trials train with --epochs 2;"):
        open_study(build_spec(load_toml(toml)), tmp_path)


def test_a_ctrl_c_while_a_trial_is_sampled_leaves_no_trial_running(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Interrupted between Optuna's ask and the claim, a trial names no sweep process: no re-run
    takes it over, so it stayed running for good, counted in the budget (and the best trial was
    never scored: the sweep never ended). It is dropped: not counted, never run."""
    from optuna.trial import TrialState

    from engine.sweep import study as study_module
    from engine.sweep.study import ask_within_budget, counted_trials

    spec = build_spec({"name": "sw", "params": [PARAM], "trials": 3, "base": {"epochs": 2}})
    study = open_study(spec, tmp_path)

    def interrupted(trial: object, p: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(study_module, "suggest", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ask_within_budget(study, spec, "cpu#0")
    assert counted_trials(study) == []
    assert [t.state for t in study.get_trials()] == [TrialState.FAIL]


def test_show_without_a_name_lists_the_sweeps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`petseg sweep --show` alone printed argparse's whole usage and 'expected one argument':
    it lists the runs folder's sweeps, each with its trials' runs here and best valid Dice."""
    from engine.config import TrainConfig
    from engine.events import EpochEnded
    from engine.runs import RunStore

    assert main(["sweep", "--runs", str(tmp_path), "--show"]) == 0
    assert capsys.readouterr().out.startswith(f"no sweeps in {tmp_path}")
    _run_trials(tmp_path, trials=3, n=1)  # sweep sw: a journal, no run folder
    record = {"sweep": {"name": "lr", "trial": 2, "params": {"learning_rate": 0.0032}}}
    writer = RunStore(tmp_path).create({**TrainConfig(epochs=2).to_dict(), **record}, "lr-t002")
    writer.append(EpochEnded(epoch=1, total_epochs=2, train_loss=1.2, train_dice=0.5, valid_loss=1.25,
                             valid_dice=0.5707, valid_iou=0.4, valid_dice_per_image=0.56, valid_iou_per_image=0.4,
                             lr=0.0032, seconds=1.0, images_per_s=100.0,
                             best_dice=0.5707, best_epoch=1))
    writer.close()
    assert main(["sweep", "--runs", str(tmp_path), "--show"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"sweeps in {tmp_path}")
    assert "  lr  1 trial run here, best valid Dice 0.5707 (trial 2, run lr-t002)" in lines
    assert "  sw  1 trial in the study, best valid Dice 0.5000 (trial 0)" in lines  # as --show sw has it
    assert main(["sweep", "--runs", str(tmp_path), "--show", "--name", "sw"]) == 0  # the name given apart
    assert capsys.readouterr().out.splitlines()[0] == "sweep sw: 1 of 3 trials"


def test_the_list_of_sweeps_says_what_the_study_holds_once_the_trial_runs_are_deleted(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Its 3 trials' run folders deleted, `petseg sweep --show` listed sweep sw as "0 trial runs
    here, no valid Dice yet" while `--show sw` showed the 3 trials finished with their Dice: the
    list now says what the study holds, in the words --show sw and the sweeps screen use."""
    from engine.sweep.study import RUN_ATTR

    spec = build_spec({"name": "sw", "params": [PARAM], "trials": 3, "base": {"epochs": 2}})
    study = open_study(spec, tmp_path)
    for i, dice in enumerate([0.7, 0.81, 0.6]):
        trial = study.ask()
        suggest(trial, spec.params[0])
        trial.set_user_attr(RUN_ATTR, f"sw-t{i:03d}")
        trial.report(dice, 1)  # it trained: the study has its epoch's Dice (its run folder, since deleted)
        study.tell(trial, dice)
    assert main(["sweep", "--runs", str(tmp_path), "--show"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:] == ["  sw  3 trials in the study, best valid Dice 0.8100 "
                         "(trial 1: finished (run folder sw-t001 deleted)); their run folders are deleted"]
    assert main(["sweep", "--runs", str(tmp_path), "--show", "sw"]) == 0
    assert "finished (run folder sw-t001 deleted)" in capsys.readouterr().out  # the same words


@pytest.mark.parametrize("flags, line", [
    (["--show", "--trials", "20"], "--trials: not used with --show, which prints the list of sweeps and runs nothing"),
    (["--show", "--storage", "x.journal"],
     "--storage: not used with --show, which prints the list of sweeps and runs nothing"),
    (["--show", "sw", "--name", "lr"], "--name: not used with --show sw, which prints sweep sw's leaderboard and "
                                       "runs nothing"),
    (["--show", "sw", "--epochs", "3"], "--epochs: not used with --show sw, which prints sweep sw's leaderboard and "
                                        "runs nothing"),
    (["--show", "--name", "sw", "--param", PARAM],
     "--param: not used with --show, which prints sweep sw's leaderboard and runs nothing"),
    (["--show", "sw", "--on_interrupt", "stop"],
     "--on_interrupt: not used with --show sw, which prints sweep sw's leaderboard and runs nothing"),
])
def test_a_flag_show_does_not_use_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         flags: list[str], line: str) -> None:
    """`petseg sweep --show --name x --trials 20` printed the list as if the flags were not there:
    each flag --show does not use is refused in one line, naming it."""
    _run_trials(tmp_path, trials=3, n=1)
    assert main(["sweep", "--runs", str(tmp_path), *flags]) == 1
    captured = capsys.readouterr()
    assert captured.err == f"petseg: error: {line}\n" and captured.out == ""


def _sweep(runs: Path, *extra: str) -> int:
    return main(["sweep", "--name", "sw", "--param", PARAM, "--trials", "1", "--epochs", "1", "--runs", str(runs),
                 *extra])


def test_a_storage_that_is_no_journal_file_is_one_line_and_left_as_it_was(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--storage sweep.toml` (the spec given to the wrong flag), a photo, a sqlite file without
    sqlite:/// or a folder said Optuna's "Expecting value: line 1 column 1 (char 0)", "'op_code'",
    a UTF-8 codec error or "[Errno 21] Is a directory"; now what is wrong with the file, and the
    file is not touched."""
    from PIL import Image

    spec, photo, folder = tmp_path / "sweep.toml", tmp_path / "cat.jpg", tmp_path / "sweeps"
    spec.write_text('name = "sw"\n[params]\nlearning_rate = "log:1e-4:1e-2"\n')
    Image.new("RGB", (8, 8)).save(photo)
    folder.mkdir()
    before = {p: p.read_bytes() for p in (spec, photo)}
    for storage in (spec, photo):
        for command in (["--show", "sw", "--runs", str(tmp_path / "runs")], None):
            assert (main(["sweep", *command, "--storage", str(storage)]) if command
                    else _sweep(tmp_path / "runs", "--storage", str(storage))) == 1
            assert capsys.readouterr().err == (f"petseg: error: --storage {storage}: is not a sweep's journal file: "
                                               "its first line is no Optuna journal record; give another path\n")
    assert {p: p.read_bytes() for p in (spec, photo)} == before
    assert _sweep(tmp_path / "runs", "--storage", str(folder)) == 1
    assert capsys.readouterr().err == (f"petseg: error: --storage {folder}: is a folder, not a journal file "
                                       "(give a file path, e.g. sweeps.journal, or a database URL)\n")
    pipe = tmp_path / "pipe.journal"  # reading it would wait for a writer for good
    os.mkfifo(pipe)
    assert main(["sweep", "--show", "sw", "--runs", str(tmp_path / "runs"), "--storage", str(pipe)]) == 1
    assert "is not a regular file (a named pipe or device?)" in capsys.readouterr().err


def test_a_runs_folder_a_sweep_cannot_make_its_journal_in_says_why_in_words(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A runs folder below a file (or on a read-only disk) said "[Errno 20] Not a directory: ..."."""
    photo = tmp_path / "cat.jpg"
    photo.write_bytes(b"\xff\xd8\xff")
    assert _sweep(photo / "runs") == 1
    err = capsys.readouterr().err
    assert err.startswith("petseg: error: ") and "part of this path is a file, not a folder" in err
    assert "Errno" not in err and len(err.splitlines()) == 1


def test_show_of_a_runs_folder_that_does_not_exist_says_so(tmp_path: Path, capsys) -> None:
    """`petseg sweep --show --runs runz` (a typo) said "no sweeps in runz (start one: ...)", where
    `petseg runs` says the folder does not exist."""
    assert main(["sweep", "--runs", str(tmp_path / "runz"), "--show"]) == 0
    assert capsys.readouterr().out == f"no sweeps in {tmp_path / 'runz'} (the folder does not exist)\n"
    assert not (tmp_path / "runz").exists()
