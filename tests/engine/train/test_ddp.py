"""Data-parallel training on torch.distributed, checked with gloo processes on the CPU: metrics and
updates equal to one process, one writer per run, and `petseg train --devices 2` end to end."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from engine.cli import main
from engine.runs import RunStore, request_control

REPO = Path(__file__).resolve().parents[3]
WORKER = Path(__file__).with_name("ddp_worker.py")
pytestmark = pytest.mark.slow


def run_ranks(mode: str, world: int, tmp_path: Path, *extra: str) -> list[dict]:
    """``world`` gloo ranks of ddp_worker.py; each one's JSON result."""
    store = tmp_path / f"store-{mode}-{world}"
    outs = [tmp_path / f"{mode}-{world}-{r}.json" for r in range(world)]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, str(WORKER), mode, str(r), str(world), str(store), str(outs[r]), *extra],
                              env=env, cwd=REPO, stderr=subprocess.PIPE, text=True) for r in range(world)]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-2000:]
    return [json.loads(o.read_text()) for o in outs]


def worker_module():
    spec = importlib.util.spec_from_file_location("ddp_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def one_process(what: str, *args: object) -> dict:
    """ddp_worker's ``what`` in this process, as a plain run on one thread (as the ranks run)."""
    import torch

    from engine.train.distributed import DistContext

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return getattr(worker_module(), what)(DistContext(), *args)
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory: pytest.TempPathFactory, finished_tiny_run: Path) -> list[dict]:
    """One start of 2 gloo ranks for the process-id, validation, update and eval checks below."""
    return run_ranks("all", 2, tmp_path_factory.mktemp("ddp"), str(finished_tiny_run / "checkpoints" / "best.pt"))


def test_validation_of_two_processes_equals_one(two_ranks: list[dict]) -> None:
    """Each rank scores its unpadded shard with rank 0's BatchNorm statistics (each rank's own drift
    a step apart in training; rank 0's model is the one saved); the reduced sums give one
    process's Dice and IoU. (The
    validation loss is not compared: its soft-Dice part is per batch, so it depends on how the
    photos are batched, in one process as in two.)"""
    one = one_process("validate")
    assert one["valid_size"] % 2 == 1  # an odd split: a padded shard would count a photo twice
    for rank in two_ranks:
        for key in ("dice", "iou", "dice_per_image", "iou_per_image"):
            assert rank["validate"][key] == pytest.approx(one[key], abs=1e-6), key
        assert rank["validate"]["n_images"] == one["n_images"] == one["valid_size"]


def test_two_processes_of_batch_4_update_as_one_of_batch_8(two_ranks: list[dict]) -> None:
    """DDP averages the ranks' gradients: with a loss that is a mean over pixels, 2 x 4 images take
    the steps 1 x 8 takes. After 4 SGD steps (lr 0.1) the parameters agree to float32 rounding:
    the all-reduce adds the two halves in another order than one batch's backward does, a
    relative 1e-7 per step on gradients of order 1, so 1e-6 absolute leaves room for 4 steps
    and nothing more. BatchNorm needs --sync_bn, which torch supports only on CUDA (see
    test_sync_bn_two_processes_match_one_on_cuda), so this network has none."""
    one = one_process("steps")["params"]
    for rank in two_ranks:
        for got, want in zip(rank["steps"]["params"], one):
            assert got == pytest.approx(want, abs=1e-6)


def test_an_epochs_train_loss_and_dice_are_every_ranks_not_rank_0s(two_ranks: list[dict]) -> None:
    """What an epoch reports as its train loss and Dice (the curves, events.jsonl) covers the
    images of every rank: 2 ranks of 4 images a batch report what 1 process of 8 does."""
    one = one_process("epoch")
    for rank in two_ranks:
        assert rank["epoch"]["images"] == one["images"] == 24
        assert rank["epoch"]["loss"] == pytest.approx(one["loss"], abs=1e-6)
        assert rank["epoch"]["dice"] == pytest.approx(one["dice"], abs=1e-6)


def test_an_epoch_of_three_ranks_counts_the_padded_repeats_once(tmp_path: Path) -> None:
    """10 images on 3 ranks are 12 draws (DistributedSampler's padding: every rank steps equally);
    the epoch's image count (img/s), train loss and Dice count the 10 images once each, as one
    process does (they reported 12 images, two of them twice)."""
    one = one_process("padded_epoch")
    ranks = run_ranks("padded_epoch", 3, tmp_path)
    for rank in ranks:
        for batch in ("batch1", "batch2"):
            got, want = rank[batch], one[batch]
            assert got["images"] == want["images"] == 10, batch
            assert got["dice"] == pytest.approx(want["dice"], abs=1e-6), batch
        assert rank["batch1"]["loss"] == pytest.approx(one["batch1"]["loss"], abs=1e-6)
    assert [r["batch1"]["drawn"] for r in ranks] == [4, 4, 4]  # the repeats still train


def test_rank_0_learns_the_process_of_every_rank_on_its_machine(two_ranks: list[dict]) -> None:
    """system.jsonl's CPU % and RSS are read by rank 0 alone: it learns every local rank's process
    (the rank's DataLoader workers are that process's children), in rank order, so a 2-rank CPU
    run no longer shows half its CPU use."""
    ranks = [rank["pids"] for rank in two_ranks]
    assert ranks[0]["local_rank_pids"] == [ranks[0]["pid"], ranks[1]["pid"]]
    assert ranks[1]["local_rank_pids"] is None


