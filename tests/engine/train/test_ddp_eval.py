"""`petseg eval --devices 2`: what it prints is what one process prints (a folder without split
lists, an ONNX export), a rank that fails is named with its reason, and bad input is one line
before any rank starts. The launcher runs warm (tests/warm_petseg.py); its ranks are fresh."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from engine.cli import main
from tests import warm_petseg
from tests.engine.train.ddp_helpers import REPO

pytestmark = pytest.mark.slow


def test_petseg_eval_devices_2_prints_what_one_process_prints(finished_tiny_run: Path, capsys) -> None:
    """The user's path: `petseg eval --devices 2` launches 2 ranks through the elastic launcher
    (as train does); rank 0 alone prints, the same table and headline as one process."""
    argv = ["eval", "--checkpoint", str(finished_tiny_run / "checkpoints" / "best.pt"), "--device", "cpu",
            "--split", "valid"]
    assert main(argv) == 0
    one = capsys.readouterr().out
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    done = warm_petseg.run([sys.executable, "-m", "engine.cli", *argv, "--devices", "2"], env=env, cwd=REPO,
                           capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    def figures(out: str) -> list[str]:  # all but the timings and the launcher's line
        return [x for x in out.splitlines() if " s (decode" not in x and "data-parallel" not in x
                    and not x.startswith("scoring ")]

    assert figures(done.stdout) == figures(one) and any(x.startswith("valid Dice ") for x in figures(one))
    assert "data-parallel: 2 processes" in done.stdout and done.stderr == ""


def test_eval_of_a_folder_without_lists_says_the_same_of_its_data_in_one_process_and_two(
        finished_tiny_run: Path, tmp_path: Path, capsys) -> None:
    """A folder of photos and trimaps with no split list is all scored as the test split, and the
    warning said so; the data: line under it still said "6 trainval, 0 test images (… using every
    image that has a trimap)". One process and `--devices 2` print the same data: line, the one
    place that says it (a warning repeated it word for word)."""
    pets = tmp_path / "pets"
    shutil.copytree(REPO / "engine" / "demo_assets", pets)
    argv = ["eval", "--checkpoint", str(finished_tiny_run / "checkpoints" / "best.pt"), "--device", "cpu",
            "--data_path", str(pets)]
    assert main(argv) == 0
    one_out, one_err = capsys.readouterr()
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    two = warm_petseg.run([sys.executable, "-m", "engine.cli", *argv, "--devices", "2"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=240, check=False)
    assert two.returncode == 0, two.stderr[-2000:]
    note = "no annotations/test.txt or trainval.txt: scoring every image with a trimap as the test split"
    for out, err in ((one_out, one_err), (two.stdout, two.stderr)):
        assert err.strip() == ""
        assert f"data: Oxford-IIIT Pet at {pets}: 0 trainval, 6 test images ({note})" in out.splitlines()
        assert any(line.startswith("test: 6 images,") for line in out.splitlines())


def test_eval_devices_2_scores_an_onnx_export_as_one_process_does(tmp_path_factory: pytest.TempPathFactory,
                                                                  finished_tiny_run: Path, capfd) -> None:
    """The launcher's check before the ranks read the file as a torch checkpoint: an ONNX export
    that one process scores was refused, "model.onnx: corrupt or truncated checkpoint"."""
    from tests.engine.export.exported import exported_run

    _, result = exported_run(tmp_path_factory, finished_tiny_run)
    argv = ["eval", "--checkpoint", str(result.path), "--device", "cpu", "--split", "valid", "--batch_size", "2"]
    assert main(argv) == 0
    one = capfd.readouterr().out
    assert main([*argv, "--devices", "2"]) == 0, capfd.readouterr().err
    two = capfd.readouterr().out  # the ranks' own output (rank 0 prints the figures)
    figure = [line for line in one.splitlines() if line.startswith("valid Dice")]
    assert figure and figure == [line for line in two.splitlines() if line.startswith("valid Dice")]


def test_an_eval_rank_that_fails_is_named_with_its_reason(finished_tiny_run: Path) -> None:
    """A rank of `petseg eval --devices 2` that raises mid-scoring: one line naming the rank and
    what it said (not only its exit code), non-zero exit."""
    argv = ["eval", "--checkpoint", str(finished_tiny_run / "checkpoints" / "best.pt"), "--device", "cpu",
            "--split", "valid", "--batch_size", "2", "--devices", "2"]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", PETSEG_FAULT="score:1@1:raise")
    done = warm_petseg.run([sys.executable, "-m", "engine.cli", *argv], env=env, cwd=REPO, capture_output=True,
                           text=True, timeout=240)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("petseg: error: eval: rank 1 of 2 failed: ") and \
        "injected fault at score" in last, done.stderr[-2000:]


@pytest.mark.parametrize("flags, said", [
    (["--devices", "0"], "--devices 0: give at least 1 device"),
    (["--devices", "0,1"], "--devices 0,1: GPU indices need CUDA"),
    (["--devices", "1000"], "--devices 1000: on the CPU each process needs a core"),
    (["--devices", "2", "--data_path", "/nonexistent/pets"], "/nonexistent/pets: dataset folder does not exist"),
    # a folder whose trainval.txt lists every photo and no test.txt: every rank said it after they
    # had started, then the launcher again (3 lines)
    (["--devices", "2", "--data_path", "{no_test}"], "{no_test}: no test images to evaluate on"),
], ids=["zero", "gpu-list-on-cpu", "more-than-the-cores", "missing-data", "empty-split"])
def test_bad_eval_devices_input_is_one_line_before_any_rank_starts(finished_tiny_run: Path, tmp_path: Path, capsys,
                                                                  flags, said) -> None:
    no_test = tmp_path / "pets"
    shutil.copytree(REPO / "engine" / "demo_assets", no_test)
    (no_test / "annotations" / "trainval.txt").write_text(
        "".join(f"{p.stem} 1 1 1\n" for p in sorted((no_test / "images").glob("*.jpg"))))
    flags, said = [f.format(no_test=no_test) for f in flags], said.format(no_test=no_test)
    argv = ["eval", "--checkpoint", str(finished_tiny_run / "checkpoints" / "best.pt"), "--device", "cpu", *flags]
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert err.strip().startswith(f"petseg: error: {said}") and "\n" not in err.strip()
    assert "data-parallel" not in out  # refused in this process: no rank was started
