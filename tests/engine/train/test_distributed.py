"""The data-parallel primitives: --devices as Lightning reads it, torchrun's variables, shards."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from engine.errors import ConfigError
from engine.train.devices_request import DevicesRequest, parse_devices
from engine.train.distributed import DistContext, block_of, rank_seed, shard_indices


@pytest.mark.parametrize("spec, available, expected", [
    ("2", 4, DevicesRequest(2)),
    ("all", 8, DevicesRequest(8)),
    ("0,2", 4, DevicesRequest(2, (0, 2))),
    ("1,", 2, DevicesRequest(1, (1,))),
    ("3", None, DevicesRequest(3)),  # the CPU: gloo processes, one a core (4 here)
    ("all", None, DevicesRequest(4)),
])
def test_devices_requests(spec: str, available: int | None, expected: DevicesRequest) -> None:
    assert parse_devices(spec, available, cores=4) == expected


@pytest.mark.parametrize("spec, available, fragment", [
    ("3", 2, "torch sees only 2 CUDA devices"),
    ("0", 2, "at least 1 device"),
    ("0,5", 2, "GPU 5 does not exist"),
    ("0,0", 2, "listed twice"),
    ("two", 2, "expected a count"),
    ("all", 0, "no CUDA device"),
    ("0,1", None, "need CUDA"),
    # a mistyped count on the CPU started a hundred training processes and filled the memory
    ("100", None, "on the CPU each process needs a core, and this machine has 4: give at most --devices 4"),
])
def test_bad_devices_are_one_line(spec: str, available: int | None, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as info:
        parse_devices(spec, available, cores=4)
    assert str(info.value).startswith(f"--devices {spec}:") and "\n" not in str(info.value)


def test_torchrun_variables() -> None:
    assert DistContext.from_env({}) == DistContext()
    ctx = DistContext.from_env({"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4"})
    assert (ctx.rank, ctx.local_rank, ctx.world_size, ctx.is_main, ctx.enabled) == (3, 1, 4, False, True)
    with pytest.raises(ConfigError, match="not a rank"):
        DistContext.from_env({"RANK": "4", "WORLD_SIZE": "4"})


@pytest.mark.parametrize("n, world", [(10, 2), (10, 3), (7, 4), (1, 2), (16, 4)])
def test_scoring_shards_cover_the_split_once(n: int, world: int) -> None:
    shards = [shard_indices(n, DistContext(r, r, world), pad=False) for r in range(world)]
    assert sorted(i for s in shards for i in s) == list(range(n))


@pytest.mark.parametrize("n, world", [(10, 3), (7, 4), (1, 2), (12, 2)])
def test_eval_blocks_in_rank_order_are_the_split_in_order(n: int, world: int) -> None:
    items = list(range(n))
    blocks = [items[block_of(n, DistContext(r, r, world))] for r in range(world)]
    assert [i for b in blocks for i in b] == items
    assert max(map(len, blocks)) - min(map(len, blocks)) <= 1


@pytest.mark.parametrize("n, world", [(10, 3), (7, 4), (16, 4)])
def test_training_shards_are_disjoint_and_equal(n: int, world: int) -> None:
    shards = [shard_indices(n, DistContext(r, r, world), pad=True) for r in range(world)]
    assert len({len(s) for s in shards}) == 1
    assert set(i for s in shards for i in s) == set(range(n))
    assert sum(len(s) for s in shards) - n < world  # at most world-1 repeats to even them out


def test_each_rank_augments_with_its_own_seed() -> None:
    seeds = {rank_seed(42, r) for r in range(4)}
    assert len(seeds) == 4 and rank_seed(42, 0) == 42


@pytest.mark.slow  # a process of its own: a clean sys.modules
def test_the_form_s_gpu_count_imports_no_torch() -> None:
    """`devices_choices` runs when the new-run form opens, on the UI thread: NVML only."""
    import subprocess
    import sys

    code = ("import sys; from engine.train.devices_request import devices_choices; choices, hint = devices_choices(); "
            "assert 'torch' not in sys.modules, 'torch imported'; assert choices[0] == '1' and hint")
    from pathlib import Path

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[3])
    assert done.returncode == 0, done.stderr[-1000:]


def test_the_rank_that_ended_a_run_is_the_cause_not_a_consequence() -> None:
    """What `petseg train --devices N` names when ranks end: not a rank the agent then stopped
    (SIGTERM), nor one whose own reason is only that a peer went away, even if it said so first."""
    import signal
    from types import SimpleNamespace

    from engine.train.ddp_launch import root_failure

    def failure(exitcode: int, message: str = "", t: float = 100.0) -> SimpleNamespace:
        data = {"message": message, "petseg_time": t} if message else {"message": "<NONE>"}
        return SimpleNamespace(exitcode=exitcode, timestamp=int(t), error_file_data=data)

    gone = "RuntimeError: [pair.cc:561] Connection closed by peer [127.0.0.1]:45443"
    assert root_failure({0: failure(1, gone, 100.2), 1: failure(1, "InjectedFault: boom", 100.5)})[0] == 1
    assert root_failure({0: failure(-signal.SIGTERM), 1: failure(-signal.SIGKILL, t=101.0)})[0] == 1
    assert root_failure({0: failure(1, "a", 100.7), 1: failure(1, "b", 100.3)})[0] == 1  # the earlier one
    # under load: rank 1 said why, then the agent's SIGTERM reached it before its exit (rank 0 had
    # already died of the closed connection); the launcher named rank 0's "Connection closed by peer"
    assert root_failure({0: failure(1, gone, 100.6), 1: failure(-signal.SIGTERM, "InjectedFault: boom", 100.5)})[0] == 1


def test_a_rank_that_gave_its_reason_is_said_to_have_failed_however_its_process_ended() -> None:
    """A rank that reported why it failed, then was SIGTERMed by the agent in its teardown (the
    other rank's was quicker), read "rank 1 of 2 ended with signal 15 (SIGTERM): <its reason>":
    the agent's stop, not the failure, and "exit code 1" in the other order (a flaky CI line)."""
    import signal

    from engine.train.ddp_launch import how_it_ended

    def failure(exitcode: int, message: str = "") -> SimpleNamespace:
        return SimpleNamespace(exitcode=exitcode, error_file_data={"message": message or "<NONE>"},
                               signal_name=lambda: signal.Signals(-exitcode).name)

    said = "InjectedFault: injected fault at score"
    assert how_it_ended(failure(1, said)) == how_it_ended(failure(-signal.SIGTERM, said)) == f"failed: {said}"
    assert how_it_ended(failure(-signal.SIGKILL)) == "ended with signal 9 (SIGKILL)"
    assert how_it_ended(failure(3)) == "ended with exit code 3"
    assert how_it_ended(failure(1, "x" * 300)) == "failed: " + "x" * 197 + "…"


def test_each_rank_resumes_its_own_random_streams_only_with_the_same_world_size() -> None:
    from engine.train.checkpoint_state import own_streams

    saved = {"torch": "rank0", "ranks": {"world_size": 3, "streams": [{"torch": "rank1"}, {"torch": "rank2"}]}}
    assert [own_streams(saved, r, 3)[:2] for r in range(3)] == [
        (saved, True), ({"torch": "rank1"}, True), ({"torch": "rank2"}, True)]
    streams, own, note = own_streams(saved, 1, 2)  # another world size: rank 0's, without its augmentations
    assert (streams, own) == (saved, False)
    assert note.startswith("resume: last.pt holds the random streams of 3 processes, this run has 2 processes")
    # fewer processes than it trained with (a torchrun run resumed by `petseg train --resume`): how to match
    assert note.endswith("same number of processes: --devices 3, or the torchrun it was started with)")
    assert own_streams({"torch": "one"}, 0, 1) == ({"torch": "one"}, True, "")  # a one-process run, as ever


def test_the_ranks_get_time_to_save_after_a_stop_unless_torch_is_told_otherwise(monkeypatch) -> None:
    """Ctrl-C / SIGTERM to `petseg train --devices N`: the agent waits STOP_GRACE_S (not torch's 30 s)
    for the ranks to finish their batch and save last.pt; torch's own variable still decides."""
    from engine.train.ddp_launch import STOP_GRACE_S, launch_config

    monkeypatch.delenv("TORCH_ELASTIC_SHUTDOWN_TIMEOUT", raising=False)
    assert launch_config(2).shutdown_timeout == STOP_GRACE_S > 30
    monkeypatch.setenv("TORCH_ELASTIC_SHUTDOWN_TIMEOUT", "45")
    assert launch_config(2).shutdown_timeout == 45


TORCHRUN_RANK = {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2"}


@pytest.mark.parametrize("command, said", [
    (["train", "--devices", "4"], ("--devices 4: torchrun started 2 processes on this node (--nproc_per_node); "
                                   "give --devices 2 or leave it out")),
    (["train", "--devices", "0,1"], ("--devices 0,1: under torchrun each rank uses the GPU of its LOCAL_RANK; "
                                     "choose the GPUs with CUDA_VISIBLE_DEVICES=0,1 and leave --devices out")),
    (["eval", "--devices", "3"], "--devices 3: torchrun started 2 processes on this node"),
])
def test_a_devices_flag_torchrun_overrules_is_refused_not_recorded(tmp_path, monkeypatch, capsys, checkpoint,
                                                                   command: list[str], said: str) -> None:
    """A rank of the user's `torchrun --nproc_per_node 2` given --devices 4 trained on 2 processes
    while config.json recorded devices "4" (so a `--resume` without the flag started 4). Refused
    by every rank before it joins the process group."""
    from engine.cli import main

    for name, value in TORCHRUN_RANK.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PETSEG_LAUNCHED_RANK", raising=False)
    where = (["--checkpoint", str(checkpoint)] if command[0] == "eval" else ["--runs", str(tmp_path / "runs")])
    assert main([*command, "--device", "cpu", *where]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"petseg: error: {said}") and "\n" not in err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("spec, env", [
    (None, TORCHRUN_RANK),  # not typed: torchrun decides
    ("2", TORCHRUN_RANK),
    ("all", TORCHRUN_RANK),
    ("4", {}),  # not a rank: the launcher checks --devices against the machine
    ("0,2", {**TORCHRUN_RANK, "PETSEG_LAUNCHED_RANK": "1"}),  # petseg's own launch passes the user's flag on
])
def test_a_devices_flag_that_agrees_with_torchrun_is_fine(spec, env) -> None:
    from engine.train.devices_request import torchrun_devices_problem

    assert torchrun_devices_problem(spec, env) == ""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # runs petseg as a child (the marker's rule): 1.5-4.4 s each
@pytest.mark.parametrize("rank, address, said", [
    # rank 0 alone: "unexpected DistStoreError: Timed out after 11 seconds waiting for clients. 1/2 clients joined."
    ("0", True, "data-parallel rendezvous at 127.0.0.1:{port} (MASTER_ADDR:MASTER_PORT): 1 of 2 processes joined in "),
    # no rank 0 to reach: "unexpected DistNetworkError: The client socket has timed out after 3000ms ..."
    ("1", True, "rank 1 of 2 could not reach rank 0's rendezvous at 127.0.0.1:{port} (MASTER_ADDR:MASTER_PORT) in "),
    # "unexpected ValueError: Error initializing torch.distributed using env:// rendezvous: environment variable ..."
    ("1", False, "RANK=1 WORLD_SIZE=2 without MASTER_ADDR and MASTER_PORT: "),
], ids=["rank-0-alone", "rank-1-alone", "no-address"])
def test_a_rank_whose_peers_never_join_ends_in_one_line_without_a_run(tmp_path, rank: str, address: bool,
                                                                      said: str) -> None:
    """A manual env launch (RANK/WORLD_SIZE/MASTER_*) where the other rank never starts: bounded
    by PETSEG_DIST_TIMEOUT, one line saying which rendezvous, how many joined and what to check."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MASTER_ADDR", "MASTER_PORT", "PETSEG_DEBUG")}
    env.update(RANK=rank, WORLD_SIZE="2", PETSEG_DIST_TIMEOUT="1", PYTHONPATH=str(Path(__file__).resolve().parents[3]))
    if address:
        env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    runs = tmp_path / "runs"
    done = subprocess.run([sys.executable, "-m", "engine.cli", "train", "--device", "cpu", "--runs", str(runs)],
                          check=False, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("petseg: error: " + said.format(port=port)), done.stderr[-2000:]
    assert "unexpected" not in last and ("PETSEG_DIST_TIMEOUT sets the wait" in last or not address)
    assert not runs.exists()


@pytest.mark.parametrize("stored, batch, world, said", [
    ({"batch_size": 4, "distributed": {"world_size": 2, "global_batch": 8}}, 4, 1,
     "resume: global batch 4 (was 8): 1 process of 4, was 2 processes; the learning rate is not rescaled"),
    ({"batch_size": 4}, 4, 3, "resume: global batch 12 (was 4): 3 processes of 4, was 1 process; "),
    ({"batch_size": 4, "distributed": {"world_size": 2, "global_batch": 8}}, 4, 2, ""),
    ({"batch_size": 4}, 4, 1, ""),
])
def test_a_resume_on_another_number_of_processes_says_the_global_batch_changed(stored, batch, world, said) -> None:
    from engine.train.distributed import global_batch_change

    got = global_batch_change(stored, batch, world)
    assert got.startswith(said) and (got == "") == (said == "")


def test_rank_scratch_folders_go_with_a_new_attempt_or_after_a_week(tmp_path, monkeypatch) -> None:
    """A failed rank > 0 keeps its traceback in /tmp/petseg-RUN-rankN (the run's message names it);
    those folders were never removed. A rank's start removes its own of the run it trains, and
    local rank 0 those older than SCRATCH_KEEP_DAYS; anything else in the temp dir stays."""
    import os
    import tempfile
    import time

    from engine.train.rank_scratch import SCRATCH_KEEP_DAYS, rank_scratch, tidy_scratch

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    now = time.time()

    def scratch(run: str, rank: int, age_days: float, files: tuple[str, ...] = ("error.log", "train.log")):
        path = rank_scratch(DistContext(rank=rank, local_rank=rank, world_size=4), run)
        for name in files:
            (path / name).write_text("Traceback ...")
            os.utime(path / name, (now - age_days * 86400,) * 2)
        os.utime(path, (now - age_days * 86400,) * 2)
        return path

    own = scratch("pets", 1, 0)  # an earlier attempt of the run rank 1 trains now
    old = scratch("other", 2, SCRATCH_KEEP_DAYS + 1)
    fresh = scratch("recent", 1, SCRATCH_KEEP_DAYS - 1)
    foreign = scratch("mine", 3, SCRATCH_KEEP_DAYS + 1, files=("notes.txt",))  # not a rank's logs
    unrelated = tmp_path / "petseg-ranks-abc"
    unrelated.mkdir()
    tidy_scratch(DistContext(rank=1, local_rank=1, world_size=4), "pets", now=now)
    assert not own.exists() and old.exists()  # only local rank 0 sweeps the machine's old ones
    tidy_scratch(DistContext(rank=0, local_rank=0, world_size=4), "pets", now=now)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([fresh.name, foreign.name, unrelated.name])


def test_listed_gpus_are_the_ones_this_shell_sees_not_the_machines(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--devices 0,2` numbers GPUs as torch sees them here: under CUDA_VISIBLE_DEVICES=3,5,6 the
    ranks get GPUs 3 and 6 of the machine (they got 0 and 2, GPUs the user had kept out), and
    the shell's setting is back after the launch."""
    import torch.distributed.launcher.api as launcher_api

    from engine.train.ddp_launch import run_ranks
    from engine.train.devices_request import DevicesRequest

    seen: list[str | None] = []

    def fake_launch(config, entrypoint):
        return lambda *args: seen.append(os.environ.get("CUDA_VISIBLE_DEVICES"))

    monkeypatch.setattr(launcher_api, "elastic_launch", fake_launch)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5,6")
    assert run_ranks(["-c", "pass"], DevicesRequest(2, (0, 2)), lambda _: None, "train") == 0
    assert seen == ["3,6"]
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "3,5,6"
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    run_ranks(["-c", "pass"], DevicesRequest(2, (0, 2)), lambda _: None, "train")
    assert seen[-1] == "0,2"


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """torch.cuda faked as a machine of 2 GPUs; what was asked of CUDA and torch.distributed, in order."""
    import torch
    import torch.distributed as dist

    calls: list[str] = []
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", lambda i: calls.append(f"set_device {i}"))
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda backend, timeout: calls.append(f"init {backend}"))
    monkeypatch.setattr(dist, "new_group", lambda backend, timeout: calls.append(f"group {backend}"))
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29500")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr("engine.train.distributed.end_with_the_agent", lambda: None)
    return calls


def test_a_cuda_rank_uses_its_own_gpu_before_it_joins_the_group(two_gpus: list[str]) -> None:
    """torchrun's order: a rank makes cuda:LOCAL_RANK its device before NCCL starts, so nothing
    NCCL does before the model is placed (a barrier of a run that failed early) lands on GPU 0."""
    from engine.train.distributed import init_process_group

    init_process_group(DistContext(rank=1, local_rank=1, world_size=2), "cuda")
    assert two_gpus == ["set_device 1", "init nccl", "group gloo"]


def test_more_processes_than_gpus_is_one_line(two_gpus: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """torchrun --nproc_per_node 4 on a machine that shows 2 GPUs: ranks 2 and 3 said CUDA's
    "invalid device ordinal" in a traceback."""
    from engine.train.distributed import init_process_group

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,3")
    with pytest.raises(ConfigError) as caught:
        init_process_group(DistContext(rank=3, local_rank=3, world_size=4), "cuda")
    assert str(caught.value) == ("LOCAL_RANK=3: this machine shows 2 GPUs (CUDA_VISIBLE_DEVICES=0,3); "
                                 "start at most 2 processes on it (torchrun --nproc_per_node)")
    assert two_gpus == []  # refused before joining: the others are ended by the agent, not left waiting


@pytest.mark.parametrize("stopped_by_this_launch", [True, False])
def test_a_signalled_launch_exits_130_only_for_a_stop_its_ranks_wrote(tmp_path, monkeypatch,
                                                                       stopped_by_this_launch: bool) -> None:
    """`petseg train --devices 2` ended by SIGTERM exits 130 when its ranks stopped and saved the
    run. A resumed run signalled before its ranks wrote anything (each ended "stopped by SIGTERM",
    143, as one process does) still read "stopped" from its last launch: that old status made the
    launch claim a stop of this training, exit 130."""
    import signal

    from engine.config import TrainConfig
    from engine.runs import RunStore
    from engine.train import ddp_launch

    store = RunStore(tmp_path)
    earlier = store.create(TrainConfig(epochs=2).to_dict(), "r")
    earlier.set_status("stopped", "stopped by user")  # the launch before this one
    earlier.close()

    def ranks(*_args) -> int:
        if stopped_by_this_launch:
            writer = store.open_for_resume(tmp_path / "r")
            writer.set_status("stopped", "stopped by SIGTERM")
            writer.close()
        return 128 + signal.SIGTERM

    monkeypatch.setattr(ddp_launch, "run_ranks", ranks)
    code = ddp_launch.launch(["train", "--resume", "r"], DevicesRequest(2), tmp_path, "r", lambda _: None)
    assert code == (130 if stopped_by_this_launch else 128 + signal.SIGTERM)


def test_a_rank_0_whose_rendezvous_port_is_taken_says_so_in_one_line(tmp_path) -> None:
    """Issue 18's "a port in use for the rendezvous": rank 0 started by hand at a MASTER_PORT another
    process listens on. It said "... failed after 0 s (The server socket has failed to listen ...
    EADDRINUSE ...); start every rank ... with the same MASTER_ADDR, MASTER_PORT", sending the
    user to the port at fault; it names the port as taken and says to choose another. No run."""
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if k not in ("MASTER_ADDR", "MASTER_PORT", "PETSEG_DEBUG")}
        env.update(RANK="0", WORLD_SIZE="2", PETSEG_DIST_TIMEOUT="5", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                   PYTHONPATH=str(Path(__file__).resolve().parents[3]))
        runs = tmp_path / "runs"
        done = subprocess.run([sys.executable, "-m", "engine.cli", "train", "--device", "cpu", "--runs", str(runs)],
                              check=False, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    [line] = [x for x in done.stderr.splitlines() if x.strip()][-1:]
    assert line == (f"petseg: error: data-parallel rendezvous at 127.0.0.1:{port} (MASTER_ADDR:MASTER_PORT): port {port} "
                    "is already in use on rank 0's machine (another run's rendezvous?); give every rank another "
                    "MASTER_PORT, or use petseg train --devices N, which picks a free one"), done.stderr[-2000:]
    assert "Traceback" not in done.stderr and not runs.exists()
