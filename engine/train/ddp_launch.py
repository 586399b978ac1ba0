"""``petseg train --devices N``: one process per device through torch's elastic launcher (the API
behind ``torchrun``, single node, c10d rendezvous on a free local port), each running
``python -m engine.cli train`` as a rank. The parent names the run first, so that when a rank dies
(the agent then ends the others) it can mark the run failed with which rank and why.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path
from typing import Callable

from engine.errors import ConfigError
from engine.runs import RunState, RunStore
from engine.train.distributed import DevicesRequest

# how often the agent checks its workers: a rank that dies ends the run within about this long
MONITOR_INTERVAL_S = 0.5


def child_argv(argv: list[str], run_name: str) -> list[str]:
    """The ranks' ``petseg train`` argv: the user's own, with the run's name fixed."""
    out, skip = [], False
    for word in argv:
        if skip:
            skip = False
            continue
        if word in ("--run_name", "--run-name"):
            skip = True
            continue
        if word.startswith(("--run_name=", "--run-name=")):
            continue
        out.append(word)
    return ["-m", "engine.cli", *out, "--run_name", run_name]


def launch(argv: list[str], request: DevicesRequest, runs_dir: Path, run_name: str,
           log: Callable[[str], None]) -> int:
    """Run ``petseg train`` (``argv``, its own words after ``petseg``) as ``request.count`` ranks;
    returns the exit code. A failed rank is reported in one line and in the run's status."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    env_before = os.environ.get("CUDA_VISIBLE_DEVICES")
    if request.indices is not None:  # each rank sees the listed GPUs, as LOCAL_RANK 0..N-1
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, request.indices))
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=request.count, run_id=str(uuid.uuid4()),
                          rdzv_backend="c10d", rdzv_endpoint="127.0.0.1:0", max_restarts=0,
                          monitor_interval=MONITOR_INTERVAL_S, start_method="spawn")
    log(f"data-parallel: {request.count} processes ({'GPUs ' + str(request) if request.indices else 'devices'}) "
        f"for run {run_name}")
    try:
        elastic_launch(config, sys.executable)(*child_argv(argv, run_name))
    except ChildFailedError as exc:
        rank, failure = min(exc.failures.items())
        why = (f"signal {-failure.exitcode} ({failure.signal_name()})" if failure.exitcode < 0
               else f"exit code {failure.exitcode}")
        message = f"rank {rank} of {request.count} ended with {why}; the other ranks were stopped"
        mark_failed(runs_dir, run_name, message)
        raise ConfigError(f"{runs_dir / run_name}: {message}") from None
    finally:
        if request.indices is not None:
            if env_before is None:
                os.environ.pop("CUDA_VISIBLE_DEVICES", None)
            else:
                os.environ["CUDA_VISIBLE_DEVICES"] = env_before
    return 0


def mark_failed(runs_dir: Path, run_name: str, message: str) -> None:
    """Record a rank's failure in the run when rank 0 could not (it was killed with the others);
    a run that already ended on its own (rank 0 wrote failed / stopped) is left as it is."""
    path = runs_dir / run_name
    if not path.is_dir():
        return
    store = RunStore(runs_dir)
    try:
        summary = next((r for r in store.list_runs() if r.name == run_name), None)
        if summary is not None and not summary.state.is_active and summary.state != RunState.INTERRUPTED:
            return
        writer = store.open_for_resume(path)
    except Exception:  # never hide the rank's failure behind a bookkeeping error
        return
    try:
        writer.set_status(RunState.FAILED, message)
        from engine.events import RunFailed

        writer.append(RunFailed(message=message), sync=True)
    finally:
        writer.close()
