"""Data-parallel training on torch.distributed: which process this is, the process group, and what
ranks share.

`DistContext.from_env` reads what torchrun (and petseg's own elastic launch, the same agent) sets:
RANK, LOCAL_RANK, WORLD_SIZE. `init_process_group` starts NCCL on CUDA and gloo elsewhere with a
bounded timeout, so a collective that never completes ends the run with an error instead of a
hang. `shard_indices` is DistributedSampler's rule (a disjoint shard per rank each epoch, padded
for training so every rank steps equally, never padded for scoring); `all_reduce_sum` adds a
tensor of sums over the ranks (Dice/IoU counts, losses).

Beside it: `devices_request` (what ``--devices`` asks for), `rank_scratch` (a rank > 0's temp
folder) and `rank_failures` (a failed rank's reason, and whose failure ended the run).
"""

from __future__ import annotations

import datetime
import os
import re
import time
from dataclasses import dataclass
from typing import Any

from engine.errors import ConfigError, PetsegError

# a collective that has not completed after this long fails the run (torch's default is 10 or
# 30 minutes, long enough for a user to think the run hangs); PETSEG_DIST_TIMEOUT overrides it
DEFAULT_TIMEOUT_S = 120.0
TIMEOUT_ENV = "PETSEG_DIST_TIMEOUT"
# set for the ranks `petseg train --devices N` starts: the launcher says what ended the run
LAUNCHED_ENV = "PETSEG_LAUNCHED_RANK"


@dataclass(frozen=True)
class DistContext:
    """Who this process is in a data-parallel run; world_size 1 is a plain run."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes the run folder."""
        return self.rank == 0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "DistContext":
        """From RANK / LOCAL_RANK / WORLD_SIZE (torchrun's variables); a plain run without them."""
        env = os.environ if env is None else env
        if "WORLD_SIZE" not in env:
            return cls()
        try:
            world = int(env["WORLD_SIZE"])
            rank = int(env.get("RANK", "0"))
            local = int(env.get("LOCAL_RANK", str(rank)))
        except ValueError:
            raise ConfigError(f"RANK={env.get('RANK')!r} LOCAL_RANK={env.get('LOCAL_RANK')!r} "
                              f"WORLD_SIZE={env.get('WORLD_SIZE')!r}: torchrun's variables must be integers") from None
        if world < 1 or not 0 <= rank < world or local < 0:
            raise ConfigError(f"RANK={rank} WORLD_SIZE={world}: not a rank of that world")
        return cls(rank=rank, local_rank=local, world_size=world)


