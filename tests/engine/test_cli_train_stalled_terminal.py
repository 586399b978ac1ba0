"""``petseg train`` on a terminal that stops reading (an SSH link stalled without dropping, a user's
Ctrl-S) trains on, and a signal still stops and saves the run.

Its progress lines, Rich's bars and its stderr were written by the threads that train and load
the data: once the terminal's buffer was full every write waited, so training stopped with the
terminal (on an unread pty, a 64 px run stopped after its 3rd to 13th epoch) and a SIGTERM left
the run `running` (the thread that saves was waiting in a write). Now one thread of its own writes
the terminal (`engine.cli.terminal_queue`).

A real ``petseg train`` on a pseudo-terminal that nothing reads; the test fills the terminal's
buffer before the command starts, as a terminal stalled for a while has it, so every write of the
command would wait from its first line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.config import GENERATED_DATA
from tests.stalled_terminal import full_terminal

REPO = Path(__file__).resolve().parents[2]
TINY = ["--image_size", "32", "--width", "4", "--batch_size", "4", "--device", "cpu", "--amp", "off",
        "--data_path", GENERATED_DATA]
STARTED_SECONDS = 60  # start-up (torch's import, the generated data) on a loaded machine
# from the signal: the stop and its save, then up to 2 s for the terminal to take the last lines
ENDED_SECONDS = 6.0


def _train_on_a_stalled_terminal(runs: Path, epochs: int) -> tuple[subprocess.Popen[bytes], int]:
    master, slave = full_terminal()
    env = dict(os.environ, PYTHONPATH=str(REPO), TERM="xterm-256color")
    env.pop("PETSEG_PLAIN_PROGRESS", None)
    env.pop("TMUX", None)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "train", "--runs", str(runs), "--run_name", "r",
             "--epochs", str(epochs), *TINY],
            stdin=slave, stdout=slave, stderr=slave, cwd=REPO, env=env, start_new_session=True)
    finally:
        os.close(slave)
    return proc, master


def _events(run: Path) -> list[str]:
    try:
        return [json.loads(line)["kind"] for line in (run / "events.jsonl").read_text().splitlines() if line.strip()]
    except (OSError, ValueError):
        return []


def _state(run: Path) -> str | None:
    try:
        return json.loads((run / "status.json").read_text()).get("state")
    except (OSError, ValueError):
        return None


def _end(proc: subprocess.Popen[bytes], master: int) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    os.close(master)


@pytest.mark.slow
def test_training_goes_on_while_its_terminal_reads_nothing(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "r"
    proc, master = _train_on_a_stalled_terminal(tmp_path / "runs", epochs=3)
    try:
        deadline = time.monotonic() + STARTED_SECONDS
        while _state(run) != "finished":
            assert time.monotonic() < deadline, (
                f"training stopped with its terminal: {_state(run)}, {_events(run).count('epoch_ended')} epochs")
            time.sleep(0.1)
        finished = time.monotonic()
        code = proc.wait(timeout=ENDED_SECONDS)  # nothing read yet: the last lines are left, the process ends
        ended = time.monotonic() - finished
    finally:
        _end(proc, master)
    assert _events(run).count("epoch_ended") == 3
    assert code == 0
    assert ended < ENDED_SECONDS
    assert "finished: best valid Dice" in (run / "train.log").read_text()  # every line in the run's log


@pytest.mark.slow
def test_a_signal_stops_and_saves_a_run_whose_terminal_reads_nothing(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "r"
    proc, master = _train_on_a_stalled_terminal(tmp_path / "runs", epochs=500)
    try:
        deadline = time.monotonic() + STARTED_SECONDS
        while _events(run).count("epoch_ended") < 2:
            assert time.monotonic() < deadline, f"training stopped with its terminal: {_state(run)}"
            assert proc.poll() is None, f"ended early ({proc.returncode})"
            time.sleep(0.1)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=ENDED_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {ENDED_SECONDS} s after SIGTERM; the run is {_state(run)}")
        seconds = time.monotonic() - sent
    finally:
        _end(proc, master)
    assert _state(run) == "stopped"
    assert _events(run)[-1] == "stopped"
    assert (run / "checkpoints" / "last.pt").is_file()
    assert code == 130  # a stop's code, as on a terminal that reads
    assert seconds < ENDED_SECONDS
