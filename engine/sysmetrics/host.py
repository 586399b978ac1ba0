"""The host side of a run's system metrics, through ``psutil``: the training processes' CPU %
and resident memory together with their children (the DataLoader worker processes), the host's
RAM, and the free disk under the runs folder. A data-parallel run's rank 0 reads every rank of
the run on its machine (`engine.train.distributed.local_rank_pids`): a 2-rank CPU run read only
rank 0 showed half its CPU use. Ranks on other machines are out of reach: their figures are not in.

CPU % is per core (4 busy workers read ~400) and measured between two reads, so the first read
of a process is 0; the children are looked up at each read (workers come and go per epoch)
and their `psutil.Process` objects kept so that their CPU times have a previous read. On Linux
the children come from ``/proc/PID/task/*/children`` (the process's own entries), not from
psutil's scan of every process on the machine, which cost ~20 ms a sample on a busy host.

Memory: RSS summed counts every page the processes share once per process, and forked DataLoader
workers share most of theirs with their rank (a 2-rank CPU run read 5.1 GB while the whole
machine used 2.4 GB). So ``pss`` is read too: the proportional set size from
``/proc/PID/smaps_rollup`` (a shared page split among its sharers), which the strip shows. It
costs ~5 ms a torch process, so it is read every `PSS_EVERY_S` and kept in between; off Linux
it is None and the strip shows the RSS.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PSS_EVERY_S = 30.0  # PSS of all the run's processes: ~5 ms each, so not every 2 s sample


def pss_bytes(pid: int) -> int | None:
    """The proportional set size of ``pid`` (Linux ``smaps_rollup``), None where it cannot be read."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class HostReader:
    """Reads the processes ``pid`` (default: this one; a data-parallel run's ranks on this machine)
    and their children, and the disk of ``disk_path``."""

    def __init__(self, disk_path: str | Path, pid: int | Sequence[int] | None = None) -> None:
        self.disk_path = Path(disk_path)
        self.note = ""
        roots = [pid] if isinstance(pid, int) else list(pid or [os.getpid()])
        self._children: dict[int, Any] = {}
        self._pss: int | None = None
        self._pss_at = -PSS_EVERY_S  # time.monotonic() of the last PSS read: the first read does one
        try:
            import psutil

            self._psutil: Any = psutil
            self._roots: list[Any] = []
            for root in dict.fromkeys(roots):
                try:
                    self._roots.append(psutil.Process(root))
                except psutil.NoSuchProcess:  # a rank that already ended: the others still count
                    continue
            for proc in self._roots:
                proc.cpu_percent(None)  # the first call only starts the measurement
        except Exception as exc:  # psutil missing: the GPU figures and the data wait still count
            self._psutil, self._roots = None, []
            self.note = f"host metrics unavailable ({exc})"

    def read(self) -> dict[str, Any]:
        """``cpu_percent``, ``rss``, ``pss``, ``ram_used``, ``ram_total``, ``disk_free`` (None: not
        measured)."""
        out: dict[str, Any] = {"cpu_percent": None, "rss": None, "pss": None, "ram_used": None, "ram_total": None,
                               "disk_free": None}
        ps = self._psutil
        if ps is None:
            return out
        cpu, rss, counted = 0.0, 0, False
        roots = {proc.pid for proc in self._roots}
        for proc in self._roots:
            try:
                cpu, rss, counted = cpu + proc.cpu_percent(None), rss + proc.memory_info().rss, True
            except (ps.NoSuchProcess, ps.AccessDenied, ps.ZombieProcess):
                continue
        seen: dict[int, Any] = {}
        for proc in self._roots:
            for pid in self._child_pids(proc):
                if pid in roots or pid in seen:  # counted once, whoever's descendant it is
                    continue
                try:
                    known = self._children.get(pid) or ps.Process(pid)
                    cpu += known.cpu_percent(None)
                    rss += known.memory_info().rss
                    seen[pid] = known
                except (ps.NoSuchProcess, ps.AccessDenied, ps.ZombieProcess):
                    continue
        self._children = seen
        if counted:
            out.update(cpu_percent=cpu, rss=rss, pss=self._read_pss([*roots, *seen]))
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

    def _read_pss(self, pids: list[int]) -> int | None:
        """The PSS of ``pids`` summed, read again once `PSS_EVERY_S` has passed (else the last sum)."""
        import time

        now = time.monotonic()
        if now - self._pss_at >= PSS_EVERY_S:
            values = [v for v in (pss_bytes(pid) for pid in pids) if v is not None]
            self._pss, self._pss_at = (sum(values) if values else None), now
        return self._pss

    def _child_pids(self, proc: Any) -> list[int]:
        """The descendants of ``proc``: from /proc on Linux, else psutil's scan."""
        try:
            out, todo = [], [proc.pid]
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
            try:
                return [c.pid for c in proc.children(recursive=True)]
            except (self._psutil.NoSuchProcess, self._psutil.AccessDenied):
                return []
