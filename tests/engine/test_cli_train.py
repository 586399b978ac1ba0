"""`petseg train` and `petseg demo`: the data they train on (bundled, $PETSEG_DATA, the flag),
plain lines without rich, bad data, flags and cache folders refused in one line before a run
folder is made, and a train, eval, infer and runs round trip."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image

from cli_helpers import one_error_line, write_image

from engine.cli import main


def test_train_missing_dataset_and_images_without_trimaps(tmp_path: Path, capsys) -> None:
    runs = tmp_path / "runs"
    missing = tmp_path / "no-such-data"
    assert main(["train", "--data_path", str(missing), "--runs", str(runs), "--epochs", "1",
                 "--image_size", "64", "--width", "4", "--workers", "0"]) == 1
    one_error_line(capsys, str(missing))
    assert not runs.exists() or not any(runs.iterdir())  # refused before a run folder was made
    notrimaps = tmp_path / "notrimaps"
    (notrimaps / "images").mkdir(parents=True)
    (notrimaps / "annotations" / "trimaps").mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (32, 32)).save(notrimaps / "images" / f"cat_{i}.jpg")
    assert main(["train", "--data_path", str(notrimaps), "--runs", str(runs), "--epochs", "1",
                 "--image_size", "64", "--width", "4", "--workers", "0"]) == 1
    one_error_line(capsys, "trimap")


def test_train_rejects_bad_flags_with_one_line(tmp_path: Path, capsys) -> None:
    assert main(["train", "--image_size", "100", "--runs", str(tmp_path)]) == 1
    one_error_line(capsys, "--image_size")
    assert not any(tmp_path.iterdir())  # nothing written for a rejected config
    assert main(["train", "--warmup_epochs", "3", "--epochs", "2", "--runs", str(tmp_path)]) == 1
    one_error_line(capsys, "--warmup_epochs")


@pytest.mark.slow
def test_train_eval_infer_end_to_end(tmp_path: Path, capsys, generated_data: str) -> None:
    runs = tmp_path / "runs"
    code = main(["train", "--runs", str(runs), "--run_name", "e2e", "--epochs", "1", "--image-size", "64",
                 "--width", "4", "--batch_size", "8", "--max_train_images", "16", "--workers", "0",
                 "--ema-decay", "0.9", "--augment_strength", "light", "--data_path", generated_data])
    assert code == 0
    recorded = json.loads((runs / "e2e" / "config.json").read_text())
    assert (recorded["ema_decay"], recorded["augment_strength"], recorded["warmup_epochs"]) == (0.9, "light", 0)
    assert main(["eval", "--runs", str(runs), "--run", "e2e"]) == 0
    out = capsys.readouterr().out
    assert "Dice" in out and "IoU" in out
    img = write_image(tmp_path / "x.jpg", "RGB", (70, 50))
    assert main(["infer", "--runs", str(runs), "--run", "e2e", "--image", str(img),
                 "--output", str(tmp_path / "m.png"), "--overlay"]) == 0
    assert main(["runs", "--runs", str(runs)]) == 0
    assert "e2e" in capsys.readouterr().out


def test_train_on_an_empty_dataset_is_one_line(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "empty"
    (empty / "images").mkdir(parents=True)
    (empty / "annotations" / "trimaps").mkdir(parents=True)
    assert main(["train", "--data_path", str(empty), "--runs", str(tmp_path / "runs"), "--epochs", "1",
                 "--image_size", "64", "--width", "4", "--workers", "0"]) == 1
    one_error_line(capsys, "no images")
    unpaired = tmp_path / "unpaired"
    (unpaired / "images").mkdir(parents=True)
    (unpaired / "annotations" / "trimaps").mkdir(parents=True)
    Image.new("RGB", (32, 32)).save(unpaired / "images" / "cat_1.jpg")
    Image.new("L", (32, 32), 1).save(unpaired / "annotations" / "trimaps" / "dog_1.png")
    assert main(["train", "--data_path", str(unpaired), "--runs", str(tmp_path / "runs"), "--epochs", "1",
                 "--image_size", "64", "--width", "4", "--workers", "0"]) == 1
    one_error_line(capsys, "empty dataset")


@pytest.mark.slow
def test_train_without_data_path_uses_the_bundled_sample(tmp_path: Path, capsys) -> None:
    from engine.data.samples import training_sample_dir

    runs = tmp_path / "runs"
    assert main(["train", "--runs", str(runs), "--run_name", "real", "--epochs", "1", "--image_size", "64",
                 "--width", "4", "--batch_size", "4", "--max_train_images", "8", "--workers", "0",
                 "--device", "cpu"]) == 0
    config = json.loads((runs / "real" / "config.json").read_text())
    assert config["data_path"] is None  # not pinned to this installation's folder
    assert config["data_source"]["kind"] == "real"
    assert config["data_source"]["path"] == str(training_sample_dir())
    assert "bundled Oxford-IIIT Pet sample" in capsys.readouterr().out


@pytest.mark.slow
def test_demo_trains_scores_the_test_split_and_the_other_breeds(tmp_path: Path, capsys, generated_data) -> None:
    runs = tmp_path / "runs"
    assert main(["demo", "--runs", str(runs), "--data_path", generated_data, "--epochs", "1", "--image_size", "64",
                 "--width", "4", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "UNet width 4, 64 px, 1 epoch, batch" in out  # one epoch, not "1 epochs"
    assert "test photos" in out and "30 images  Dice" in out and "at photo size, border ignored" in out
    assert "at 64 px (training size), border ignored: Dice" in out
    assert "on all six, " in out and "not in training" in out
    # the test line's training time is the run's, as its finished line says it (and the runs
    # table): it was the wall time since the demo began, a third figure beside "N in all, M training"
    finished = re.search(r"finished: .*\(\S+ in all, (\S+) training\)", out)
    assert finished and f"(trained in {finished.group(1)})" in out
    (run,) = runs.iterdir()
    assert len(list((run / "predictions").glob("*_overlay.png"))) == 6


@pytest.mark.slow
def test_train_data_from_env_is_recorded_and_the_flag_wins(tmp_path: Path, capsys, monkeypatch,
                                                           generated_data: str) -> None:
    import json

    runs = tmp_path / "runs"
    tiny = ["--epochs", "1", "--image_size", "64", "--width", "4", "--batch_size", "4", "--max_train_images", "8",
            "--workers", "0", "--device", "cpu", "--runs", str(runs)]
    monkeypatch.setenv("PETSEG_DATA", str(tmp_path / "nowhere"))
    assert main(["train", *tiny, "--run_name", "gone"]) == 1
    captured = capsys.readouterr()
    assert "$PETSEG_DATA names" in captured.out
    assert captured.err.strip() == f"petseg: error: {tmp_path / 'nowhere'}: dataset folder does not exist"
    assert main(["train", *tiny, "--run_name", "flag", "--data_path", generated_data]) == 0  # the flag wins
    monkeypatch.setenv("PETSEG_DATA", generated_data)
    assert main(["train", *tiny, "--run_name", "env"]) == 0
    for name in ("flag", "env"):
        config = json.loads((runs / name / "config.json").read_text())
        assert config["data_path"] == generated_data and config["data_source"]["kind"] == "generated"


@pytest.mark.slow
def test_train_prints_plain_lines_without_rich(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch,
                                              generated_data: str) -> None:
    """A GPU box may have torch and the training dependencies but not rich (a TUI dependency):
    `petseg train` still runs and prints plain lines."""
    import sys

    monkeypatch.setitem(sys.modules, "rich.console", None)  # import rich.console -> ImportError
    assert main(["train", "--runs", str(tmp_path), "--run_name", "plain", "--epochs", "1", "--image_size", "64",
                 "--width", "4", "--batch_size", "8", "--max_train_images", "8", "--workers", "0",
                 "--device", "cpu", "--data_path", generated_data]) == 0
    out = capsys.readouterr().out
    assert f"run plain -> {tmp_path / 'plain'}" in out and "[bold]" not in out
    assert "finished: best valid Dice" in out


def test_resume_with_an_empty_run_name_is_refused(tmp_path: Path, capsys) -> None:
    """`--resume ""` (an unset shell variable) started a brand-new run with every default."""
    assert main(["train", "--runs", str(tmp_path / "runs"), "--resume", ""]) == 1
    one_error_line(capsys, "--resume: the run name is empty")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_sync_bn_on_the_cpu_with_several_ranks_is_refused_before_they_start(tmp_path: Path, generated_data: str,
                                                                           capsys) -> None:
    """It was refused by each rank, after the run folder was made: two error lines and a failed run."""
    runs = tmp_path / "runs"
    assert main(["train", "--runs", str(runs), "--data_path", generated_data, "--device", "cpu", "--devices", "2",
                 "--sync_bn", "yes", "--epochs", "1"]) == 1
    one_error_line(capsys, "--sync_bn yes: torch's SyncBatchNorm works only on CUDA")
    assert not runs.exists() or not any(runs.iterdir())


def test_a_cache_dir_that_is_a_file_is_refused_before_a_run(tmp_path: Path, generated_data: str, capsys) -> None:
    a_file = tmp_path / "cat.jpg"
    a_file.write_bytes(b"x")
    assert main(["train", "--runs", str(tmp_path / "runs"), "--data_path", generated_data, "--device", "cpu",
                 "--cache_dir", str(a_file)]) == 1
    one_error_line(capsys, f"--cache_dir {a_file}: is a file, not a folder")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_cache_dir_that_cannot_be_made_is_refused_before_a_run(tmp_path: Path, generated_data: str,
                                                                   capsys) -> None:
    """`--cache_dir` under a file (or on a read-only mount, or a typo under /proc) trained with no
    cache and no word: every run decoded its photos again."""
    a_file = tmp_path / "cat.jpg"
    a_file.write_bytes(b"x")
    cache = a_file / "cache"
    assert main(["train", "--runs", str(tmp_path / "runs"), "--data_path", generated_data, "--device", "cpu",
                 "--epochs", "1", "--image_size", "64", "--width", "4", "--max_train_images", "8", "--workers", "0",
                 "--cache_dir", str(cache)]) == 1
    one_error_line(capsys, f"--cache_dir {cache}: cannot create it (Not a directory); give a folder you can write to")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_download_that_cannot_reach_its_server_makes_no_run(tmp_path: Path, capsys, monkeypatch) -> None:
    """``--data_path NEW --download yes`` offline made the run folder, then failed the download in
    it: a failed run in the table (and an empty data folder) for what was a network problem."""
    import socket

    from engine.data import download

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{s.getsockname()[1]}/images.tar.gz"
    s.close()  # nothing listens there now: never the internet
    monkeypatch.setattr(download, "oxford_pet_resources", lambda: [download.Resource("images.tar.gz", (url,), None)])
    runs, data = tmp_path / "runs", tmp_path / "new"
    assert main(["train", "--runs", str(runs), "--data_path", str(data), "--download", "yes", "--device", "cpu",
                 "--epochs", "1", "--image_size", "64", "--width", "4", "--workers", "0"]) == 1
    one_error_line(capsys, f"--download into {data}: {url}: network error")
    assert not runs.exists() or not any(runs.iterdir())  # refused before a run folder was made
    assert not data.exists()  # nor an empty data folder left behind


@pytest.mark.parametrize("name", [".hidden", "chat-été", "-x", "a" * 101])
def test_a_refused_run_name_is_told_the_rule_it_breaks(tmp_path: Path, capsys, name: str) -> None:
    """".hidden" and "chat-été" were refused with "run names use letters, digits, '.', '_' and
    '-' (max 100)": a rule both names meet as a user reads it (é is a letter, '.' is allowed). The
    line now says ASCII and that the first character is a letter or digit."""
    runs = tmp_path / "runs"
    assert main(["train", "--runs", str(runs), f"--run_name={name}", "--epochs", "1", "--image_size", "64"]) == 1
    err = one_error_line(capsys, f"{name}: run names use ASCII letters, digits, '.', '_' and '-', "
                                 "starting with a letter or digit (at most 100)")
    assert err.startswith(f"petseg: error: {name}: ")
    assert not runs.exists() or not any(runs.iterdir())