# what torch 2.14 says when SyncBatchNorm is asked to run on the CPU (with gloo): the DDP wrapper
# refuses it ("SyncBatchNorm layers only work with GPU modules"), and its forward alone raises
# "SyncBatchNorm expected input tensor to be on GPU or XPU or privateuseone"
SYNC_BN_CPU = "torch's SyncBatchNorm runs only on GPUs (on the CPU: 'SyncBatchNorm expected input tensor to be on GPU or XPU or privateuseone')"


@pytest.mark.skipif(not torch.cuda.is_available() or torch.cuda.device_count() < 2,
                    reason=f"needs 2 CUDA devices: {SYNC_BN_CPU}")
def test_sync_bn_two_processes_match_one_on_cuda(tmp_path: Path) -> None:
    """--sync_bn: 2 processes x batch 4 take the steps of 1 process x batch 8 with a real
    BatchNorm network (the statistics of the global batch normalise both halves; augmentation
    plays no part: fixed tensors). Tolerance 1e-5 after 4 SGD steps (lr 0.1): SyncBatchNorm
    gathers per-rank sums and combines mean and variance in another order than one batch's
    reduction does, a relative 1e-6 on the normalised activations, and the gradient all-reduce
    adds another float32 rounding per step; TF32 is off and cuDNN deterministic, so nothing
    coarser than float32 rounding separates the two (TF32 alone would cost ~1e-3)."""
    one = one_process_on_cuda()
    two = run_ranks("sync_bn_steps", 2, tmp_path)
    for rank in two:
        for key, want in one["params"].items():
            assert rank["params"][key] == pytest.approx(want, abs=1e-5), key


def one_process_on_cuda() -> dict:
    from engine.train.distributed import DistContext

    return worker_module().sync_bn_steps(DistContext())


def test_eval_of_two_processes_equals_one(two_ranks: list[dict], finished_tiny_run: Path) -> None:
    """`petseg eval`'s scoring on 2 ranks (a block of the split each, the per-photo counts
    joined on rank 0) gives one process's figures, all four scorings, and the same worst photos;
    rank 1 reports nothing."""
    one = one_process("evaluate", str(finished_tiny_run / "checkpoints" / "best.pt"))
    main_rank, other = two_ranks[0]["eval"], two_ranks[1]["eval"]
    assert other is None
    assert main_rank["n_images"] == one["n_images"]  # (uneven blocks: test_distributed's test_eval_blocks_...)
    for scoring, figures in one["figures"].items():
        assert main_rank["figures"][scoring] == pytest.approx(figures, abs=1e-6), scoring
    assert main_rank["worst"] == one["worst"]


def test_petseg_eval_devices_2_prints_what_one_process_prints(finished_tiny_run: Path, capsys) -> None:
    """The user's path: `petseg eval --devices 2` launches 2 ranks through the elastic launcher
    (as train does); rank 0 alone prints, the same table and headline as one process."""
    argv = ["eval", "--checkpoint", str(finished_tiny_run / "checkpoints" / "best.pt"), "--device", "cpu",
            "--split", "valid"]
    assert main(argv) == 0
    one = capsys.readouterr().out
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "engine.cli", *argv, "--devices", "2"], env=env, cwd=REPO,
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
    two = subprocess.run([sys.executable, "-m", "engine.cli", *argv, "--devices", "2"], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=240, check=False)
    assert two.returncode == 0, two.stderr[-2000:]
    note = "no annotations/test.txt or trainval.txt: scoring every image with a trimap as the test split"
    for out, err in ((one_out, one_err), (two.stdout, two.stderr)):
        assert err.strip() == ""
        assert f"data: Oxford-IIIT Pet at {pets}: 0 trainval, 6 test images ({note})" in out.splitlines()
        assert any(line.startswith("test: 6 images,") for line in out.splitlines())


