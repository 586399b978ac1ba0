"""A run's path fields (`FieldSpec.path`: data_path, pretrained, cache_dir) and the folder it is
resumed from: a new run records them absolute, so ``petseg train --resume`` (and the dashboard's
R) from another folder reads the same files; a run of an older petseg, which recorded
--pretrained and --cache_dir as typed, goes on from the folder it was started in and says in one
line why not from another (`engine.train.resume.check_relative_paths`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main
from engine.config import TrainConfig
from engine.errors import RunStoreError
from engine.runs import RunStore
from engine.train.resume import plan_resume
from tests import warm_petseg

REPO = Path(__file__).resolve().parents[3]
# resnet18_unet (an encoder --pretrained loads into) on a few 64 px photos, fp32 on the CPU
SMALL = ["--model", "resnet18_unet", "--image_size", "64", "--batch_size", "4", "--workers", "0", "--device", "cpu",
         "--amp", "off", "--checkpoint_interval", "0"]


@pytest.fixture
def start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder a run is started in, holding its dataset (pets/) and encoder weights (enc.pth),
    both named relative to it; the current directory."""
    import torch
    import torchvision

    from engine.data.synthetic import generate_pet_dataset

    folder = tmp_path / "start"
    generate_pet_dataset(folder / "pets", n_trainval=6, n_test=0, size=64, seed=3)
    torch.save(torchvision.models.resnet18().state_dict(), folder / "enc.pth")
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


def stored(**kw: str) -> dict:
    """config.json of a resnet18_unet run (its path fields ``kw``)."""
    return TrainConfig(model="resnet18_unet", epochs=2, **kw).to_dict()


def ckpt(record: dict) -> dict:
    """last.pt of that run after epoch 1."""
    return {"arch": {"name": "resnet18_unet"}, "epoch": 1, "config": record}


