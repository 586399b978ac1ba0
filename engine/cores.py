"""The CPU cores a process may use, and each child's share of them when several run at once
(data-parallel ranks, a sweep's parallel trials). Torch-free: the launchers use it before torch."""

from __future__ import annotations

import os


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. under taskset or a container)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def threads_env(processes: int, cores: int | None = None) -> dict[str, str]:
    """``OMP_NUM_THREADS`` for each of ``processes`` children that share this machine's cores, or
    nothing when the user set it. Torch's default (a thread per core in every process) makes N
    processes time-slice the same cores: 2 CPU ranks trained 5x slower than under torchrun,
    which sets 1."""
    if "OMP_NUM_THREADS" in os.environ:
        return {}
    return {"OMP_NUM_THREADS": str(max(1, (cores or available_cores()) // max(1, processes)))}
