"""What the system-metrics sampler costs (issue 20): the time of one sample (psutil over the
process and N worker children, NVML when a GPU is there, the JSON line appended to a bounded
system.jsonl), and what the training thread pays per batch (`DataWaitMeter.add`).

The sample runs in the sampler's own thread every 2 s, never on the training thread; the
figure here is the CPU it takes from the machine. Usage:

    PYTHONPATH=. python bench/sysmetrics_overhead.py [--children 4] [--samples 200] [--gpus 0]

``--gpus N`` reads CUDA devices 0..N-1 through NVML (a GPU machine only).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from engine.runs.system_log import SystemLogWriter
from engine.sysmetrics.data_wait import DataWaitMeter
from engine.sysmetrics.sampler import INTERVAL_S, SystemSampler


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--children", type=int, default=4, help="idle child processes standing in for DataLoader workers")
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--gpus", type=int, default=0)
    args = p.parse_args()
    kids = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]) for _ in range(args.children)]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            meter = DataWaitMeter()
            sampler = SystemSampler(SystemLogWriter(Path(tmp)), tmp, list(range(args.gpus)),
                                    list(range(args.gpus)) if args.gpus > 1 else None, meter)
            writer = sampler.writer
            sampler.sample()  # NVML init and the first psutil read outside the timing
            times, cpu = [], []
            for _ in range(args.samples):
                meter.add(0.001, 0.01)
                t0, c0 = time.perf_counter(), time.thread_time()
                writer.append(sampler.sample())
                times.append(time.perf_counter() - t0)
                cpu.append(time.thread_time() - c0)  # CPU time: what a loaded machine does not inflate
            n = 1_000_000
            t0 = time.perf_counter()
            for _ in range(n):
                meter.add(0.001, 0.01)
            per_add = (time.perf_counter() - t0) / n
            size = (Path(tmp) / "system.jsonl").stat().st_size
    finally:
        for k in kids:
            k.kill()
            k.wait()
    times.sort()
    mean = statistics.fmean(times)
    print(f"one sample ({args.children} children, {args.gpus} GPU(s)): mean {mean * 1e3:.2f} ms, "
          f"p95 {times[int(0.95 * len(times))] * 1e3:.2f} ms, max {times[-1] * 1e3:.2f} ms")
    cpu_mean = statistics.fmean(cpu)
    print(f"CPU time of one sample: mean {cpu_mean * 1e3:.2f} ms (the wall time above includes waiting for a core)")
    print(f"sampler CPU share at one sample per {INTERVAL_S:g} s: {100 * cpu_mean / INTERVAL_S:.3f} % of one core")
    print(f"training thread per batch (DataWaitMeter.add): {per_add * 1e9:.0f} ns")
    print(f"system.jsonl: {size / args.samples:.0f} bytes a sample")


if __name__ == "__main__":
    main()
