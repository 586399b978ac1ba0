"""`ProcessWatch`: where a process's time goes while a test waits for it to end (a signal sent,
the exit awaited), for the test's failure message: each thread's state letter and kernel wait
channel sampled from /proc, the CPU the process used meanwhile, the machine's load. A timing
test that fails then says whether its process was working, waiting for a CPU (state R on a
loaded machine), asleep in the kernel (``futex_wait_queue``: a lock or a timed wait; ``pipe_write``:
a reader that does not read; ``do_select``, ``ep_poll``), in the disk (D), or already ended and
not yet reaped (Z). Linux only: elsewhere the report says so."""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            return fh.read().decode("ascii", "replace")
    except OSError:
        return None


def _cpu_seconds(stat: str) -> float:
    fields = stat.rpartition(")")[2].split()  # the name in (...) may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ProcessWatch:
    """Samples process ``pid`` every ``every`` seconds from its creation until `stop`."""

    def __init__(self, pid: int, every: float = 0.02) -> None:
        self.pid, self.every = pid, every
        self.started = time.monotonic()
        # per thread id: seconds seen in each "state wait-channel"; the first and last CPU reading
        self.seen: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.cpu: list[float] = []
        self.ended_after: float | None = None  # gone from /proc
        self.zombie_after: float | None = None  # dead, not yet reaped by its parent
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"watch-{pid}", daemon=True)
        self._thread.start()

    def _sample(self, dt: float) -> bool:
        """One look at every thread; False once the process is gone."""
        stat = _read(f"/proc/{self.pid}/stat")
        at = time.monotonic() - self.started
        if stat is None:
            self.ended_after = at
            return False
        self.cpu.append(_cpu_seconds(stat))
        if stat.rpartition(")")[2].split()[0] == "Z" and self.zombie_after is None:
            self.zombie_after = at
        try:
            tids = [int(t) for t in os.listdir(f"/proc/{self.pid}/task")]
        except OSError:
            tids = []
        for tid in tids:
            tstat = _read(f"/proc/{self.pid}/task/{tid}/stat")
            if tstat is None:
                continue
            state = tstat.rpartition(")")[2].split()[0]
            wchan = (_read(f"/proc/{self.pid}/task/{tid}/wchan") or "").strip().strip("0")
            where = {"R": "running or runnable", "Z": "ended"}.get(state, f"{state} in {wchan or '?'}")
            self.seen[tid][where] += dt
        return True

    def _loop(self) -> None:
        last = time.monotonic()
        while True:
            now = time.monotonic()
            if not self._sample(now - last) or self._stop.wait(self.every):
                return
            last = now

    def stop(self) -> "ProcessWatch":
        """Stop watching, after one last look: the loop ends in its wait when asked, and a process
        that ended in that wait (a loaded machine's late sample) read "still running"."""
        self._stop.set()
        self._thread.join(5)
        if not self._thread.is_alive() and self.ended_after is None:
            self._sample(0.0)  # whether it has ended; no time credited to a thread's state
        return self

    def report(self) -> str:
        """What was seen, a line for the process and one for each thread (the busiest first)."""
        if not os.path.isdir("/proc/self/task"):
            return f"pid {self.pid}: no /proc here to tell where its time went"
        watched = time.monotonic() - self.started
        if self.zombie_after is not None:  # ended; its parent reaps it (a warm child's: the zygote)
            end = f"ended after {self.zombie_after:.2f} s, " + (
                f"reaped after {self.ended_after:.2f} s" if self.ended_after is not None else "not reaped yet")
        elif self.ended_after is not None:
            end = f"gone after {self.ended_after:.2f} s"
        else:
            end = "still running when the watch stopped"
        cpu = f"{self.cpu[-1] - self.cpu[0]:.2f} CPU-s" if len(self.cpu) > 1 else "no CPU reading"
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        lines = [f"pid {self.pid} watched {watched:.2f} s: {end}; it used {cpu} meanwhile; load average {load} "
                 f"on {os.cpu_count()} cores"]
        for tid, where in sorted(self.seen.items(), key=lambda kv: (kv[0] != self.pid, -sum(kv[1].values()))):
            name = "main thread" if tid == self.pid else f"thread {tid}"
            spent = ", ".join(f"{w} {s:.2f} s" for w, s in sorted(where.items(), key=lambda kv: -kv[1]))
            lines.append(f"  {name}: {spent}")
        return "\n".join(lines)
