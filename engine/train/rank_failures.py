"""A failed rank of a data-parallel run: its one-line reason handed to the elastic agent
(`report_failure`, read back with `failure_message`), and the words for a rank that failed only
because another one went away or stopped answering (`peer_gone_message`, `timed_out_message`),
which the launcher uses to name the rank that caused the end (`is_consequence`). Those words
name the rank whose process on this machine has ended or is stopped (`ended_ranks`,
`stopped_ranks`), where every rank's process is known.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

from engine.processes import process_ended, process_state
from engine.train.distributed import TIMEOUT_ENV, timeout_seconds


def report_failure(message: str) -> bool:
    """Give the elastic agent (petseg's launcher, or the user's torchrun) this rank's one-line
    reason through its error file (TORCHELASTIC_ERROR_FILE), as torch's ``@record`` does; False
    where there is no agent to tell."""
    import json
    import time

    path = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if not path:
        return False
    # whole or not at all: the agent reads the file as soon as the rank ends, and a rank killed
    # (the agent's SIGTERM) halfway through a plain write left it empty: JSONDecodeError in the launcher
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        # torch's own layout (what its @record writes): a plain-text message made the agent log
        # "child error file ... has a new message format. skipping error code override" on every
        # failure. py_callstack is what its summary prints as the rank's "traceback": the one
        # line. petseg_time orders the ranks' ends (`engine.train.ddp_launch.root_failure`).
        now = time.time()
        record = {"message": {"message": message, "extraInfo": {"py_callstack": message, "timestamp": str(int(now))}},
                  "petseg_time": now}
        with open(tmp, "w") as fh:
            json.dump(record, fh)
        os.replace(tmp, path)
    except OSError:
        return False
    return True


# how torch's collectives say that another rank is gone: a rank failing with this failed because of
# another one, which is what the run's end should name
PEER_GONE = ("Connection closed by peer", "Connection reset by peer", "remote worker crashing",
             "remote process exited", "communicator was aborted")


# how long a rank left by another one waits for that one's process to end, to name it: a rank that
# raised closes its sockets a moment before it exits (one killed is gone at once)
ENDED_WAIT_S = 1.0


# how a collective that outlived the process group's timeout ends (gloo: "Timed out waiting 15000ms
# for recv operation to complete"): this rank waited for another one that stopped answering
TIMED_OUT = "timed out waiting"


def is_timeout(message: str) -> bool:
    """Whether a rank's reason is that a collective timed out waiting for the other ranks."""
    return TIMED_OUT in message.lower()


def is_consequence(message: str) -> bool:
    """Whether a rank's reason is only that another rank went away (`PEER_GONE`) or stopped
    answering (`is_timeout`)."""
    return any(marker in message for marker in PEER_GONE) or is_timeout(message)


def timeout_of(message: str) -> float:
    """The seconds a timed-out collective waited: from torch's message ("15000ms"), else the
    process group's timeout."""
    found = re.search(r"(\d+)\s*ms\b", message)
    return int(found[1]) / 1000 if found else timeout_seconds()


def timed_out_message(message: str, world_size: int, rank: int | None = None,
                      processes: list[tuple[str, int]] | None = None) -> str:
    """A rank's failure in words when a collective timed out waiting for the others (`is_timeout`),
    else "". It said gloo's "RuntimeError: [.../gloo/transport/tcp/unbound_buffer.cc:78] Timed out
    waiting 15000ms for recv operation to complete", which read as this rank's own fault. A rank
    whose process on this machine is stopped (kill -STOP, a debugger: `stopped_ranks` over
    ``processes``) is named; else "another rank"."""
    if not is_timeout(message):
        return ""
    stopped = stopped_ranks(processes or [], rank)
    who = (f"{rank_words(stopped[0], world_size)}, whose process is stopped (kill -STOP or a debugger?),"
           if len(stopped) == 1 else
           f"ranks {', '.join(map(str, stopped))}, whose processes are stopped (kill -STOP or a debugger?),"
           if stopped else "another rank")
    tail = "" if stopped else " (stuck, stopped or far slower)"
    return (f"timed out waiting {timeout_of(message):g} s for the other ranks of this {world_size}-process run "
            f"({TIMEOUT_ENV}): {who} stopped answering{tail}")


def rank_words(rank: int, world_size: int, env: dict[str, str] | None = None) -> str:
    """Rank ``rank`` of this run in words, "rank 1 of this 2-process run", and "on another node"
    when this process's torchrun (``GROUP_RANK``, ``LOCAL_WORLD_SIZE``: its node's ranks, numbered
    in a row as torchrun does) is not that rank's: the node whose loss ended the run."""
    env = os.environ if env is None else env
    words = f"rank {rank} of this {world_size}-process run"
    try:
        local, node = int(env["LOCAL_WORLD_SIZE"]), int(env["GROUP_RANK"])
    except (KeyError, ValueError):
        return words
    if local < 1 or local >= world_size or world_size % local:
        return words  # one node, or nodes of unequal sizes: no node can be told from a rank
    # not torch's node number: under c10d rendezvous it need not be the --node_rank the user gave
    return f"{words} (on {'this' if rank // local == node else 'another'} node)"


