"""``petseg train --devices N``: one process per device through torch's elastic launcher (the API
behind ``torchrun``, single node, c10d rendezvous on a free local port), each running
``python -m engine.cli train`` as a rank. The parent names the run first, so that when a rank dies
(the agent then ends the others) it can mark the run failed with which rank and why.
``petseg eval --devices N`` starts its ranks through the same `run_ranks`.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from engine.cores import threads_env
from engine.errors import ConfigError
from engine.runs import RunState, RunStore, RunSummary
from engine.train.devices_request import DevicesRequest, child_visible_devices
from engine.train.distributed import LAUNCHED_ENV, TIMEOUT_ENV
from engine.train.rank_failures import failure_message, is_consequence, is_timeout, timeout_of

# how often the agent checks its workers: a rank that dies ends the run within about this long
MONITOR_INTERVAL_S = 0.5
# after Ctrl-C / SIGTERM, how long the ranks get to finish their batch and save last.pt before the
# agent kills them (torch's default, 30 s, cut slow CPU batches off: the run lost its state and
# stayed "running"); TORCH_ELASTIC_SHUTDOWN_TIMEOUT, torch's own variable, still wins
STOP_GRACE_S = 300


def root_failure(failures: dict) -> tuple[int, Any]:
    """The rank whose end ended the run: not one the agent stopped with SIGTERM afterwards (unless
    it had already reported a reason of its own: a rank slow to exit after its error is stopped
    too), nor one that only reports another rank gone (`is_consequence`); the earliest of those
    (by the time the rank reported, else when the agent saw it end)."""
    import signal

    def own_reason(failure: Any) -> bool:
        message = failure_message(failure)
        return bool(message) and not is_consequence(message)

    causes = {r: f for r, f in failures.items() if f.exitcode != -signal.SIGTERM or own_reason(f)} or failures
    causes = {r: f for r, f in causes.items() if not is_consequence(failure_message(f))} or causes
    return min(causes.items(), key=lambda item: (item[1].error_file_data.get("petseg_time", item[1].timestamp),
                                                  item[0]))


def how_it_ended(failure: Any) -> str:
    """How a rank ended, in words after "rank 1 of 2": "failed: <its own reason>" when it gave one
    (`engine.train.rank_failures.report_failure`), else "ended with exit code 3" or "ended with
    signal 9 (SIGKILL)". Not the exit of a rank that gave its reason: the agent SIGTERMs a rank
    still in its teardown once another rank has ended, so the same failure read "exit code 1" or
    "signal 15 (SIGTERM)" by which rank's teardown was quicker."""
    said = failure_message(failure)
    if said:
        return f"failed: {said if len(said) <= 200 else said[:197] + '…'}"
    if failure.exitcode < 0:
        return f"ended with signal {-failure.exitcode} ({failure.signal_name()})"
    return f"ended with exit code {failure.exitcode}"


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


class RankFailed(Exception):
    """A rank ended the ranks' work: which one of how many, and how (`how_it_ended`)."""

    def __init__(self, rank: int, count: int, why: str, said: bool = False, text: str = "") -> None:
        super().__init__(text or f"rank {rank} of {count} {why}; the other ranks were stopped")
        self.rank, self.count, self.why, self.said = rank, count, why, said


def timed_out(rank: int, said: str, failures: dict, count: int) -> RankFailed:
    """`RankFailed` for a run whose rank ``rank`` timed out waiting in a collective (``said``): it
    names the ranks that stopped answering (those that reported nothing before the agent ended
    them), not the rank that waited. It said "rank 0 of 2 ended with exit code 1: RuntimeError:
    [...] Timed out waiting 15000ms for recv" after rank 1 was stopped (kill -STOP)."""
    seconds = f"{timeout_of(said):g} s"
    silent = sorted(r for r, f in failures.items() if r != rank and not failure_message(f))
    if silent:
        names = ", ".join(map(str, silent))
        text = (f"rank{'s' * (len(silent) > 1)} {names} of {count} stopped answering: rank {rank} waited {seconds} "
                f"for {'them' if len(silent) > 1 else 'it'} and gave up (${TIMEOUT_ENV}); the other ranks were stopped")
        return RankFailed(silent[0], count, "no answer", said=True, text=text)
    text = (f"rank {rank} of {count} timed out waiting {seconds} for the other ranks (${TIMEOUT_ENV}): one of them "
            "stopped answering; the other ranks were stopped")
    return RankFailed(rank, count, "a timeout", said=True, text=text)