DDP_TRAIN = ["--device", "cpu", "--image_size", "64", "--width", "4", "--batch_size", "4",
             "--max_train_images", "16", "--workers", "0", "--compile", "off", "--amp", "off",
             "--scheduler", "none", "--checkpoint_interval", "0"]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory: pytest.TempPathFactory, generated_data: str) -> Path:
    """`petseg train --devices 2`, 2 epochs uninterrupted (the run folder ``ddp``): the end-to-end
    checks and the reference of the resume below. (workers 0: worker processes would carry
    augmentation streams of their own, which no checkpoint holds.)"""
    runs = tmp_path_factory.mktemp("ddp-run") / "runs"
    with pytest.MonkeyPatch.context() as mp:  # as a user's shell has it: the launcher sizes the ranks' threads
        mp.delenv("OMP_NUM_THREADS", raising=False)
        assert main(["train", "--devices", "2", "--data_path", generated_data, "--epochs", "2", *DDP_TRAIN,
                     "--runs", str(runs), "--run_name", "ddp"]) == 0
    return runs / "ddp"


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
    done = subprocess.run([sys.executable, "-m", "engine.cli", *argv], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("petseg: error: eval: rank 1 of 2 failed: ") and \
        "injected fault at score" in last, done.stderr[-2000:]


@pytest.mark.parametrize("flags, said", [
    (["--devices", "0"], "--devices 0: give at least 1 device"),
    (["--devices", "0,1"], "--devices 0,1: GPU indices need CUDA"),
    (["--devices", "2", "--data_path", "/nonexistent/pets"], "/nonexistent/pets: dataset folder does not exist"),
    # a folder whose trainval.txt lists every photo and no test.txt: every rank said it after they
    # had started, then the launcher again (3 lines)
    (["--devices", "2", "--data_path", "{no_test}"], "{no_test}: no test images to evaluate on"),
], ids=["zero", "gpu-list-on-cpu", "missing-data", "empty-split"])
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


def test_petseg_train_devices_2_writes_one_run(ddp_run: Path, generated_data: str) -> None:
    runs = ddp_run.parent
    [run] = RunStore(runs).list_runs()
    assert (run.name, run.state, run.epoch) == ("ddp", "finished", 2)
    config = json.loads((runs / "ddp" / "config.json").read_text())
    assert config["distributed"]["world_size"] == 2
    assert config["distributed"]["global_batch"] == 8 and config["batch_size"] == 4
    assert len(set(config["distributed"]["augment_seeds"])) == 2
    # each rank its share of the cores (torch's default, every core in each rank, trained 5x slower)
    from engine.cores import available_cores

    assert config["distributed"]["threads_per_process"] == max(1, available_cores() // 2)
    events = [json.loads(line) for line in (runs / "ddp" / "events.jsonl").read_text().splitlines()]
    assert [e["kind"] for e in events].count("run_started") == 1  # one writer: rank 0
    assert sorted(p.name for p in (runs / "ddp" / "checkpoints").iterdir()) == ["best.pt", "last.pt"]
    log = (runs / "ddp" / "train.log").read_text()  # rank 0's console, once (issue 20)
    assert log.count("epoch 2/2") == 1 and log.count("finished: best valid Dice") == 1
    assert (runs / "ddp" / "system.jsonl").is_file()  # rank 0 samples (here: no GPU)
    # the checkpoint holds the unwrapped model: it scores like any other
    assert main(["eval", "--run", "ddp", "--runs", str(runs), "--data_path", generated_data]) == 0


@pytest.mark.slow
def test_rank_0s_train_log_keeps_what_it_printed_before_the_run_folder_existed(ddp_run: Path) -> None:
    """The data and amp lines a rank prints while the run is set up: the terminal showed them,
    the run's train.log of `--devices 2` began at the epochs (one process kept them)."""
    log = (ddp_run / "train.log").read_text()
    assert log.count("data: train: 16 images") == 1 and log.count("device: cpu") == 1, log


def test_a_two_process_resume_repeats_the_uninterrupted_two_process_run(ddp_run: Path, tmp_path: Path,
                                                                         generated_data: str, capsys) -> None:
    """2 processes for 1 epoch, then `--resume --epochs 2` on 2 processes: the same final weights,
    bit for bit, as the 2 uninterrupted epochs of `ddp_run` (constant lr, so the longer budget
    changes no rate). It needs every rank's random streams in last.pt: rank 1 used to restart its
    augmentations from its seed. Resumed again on 1 process, the run says in one line that it no
    longer repeats an uninterrupted run."""
    from engine.checkpoint import load_checkpoint

    runs = tmp_path / "runs"
    first = ["train", "--data_path", generated_data, *DDP_TRAIN, "--runs", str(runs)]
    assert main([*first, "--devices", "2", "--epochs", "1", "--run_name", "cut"]) == 0
    assert main(["train", "--resume", "cut", "--epochs", "2", "--runs", str(runs)]) == 0  # its own --devices 2
    want = load_checkpoint(ddp_run / "checkpoints" / "last.pt")
    got = load_checkpoint(runs / "cut" / "checkpoints" / "last.pt")
    assert got["epoch"] == want["epoch"] == 2
    for key, tensor in want["model"].items():
        assert torch.equal(tensor, got["model"][key]), key
    assert got["rng"]["ranks"]["world_size"] == 2
    capsys.readouterr()
    assert main(["train", "--resume", "cut", "--epochs", "3", "--devices", "1", "--runs", str(runs)]) == 0
    note = "resume: last.pt holds the random streams of 2 processes, this run has 1 process"
    out = capsys.readouterr().out.replace("\n", " ")
    assert note in out
    warnings = [json.loads(x) for x in (runs / "cut" / "events.jsonl").read_text().splitlines() if '"warning"' in x]
    assert any(w.get("message", "").startswith(note) for w in warnings)
    # the global batch halved: said, not only "--devices 1 (was 2)"; config.json records one process
    batch = "resume: global batch 4 (was 8): 1 process of 4, was 2 processes; the learning rate is not rescaled"
    assert batch in out and any(w.get("message", "").startswith(batch) for w in warnings)
    config = json.loads((runs / "cut" / "config.json").read_text())
    assert "distributed" not in config and config["batch_size"] == 4


def test_a_bad_devices_value_is_one_line_and_makes_no_run(tmp_path: Path, capsys) -> None:
    runs = tmp_path / "runs"
    assert main(["train", "--device", "cpu", "--devices", "0", "--runs", str(runs)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("petseg: error: --devices 0:") and "\n" not in err
    assert not runs.exists() or not any(runs.iterdir())


@pytest.mark.parametrize("name", ["pets/x2", "pets x2"])  # "pets/x2" trained as run "x2"; one process refuses it
def test_a_bad_run_name_is_refused_before_any_rank_starts(tmp_path: Path, capsys, name: str) -> None:
    runs = tmp_path / "runs"
    assert main(["train", *DDP_TRAIN, "--devices", "2", "--runs", str(runs), "--run_name", name]) == 1
    out, err = capsys.readouterr()
    assert err.strip() == f"petseg: error: {name}: run names use letters, digits, '.', '_' and '-' (max 100)"
    assert "data-parallel" not in out  # no rank was started
    assert not runs.exists() or not any(runs.iterdir())


def test_a_taken_run_name_is_one_line_before_any_rank_starts(finished_tiny_run: Path, capsys) -> None:
    """Rank 0 used to find the clash after both ranks had started: two lines, the second one
    blaming rank 1 ("rank 1 of 2 ended with exit code 1: ...")."""
    runs = finished_tiny_run.parent
    assert main(["train", *DDP_TRAIN, "--devices", "2", "--runs", str(runs), "--run_name", finished_tiny_run.name]) == 1
    out, err = capsys.readouterr()
    assert err.strip() == (f"petseg: error: {finished_tiny_run}: a run with this name already exists "
                           "(use --resume to continue it)")
    assert "data-parallel" not in out


def test_resuming_a_run_another_process_trains_is_one_line_before_any_rank_starts(finished_tiny_run: Path,
                                                                                 tmp_path: Path, capsys) -> None:
    from engine.runs import RunLock

    # a copy: the shared run, locked, would read as being trained to the tests of other workers
    run = tmp_path / "runs" / "r"
    shutil.copytree(finished_tiny_run, run)
    lock = RunLock.acquire(run)  # as a `petseg train` still writing it
    try:
        assert main(["train", "--resume", run.name, "--runs", str(run.parent), "--devices", "2", "--device", "cpu"]) == 1
    finally:
        lock.release()
    out, err = capsys.readouterr()
    assert err.strip().startswith(f"petseg: error: {run}: is being trained by another petseg process")
    assert "\n" not in err.strip() and "rank" not in err
    assert "data-parallel" not in out


@pytest.mark.parametrize("code, fails", [("pass", False), ("import sys; sys.exit(3)", True)])
def test_a_launch_leaves_nothing_in_the_temp_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    code: str, fails: bool) -> None:
    """The elastic agent's log folder (its ranks' error files) went to a fresh
    /tmp/torchelastic_XXXX on every `petseg train/eval --devices N` and every data-parallel sweep
    trial, never removed: 429 of them on this machine after a day's tests."""
    import tempfile

    from engine.train.ddp_launch import RankFailed, run_ranks
    from engine.train.devices_request import DevicesRequest

    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.setenv("TMPDIR", str(temp))
    if fails:
        with pytest.raises(RankFailed, match="exit code 3"):  # the ranks' error files were still read
            run_ranks(["-c", code], DevicesRequest(2), lambda _: None, "a check")
    else:
        assert run_ranks(["-c", code], DevicesRequest(2), lambda _: None, "a check") == 0
    assert sorted(p.name for p in temp.iterdir()) == []


GLOO_TIMEOUT = ("RuntimeError: [/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/unbound_buffer.cc:78] "
                "Timed out waiting 15000ms for recv operation to complete")


@pytest.mark.parametrize("stuck", ["sleep", "sigstop"])
def test_a_rank_that_stops_answering_is_named_not_the_rank_that_waited_for_it(monkeypatch, stuck: str) -> None:
    """Rank 1 stuck (kill -STOP, or busy), rank 0 times out in a collective after
    $PETSEG_DIST_TIMEOUT: the launcher said "rank 0 of 2 ended with exit code 1: RuntimeError:
    [...] Timed out waiting 15000ms for recv", blaming the one rank that did its part."""
    from torch.distributed.elastic.multiprocessing.api import SubprocessContext

    from engine.train.ddp_launch import RankFailed, run_ranks
    from engine.train.devices_request import DevicesRequest

    # a stopped rank never takes the agent's SIGTERM: torch then waits a fixed 30 s before its
    # SIGKILL (a literal in its poll loop, no setting reaches it), idle time that proves nothing
    # here; the same SIGTERM, wait and SIGKILL after 2 s. (A torch without this method fails here.)
    close = SubprocessContext._close
    monkeypatch.setattr(SubprocessContext, "_close",
                        lambda self, death_sig, timeout=30: close(self, death_sig, min(timeout, 2)))
    hang = "os.kill(os.getpid(), signal.SIGSTOP)" if stuck == "sigstop" else "time.sleep(120)"
    code = ("import os, signal, sys, time\n"
            "from engine.train.rank_failures import report_failure\n"
            "if os.environ['RANK'] == '0':\n"
            f"    time.sleep(1); report_failure({GLOO_TIMEOUT!r}); sys.exit(1)\n"
            f"{hang}\n")
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    with pytest.raises(RankFailed) as info:
        run_ranks(["-c", code], DevicesRequest(2), lambda _: None, "a check")
    assert str(info.value) == ("rank 1 of 2 stopped answering: rank 0 waited 15 s for it and gave up "
                               "($PETSEG_DIST_TIMEOUT); the other ranks were stopped")


def test_a_rank_that_timed_out_says_it_waited_for_the_others() -> None:
    """What the waiting rank itself says (its status under the user's torchrun, its error.log line)."""
    from engine.train.rank_failures import is_consequence, timed_out_message

    said = timed_out_message(GLOO_TIMEOUT, 2)
    assert said == ("timed out waiting 15 s for the other ranks of this 2-process run (PETSEG_DIST_TIMEOUT): "
                    "another rank stopped answering (stuck, stopped or far slower)")
    assert is_consequence(said) and is_consequence(GLOO_TIMEOUT) and timed_out_message("ValueError: x", 2) == ""


def test_a_rank_that_timed_out_names_the_rank_whose_process_is_stopped() -> None:
    """kill -STOP of rank 2 of three under the user's torchrun: the others timed out saying
    "another rank stopped answering"; the stopped process is seen on this machine and named."""
    import signal
    import time

    from engine.train.distributed import machine_id
    from engine.train.rank_failures import is_consequence, timed_out_message

    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        sleeper.send_signal(signal.SIGSTOP)
        end = time.monotonic() + 10
        while Path(f"/proc/{sleeper.pid}/stat").read_text().rpartition(")")[2].split()[0] != "T":
            assert time.monotonic() < end
            time.sleep(0.01)
        here = machine_id()
        said = timed_out_message(GLOO_TIMEOUT, 3, rank=0, processes=[(here, os.getpid())] * 2 + [(here, sleeper.pid)])
        assert said == ("timed out waiting 15 s for the other ranks of this 3-process run (PETSEG_DIST_TIMEOUT): "
                        "rank 2 of this 3-process run, whose process is stopped (kill -STOP or a debugger?), "
                        "stopped answering")
        assert is_consequence(said)
    finally:
        sleeper.kill()
        sleeper.wait()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_torchrun_nodes_meeting_at_127_0_0_1_train_one_run(tmp_path: Path, generated_data: str) -> None:
    """The multi-node path as a user types it, both "nodes" on this machine: two torchrun agents
    (--nnodes 2, c10d rendezvous at 127.0.0.1), one process each, one run written by rank 0. The
    batch (12) is bigger than a rank's shard (8 of the 16 images) and smaller than the split: each
    rank trains on one short batch (a whole-split rule dropped it, and the run trained on nothing)."""
    runs = tmp_path / "runs"
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO), PETSEG_PLAIN_PROGRESS="1", OMP_NUM_THREADS="1", TMPDIR=str(tmp_path))
    argv = ["-m", "engine.cli", "train", "--device", "cpu", "--data_path", generated_data, "--epochs", "1",
            "--image_size", "64", "--width", "4", "--batch_size", "12", "--max_train_images", "16",
            "--workers", "0", "--compile", "off", "--amp", "off", "--runs", str(runs)]
    nodes = [subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node_rank", str(k),
                               "--nproc_per_node", "1", "--rdzv_backend", "c10d", "--rdzv_endpoint", f"127.0.0.1:{port}",
                               "--rdzv_id", "petseg-test", *argv],
                              env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for k in (0, 1)]
    outputs = [n.communicate(timeout=240)[0] for n in nodes]
    assert [n.returncode for n in nodes] == [0, 0], outputs
    [run] = RunStore(runs).list_runs()  # rank 0 named it (no --run_name) and told rank 1
    assert run.state == "finished"
    config = json.loads((run.path / "config.json").read_text())
    assert config["distributed"]["world_size"] == 2
    [ended] = [json.loads(x) for x in (run.path / "events.jsonl").read_text().splitlines() if '"epoch_ended"' in x]
    assert ended["train_loss"] > 0 and ended["images_per_s"] > 0