def timeout_seconds() -> float:
    """The process group's collective timeout: $PETSEG_DIST_TIMEOUT seconds, else the default."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{TIMEOUT_ENV}={raw!r}: must be a number of seconds") from None
    if not value > 0:
        raise ConfigError(f"{TIMEOUT_ENV}={raw!r}: must be more than 0 seconds")
    return value


def sync_bn_problem(sync_bn: bool, device_type: str) -> str:
    """Why ``--sync_bn yes`` cannot run on ``device_type`` with several ranks ("" when it can)."""
    if sync_bn and device_type != "cuda":
        return "--sync_bn yes: torch's SyncBatchNorm works only on CUDA; use --sync_bn no on the CPU"
    return ""


def backend_for(device_type: str) -> str:
    """NCCL on CUDA, gloo everywhere else (the CPU, tests)."""
    return "nccl" if device_type == "cuda" else "gloo"


def end_with_the_agent() -> None:
    """Linux: this rank is sent SIGTERM (a graceful stop: last.pt, status "stopped") when the
    process that started it dies, even by SIGKILL. A killed ``petseg train --devices N`` or
    torchrun otherwise left its ranks training on, orphaned, until someone found them."""
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the agent was gone before the call: the signal will never come
        os.kill(os.getpid(), signal.SIGTERM)


class RendezvousFailed(PetsegError):
    """The ranks of a data-parallel run did not all meet (a rank never started, a wrong address)."""


def rendezvous_message(error: str, ctx: DistContext, waited: float) -> str:
    """torch's rendezvous error in one line that says which rendezvous, how many ranks joined, how
    long this rank waited and what to check. Rank 0 alone said "unexpected DistStoreError: Timed out
    after 11 seconds waiting for clients. 1/2 clients joined."; a rank with no rank 0 to reach, a
    DistNetworkError about a client socket."""
    where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
    check = (f"start every rank (RANK 0..{ctx.world_size - 1}) with the same MASTER_ADDR, MASTER_PORT and "
             f"WORLD_SIZE={ctx.world_size}, or use torchrun or petseg train --devices N; "
             f"{TIMEOUT_ENV} sets the wait")
    if "EADDRINUSE" in error or "address already in use" in error.lower():
        # rank 0 cannot listen there: "start every rank with the same port" sent users to the port at fault
        port = os.environ.get("MASTER_PORT", "?")
        return (f"data-parallel rendezvous at {where} (MASTER_ADDR:MASTER_PORT): port {port} is already in use on "
                f"rank 0's machine (another run's rendezvous?); give every rank another MASTER_PORT, or use "
                f"petseg train --devices N, which picks a free one")
    joined = re.search(r"(\d+)/(\d+) clients joined", error)
    if joined:
        return (f"data-parallel rendezvous at {where} (MASTER_ADDR:MASTER_PORT): {joined[1]} of {joined[2]} processes "
                f"joined in {waited:.0f} s; {check}")
    if ctx.rank > 0 and ("connect" in error or "Connection" in error):
        return (f"rank {ctx.rank} of {ctx.world_size} could not reach rank 0's rendezvous at {where} "
                f"(MASTER_ADDR:MASTER_PORT) in {waited:.0f} s: is rank 0 running there, is the port open? {check}")
    return f"data-parallel rendezvous at {where} (MASTER_ADDR:MASTER_PORT) failed after {waited:.0f} s " \
           f"({error.splitlines()[0] if error else 'no reason given'}); {check}"


def init_process_group(ctx: DistContext, device_type: str) -> Any:
    """Join the run's process group (no-op for a plain run); returns a gloo group for control
    messages (CPU tensors: no device sync), or None for a plain run. The rank also ends with
    the agent that started it (`end_with_the_agent`)."""
    if not ctx.enabled:
        return None
    end_with_the_agent()
    import torch.distributed as dist

    seconds = timeout_seconds()
    timeout = datetime.timedelta(seconds=seconds)
    if device_type == "cuda":  # torchrun's order: NCCL (and an early barrier) then use this rank's GPU, not GPU 0
        rank_device(_cuda(), ctx)
    if not dist.is_initialized():
        missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name)]
        if missing:  # torch: "unexpected ValueError: Error initializing torch.distributed using env:// ..."
            raise RendezvousFailed(f"RANK={ctx.rank} WORLD_SIZE={ctx.world_size} without {' and '.join(missing)}: "
                                   "a rank started by hand needs rank 0's address and port "
                                   "(or start the ranks with torchrun or petseg train --devices N)")
        started = time.monotonic()
        try:
            dist.init_process_group(backend_for(device_type), timeout=timeout)
        except dist.DistError as exc:
            raise RendezvousFailed(rendezvous_message(str(exc), ctx, time.monotonic() - started)) from None
    return dist.new_group(backend="gloo", timeout=timeout) if device_type == "cuda" else dist.group.WORLD


def destroy_process_group(ctx: DistContext, wait: bool = True) -> None:
    """Leave the process group. ``wait`` (this rank did its part): first wait for every rank to
    reach the end (gloo aborts a rank still at work otherwise). A rank that failed leaves at once:
    the others may be inside a collective it will never join, and its exit is what ends them."""
    if not ctx.enabled:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        if wait:
            try:
                dist.barrier()
            except Exception:  # a rank that failed: nothing left to wait for
                pass
        dist.destroy_process_group()


def _cuda() -> Any:
    import torch

    return torch.device("cuda")


def rank_device(device: Any, ctx: DistContext) -> Any:
    """A rank's device: its own GPU (LOCAL_RANK) on CUDA, made the current one; the given device
    elsewhere. More processes on a machine than the GPUs it shows is one line, not CUDA's
    "invalid device ordinal" traceback."""
    if not ctx.enabled or device.type != "cuda":
        return device
    import torch

    count = torch.cuda.device_count()
    if ctx.local_rank >= count:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        shown = f" (CUDA_VISIBLE_DEVICES={visible})" if visible is not None else ""
        raise ConfigError(f"LOCAL_RANK={ctx.local_rank}: this machine shows {count} GPU{'s' * (count != 1)}{shown}; "
                          f"start at most {count} process{'es' * (count != 1)} on it (torchrun --nproc_per_node)")
    torch.cuda.set_device(ctx.local_rank)
    return torch.device("cuda", ctx.local_rank)


def shard_indices(n: int, ctx: DistContext, *, pad: bool) -> list[int]:
    """Rank ``ctx.rank``'s positions of ``n`` items: every world_size-th from its rank.

    ``pad`` (training): the last positions repeat from the start so every rank gets the same count
    (DDP's all-reduce needs every rank to step equally), as DistributedSampler does. Without it
    (scoring) no item is counted twice and the shards together are the whole split. A padded
    shard's repeats are its last positions (`real_in_shard` counts the ones before them)."""
    if not ctx.enabled:
        return list(range(n))
    total = -(-n // ctx.world_size) * ctx.world_size if pad else n
    positions = list(range(n)) + [i % n for i in range(n, total)] if n else []
    return positions[ctx.rank::ctx.world_size]


def real_in_shard(n: int, ctx: DistContext) -> int:
    """How many of rank ``ctx.rank``'s padded training shard (`shard_indices` with ``pad``) are
    real items; they come first, the padded repeats (at most one per rank) last. The ranks' real
    counts add up to ``n``: an epoch's figures count each item once, as one process would."""
    if not ctx.enabled:
        return n
    return len(range(ctx.rank, n, ctx.world_size))


def block_of(n: int, ctx: DistContext) -> slice:
    """Rank ``ctx.rank``'s contiguous block of ``n`` items, none padded (``petseg eval``): the
    blocks in rank order are the whole list in its order, so joining the ranks' results keeps it."""
    per, extra = divmod(n, ctx.world_size)
    start = ctx.rank * per + min(ctx.rank, extra)
    return slice(start, start + per + (ctx.rank < extra))


def rank_seed(seed: int, rank: int) -> int:
    """The augmentation seed of a rank: distinct per rank, the run's own seed on rank 0."""
    return (seed + 1_000_003 * rank) % 2**32


def buffers_from_main(module: Any, ctx: DistContext) -> None:
    """``module``'s buffers (BatchNorm running statistics) set to rank 0's on every rank. Each rank
    updates them in its own forward passes, so between DDP's broadcasts they drift a step apart;
    validation with them would score a model no checkpoint holds (rank 0's is the one saved)."""
    if ctx.enabled:
        import torch.distributed as dist

        for buffer in module.buffers():
            dist.broadcast(buffer.data, src=0)


def all_reduce_sum(tensor: Any, ctx: DistContext) -> Any:
    """``tensor`` summed over the ranks, in place (unchanged in a plain run)."""
    if ctx.enabled:
        import torch.distributed as dist

        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


class DiscardWriter:
    """A rank > 0's stand-in for the run's `RunWriter`: a run folder has one writer, rank 0, so
    the other ranks' events, status and config go nowhere."""

    def __init__(self, path: Any) -> None:
        from engine.runs.layout import EVENTS_FILE, STATUS_FILE

        self.path = path
        self.name = path.name
        self.events_path = path / EVENTS_FILE
        self.status_path = path / STATUS_FILE

    def append(self, event: Any, *, sync: bool = False) -> None:
        pass

    def set_status(self, state: str, message: str = "", **extra: Any) -> None:
        pass

    def write_config(self, config: dict[str, Any]) -> None:
        pass

    def start_heartbeat(self, every: float = 0.0) -> None:
        pass

    def stop_heartbeat(self) -> None:
        pass

    def close(self) -> None:
        pass


def agree_flags(flags: list[int], group: Any, ctx: DistContext) -> list[int]:
    """Each flag's maximum over the ranks (stop, pause, the first non-finite batch): one small
    all-reduce on the control group (gloo: CPU tensors, no device sync)."""
    if not ctx.enabled:
        return flags
    import torch
    import torch.distributed as dist

    tensor = torch.tensor(flags, dtype=torch.int64)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX, group=group)
    return [int(v) for v in tensor.tolist()]


def broadcast_from_main(value: Any, group: Any, ctx: DistContext) -> Any:
    """Rank 0's ``value`` on every rank (a run name, an error line)."""
    if not ctx.enabled:
        return value
    import torch.distributed as dist

    box = [value if ctx.is_main else None]
    dist.broadcast_object_list(box, src=0, group=group)
    return box[0]


def gather_to_main(value: Any, group: Any, ctx: DistContext) -> list[Any] | None:
    """Every rank's ``value`` in rank order on rank 0 (None on the others; ``[value]`` in a plain
    run): a checkpoint's random streams, an evaluation's per-photo scores."""
    if not ctx.enabled:
        return [value]
    import torch.distributed as dist

    out: list[Any] | None = [None] * ctx.world_size if ctx.is_main else None
    dist.gather_object(value, out, dst=0, group=group)
    return out


def machine_id() -> str:
    """This machine, as its ranks' processes can tell it: the host name and, on Linux, the boot
    id (two containers on two hosts may share a host name; the processes of one boot share pids)."""
    import socket

    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            boot = fh.read().strip()
    except OSError:
        boot = ""
    return f"{socket.gethostname()}/{boot}"


def rank_processes(group: Any, ctx: DistContext) -> list[tuple[str, int]]:
    """Every rank's (`machine_id`, process id) in rank order, on every rank: rank 0's system
    metrics read its machine's ranks (`local_pids`), and a rank left by another one names which
    (`engine.train.rank_failures.ended_ranks`). A collective: every rank calls it."""
    here = (machine_id(), os.getpid())
    if not ctx.enabled:
        return [here]
    import torch.distributed as dist

    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, here, group=group)
    return [(str(machine), int(pid)) for machine, pid in out]


