"""Path-valued train fields in a sweep (`FieldSpec.path`: data_path, pretrained, cache_dir): fixed
or searched, the study records them absolute, so a resume (``petseg sweep --resume``, the
dashboard's R) from another folder trains on the same files; a study of an older petseg, whose
trials drew a searched path relative, still goes on from the folder it was started in, and says
in a line why it cannot from another. Studies are made here without training."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from engine.cli import main
from engine.config import GENERATED_DATA, PRETRAINED_IMAGENET, absolute_values
from engine.errors import ConfigError
from engine.sweep.resume import resume_plan
from engine.sweep.spec import ParamSpec, field_by_name
from engine.sweep.spec_build import build_spec
from engine.sweep.study import SPEC_ATTR, ask_within_budget, open_study
from tests.engine.sweep.stopped_studies import stopped_sweep

SAMPLE = Path(__file__).resolve().parents[3] / "engine" / "training_sample"  # an Oxford-IIIT Pet layout


@pytest.fixture
def start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder a sweep is started in, holding two datasets (a, b) named relative to it."""
    folder = tmp_path / "start"
    folder.mkdir()
    for name in ("a", "b"):
        (folder / name).symlink_to(SAMPLE)
    monkeypatch.chdir(folder)
    return folder


SEARCHED = {"name": "data", "params": ["data_path=choice:a,b"], "trials": 4, "sampler": "random",
            "eval_best": "no", "base": {"epochs": 2, "image_size": 64}}


def test_the_path_rule_makes_paths_absolute_and_leaves_words_and_other_fields(start: Path) -> None:
    home = os.path.expanduser("~")
    assert absolute_values({"data_path": "a", "pretrained": "w/enc.pth", "cache_dir": "~/cache", "model": "unet",
                            "learning_rate": 1e-3}) == {
        "data_path": str(start / "a"), "pretrained": str(start / "w" / "enc.pth"), "cache_dir": f"{home}/cache",
        "model": "unet", "learning_rate": 1e-3}
    assert absolute_values({"data_path": GENERATED_DATA, "pretrained": PRETRAINED_IMAGENET, "cache_dir": None}) == {
        "data_path": GENERATED_DATA, "pretrained": PRETRAINED_IMAGENET, "cache_dir": None}
    assert {n for n, f in field_by_name().items() if f.spec.path} == {"data_path", "pretrained", "cache_dir"}


def test_a_searched_data_path_is_recorded_absolute_so_a_resume_finds_it_from_another_folder(
        start: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--param data_path=choice:a,b`` recorded a and b as typed: a resume from another folder
    (the dashboard started elsewhere) read them from there and refused, "a: dataset folder does
    not exist"; or worse, trained on another folder's a."""
    runs = tmp_path / "runs"
    stopped_sweep(runs, SEARCHED, asked=2, completed=1)
    recorded = open_study(build_spec(SEARCHED), runs).user_attrs[SPEC_ATTR]
    assert recorded["params"] == [f"data_path=choice:{start / 'a'},{start / 'b'}"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    plan = resume_plan(runs, "data")
    assert plan.spec.params[0].choices == (str(start / "a"), str(start / "b"))
    assert (plan.open_trials, plan.left) == ((1,), 2)
    trial = ask_within_budget(open_study(plan.spec, runs), plan.spec, "cpu")
    assert plan.spec.trial_config(dict(trial.params)).data_path in (str(start / "a"), str(start / "b"))


def test_other_path_fields_are_recorded_absolute_too(start: Path) -> None:
    spec = build_spec({"name": "enc", "params": ["pretrained=choice:w/enc.pth,imagenet,none"], "trials": 2,
                       "base": {"model": "resnet18_unet", "cache_dir": "cache", "data_path": "a"}})
    assert spec.params[0].choices == (str(start / "w" / "enc.pth"), PRETRAINED_IMAGENET, None)
    assert (spec.base["cache_dir"], spec.base["data_path"]) == (str(start / "cache"), str(start / "a"))


def _older_study(runs: Path) -> None:
    """SEARCHED as a petseg from before this recorded it: its spec and its trials' draws relative."""
    spec = build_spec(SEARCHED)
    older = dataclasses.replace(spec, params=(ParamSpec("data_path", "choice", choices=("a", "b"),
                                                        text="data_path=choice:a,b"),))
    study = open_study(older, runs)
    study.set_user_attr(SPEC_ATTR, {**study.user_attrs[SPEC_ATTR], "params": ["data_path=choice:a,b"]})
    study.tell(ask_within_budget(study, older, "cpu"), 0.5)


def test_an_older_study_with_relative_draws_goes_on_from_its_folder(start: Path, tmp_path: Path) -> None:
    """Optuna refuses a choice whose values change within a study ("CategoricalDistribution does
    not support dynamic value space"): the same command run again draws the study's own values,
    and its trial trains on the same folder, named absolute."""
    runs = tmp_path / "runs"
    _older_study(runs)
    spec = build_spec(SEARCHED)
    study = open_study(spec, runs)
    trial = ask_within_budget(study, spec, "cpu")
    assert trial.params["data_path"] in ("a", "b")
    assert spec.trial_config(dict(trial.params)).data_path == str(start / trial.params["data_path"])


def test_an_older_study_with_relative_draws_says_so_when_resumed_from_another_folder(
        start: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Run again from its folder (which records its settings absolute), then resumed from another:
    its trials' relative draws name other folders there; one line, nothing started."""
    runs = tmp_path / "runs"
    _older_study(runs)
    open_study(build_spec(SEARCHED), runs)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["sweep", "--runs", str(runs), "--resume", "data"]) == 1
    out, err = capsys.readouterr()
    assert out == ""  # "resuming sweep data: ..." came first, then this refusal
    assert err.strip().splitlines() == [
        f"petseg: error: sweep data: its trials drew data_path from a,b, folders named relative to where it was "
        f"started (a sweep of an older petseg), which from {elsewhere} are not the ones its settings name; run it "
        "from the folder it was started in"], err
    assert not list(runs.glob("data-t*"))


def test_an_older_studys_relative_choice_names_where_it_looked_when_it_is_not_there(
        start: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As an older study's relative fixed --data_path is said: read from the current folder."""
    runs = tmp_path / "runs"
    _older_study(runs)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with pytest.raises(ConfigError) as said:
        resume_plan(runs, "data")
    assert str(said.value) == (
        f"sweep data: its recorded --param data_path=choice:a,b is relative (a sweep of an older petseg), read from "
        f"{elsewhere} as {elsewhere / 'a'}: dataset folder does not exist; resume it from the folder the sweep was "
        "started in")


def test_show_keeps_its_columns_straight_with_a_searched_path(start: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A searched path, recorded absolute, is wider than the 14 columns a value had: the columns
    after it were pushed right on its rows, under the wrong headers."""
    runs = tmp_path / "runs"
    stopped_sweep(runs, SEARCHED, asked=2, completed=2)
    assert main(["sweep", "--runs", str(runs), "--show", "data"]) == 0
    lines = capsys.readouterr().out.splitlines()
    head = next(line for line in lines if line.lstrip().startswith("trial"))
    rows = [line for line in lines if line.lstrip()[:1].isdigit()]
    assert len(rows) == 2 and all(str(start) in row for row in rows), lines
    assert {row.index("0.5000") + len("0.5000") for row in rows} == {head.index("valid Dice") + len("valid Dice")}
    assert {row.index("finished") for row in rows} == {head.index("status")}