def test_under_torchrun_a_rank_that_lost_its_peer_says_so_in_words(tmp_path: Path, generated_data: str) -> None:
    """The user's own torchrun has no petseg launcher to name the rank that died: rank 0's error was
    the run's whole story, "RuntimeError: [/__w/pytorch/pytorch/third_party/gloo/gloo/transport/
    tcp/pair.cc:545] Read error [127.0.0.1]:38096: Connection reset by peer. This is typically
    caused by a remote worker hanging or bugs in the application. ... GLHF! 🏖️"."""
    runs = tmp_path / "runs"
    env = dict(os.environ, PYTHONPATH=str(REPO), PETSEG_PLAIN_PROGRESS="1", OMP_NUM_THREADS="1", TMPDIR=str(tmp_path),
               PETSEG_FAULT="batch:3@1")  # rank 1 SIGKILLs itself before its 3rd batch (as the OOM killer would)
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "engine.cli",
                           "train", "--data_path", generated_data, *DDP_TRAIN, "--epochs", "2", "--runs", str(runs),
                           "--run_name", "oom"], env=env, cwd=REPO, capture_output=True, text=True, timeout=240,
                          check=False)
    assert done.returncode != 0
    status = json.loads((runs / "oom" / "status.json").read_text())
    assert status["state"] == "failed"
    message = status["message"]
    assert message.startswith("rank 1 of this 2-process run ended first (Connection "), message
    assert "GLHF" not in message and "pair.cc" not in message and "\n" not in message
    assert message.endswith(f"(traceback in {runs / 'oom' / 'error.log'})")


