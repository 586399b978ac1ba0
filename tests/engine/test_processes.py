"""`engine.processes`: a process's state and whether it has ended, as the data-parallel ranks
(which rank's process ended, which is stopped), a training process (its launcher gone) and the
sweeps (a trial's owner gone) ask it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from engine import processes
from engine.processes import process_ended, process_state

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc: Linux only")


def test_a_running_process_a_stopped_one_a_zombie_and_a_reaped_one() -> None:
    assert process_state(os.getpid()) in ("R", "S") and not process_ended(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        os.kill(child.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while process_state(child.pid) not in ("T", "t") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert process_state(child.pid) in ("T", "t") and not process_ended(child.pid)
        child.kill()
        while process_state(child.pid) != "Z" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert process_state(child.pid) == "Z" and process_ended(child.pid)  # dead, not reaped yet
    finally:
        child.kill()
        child.wait()
    assert process_state(child.pid) == "" and process_ended(child.pid)


def test_without_proc_only_whether_the_pid_exists_is_known(monkeypatch) -> None:
    """Elsewhere than Linux there is no /proc: the state is unknown (None), not "no such process".
    The ranks' copy read every rank's process as ended there."""
    monkeypatch.setattr(processes.os.path, "isdir", lambda _path: False)
    monkeypatch.setattr(processes, "open", lambda *_a, **_k: (_ for _ in ()).throw(FileNotFoundError()),
                        raising=False)
    assert process_state(os.getpid()) is None
    assert not process_ended(os.getpid())
