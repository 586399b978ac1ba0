"""How ``petseg train`` turns signals into a graceful stop (`engine.cli.train.drive` and
`engine.train.control.RunControl`): a signal that comes while the previous one is being handled
does not hang the process.

The case behind it: a data-parallel rank is sent its death signal (SIGTERM) when its launcher is
killed, twice, about 1 ms apart (once when the launcher's main thread ends, once when its last
thread does). The handler asked the run to stop, which takes a lock (``threading.Event.set``);
the second signal ran the handler again inside the first, which then waited on the lock the
first held: both ranks slept on, orphaned, until killed (a CI run of
test_ddp_control.py::test_ranks_stop_cleanly_when_their_launcher_is_killed)."""

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


# `drive` with a stand-in trainer that gets two Ctrl-Cs: the first asks it to stop, the second
# cuts the process off before the stop is saved (README: "a second Ctrl-C exits at once")
_TWO_CTRL_CS = """
import signal, sys
from pathlib import Path
from engine.cli.common import PlainConsole
from engine.cli.train import drive
from engine.runs import RunState

class Trainer:
    dist = None
    error = None
    def __init__(self, run_path):
        self.run_path, self.run_name = run_path, run_path.name
        self.state = RunState.RUNNING
    def subscribe(self, _callback):
        pass
    def start(self):
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)
    def stop(self, reason=""):
        pass
    def join(self, timeout=None):
        return False

try:
    drive(Trainer(Path(sys.argv[1])), PlainConsole(), None)
except KeyboardInterrupt:
    print("exit at once")
"""


def test_a_second_ctrl_c_before_any_checkpoint_says_the_resume_starts_again(tmp_path: Path) -> None:
    """Cut off in its first epoch, a run has no last.pt, yet the line said `petseg train --resume
    r` "goes on from its last checkpoint": the resume starts it again from epoch 1."""
    run = tmp_path / "r"
    (run / "checkpoints").mkdir(parents=True)

    def said() -> str:
        done = subprocess.run([sys.executable, "-c", _TWO_CTRL_CS, str(run)], check=False, cwd=REPO,
                              capture_output=True, text=True, timeout=60)
        assert "exit at once" in done.stdout, done.stdout + done.stderr
        return next(line for line in done.stdout.splitlines() if line.startswith("interrupted"))

    assert said() == ("interrupted before the stop was saved; petseg train --resume r starts it again from "
                      "epoch 1 (no checkpoint was saved yet)")
    (run / "checkpoints" / "last.pt").write_bytes(b"saved at an epoch's end")
    assert said() == ("interrupted before the stop was saved; petseg train --resume r goes on from its last "
                      "checkpoint")
