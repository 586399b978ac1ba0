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


def test_a_fifo_or_a_link_out_of_the_run_is_no_samples_and_one_line(tmp_path: Path) -> None:
    """system.jsonl was read with a plain open(): a FIFO there hung the runs table (the GPU column
    of a running run, `last_sample`) and the live screen's strip (`SystemTail`) for ever, and a
    symlink out of the run was read. Now neither is read; the tail says why, once."""
    import os

    from tests.hostile_runs import within

    fifo, out = tmp_path / "fifo", tmp_path / "out"
    for run in (fifo, out):
        run.mkdir()
    os.mkfifo(fifo / SYSTEM_FILE)
    elsewhere = tmp_path / "elsewhere.jsonl"
    elsewhere.write_text(json.dumps(_sample(1.0).to_json()) + "\n")
    (out / SYSTEM_FILE).symlink_to(elsewhere)
    assert within(5, last_sample, fifo) is None and within(5, read_system, fifo) == []
    tail = SystemTail(fifo)
    assert within(5, tail.poll) is True and tail.samples == []
    assert tail.problem == f"{fifo / SYSTEM_FILE}: is a named pipe (FIFO), not a file"
    assert within(5, tail.poll) is False  # said once
    assert last_sample(out) is None and read_system(out) == []
    tail = SystemTail(out)
    tail.poll()
    assert tail.problem.startswith(f"{out / SYSTEM_FILE}: leads outside the run folder")
    elsewhere.unlink()
    (out / SYSTEM_FILE).unlink()
    SystemLogWriter(out).append(_sample(2.0))  # the run's own file again: read, the problem gone
    assert tail.poll() and [s.t for s in tail.samples] == [2.0] and tail.problem == ""


def test_a_file_of_gigabytes_is_read_from_its_end_in_bounded_memory(tmp_path: Path) -> None:
    """A system.jsonl far longer than the bounded writer leaves (a hand-made or foreign file) was
    read whole into memory at each reading (3 GiB of it: minutes, and gigabytes of memory)."""
    import tracemalloc

    path = tmp_path / SYSTEM_FILE
    with open(path, "wb") as fh:
        fh.truncate(256 << 20)  # sparse: no disk
        fh.seek(0, 2)
        fh.write(b"\n" + json.dumps(_sample(5.0).to_json()).encode() + b"\n")
    tracemalloc.start()
    try:
        got = read_system(tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [s.t for s in got] == [5.0]
    assert peak < 128 << 20, peak


def test_the_writer_never_waits_on_a_fifo_nor_writes_through_a_link(tmp_path: Path) -> None:
    """The sampler's writer opened system.jsonl as it found it: a resume of a run with a FIFO
    there hung before its first epoch (counting its lines), and a symlink out of the run was
    appended to. Now `append` refuses in one line naming the file (the sampler says it once)."""
    import os

    import pytest

    from engine.errors import RunStoreError
    from tests.hostile_runs import within

    fifo, out = tmp_path / "fifo", tmp_path / "out"
    for run in (fifo, out):
        run.mkdir()
    os.mkfifo(fifo / SYSTEM_FILE)
    writer = within(5, SystemLogWriter, fifo)
    with pytest.raises(RunStoreError, match="is a named pipe \\(FIFO\\), not a file; not written"):
        within(5, writer.append, _sample(1.0))
    elsewhere = tmp_path / "elsewhere.jsonl"
    elsewhere.write_text("kept\n")
    (out / SYSTEM_FILE).symlink_to(elsewhere)
    with pytest.raises(RunStoreError, match="leads outside the run folder"):
        SystemLogWriter(out).append(_sample(1.0))
    assert elsewhere.read_text() == "kept\n"
