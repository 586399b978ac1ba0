"""Shared helpers of the benchmark scripts: describe the machine, read the load, sample memory.

Benchmarks on a shared machine are only comparable with the load next to them, so every
figure a script prints is followed by the 1-minute load average (``os.getloadavg``).
"""

from __future__ import annotations

import os
import platform
import threading
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load() -> str:
    """``load 1.23/1.10/0.90`` (1, 5, 15 minute averages), or ``load ?``."""
    try:
        return "load " + "/".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "load ?"


def describe_device(device) -> str:
    """One line: the torch device, and what it runs on."""
    import torch

    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        return f"cuda ({name}), torch {torch.__version__}"
    return (f"{device.type} ({cpu_model()}, {os.cpu_count()} logical cores, "
            f"torch threads {torch.get_num_threads()}), torch {torch.__version__}")


def _proc_kb(path: str, key: str) -> int:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _rss_bytes(pid: int | str) -> int:
    return _proc_kb(f"/proc/{pid}/status", "VmRSS:")


def _pss_bytes(pid: int | str) -> int:
    # PSS splits shared pages between the processes sharing them, so summing workers' PSS does
    # not count the parent's copy-on-write pages (or the memory-mapped cache) once per worker.
    return _proc_kb(f"/proc/{pid}/smaps_rollup", "Pss:")


def _children(pid: int) -> list[str]:
    out: list[str] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            out.extend((task / "children").read_text().split())
    except OSError:
        pass
    return out


class PeakRSS:
    """Samples (every ``every`` s, in a thread) the peak resident memory (RSS) of this process
    and, apart, the peak summed PSS of its child processes (DataLoader workers). Use as a
    context manager."""

    def __init__(self, every: float = 0.1) -> None:
        self.every = every
        self.main = 0
        self.children = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        pid = os.getpid()
        self.main = max(self.main, _rss_bytes(pid))
        self.children = max(self.children, sum(_pss_bytes(c) for c in _children(pid)))

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def __enter__(self) -> "PeakRSS":
        self._sample()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
