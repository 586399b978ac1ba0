"""The host side of a run's system metrics, through ``psutil``: the training process's CPU %
and resident memory together with its children (the DataLoader worker processes), the host's
RAM, and the free disk under the runs folder.

CPU % is per core (4 busy workers read ~400) and measured between two reads, so the first read
of a process is 0; the children are looked up at each read (workers come and go per epoch)
and their `psutil.Process` objects kept so that their CPU times have a previous read. On Linux
the children come from ``/proc/PID/task/*/children`` (the process's own entries), not from
psutil's scan of every process on the machine, which cost ~20 ms a sample on a busy host.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


class HostReader:
    """Reads the process ``pid`` (default: this one) and its children, and the disk of ``disk_path``."""

    def __init__(self, disk_path: str | Path, pid: int | None = None) -> None:
        self.disk_path = Path(disk_path)
        self.note = ""
        self._children: dict[int, Any] = {}
        try:
            import psutil

            self._psutil: Any = psutil
            self._proc: Any = psutil.Process(pid or os.getpid())
            self._proc.cpu_percent(None)  # the first call only starts the measurement
        except Exception as exc:  # psutil missing: the GPU figures and the data wait still count
            self._psutil = self._proc = None
            self.note = f"host metrics unavailable ({exc})"

    def read(self) -> dict[str, Any]:
        """``cpu_percent``, ``rss``, ``ram_used``, ``ram_total``, ``disk_free`` (None: not measured)."""
        out: dict[str, Any] = {"cpu_percent": None, "rss": None, "ram_used": None, "ram_total": None,
                               "disk_free": None}
        ps = self._psutil
        if ps is None:
            return out
        try:
            cpu, rss = self._proc.cpu_percent(None), self._proc.memory_info().rss
            seen: dict[int, Any] = {}
            for pid in self._child_pids():
                try:
                    known = self._children.get(pid) or ps.Process(pid)
                    cpu += known.cpu_percent(None)
                    rss += known.memory_info().rss
                    seen[pid] = known
                except (ps.NoSuchProcess, ps.AccessDenied, ps.ZombieProcess):
                    continue
            self._children = seen
            out.update(cpu_percent=cpu, rss=rss)
        except (ps.NoSuchProcess, ps.AccessDenied, ps.ZombieProcess):
            pass
        try:
            vm = ps.virtual_memory()
            out.update(ram_used=int(vm.total - vm.available), ram_total=int(vm.total))
        except Exception:
            pass
        try:
            out["disk_free"] = int(ps.disk_usage(str(self.disk_path)).free)
        except OSError:
            pass
        return out

    def _child_pids(self) -> list[int]:
        """The process's descendants: from /proc on Linux, else psutil's scan."""
        try:
            out, todo = [], [self._proc.pid]
            while todo:
                pid = todo.pop()
                for tid in os.listdir(f"/proc/{pid}/task"):
                    try:
                        with open(f"/proc/{pid}/task/{tid}/children", "rb") as fh:
                            kids = [int(x) for x in fh.read().split()]
                    except FileNotFoundError:  # a thread that just ended
                        continue
                    out += kids
                    todo += kids
            return out
        except OSError:  # not Linux, or a kernel without /proc/PID/task/TID/children
            return [c.pid for c in self._proc.children(recursive=True)]
