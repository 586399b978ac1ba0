"""engine.sysmetrics: the sampler thread, the host reader (real psutil), the data-wait meter."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from engine.sysmetrics.data_wait import DataWaitMeter
from engine.sysmetrics.host import HostReader
from engine.sysmetrics.sampler import NO_GPU, SystemSampler, gpu_plan


class ListWriter:
    def __init__(self) -> None:
        self.samples: list = []
        self.threads: set[str] = set()

    def append(self, sample) -> None:
        self.threads.add(threading.current_thread().name)
        self.samples.append(sample)


def test_host_reader_reads_this_process_ram_and_disk(tmp_path: Path) -> None:
    reader = HostReader(tmp_path)
    sum(i * i for i in range(200_000))  # some CPU between the two reads
    out = reader.read()
    assert out["rss"] > 10 * (1 << 20)
    assert out["cpu_percent"] >= 0
    assert 0 < out["ram_used"] < out["ram_total"]
    assert out["disk_free"] > 0


@pytest.mark.slow
def test_host_reader_counts_the_worker_children(tmp_path: Path) -> None:
    alone = HostReader(tmp_path).read()["rss"]
    child = subprocess.Popen([sys.executable, "-c", "x = bytearray(200 << 20); import time; time.sleep(30)"])
    try:
        reader = HostReader(tmp_path)
        deadline = time.monotonic() + 20
        rss = reader.read()["rss"]
        while rss < alone + (150 << 20) and time.monotonic() < deadline:
            time.sleep(0.2)
            rss = reader.read()["rss"]
        assert rss >= alone + (150 << 20)  # the child's 200 MB counted with the process
    finally:
        child.kill()
        child.wait()


@pytest.mark.skipif(not Path("/proc/self/smaps_rollup").exists(), reason="PSS needs Linux's /proc/PID/smaps_rollup")
def test_host_reader_counts_a_forked_workers_shared_pages_once(tmp_path: Path) -> None:
    """A forked DataLoader worker shares its rank's pages: RSS summed counts them twice (a 2-rank
    CPU run read 5.1 GB on a machine using 2.4 GB); the PSS the strip shows counts them once."""
    import os
    import signal

    ballast = bytearray(b"\x01") * (300 << 20)  # resident, and shared with the child after the fork
    pid = os.fork()
    if pid == 0:  # the worker: holds the shared pages until killed
        time.sleep(60)
        os._exit(0)
    try:
        got = HostReader(tmp_path).read()  # a first read: its PSS is read now, the child in it
        assert got["rss"] >= 2 * len(ballast)  # the 300 MB counted in both processes
        assert got["pss"] is not None and got["pss"] < got["rss"] - len(ballast) // 2
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    del ballast


@pytest.mark.slow
def test_host_reader_of_a_runs_ranks_counts_every_rank_and_its_workers(tmp_path: Path) -> None:
    """A data-parallel run's rank 0 reads its machine's ranks (siblings under the launcher, not its
    children): the RSS is theirs together, a worker of a rank included. Rank 0 alone showed
    half of a 2-rank run's CPU and memory."""
    hold = "import time, sys; x = bytearray({} << 20); sys.stdout.write('up\\n'); sys.stdout.flush(); time.sleep(30)"
    worker = ("import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', " + repr(hold.format(150)) +
              "]); x = bytearray(10 << 20); sys.stdout.write('up\\n'); sys.stdout.flush(); time.sleep(30)")
    ranks = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
             for code in (hold.format(100), worker)]
    try:
        for rank in ranks:
            assert rank.stdout.readline().strip() == "up"
        one = HostReader(tmp_path, ranks[0].pid).read()["rss"]
        reader = HostReader(tmp_path, [rank.pid for rank in ranks])
        deadline = time.monotonic() + 20
        rss = reader.read()["rss"]
        while (rss is None or rss < one + (150 << 20)) and time.monotonic() < deadline:
            time.sleep(0.2)
            rss = reader.read()["rss"]
        assert one >= 100 << 20
        assert rss >= one + (150 << 20)  # rank 1's worker (150 MB) and rank 1 itself counted too
        assert reader.read()["cpu_percent"] >= 0
    finally:
        for rank in ranks:
            for child in psutil.Process(rank.pid).children(recursive=True):
                child.kill()
            rank.kill()
            rank.wait()


def test_data_wait_meter_is_the_share_since_the_last_take() -> None:
    meter = DataWaitMeter()
    assert meter.take() is None  # no batch yet
    meter.add(0.1, 0.4)
    meter.add(0.3, 0.4)
    assert meter.take() == pytest.approx(0.5)
    assert meter.take() is None


def test_sampler_samples_off_the_calling_thread_and_once_more_at_stop(tmp_path: Path) -> None:
    meter = DataWaitMeter()
    writer = ListWriter()
    sampler = SystemSampler(writer, tmp_path, meter=meter, interval=0.05).start()
    meter.add(0.02, 0.1)
    deadline = time.monotonic() + 10
    while len(writer.samples) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    sampler.stop()
    count = len(writer.samples)
    time.sleep(0.15)
    assert count >= 2 and len(writer.samples) == count  # stopped means stopped
    assert writer.threads == {"system-sampler"}
    s = writer.samples[-1]
    assert s.gpus == () and s.gpu_note == NO_GPU
    assert s.rss > 0 and s.disk_free > 0 and s.ram_total > 0
    assert any(x.data_wait == pytest.approx(0.2) for x in writer.samples)
    assert sampler.samples == count and sampler.seconds > 0


def test_sampler_stops_sampling_when_the_writer_fails(tmp_path: Path) -> None:
    said: list[str] = []

    class Broken:
        def append(self, sample) -> None:
            raise RuntimeError("disk on fire")

    sampler = SystemSampler(Broken(), tmp_path, interval=0.01, log=said.append).start()
    deadline = time.monotonic() + 10
    while not said and time.monotonic() < deadline:
        time.sleep(0.01)
    sampler.stop()
    assert said == ["warning: system metrics stopped: disk on fire"]


def test_gpu_plan() -> None:
    assert gpu_plan("cpu", None) == ([], [])
    assert gpu_plan("cuda", 3) == ([3], [None])
    assert gpu_plan("cuda", None) == ([0], [None])
    # rank 0 of a 4-process run on one machine reads the 4 GPUs of its ranks
    assert gpu_plan("cuda", 0, world_size=4) == ([0, 1, 2, 3], [0, 1, 2, 3])
    assert gpu_plan("cuda", 0, world_size=8, local_world_size=4) == ([0, 1, 2, 3], [0, 1, 2, 3])


def test_sampler_with_a_faked_gpu_writes_its_figures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    import pynvml

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(pynvml, "nvmlInit", lambda: None)
    monkeypatch.setattr(pynvml, "nvmlShutdown", lambda: None)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetHandleByIndex", lambda i: i)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetName", lambda h: "Fake")
    monkeypatch.setattr(pynvml, "nvmlDeviceGetUtilizationRates", lambda h: SimpleNamespace(gpu=50 + h))
    monkeypatch.setattr(pynvml, "nvmlDeviceGetMemoryInfo", lambda h: SimpleNamespace(used=1 << 30, total=8 << 30))
    monkeypatch.setattr(pynvml, "nvmlDeviceGetPowerUsage", lambda h: 100_000)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetTemperature", lambda h, s: 50)
    sampler = SystemSampler(ListWriter(), tmp_path, [0, 1], [0, 1])
    s = sampler.sample()
    assert [(g.rank, g.util, g.power_w) for g in s.gpus] == [(0, 50.0, 100.0), (1, 51.0, 100.0)]
    assert s.gpu_note == ""