def test_under_torchrun_a_three_process_run_names_the_rank_that_was_killed(tmp_path: Path, generated_data: str) -> None:
    """Three ranks of the user's torchrun, rank 2 killed: rank 0's run said "another rank of this
    3-process run ended first"; it names rank 2 now, as a 2-process run names the other rank."""
    runs = tmp_path / "runs"
    env = dict(os.environ, PYTHONPATH=str(REPO), PETSEG_PLAIN_PROGRESS="1", OMP_NUM_THREADS="1",
               PETSEG_FAULT="batch:3@2", TORCH_CPP_LOG_LEVEL="ERROR",  # rank 2 SIGKILLs itself (epoch 3)
               TMPDIR=str(tmp_path))  # rank 1's traceback folder (rank_scratch) goes with the test
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "3", "-m", "engine.cli",
                           "train", "--data_path", generated_data, *DDP_TRAIN, "--epochs", "4", "--runs", str(runs),
                           "--run_name", "oom3"], env=env, cwd=REPO, capture_output=True, text=True, timeout=240,
                          check=False)
    assert done.returncode != 0
    status = json.loads((runs / "oom3" / "status.json").read_text())
    assert status["state"] == "failed"
    assert status["message"].startswith("rank 2 of this 3-process run ended first (Connection "), status["message"]