def peer_gone_message(message: str, world_size: int, rank: int | None = None,
                      processes: list[tuple[str, int]] | None = None) -> str:
    """A rank's failure in words when it is only that another rank went away (`is_consequence`),
    else "". Under the user's own torchrun nothing else names it: the run said gloo's socket error
    ("RuntimeError: [.../gloo/transport/tcp/pair.cc:545] Read error ...: Connection reset by peer.
    This is typically caused by ... GLHF!"). In a 2-process run, this being rank ``rank``, the
    other one is named (`rank_words`: a lost node's); in a larger one, the rank whose process on
    this machine has ended (`ended_ranks` over ``processes``, every rank's machine and pid), and
    "another rank" only when none can be seen. The marker stays in the words, so `root_failure`
    still tells this rank from the cause."""
    marker = next((m for m in PEER_GONE if m in message), None)
    if marker is None:
        return ""
    if world_size == 2 and rank in (0, 1):
        who = rank_words(1 - rank, 2)
    else:
        gone = ended_ranks(processes or [], rank)
        who = (rank_words(gone[0], world_size) if len(gone) == 1
               # several ended (no agent's error files tell which one only followed): not one named wrongly
               else f"one of ranks {', '.join(map(str, gone))} of this {world_size}-process run" if gone
               else f"another rank of this {world_size}-process run")
    return f"{who} ended first ({marker}); that rank's own output says why"


def stopped_ranks(processes: list[tuple[str, int]], rank: int | None) -> list[int]:
    """The ranks other than ``rank`` whose process on this machine is stopped (SIGSTOP, a
    debugger), from `engine.train.distributed.rank_processes`: the ones a timed-out collective
    waited for."""
    from engine.train.distributed import machine_id

    here = machine_id()
    return [r for r, (machine, pid) in enumerate(processes)
            if machine == here and r != rank and process_state(pid) in ("T", "t")]


def _peer_error_file(rank: int, peer: int, env: dict[str, str]) -> str | None:
    """Where rank ``peer`` on this machine reports its reason (`report_failure`) to the agent, this
    process being rank ``rank``: torch's layout, ``.../attempt_N/<local rank>/error.json``, its
    local ranks numbered in a row as its global ones; None without an agent or in another layout."""
    own, local = env.get("TORCHELASTIC_ERROR_FILE"), env.get("LOCAL_RANK", "")
    if not own or not local.isdigit() or os.path.basename(os.path.dirname(own)) != local:
        return None
    peer_local = int(local) + peer - rank
    if peer_local < 0:
        return None
    return os.path.join(os.path.dirname(os.path.dirname(own)), str(peer_local), os.path.basename(own))


def _left_because_of_another(rank: int, peer: int, env: dict[str, str]) -> bool:
    """Whether rank ``peer`` reported that it too failed only because another rank went away or
    stopped answering (`is_consequence`): a rank that ended after the one that caused the end."""
    import json

    path = _peer_error_file(rank, peer, env)
    if path is None:
        return False
    try:
        with open(path, encoding="utf-8") as fh:
            record = json.load(fh)
    except (OSError, ValueError):
        return False
    message = record.get("message") if isinstance(record, dict) else None
    if isinstance(message, dict):
        message = message.get("message")
    return isinstance(message, str) and is_consequence(message)


def ended_ranks(processes: list[tuple[str, int]], rank: int, wait: float = ENDED_WAIT_S,
                env: dict[str, str] | None = None) -> list[int]:
    """The ranks other than ``rank`` whose process on this machine has ended, from
    `engine.train.distributed.rank_processes` (machine, pid per rank), less those that reported
    ending only because of another rank (its error file, `report_failure`: in a ring of three,
    the rank beside the killed one may be gone before this one notices); [] when none is seen (a
    rank on another machine cannot be). A rank that raised closes its sockets a moment before it
    exits: up to ``wait`` seconds are given for one to end."""
    from engine.train.distributed import machine_id

    env = dict(os.environ) if env is None else env
    here = machine_id()
    mine = [(r, pid) for r, (machine, pid) in enumerate(processes) if machine == here and r != rank]
    if not mine:  # none to look at: no wait
        return []
    deadline = time.monotonic() + wait
    while True:
        gone = [r for r, pid in mine if process_ended(pid) and not _left_because_of_another(rank, r, env)]
        if gone or time.monotonic() >= deadline:
            return gone
        time.sleep(0.05)


def failure_message(failure: Any) -> str:
    """What a failed rank reported with `report_failure` (its error file), or ""."""
    message = getattr(failure, "error_file_data", {}).get("message")
    if isinstance(message, dict):  # torch's layout (`report_failure`, or torch's @record: its error line)
        message = message.get("message")
    return message if isinstance(message, str) and message != "<NONE>" else ""