def local_pids(processes: list[tuple[str, int]]) -> list[int]:
    """The process ids of `rank_processes` on this machine, in rank order (those on other
    machines mean nothing here)."""
    here = machine_id()
    return [pid for machine, pid in processes if machine == here]


def local_rank_pids(group: Any, ctx: DistContext) -> list[int] | None:
    """On rank 0: the process ids of the run's ranks on rank 0's machine, in rank order (rank 0's
    first), for the system metrics' CPU % and RSS; None on the others. A collective: every rank
    calls it."""
    processes = rank_processes(group, ctx)
    return local_pids(processes) if ctx.is_main else None


def distributed_record(ctx: DistContext, batch_size: int, seed: int, sync_bn: bool, backend: str) -> dict[str, Any]:
    """What config.json records of a data-parallel run (--batch_size is per process)."""
    import torch

    return {"world_size": ctx.world_size, "batch_per_process": batch_size, "global_batch": batch_size * ctx.world_size,
            "backend": backend, "sync_bn": sync_bn, "threads_per_process": torch.get_num_threads(),
            "augment_seeds": [rank_seed(seed, r) for r in range(ctx.world_size)]}


def global_batch_change(stored: dict[str, Any], batch_size: int, world_size: int) -> str:
    """A resume's note when its number of processes changes the global batch, else "". ``stored``
    is the run's config.json record (its `distributed_record`, absent for one process). A resume
    on another --devices (or another torchrun) said only "--devices 1 (was 2)", or nothing."""
    old = stored.get("distributed") if isinstance(stored.get("distributed"), dict) else {}
    old_world = old.get("world_size", 1)
    old_batch = old.get("global_batch", stored.get("batch_size"))
    new_batch = batch_size * world_size
    if not isinstance(old_batch, int) or not isinstance(old_world, int) or old_batch == new_batch:
        return ""
    return (f"resume: global batch {new_batch} (was {old_batch}): {_processes(world_size)} of {batch_size}, was "
            f"{_processes(old_world)}; the learning rate is not rescaled (--learning_rate sets it)")


def _processes(n: int) -> str:
    return f"{n} process{'es' * (n != 1)}"