def test_a_ranks_reason_reaches_torchs_agent_in_its_own_error_file_layout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Under the user's torchrun, each failed rank's reason made the agent log "child error file
    (...) has a new message format. skipping error code override" besides the summary: the file
    now has torch's own layout, and the summary's line is still the rank's one line."""
    import logging

    from torch.distributed.elastic.multiprocessing.errors import ProcessFailure
    from torch.distributed.elastic.multiprocessing.errors.error_handler import (
        ErrorHandler,
    )

    from engine.train.rank_failures import failure_message, report_failure

    path = tmp_path / "error.json"
    monkeypatch.setenv("TORCHELASTIC_ERROR_FILE", str(path))
    said = "rank 1 of this 2-process run (on another node) ended first (Connection closed by peer)"
    assert report_failure(said)
    failure = ProcessFailure(local_rank=0, pid=123, exitcode=1, error_file=str(path))
    assert failure_message(failure) == said
    assert said in failure.message["extraInfo"]["py_callstack"]
    with caplog.at_level(logging.WARNING):
        ErrorHandler().dump_error_file(str(path), error_code=1)  # what the agent does with the root cause
    assert "new message format" not in caplog.text


def test_under_torchrun_a_stop_is_said_in_the_agents_summary(tmp_path: Path, generated_data: str) -> None:
    """A run of the user's torchrun stopped from the dashboard: torchrun takes the ranks' exit
    130 for a failure, and its summary said "error_file: <N/A>" and "traceback : To enable
    traceback see: https://pytorch.org/docs/stable/elastic/errors.html". Each rank now gives it
    why it stopped."""
    runs = tmp_path / "runs"
    env = dict(os.environ, PYTHONPATH=str(REPO), PETSEG_PLAIN_PROGRESS="1", OMP_NUM_THREADS="1", TMPDIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m",
                             "engine.cli", "train", "--data_path", generated_data, *DDP_TRAIN, "--epochs", "1000",
                             "--runs", str(runs), "--run_name", "halt"], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with _killed_if_left(proc):
        _wait_for_first_epoch(runs / "halt", proc)
        request_control(runs / "halt", "stop")
        out = proc.communicate(timeout=120)[0]
    assert proc.returncode != 0
    assert "To enable traceback see" not in out and "<N/A>" not in out, out[-3000:]
    assert "stopped by user" in out, out[-3000:]


