"""How ``petseg train`` turns signals into a graceful stop (`engine.cli.train.drive` and
`engine.train.control.RunControl`): a signal that comes while the previous one is being handled
does not hang the process.

The case behind it: a data-parallel rank is sent its death signal (SIGTERM) when its launcher is
killed, twice, about 1 ms apart (once when the launcher's main thread ends, once when its last
thread does). The handler asked the run to stop, which takes a lock (``threading.Event.set``);
the second signal ran the handler again inside the first, which then waited on the lock the
first held: both ranks slept on, orphaned, until killed (a CI run of
test_ddp.py::test_ranks_stop_cleanly_when_their_launcher_is_killed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# `drive` with a stand-in trainer around the real RunControl. A profile hook on the main thread
# sends the second SIGTERM inside Event.set's lock (at its notify_all), where Python runs the
# handler: deterministic, where real signals 1 ms apart hit that window once in many runs.
_TWO_SIGNALS = """
import signal, sys, threading
from pathlib import Path
from engine.cli.common import PlainConsole
from engine.cli.train import drive
from engine.runs import RunState
from engine.train.control import RunControl

class Trainer:
    dist = None
    error = None
    def __init__(self, run_path):
        self.run_path, self.run_name = run_path, run_path.name
        self.control = RunControl(run_path)
        self.state = RunState.RUNNING
    def subscribe(self, _callback):
        pass
    def start(self):
        sys.setprofile(send_the_second)  # armed for the first signal's handler
        signal.raise_signal(signal.SIGTERM)  # the launcher's main thread ended
    def stop(self, reason=""):
        self.control.stop(reason)
    def join(self, timeout=None):
        if self.control.stop_requested:
            self.state = RunState.STOPPED
        return self.control.stop_requested

second = []
def send_the_second(frame, event, _arg):
    if event == "call" and frame.f_code is threading.Condition.notify_all.__code__ and not second:
        second.append(signal.SIGTERM)
        signal.raise_signal(signal.SIGTERM)  # its last thread ended

trainer = Trainer(Path(sys.argv[1]))
code = drive(trainer, PlainConsole(), None)
sys.setprofile(None)
print("exit", code, "second signal sent", bool(second), "reason:", trainer.control.stop_reason)
"""


def test_a_second_signal_while_the_first_stops_the_run_does_not_hang_it(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    try:
        done = subprocess.run([sys.executable, "-c", _TWO_SIGNALS, str(run)], check=False, cwd=REPO,
                              capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"hung for 30 s after two SIGTERMs: {exc.stdout!r} {exc.stderr!r}") from None
    assert "exit 130 second signal sent True reason: stopped by SIGTERM" in done.stdout, done.stdout + done.stderr
