"""`petseg train --devices 2` end to end: one run, written by rank 0 alone (its config, events,
train.log and previews; rank 1 audited), a two-process resume that repeats the uninterrupted run
bit for bit (``ddp_run``, module-scoped: trained once for the checks that read it), two torchrun
nodes training one run, and the one-line refusals before any rank starts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.cli import main
from engine.runs import RunStore
from tests import warm_petseg
from tests.engine.train.ddp_helpers import DDP_TRAIN, REPO, WORKER

pytestmark = pytest.mark.slow


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


# "1000": more processes than the CPU has cores started that many ranks (100 filled 24 GiB)
@pytest.mark.parametrize("count", ["0", "1000"])
def test_a_bad_devices_value_is_one_line_and_makes_no_run(tmp_path: Path, capsys, count: str) -> None:
    runs = tmp_path / "runs"
    assert main(["train", "--device", "cpu", "--devices", count, "--runs", str(runs)]) == 1
    out, err = capsys.readouterr()
    assert err.strip().startswith(f"petseg: error: --devices {count}:") and "\n" not in err.strip()
    assert "data-parallel" not in out  # no rank was started
    assert not runs.exists() or not any(runs.iterdir())


@pytest.mark.parametrize("name", ["pets/x2", "pets x2"])  # "pets/x2" trained as run "x2"; one process refuses it
def test_a_bad_run_name_is_refused_before_any_rank_starts(tmp_path: Path, capsys, name: str) -> None:
    runs = tmp_path / "runs"
    assert main(["train", *DDP_TRAIN, "--devices", "2", "--runs", str(runs), "--run_name", name]) == 1
    out, err = capsys.readouterr()
    assert err.strip() == (f"petseg: error: {name}: run names use ASCII letters, digits, '.', '_' and '-', "
                           "starting with a letter or digit (at most 100)")
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
    # the two agents warm (tests/warm_petseg.py); their ranks fresh
    nodes = [warm_petseg.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node_rank", str(k),
                                "--nproc_per_node", "1", "--rdzv_backend", "c10d", "--rdzv_endpoint",
                                f"127.0.0.1:{port}", "--rdzv_id", "petseg-test", *argv],
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

    def launch(*words: str, **extra: str) -> subprocess.CompletedProcess:  # fresh: a sitecustomize on PYTHONPATH
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