def launch_config(count: int, log_dir: str | None = None) -> Any:
    """The elastic agent's settings for ``count`` local ranks (one node, c10d on a free port);
    ``log_dir``: where the agent keeps the ranks' error files (torch's default is a new
    ``torchelastic_*`` folder in the temp dir each launch, never removed)."""
    import dataclasses

    from torch.distributed.launcher.api import LaunchConfig

    extra: dict[str, Any] = {}
    fields = {f.name for f in dataclasses.fields(LaunchConfig)}
    if "shutdown_timeout" in fields and "TORCH_ELASTIC_SHUTDOWN_TIMEOUT" not in os.environ:
        extra["shutdown_timeout"] = STOP_GRACE_S  # (older torch: its fixed 30 s)
    if log_dir is not None and "logs_specs" in fields:
        from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs

        extra["logs_specs"] = DefaultLogsSpecs(log_dir=log_dir)
    return LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=count, run_id=str(uuid.uuid4()),
                        rdzv_backend="c10d", rdzv_endpoint="127.0.0.1:0", max_restarts=0,
                        monitor_interval=MONITOR_INTERVAL_S, start_method="spawn", **extra)


def run_ranks(words: list[str], request: DevicesRequest, log: Callable[[str], None], what: str) -> int:
    """``python *words`` as ``request.count`` ranks under torch's elastic agent (``petseg train``
    and ``petseg eval`` alike); returns the exit code, or raises `RankFailed`."""
    import logging

    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import elastic_launch

    # the agent's own notes (rendezvous, "sending closing signal") are not the user's business;
    # what ended the run is said by the caller, in one line
    for name in [n for n in logging.root.manager.loggerDict if n.startswith("torch.distributed")]:
        logging.getLogger(name).setLevel(logging.CRITICAL)

    env_before = os.environ.get("CUDA_VISIBLE_DEVICES")
    os.environ[LAUNCHED_ENV] = "1"
    threads = threads_env(request.count)  # each rank its share of the cores, as torchrun gives 1
    os.environ.update(threads)
    if request.indices is not None:  # each rank sees the listed GPUs, as LOCAL_RANK 0..N-1
        os.environ["CUDA_VISIBLE_DEVICES"] = child_visible_devices(request.indices)
    # the agent's folder of the ranks' error files: read by the time the launch returns or raises
    agent_dir = tempfile.TemporaryDirectory(prefix="petseg-ranks-", ignore_cleanup_errors=True)
    config = launch_config(request.count, agent_dir.name)
    log(f"data-parallel: {request.count} processes ({'GPUs ' + str(request) if request.indices else 'devices'}) "
        f"for {what}")
    try:
        elastic_launch(config, sys.executable)(*words)
    except SignalException as exc:  # Ctrl-C / SIGTERM: the ranks got it too and stopped together
        import signal

        return 128 + (exc.sigval.value if isinstance(exc.sigval, signal.Signals) else signal.SIGINT.value)
    except ChildFailedError as exc:
        from engine.cli.common import EXIT_STOPPED

        import signal

        codes = {f.exitcode for f in exc.failures.values()}
        # stopped on request (control file, signal): the ranks said so already. A rank that left a
        # moment before the others (after the barrier every rank passes once its run is written)
        # makes the agent SIGTERM the rest on their way out: still a stop.
        if EXIT_STOPPED in codes and codes <= {EXIT_STOPPED, -signal.SIGTERM}:
            return EXIT_STOPPED
        rank, failure = root_failure(exc.failures)
        waited = next(((r, failure_message(f)) for r, f in sorted(exc.failures.items())
                       if is_timeout(failure_message(f))), None)
        if waited is not None and (not failure_message(failure) or is_timeout(failure_message(failure))):
            # a rank waited for another one that said nothing (the agent then killed it): name that one
            raise timed_out(*waited, exc.failures, request.count) from None
        raise RankFailed(rank, request.count, how_it_ended(failure), said=bool(failure_message(failure))) from None
    finally:
        agent_dir.cleanup()
        os.environ.pop(LAUNCHED_ENV, None)
        for name in threads:
            os.environ.pop(name, None)
        if request.indices is not None:
            if env_before is None:
                os.environ.pop("CUDA_VISIBLE_DEVICES", None)
            else:
                os.environ["CUDA_VISIBLE_DEVICES"] = env_before
    return 0


