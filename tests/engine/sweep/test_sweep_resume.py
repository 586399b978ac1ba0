"""Resuming a sweep from what its study recorded (`engine.sweep.resume`, the dashboard's R): the
spec built again as the sweep was started, the trials its stopped process left open and the
budget left; a study with no recorded spec, or none at all, is one line. (Trials are asked and
told here directly: no process, no training.)"""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from engine.errors import ConfigError
from engine.sweep.launch import sweep_argv
from engine.sweep.resume import NOTHING_LEFT, RUNNING, SweepResume, checked_resume, resume_plan, resume_refusal
from engine.sweep.spec_build import build_spec
from engine.sweep.study import (
    SPEC_ATTR,
    open_study,
    storage_for,
)
from engine.sweep.where import record_storage
from tests.engine.sweep.stopped_studies import stopped_sweep, sweep_process


def test_the_recorded_spec_resumes_the_stopped_trials_and_the_budget_left(tmp_path: Path) -> None:
    settings = {"name": "sw", "params": ["learning_rate=log:1e-4:1e-2", "width=choice:8,16"], "trials": 6,
                "sampler": "random", "sampler_seed": 3, "prune": "none", "parallel": 2, "eval_best": "no",
                "base": {"epochs": 2, "image_size": 64}}
    stopped_sweep(tmp_path, settings, asked=3, completed=1)
    plan = resume_plan(tmp_path, "sw")
    assert sweep_argv(plan.spec) == sweep_argv(build_spec(settings))  # the same petseg sweep command
    assert plan.spec.eval_best is False
    assert (plan.open_trials, plan.left, plan.has_work) == ((1, 2), 3, True)
    assert plan.text() == "its 2 unfinished trials (1, 2) go on where they stopped and 3 of its 6 trials are left to run"


def test_a_sweep_whose_trials_all_ended_has_nothing_to_resume(tmp_path: Path) -> None:
    stopped_sweep(tmp_path, {"name": "sw", "params": ["width=choice:8,16"], "trials": 2}, asked=2, completed=2)
    plan = resume_plan(tmp_path, "sw")
    assert not plan.has_work and plan.text() == "nothing is left to run: its 2 trials have ended"


def test_a_sweep_is_not_resumed_while_it_runs_nor_with_nothing_left(tmp_path: Path) -> None:
    """The two checks ``petseg sweep --resume`` and the dashboard's R both make, in the one line
    both show: a sweep a process runs (a re-run would add a process to it; said first, whatever
    its plan), one with nothing left; a stopped one with work left may resume."""
    settings = {"name": "sw", "params": ["width=choice:8,16"], "trials": 2}
    stopped_sweep(tmp_path, settings, asked=1, completed=0)
    plan, refusal = checked_resume(tmp_path, "sw")
    assert plan.has_work and refusal is None
    with sweep_process(tmp_path, "sw") as pid:
        plan, refusal = checked_resume(tmp_path, "sw")
    assert (refusal.reason, refusal.text) == (RUNNING, f"sweep sw is running (process {pid}): nothing to resume")
    ended = SweepResume(plan.spec, left=0)
    assert resume_refusal("sw", ended, running=True).text == "sweep sw is running: nothing to resume"
    assert resume_refusal("sw", None, running=False) is None  # not read: no reason to give

    stopped_sweep(tmp_path, {**settings, "name": "done"}, asked=2, completed=2)
    plan, refusal = checked_resume(tmp_path, "done")
    assert (refusal.reason, refusal.text) == (NOTHING_LEFT, "sweep done: nothing is left to run: its 2 trials have ended")


def test_a_grid_counts_its_points_left(tmp_path: Path) -> None:
    stopped_sweep(tmp_path, {"name": "g", "params": ["width=choice:8,16,32"], "sampler": "grid"}, asked=2,
                   completed=2)
    plan = resume_plan(tmp_path, "g")
    assert (plan.open_trials, plan.left) == ((), 1)
    assert plan.text() == "1 of its 3 grid points is left to run"


