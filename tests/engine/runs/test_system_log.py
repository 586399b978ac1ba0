"""engine.runs.system_log: system.jsonl written bounded, read back whatever a crash or another
version left in it."""

from __future__ import annotations

import json
from pathlib import Path

from engine.runs.layout import SYSTEM_FILE
from engine.runs.system_log import SystemLogWriter, SystemTail, last_sample, read_system
from engine.sysmetrics.record import GpuSample, SystemSample


def _sample(t: float, util: float = 50.0) -> SystemSample:
    return SystemSample(t=t, gpus=(GpuSample(index=0, util=util, mem_used=1 << 30, mem_total=8 << 30, rank=0),),
                        cpu_percent=120.0, rss=2 << 30, ram_used=4 << 30, ram_total=16 << 30, data_wait=0.25,
                        disk_free=100 << 30)


def test_round_trip(tmp_path: Path) -> None:
    w = SystemLogWriter(tmp_path)
    w.append(_sample(1.0))
    w.append(SystemSample(t=2.0, gpu_note="no GPU"))
    got = read_system(tmp_path)
    assert got == [_sample(1.0), SystemSample(t=2.0, gpu_note="no GPU")]
    assert last_sample(tmp_path) == SystemSample(t=2.0, gpu_note="no GPU")


def test_a_run_without_the_file_has_no_samples(tmp_path: Path) -> None:
    assert read_system(tmp_path) == [] and last_sample(tmp_path) is None


def test_torn_junk_and_foreign_lines(tmp_path: Path) -> None:
    good = json.dumps(_sample(1.0).to_json())
    newer = json.dumps({"v": 9, "t": 2.0, "cpu": 5, "gpus": [{"i": 0, "util": 7, "future": 1}, "junk"], "new": 1})
    (tmp_path / SYSTEM_FILE).write_text(f"{good}\nnot json\n[1, 2]\n{{\"t\": \"soon\"}}\n{newer}\n{{\"t\": 3.0, \"cp")
    got = read_system(tmp_path)
    assert [s.t for s in got] == [1.0, 2.0]  # the torn last line is held back, junk skipped
    assert got[1].cpu_percent == 5.0 and got[1].gpus == (GpuSample(index=0, util=7.0),)
    assert last_sample(tmp_path).t == 2.0


def test_tail_reads_only_new_lines_and_waits_for_a_torn_one(tmp_path: Path) -> None:
    tail = SystemTail(tmp_path)
    assert not tail.poll()
    path = tmp_path / SYSTEM_FILE
    line = json.dumps(_sample(1.0).to_json()) + "\n"
    path.write_text(line + line[:10])
    assert tail.poll() and [s.t for s in tail.samples] == [1.0]
    assert not tail.poll()
    with open(path, "a") as fh:
        fh.write(line[10:])
    assert tail.poll() and [s.t for s in tail.samples] == [1.0, 1.0]


def test_bounded_a_long_run_keeps_its_whole_span_at_a_coarser_step(tmp_path: Path) -> None:
    w = SystemLogWriter(tmp_path, max_lines=10)
    tail = SystemTail(tmp_path)
    for t in range(200):
        w.append(_sample(float(t)))
        tail.poll()
    lines = (tmp_path / SYSTEM_FILE).read_text().splitlines()
    assert len(lines) <= 10
    times = [s.t for s in read_system(tmp_path)]
    assert times == sorted(times) and times[0] < 50 and times[-1] >= 180  # start to end, thinned
    assert [s.t for s in tail.samples] == times  # a follower starts again after a compaction


def test_a_resumed_run_keeps_the_bound(tmp_path: Path) -> None:
    w = SystemLogWriter(tmp_path, max_lines=10)
    for t in range(30):
        w.append(_sample(float(t)))
    again = SystemLogWriter(tmp_path, max_lines=10)
    for t in range(30, 60):
        again.append(_sample(float(t)))
    assert len((tmp_path / SYSTEM_FILE).read_text().splitlines()) <= 10


def test_a_failed_write_is_kept_as_an_error_not_raised(tmp_path: Path) -> None:
    w = SystemLogWriter(tmp_path / "gone")
    w.append(_sample(1.0))
    assert "gone" in w.error
