"""`tests/process_watch.py`: the report says how a watched process spent its time and how it ended."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.process_watch import ProcessWatch


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_report_says_asleep_then_ended_and_the_cpu_used() -> None:
    code = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\ntime.sleep(0.5)"
    proc = subprocess.Popen([sys.executable, "-c", code])
    watch = ProcessWatch(proc.pid)
    time.sleep(0.1)
    proc.wait(30)  # reaped here: the watch sees it gone (and, if it looked in time, dead before)
    time.sleep(0.1)
    report = watch.stop().report()
    assert f"pid {proc.pid} watched" in report and ("reaped after" in report or "gone after" in report), report
    assert "main thread: " in report and "running or runnable" in report and "S in " in report, report
    cpu = float(report.split("it used ")[1].split(" CPU-s")[0])
    assert 0.15 <= cpu <= 1.0, report


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_dead_process_not_yet_reaped_is_told_apart() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    watch = ProcessWatch(proc.pid)
    deadline = time.monotonic() + 30
    while watch.zombie_after is None and time.monotonic() < deadline:
        time.sleep(0.02)
    report = watch.stop().report()
    proc.wait(30)
    assert "ended after" in report and "not reaped yet" in report, report
