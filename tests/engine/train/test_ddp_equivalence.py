"""Data-parallel numerics, checked with gloo processes on the CPU: validation, updates, an epoch's
train loss and Dice (padded repeats counted once) and eval's figures of 2 or 3 ranks equal one
process's, SyncBatchNorm's on CUDA, and rank 0 learning every rank's process. One start of 2
ranks (``two_ranks``, module-scoped: ~8 CPU-s a launch) serves every check that can share it."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.engine.train.ddp_helpers import REPO, WORKER

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
