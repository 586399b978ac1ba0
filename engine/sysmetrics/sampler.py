"""`SystemSampler`: a daemon thread that, while a run trains, reads the system metrics every
~2 s (`INTERVAL_S`) and appends them to the run folder's ``system.jsonl``.

Off the training thread: the loop pays only the two additions of `DataWaitMeter.add` a batch.
One sampler per run, in the process that writes the run folder (rank 0 of a data-parallel run,
which reads the GPUs of every rank on its machine through NVML, and the CPU % and RSS of every
rank on its machine with their workers: one writer per run folder).
`gpu_plan` says which GPUs those are for a run's device and ranks.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from engine.sysmetrics.data_wait import DataWaitMeter
from engine.sysmetrics.host import HostReader
from engine.sysmetrics.nvml import NvmlReader
from engine.sysmetrics.record import SystemSample

INTERVAL_S = 2.0
NO_GPU = "no GPU"


def gpu_plan(device_type: str, device_index: int | None, world_size: int = 1,
             local_world_size: int | None = None) -> tuple[list[int], list[int | None]]:
    """The CUDA device indices a run trains on, and the rank on each. A data-parallel run's
    ranks on this machine use ``cuda:LOCAL_RANK`` (`engine.train.distributed.rank_device`), so
    rank 0 reads devices 0..local_world_size-1; ranks on other machines are out of its reach."""
    if device_type != "cuda":
        return [], []
    if world_size > 1:
        local = local_world_size or world_size
        return list(range(local)), list(range(local))
    return [device_index or 0], [None]


class SystemSampler:
    """Samples into ``writer`` (anything with ``append(SystemSample)``) every ``interval`` s
    from `start` to `stop`; a sample is also taken at `stop`, so a short run has at least one."""

    def __init__(self, writer: Any, disk_path: str | Path, gpu_indices: Sequence[int] = (),
                 gpu_ranks: Sequence[int | None] | None = None, meter: DataWaitMeter | None = None,
                 interval: float = INTERVAL_S, pid: int | Sequence[int] | None = None,
                 log: Callable[[str], None] = lambda msg: None) -> None:
        # ``pid``: the processes whose CPU % and RSS (with their workers) are read; default this one
        self.writer, self.interval, self.meter = writer, interval, meter
        self._log = log
        self._host = HostReader(disk_path, pid)
        self._gpu_indices = list(gpu_indices)
        self._gpu_ranks = gpu_ranks
        self._nvml: NvmlReader | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.samples = 0
        self.seconds = 0.0  # time spent sampling (PERFORMANCE.md's figure)

    def start(self) -> "SystemSampler":
        self._thread = threading.Thread(target=self._loop, name="system-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """End the thread (after one last sample); never raises."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def sample(self) -> SystemSample:
        """Read every figure once (the thread calls this; a test may too)."""
        if self._nvml is None and self._gpu_indices:
            self._nvml = NvmlReader(self._gpu_indices, self._gpu_ranks)  # in this thread: NVML init can be slow
        gpus = self._nvml.read() if self._nvml is not None else ()
        note = self._nvml.note if self._nvml is not None else NO_GPU
        host = self._host.read()
        wait = self.meter.take() if self.meter is not None else None
        return SystemSample(t=time.time(), gpus=gpus, gpu_note=note, data_wait=wait, **host)

    def _loop(self) -> None:
        try:
            while True:
                stopping = self._stop.wait(self.interval)  # the first read a period in: CPU % needs one
                t0 = time.perf_counter()
                try:
                    self.writer.append(self.sample())
                except Exception as exc:  # metrics never stop a run: say it once, then stop sampling
                    self._log(f"warning: system metrics stopped: {exc}")
                    return
                self.samples += 1
                self.seconds += time.perf_counter() - t0
                if stopping:
                    return
        finally:
            if self._nvml is not None:
                self._nvml.close()


def start_for_run(run_path: Path, runs_dir: Path, device: Any, world_size: int, meter: DataWaitMeter,
                  log: Callable[[str], None], pids: Sequence[int] | None = None) -> SystemSampler:
    """The sampler of a run training on torch device ``device``, started (the trainer's seam).
    ``pids``: the run's processes on this machine (a data-parallel run's local ranks), else this one."""
    from engine.runs.system_log import SystemLogWriter

    local_world = os.environ.get("LOCAL_WORLD_SIZE", "")
    indices, ranks = gpu_plan(device.type, device.index, world_size,
                              int(local_world) if local_world.isdigit() else None)
    return SystemSampler(SystemLogWriter(run_path), runs_dir, indices, ranks, meter, pid=pids, log=log).start()