def test_a_sweep_kept_in_another_storage_resumes_there(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    settings = {"name": "db", "params": ["width=choice:8,16"], "trials": 4, "storage": url}
    stopped_sweep(tmp_path, settings, asked=1, completed=0)
    record_storage(tmp_path, "db", url)  # as the sweep process records it for the dashboard
    plan = resume_plan(tmp_path, "db")
    assert plan.spec.storage == url and "--storage" in sweep_argv(plan.spec)
    assert (plan.open_trials, plan.left) == ((0,), 3)


def test_a_study_without_a_recorded_spec_is_one_line(tmp_path: Path) -> None:
    optuna.create_study(study_name="old", storage=storage_for(None, tmp_path, "old"), direction="maximize")
    with pytest.raises(ConfigError, match="^sweep old: its study records no settings to resume it from"):
        resume_plan(tmp_path, "old")


def test_a_recorded_spec_that_no_longer_builds_is_one_line(tmp_path: Path) -> None:
    study = open_study(build_spec({"name": "sw", "params": ["width=choice:8,16"]}), tmp_path)
    study.set_user_attr(SPEC_ATTR, {"name": "sw", "params": ["nosuch=choice:1,2"], "trials": 2})
    with pytest.raises(ConfigError, match="^sweep sw: its recorded settings no longer start a sweep "
                                          r"\(--param nosuch=choice:1,2: unknown train field"):
        resume_plan(tmp_path, "sw")


def test_a_sweep_whose_study_is_gone_is_one_line(tmp_path: Path) -> None:
    record_storage(tmp_path, "far", f"sqlite:///{tmp_path / 'gone.db'}")
    with pytest.raises(ConfigError, match="^sweep far cannot be resumed from here: --storage sqlite:///.*gone.db: "
                                          "no such database file"):
        resume_plan(tmp_path, "far")
    with pytest.raises(ConfigError, match="^sweep none cannot be resumed from here: .*no sweep named 'none'"):
        resume_plan(tmp_path, "none")


SAMPLE = Path("/work/shared/data/oxford-pet-sample")


def test_a_relative_data_path_is_recorded_absolute_so_a_resume_finds_it_from_another_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not SAMPLE.is_dir():
        pytest.skip("needs the Oxford-IIIT Pet sample")
    monkeypatch.chdir(SAMPLE.parent)
    settings = {"name": "rel", "params": ["width=choice:8,16"], "trials": 3, "base": {"data_path": SAMPLE.name}}
    stopped_sweep(tmp_path, settings, asked=1, completed=1)
    monkeypatch.chdir(tmp_path)  # the dashboard, started in another folder
    plan = resume_plan(tmp_path, "rel")
    assert plan.spec.base["data_path"] == str(SAMPLE)
    assert plan.left == 2


def test_a_relative_data_path_an_older_petseg_recorded_says_so_when_it_is_not_here(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not SAMPLE.is_dir():
        pytest.skip("needs the Oxford-IIIT Pet sample")
    monkeypatch.chdir(SAMPLE.parent)
    study = open_study(build_spec({"name": "old", "params": ["width=choice:8,16"], "trials": 3}), tmp_path)
    recorded = dict(study.user_attrs[SPEC_ATTR])
    study.set_user_attr(SPEC_ATTR, {**recorded, "base": {"data_path": SAMPLE.name}})  # as older petseg wrote it
    assert resume_plan(tmp_path, "old").spec.base["data_path"] == str(SAMPLE)  # from the sweep's folder: found
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=rf"^sweep old: its recorded --data_path {SAMPLE.name} is relative "
                                          rf"\(a sweep of an older petseg\), read from {tmp_path} as "
                                          rf"{tmp_path / SAMPLE.name}: .*resume it from the folder"):
        resume_plan(tmp_path, "old")


def test_a_rerun_of_an_older_sweep_with_a_relative_data_path_goes_on_with_its_study(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its study records the path relative, the re-run's spec absolute: the same data."""
    if not SAMPLE.is_dir():
        pytest.skip("needs the Oxford-IIIT Pet sample")
    monkeypatch.chdir(SAMPLE.parent)
    settings = {"name": "old", "params": ["width=choice:8,16"], "trials": 3, "base": {"data_path": SAMPLE.name}}
    study = open_study(build_spec(settings), tmp_path)
    study.set_user_attr(SPEC_ATTR, {**study.user_attrs[SPEC_ATTR], "base": {"data_path": SAMPLE.name}})
    assert open_study(build_spec(settings), tmp_path).study_name == "old"
