"""TEST-ONLY fault injection: die by SIGKILL at an exact moment, to test crash safety.

``PETSEG_FAULT=<point>:<n>`` makes this process SIGKILL itself the n-th time (1-based) it
reaches ``<point>``; ``<point>:<n>@<rank>`` only in that data-parallel rank (RANK); a trailing
``:raise`` (``batch:3@1:raise``) raises `InjectedFault` there instead (a rank's exception), and a trailing
``:hold`` sleeps there until something outside kills the process (a kill from outside that
lands at a known moment however loaded the machine is). Points
(each is one call to `reached` in the engine):

* ``batch``      before a training batch runs (mid-epoch; nothing of the batch is saved)
* ``event``      inside ``RunWriter.append``: half of the JSON line is written and flushed
* ``checkpoint`` inside ``save_checkpoint``: the temp file is written and fsynced, not renamed
* ``json``       inside ``write_json_atomic`` (status.json, config.json): temp written, not renamed
* ``score``      before a batch of ``petseg eval``'s scoring

Unset (every real use), `reached` is one environment lookup. The tests in
tests/engine/test_faults.py drive it; nothing else should set the variable.
"""

from __future__ import annotations

import os
import signal
import time

ENV = "PETSEG_FAULT"
POINTS = ("batch", "event", "checkpoint", "json", "score")
_counts: dict[str, int] = {}


class InjectedFault(RuntimeError):
    """What ``PETSEG_FAULT=<point>:<n>:raise`` raises."""


def reached(point: str) -> bool:
    """Count one arrival at ``point``; True when this is the arrival PETSEG_FAULT names."""
    spec = os.environ.get(ENV)
    if not spec:
        return False
    name, _, nth = spec.partition(":")
    nth = nth.partition(":")[0]
    nth, _, rank = nth.partition("@")
    if name != point or (rank and os.environ.get("RANK", "0") != rank):
        return False
    _counts[point] = _counts.get(point, 0) + 1
    return _counts[point] == int(nth or 1)


def kill_now() -> None:
    """SIGKILL this process: no handler, no finally block, no flush runs (like a power cut
    for our files, except that what the kernel already has still reaches the disk)."""
    os.kill(os.getpid(), signal.SIGKILL)


def maybe_kill(point: str) -> None:
    if reached(point):
        spec = os.environ.get(ENV, "")
        if spec.endswith(":raise"):
            raise InjectedFault(f"injected fault at {point} ({ENV})")
        while spec.endswith(":hold"):
            time.sleep(3600)
        kill_now()