def test_the_rank_a_two_node_run_lost_is_named_with_its_node(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two torchrun nodes of one rank each: when one is killed, the survivor's run said "another
    rank of this 2-process run ended first", and a stop asked there "stopped by another rank";
    both now name the rank, and say it ran on the other node."""
    from engine.train.batch_gate import other_rank_stop
    from engine.train.rank_failures import is_consequence, peer_gone_message, rank_words

    node0 = {"LOCAL_WORLD_SIZE": "1", "GROUP_RANK": "0"}
    assert rank_words(1, 2, node0) == "rank 1 of this 2-process run (on another node)"
    assert rank_words(1, 4, {"LOCAL_WORLD_SIZE": "2", "GROUP_RANK": "0"}) == "rank 1 of this 4-process run (on this node)"
    assert rank_words(3, 4, {"LOCAL_WORLD_SIZE": "4", "GROUP_RANK": "0"}) == "rank 3 of this 4-process run"
    closed = "RuntimeError: [../pair.cc:534] Connection closed by peer [127.0.0.1]:5421"
    for key, value in node0.items():  # this process: node 0's only rank
        monkeypatch.setenv(key, value)
    said = peer_gone_message(closed, 2, rank=0)
    stopped = other_rank_stop(1, 2)
    assert said == ("rank 1 of this 2-process run (on another node) ended first (Connection closed by peer); "
                    "that rank's own output says why")
    assert is_consequence(said)  # petseg's launcher still tells it from the cause
    assert peer_gone_message(closed, 3, rank=0).startswith("another rank of this 3-process run ended first")
    assert stopped == ("stopped by rank 1 of this 2-process run (on another node): a signal to it, or its launcher "
                       "ended (see that rank's output)")


def test_a_rank_left_by_another_of_three_names_the_one_whose_process_ended(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With three or more ranks, the survivors of a killed rank said "another rank of this
    3-process run ended first" (a 2-process run names the other one): each rank now knows every
    rank's process and names the one that ended, not one that ended after it only because of it
    (its error file says so), and still says "another rank" when none is seen on this machine."""
    import time

    from engine.train.distributed import machine_id
    from engine.train.rank_failures import peer_gone_message

    def zombie() -> subprocess.Popen:  # ended, not yet reaped: a killed rank before its agent looks
        proc = subprocess.Popen(["true"])
        end = time.monotonic() + 10
        while Path(f"/proc/{proc.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
            assert time.monotonic() < end
            time.sleep(0.01)
        return proc

    for name in ("LOCAL_WORLD_SIZE", "GROUP_RANK"):
        monkeypatch.delenv(name, raising=False)
    attempt = tmp_path / "attempt_0"
    for local in "012":
        (attempt / local).mkdir(parents=True)
    monkeypatch.setenv("TORCHELASTIC_ERROR_FILE", str(attempt / "0" / "error.json"))
    monkeypatch.setenv("LOCAL_RANK", "0")
    # rank 1 ended too, but after rank 2 and because of it, as it told the agent
    (attempt / "1" / "error.json").write_text(json.dumps(
        {"message": {"message": "another rank of this 3-process run ended first (Connection closed by peer)"}}))
    closed = "RuntimeError: [../pair.cc:534] Connection closed by peer [127.0.0.1]:5421"
    first, second = zombie(), zombie()
    try:
        here = machine_id()
        processes = [(here, os.getpid()), (here, first.pid), (here, second.pid)]
        assert peer_gone_message(closed, 3, rank=0, processes=processes) == (
            "rank 2 of this 3-process run ended first (Connection closed by peer); that rank's own output says why")
        monkeypatch.delenv("TORCHELASTIC_ERROR_FILE")  # no agent: which one only followed is not known
        assert peer_gone_message(closed, 3, rank=0, processes=processes).startswith(
            "one of ranks 1, 2 of this 3-process run ended first (Connection closed by peer)")
        alive = [(here, os.getpid()), (here, os.getpid()), ("another-machine/x", second.pid)]
        assert peer_gone_message(closed, 3, rank=0, processes=alive).startswith(
            "another rank of this 3-process run ended first (Connection closed by peer)")
    finally:
        first.wait(), second.wait()


@contextlib.contextmanager
def _killed_if_left(proc: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """``proc`` (a launcher and its ranks) killed if the test leaves the block before it ended:
    a failed assertion or a time-out never leaves a run training on."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()


def _wait_for_first_epoch(run: Path, proc: subprocess.Popen, seconds: float = 120) -> None:
    """Until the run's events say an epoch ended (the process must still run meanwhile)."""
    import time

    end = time.monotonic() + seconds
    while not ((run / "events.jsonl").exists() and '"epoch_ended"' in (run / "events.jsonl").read_text()):
        assert proc.poll() is None and time.monotonic() < end, "no first epoch"
        time.sleep(0.1)


def _long_two_rank_run(runs: Path, data: str, name: str, **popen: object) -> subprocess.Popen:
    """`petseg train --devices 2` on the CPU for 200 tiny epochs (until the test ends it). Its temp
    folders go beside ``runs``: a launcher the test kills cannot remove its agent's folder, and one
    was left in /tmp by every run of the suite."""
    temp = runs.parent / "tmp"
    temp.mkdir(exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(REPO), PETSEG_PLAIN_PROGRESS="1", TMPDIR=str(temp))
    return subprocess.Popen([sys.executable, "-m", "engine.cli", "train", "--device", "cpu", "--devices", "2",
                             "--data_path", data, "--epochs", "200", "--image_size", "64", "--width", "4",
                             "--batch_size", "2", "--max_train_images", "16", "--workers", "0", "--compile", "off",
                             "--amp", "off", "--runs", str(runs), "--run_name", name], env=env, cwd=REPO, **popen)


def test_pause_resume_and_stop_reach_every_rank(tmp_path: Path, generated_data: str) -> None:
    """The control file (what the dashboard and `petseg` write) pauses both ranks together,
    resumes them, then stops them: the run ends `stopped` with last.pt, no process left."""
    import time

    from engine.runs import request_control

    runs = tmp_path / "runs"
    proc = _long_two_rank_run(runs, generated_data, "ctl", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    run = runs / "ctl"

    def state() -> str:
        try:
            return json.loads((run / "status.json").read_text()).get("state", "")
        except (OSError, ValueError):
            return ""

    def wait(cond, what: str, timeout: float = 120) -> None:
        end = time.monotonic() + timeout
        while not cond():
            assert proc.poll() is None, proc.communicate()[0][-2000:]
            assert time.monotonic() < end, f"timed out waiting for {what}"
            time.sleep(0.1)

    with _killed_if_left(proc):
        wait(lambda: (run / "events.jsonl").exists() and '"epoch_ended"' in (run / "events.jsonl").read_text(),
             "the first epoch")
        request_control(run, "pause")
        wait(lambda: state() == "paused", "paused")
        kinds = lambda: [json.loads(x)["kind"] for x in (run / "events.jsonl").read_text().splitlines()]  # noqa: E731
        time.sleep(1.0)
        before = kinds().count("batch")
        time.sleep(1.5)
        assert kinds().count("batch") == before  # both ranks hold: no batch while paused
        request_control(run, "resume")
        wait(lambda: state() == "running", "running again")
        request_control(run, "stop")
        out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, out[-2000:]
    assert state() == "stopped" and (run / "checkpoints" / "last.pt").exists()
    assert "resumed" in kinds() or "run_resumed" in kinds()


@pytest.mark.slow
def test_a_stop_reaches_ranks_whose_epoch_is_one_batch(tmp_path: Path, generated_data: str) -> None:
    """16 images on 2 ranks at --batch_size 8: each rank's epoch is one batch, the epoch's last,
    after which a stop waited for the next agreement and never came: the run trained on through
    the dashboard's x (and SIGTERM) to its last epoch."""
    from engine.runs import request_control

    runs = tmp_path / "runs"
    env = dict(os.environ, PYTHONPATH=str(REPO), PETSEG_PLAIN_PROGRESS="1")
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "train", "--device", "cpu", "--devices", "2",
                             "--data_path", generated_data, "--epochs", "2000", "--image_size", "32", "--width", "4",
                             "--batch_size", "8", "--max_train_images", "16", "--workers", "0", "--compile", "off",
                             "--amp", "off", "--runs", str(runs), "--run_name", "one"], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    run = runs / "one"
    with _killed_if_left(proc):
        _wait_for_first_epoch(run, proc)
        request_control(run, "stop")
        out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 130, out[-2000:]
    assert json.loads((run / "status.json").read_text())["state"] == "stopped"


@pytest.mark.slow
def test_a_stop_asked_on_another_rank_is_not_called_the_users(tmp_path: Path, generated_data: str) -> None:
    """SIGTERM to rank 1 alone (as when the torchrun of a second node is killed): the run, written
    by rank 0, read "stopped by user", which nobody had asked."""
    import signal

    import psutil

    runs = tmp_path / "runs"
    proc = _long_two_rank_run(runs, generated_data, "r1", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    run = runs / "r1"
    with _killed_if_left(proc):
        _wait_for_first_epoch(run, proc)
        [rank1] = [p for p in psutil.Process(proc.pid).children() if p.environ().get("RANK") == "1"]
        rank1.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=60)[0]
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "stopped", out[-2000:]
    assert status["message"].startswith("stopped by rank 1 of this 2-process run: a signal to it"), status


@pytest.mark.slow
@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_a_signal_that_stops_the_ranks_exits_130_as_one_process_does(tmp_path: Path, generated_data: str,
                                                                       signame: str) -> None:
    """`kill` (or a closed terminal) of `petseg train --devices 2`: the ranks stop and save, as
    `petseg train` alone does, and the exit code says a stop (130) as its does; it was the
    signal's own (143, 129), which a script reads as a run killed. The process ends as soon as
    it has said so: each stopped rank tore down torch's modules first (1.1-1.8 s after the line)."""
    import signal
    import time

    runs = tmp_path / "runs"
    proc = _long_two_rank_run(runs, generated_data, "t", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    run = runs / "t"
    said = None
    with _killed_if_left(proc):
        _wait_for_first_epoch(run, proc)
        proc.send_signal(getattr(signal, signame))
        out = []
        for line in proc.stdout:
            out.append(line)
            if line.startswith("stopped; resume with"):
                said = time.monotonic()
        proc.wait(timeout=60)
        after = time.monotonic() - (said or 0)
    text = "".join(out)[-2000:]
    assert json.loads((run / "status.json").read_text())["state"] == "stopped", text
    assert proc.returncode == 130 and said is not None, text
    assert after < 1.0, f"exited {after:.2f} s after 'stopped; resume with'"


@pytest.mark.slow
def test_ranks_stop_cleanly_when_their_launcher_is_killed(tmp_path: Path, generated_data: str) -> None:
    """SIGKILL of `petseg train --devices 2` (the elastic agent's process): the ranks, which
    trained on orphaned, are stopped gracefully: the run ends `stopped` with last.pt, no rank left."""
    import time

    import psutil

    runs = tmp_path / "runs"
    proc = _long_two_rank_run(runs, generated_data, "orphans", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    run = runs / "orphans"

    def in_session() -> list[psutil.Process]:
        """The launcher and its ranks (each rank has a session of its own: found by its argv)."""
        out = []
        for p in psutil.process_iter():
            try:
                if str(runs) in " ".join(p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE:
                    out.append(p)
            except (OSError, psutil.Error):
                continue
        return out

    try:
        _wait_for_first_epoch(run, proc)
        proc.kill()
        proc.wait(10)
        end = time.monotonic() + 60
        while in_session() and time.monotonic() < end:
            time.sleep(0.2)
        assert not in_session(), "ranks left running after their launcher was killed"
    finally:
        for p in in_session():
            p.kill()
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "stopped" and (run / "checkpoints" / "last.pt").exists()
    # said as what happened: it read "stopped by user"
    assert status["message"] == f"stopped: the process that started it (pid {proc.pid}) ended", status


def test_only_rank_0_writes_the_run_folder(tmp_path: Path, generated_data: str) -> None:
    """README: "Rank 0 alone writes the run folder". Rank 1 is watched by an audit hook
    (rank_audit/sitecustomize.py) through a run and a failure of its own, then a resume: it wrote
    previews/inputs.png, truth.png and index.json (its own PreviewWriter), and swept temp files in
    previews/ that on a shared file system were rank 0's, mid-write."""
    runs, temp, audit = (tmp_path / name for name in ("runs", "tmp", "audit"))
    temp.mkdir()
    audit.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(WORKER.with_name("rank_audit")), str(REPO)]),
               OMP_NUM_THREADS="1", PETSEG_PLAIN_PROGRESS="1", TMPDIR=str(temp),
               PETSEG_AUDIT_ROOTS=os.pathsep.join([str(runs), str(temp)]), PETSEG_AUDIT_OUT=str(audit / "changes"))
    train = [sys.executable, "-m", "engine.cli", "train", "--devices", "2", "--runs", str(runs)]

    def launch(*words: str, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([*train, *words], check=False, env={**env, **extra}, cwd=REPO,
                              capture_output=True, text=True, timeout=240)

    def rank1_changes_in(folder: Path) -> list[str]:
        changes = [line.split(" ", 1) for p in audit.glob("changes.rank1.*") for line in p.read_text().splitlines()]
        return [c[1] for c in changes if c[1].startswith(str(folder.resolve()))]

    # a run whose epoch 1 ends (previews, checkpoints, events), then rank 1 raises in epoch 2
    # (2 batches an epoch a rank: 16 images, batch 4, 2 ranks)
    failed = launch("--data_path", generated_data, *DDP_TRAIN, "--epochs", "2", "--run_name", "solo",
                    PETSEG_FAULT="batch:4@1:raise")
    assert failed.returncode == 1 and "rank 1 of 2" in failed.stderr, failed.stderr[-2000:]
    assert (runs / "solo" / "previews" / "index.json").is_file()  # rank 0 wrote its previews
    assert rank1_changes_in(runs) == []
    # the hook did watch rank 1: its traceback went to its own folder in the temp dir
    assert rank1_changes_in(temp)
    scratch = temp / "petseg-solo-rank1"
    assert f"traceback in {scratch / 'error.log'}" in failed.stderr and (scratch / "error.log").is_file()
    # the resume, watched the same way: rank 1 reopens the run and trains to its end, writing
    # nothing there; its scratch folder, kept for the user until the run is trained again, then
    # goes (it was never removed)
    again = launch("--resume", "solo")
    assert again.returncode == 0, again.stderr[-2000:]
    assert rank1_changes_in(runs) == []
    assert not scratch.exists()