def launch(argv: list[str], request: DevicesRequest, runs_dir: Path, run_name: str,
           log: Callable[[str], None]) -> int:
    """Run ``petseg train`` (``argv``, its own words after ``petseg``) as ``request.count`` ranks;
    returns the exit code. A failed rank is reported in one line and in the run's status."""
    import signal

    from engine.cli.common import EXIT_STOPPED

    started = time.time()
    try:
        code = run_ranks(child_argv(argv, run_name), request, log, f"run {run_name}")
    except RankFailed as exc:
        # rank 0's own last words only when the rank that ended the run gave no reason of its own
        # (the others' then are consequences: "connection closed by peer")
        message = mark_failed(runs_dir, run_name, str(exc), since=started, main_said=exc.rank == 0 and not exc.said)
        raise ConfigError(f"{runs_dir / run_name}: {message}") from None
    # SIGTERM / SIGHUP reached the ranks too, and they stopped and saved: a stop of training, which
    # one process ends with 130 however it was asked for; the agent's signal code (143, 129) made
    # a script that tells a stop from a failure by the code think the run had been killed
    # (a status older than this launch is not its stop: a resumed run signalled before its ranks
    # wrote it, each rank ending "stopped by SIGTERM" as one process does, with 143)
    if (code in (128 + signal.SIGTERM, 128 + signal.SIGHUP)
            and (run := _written_since(runs_dir, run_name, started)) and run.state == RunState.STOPPED):
        return EXIT_STOPPED
    return code


def _written_since(runs_dir: Path, run_name: str, since: float) -> RunSummary | None:
    """The run as the runs table lists it, if its status was written at ``since`` or later (by
    this launch's ranks); None if it is not there or older (a run resumed, or refused, whose
    ranks ended before they wrote it: what it says is an earlier launch's)."""
    from engine.errors import PetsegError
    from engine.runs import read_run_json
    from engine.runs.layout import STATUS_FILE

    try:
        summary = next((r for r in RunStore(runs_dir).list_runs() if r.name == run_name), None)
        updated = read_run_json(runs_dir / run_name / STATUS_FILE).get("updated") if summary else None
    except (OSError, PetsegError):  # the runs folder gone meanwhile
        return None
    return summary if isinstance(updated, (int, float)) and updated >= since else None


def mark_failed(runs_dir: Path, run_name: str, message: str, since: float = 0.0, main_said: bool = True) -> str:
    """Record in the run that a rank ended it (with what rank 0 said, if it said anything and
    ``main_said``);
    returns the message. A run that finished, or that this launch never wrote (its status is
    older than ``since``: a refused resume), is left as it is."""
    path = runs_dir / run_name
    if not path.is_dir():
        return message
    store = RunStore(runs_dir)
    try:
        summary = _written_since(runs_dir, run_name, since)
        if summary is None or summary.state == RunState.FINISHED:
            return message
        if main_said and summary.message and summary.state in (RunState.FAILED, RunState.DIVERGED):
            said = summary.message if len(summary.message) <= 160 else summary.message[:157] + "…"
            message = f"{message} (rank 0: {said})"
        writer = store.open_for_resume(path)
    except Exception:  # never hide the rank's failure behind a bookkeeping error
        return message
    try:
        writer.set_status(RunState.FAILED, message)
        from engine.events import RunFailed

        writer.append(RunFailed(message=message), sync=True)
    finally:
        writer.close()
    return message