def _petseg(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """A real ``python -m engine.cli`` process in ``cwd`` (warm: tests/warm_petseg.py)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PETSEG_PLAIN_PROGRESS": "1"}
    return warm_petseg.run([sys.executable, "-m", "engine.cli", *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def _config(run: Path) -> dict:
    return json.loads((run / "config.json").read_text())


def test_a_run_started_with_relative_paths_resumes_from_another_folder(start: Path, elsewhere: Path,
                                                                         tmp_path: Path) -> None:
    """``petseg train --pretrained enc.pth --cache_dir cache`` recorded both as typed: ``--resume``
    from another folder was refused ("--pretrained enc.pth: no such file"), and a --cache_dir alone
    made a new cache folder there. Every path field is recorded absolute now."""
    runs = tmp_path / "runs"
    first = _petseg(["train", "--runs", str(runs), "--run_name", "r", "--pretrained", "enc.pth", "--cache_dir",
                     "cache", "--data_path", "pets", "--epochs", "1", *SMALL], cwd=start)
    assert first.returncode == 0, first.stdout + first.stderr
    recorded = _config(runs / "r")
    assert {k: recorded[k] for k in ("pretrained", "cache_dir", "data_path")} == {
        "pretrained": str(start / "enc.pth"), "cache_dir": str(start / "cache"), "data_path": str(start / "pets")}

    resumed = _petseg(["train", "--runs", str(runs), "--resume", "r", "--epochs", "2"], cwd=elsewhere)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    history = RunStore(runs).load("r")
    assert history.state == "finished" and sorted(history.epochs) == [1, 2]
    assert list(elsewhere.iterdir()) == []  # no cache folder made where it was resumed
    assert _config(runs / "r")["cache_dir"] == str(start / "cache")


def _older_run(runs: Path, **typed: str) -> Path:
    """A 1-epoch run with last.pt whose config.json records ``typed`` as a petseg from before
    this recorded them (relative, as typed)."""
    assert main(["train", "--runs", str(runs), "--run_name", "old", "--pretrained", "enc.pth", "--cache_dir",
                 "cache", "--data_path", "pets", "--epochs", "1", *SMALL]) == 0
    run = runs / "old"
    (run / "config.json").write_text(json.dumps({**_config(run), **typed}))
    return run


def test_an_older_runs_relative_paths_resume_from_its_folder_and_say_why_not_from_another(
        start: Path, elsewhere: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    run = _older_run(runs, pretrained="enc.pth", cache_dir="cache")
    assert main(["train", "--runs", str(runs), "--resume", "old", "--epochs", "2"]) == 0  # its own folder: as before
    assert _config(run)["cache_dir"] == "cache"

    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    assert main(["train", "--runs", str(runs), "--resume", "old", "--epochs", "3"]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        f"petseg: error: {run / 'config.json'}: cache_dir cache is relative (recorded as typed by an older petseg), "
        f"and from {elsewhere} names {elsewhere / 'cache'}, which does not exist; resume the run from the folder it "
        "was started in, or write its full path in config.json (or give --cache_dir with --resume)"], err
    assert list(elsewhere.iterdir()) == [] and RunStore(runs).load("old").state == "finished"

    # --cache_dir given: its relative enc.pth is not read (last.pt holds the weights), the cache is recorded absolute
    assert main(["train", "--runs", str(runs), "--resume", "old", "--epochs", "3", "--cache_dir", "../start/cache"]) == 0
    assert sorted(RunStore(runs).load("old").epochs) == [1, 2, 3]
    assert _config(run)["cache_dir"] == str(start / "cache") and _config(run)["pretrained"] == "enc.pth"


@pytest.mark.parametrize("name, value, checkpoint", [
    ("pretrained", "enc.pth", False),  # restarted from epoch 1 (no last.pt): the file is read
    ("data_path", "pets", True),
    ("cache_dir", "cache", True),
])
def test_a_relative_path_that_names_nothing_here_is_one_line(start: Path, elsewhere: Path,
                                                              monkeypatch: pytest.MonkeyPatch, name: str, value: str,
                                                              checkpoint: bool) -> None:
    (start / "cache").mkdir()  # as its run made it
    record = stored(**{name: value})
    last = ckpt(record) if checkpoint else None
    plan = plan_resume(Path("/r"), record, {}, last, Path("/r/last.pt") if checkpoint else None)
    assert getattr(plan.config, name) == value  # from its own folder: read from there, as before
    monkeypatch.chdir(elsewhere)
    with pytest.raises(RunStoreError) as said:
        plan_resume(Path("/r"), record, {}, last, Path("/r/last.pt") if checkpoint else None)
    assert str(said.value).startswith(f"/r/config.json: {name} {value} is relative (recorded as typed by an older "
                                      f"petseg), and from {elsewhere} names {elsewhere / value}, which does not exist")


def test_words_and_absolute_paths_are_never_read_as_relative(elsewhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(elsewhere)
    for record in (stored(pretrained="imagenet", data_path="@generated"),
                   stored(pretrained="/gone/enc.pth", cache_dir="/gone/cache")):
        assert plan_resume(Path("/r"), record, {}, None, None).config == TrainConfig.from_dict(record)


def test_a_typed_path_is_compared_and_applied_absolute(start: Path) -> None:
    """The same file named relative is no change; a --cache_dir given with --resume is recorded
    absolute, as a new run's."""
    record = stored(pretrained=str(start / "enc.pth"), cache_dir=str(start / "cache"))
    last = ckpt(record)
    plan = plan_resume(Path("/r"), record, {"pretrained": "enc.pth", "cache_dir": "cache"}, last, Path("/r/last.pt"))
    assert plan.applied == {}
    plan = plan_resume(Path("/r"), record, {"cache_dir": "other"}, last, Path("/r/last.pt"))
    assert plan.applied == {"cache_dir": (str(start / "cache"), str(start / "other"))}


def test_the_resume_line_names_the_run_folder_once_under_a_relative_runs_folder(
        finished_tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """``petseg train --runs ../runs --resume r`` printed ``run r -> ../runs/../runs/r``: the run
    resolved, then resolved again as it was opened."""
    import shutil

    shutil.copytree(finished_tiny_run, tmp_path / "runs" / "r")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    assert main(["train", "--runs", "../runs", "--resume", "r", "--epochs", "3"]) == 0
    out = capsys.readouterr().out
    assert "run r -> ../runs/r\n" in out, out
