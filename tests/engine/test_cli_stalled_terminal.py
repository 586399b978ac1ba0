"""Every ``petseg`` command on a terminal that stops reading (an SSH link stalled without
dropping, a user's Ctrl-S) still ends on SIGTERM.

Only ``petseg train`` wrote its terminal from a thread of its own
(`tests/engine/test_cli_train_stalled_terminal.py`); the other commands wrote from their main
thread, which also handles the signals: on an unread pty, ``petseg eval`` was still running 15 s
after a SIGTERM, waiting to write "petseg: stopped by SIGTERM", and ``petseg runs`` waited in its
first line for good. Now every command's writes go through that thread (`engine.cli.entry`).

A real command on a pseudo-terminal whose buffer is full and that nothing reads; the signal is
sent once the command handles SIGTERM (before, the default action ends it, which proves nothing)
and a write to its terminal waits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.config import GENERATED_DATA
from tests.stalled_terminal import WRITE_SYSCALL, full_terminal, handles, writing_to_terminal

REPO = Path(__file__).resolve().parents[2]
STARTED_SECONDS = 60  # start-up (imports) on a loaded machine
# from the signal: its line queued, then up to 2 s for the terminal to take it
ENDED_SECONDS = 6.0


def _signalled_on_a_stalled_terminal(argv: list[str], sig: signal.Signals) -> tuple[int | None, float]:
    """Run ``petseg argv`` on an unread terminal, send ``sig`` once it handles it: (exit code or
    None if still running `ENDED_SECONDS` later, seconds from the signal to the exit)."""
    if WRITE_SYSCALL is None:
        pytest.skip(f"which syscall writes is not known on {os.uname().machine}")
    master, slave = full_terminal()
    env = dict(os.environ, PYTHONPATH=str(REPO), TERM="xterm-256color")
    env.pop("TMUX", None)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "engine.cli", *argv], stdin=slave, stdout=slave,
                                stderr=slave, cwd=REPO, env=env, start_new_session=True)
    finally:
        os.close(slave)
    try:
        deadline = time.monotonic() + STARTED_SECONDS
        while not (handles(proc.pid, sig) and writing_to_terminal(proc.pid)):
            assert proc.poll() is None, f"ended before the signal ({proc.returncode})"
            assert time.monotonic() < deadline, "never waited on its terminal with the signal handled"
            time.sleep(0.02)
        sent = time.monotonic()
        proc.send_signal(sig)
        try:
            code: int | None = proc.wait(timeout=ENDED_SECONDS)
        except subprocess.TimeoutExpired:
            code = None
        return code, time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_listing_whose_terminal_reads_nothing_ends_on_a_signal(tmp_path: Path, sig: signal.Signals,
                                                                ctrl_c_reaches_us: None) -> None:
    """A Ctrl-C too (once the terminal reads again, as after Ctrl-Q): exit 130, not the
    interpreter's death by SIGINT that a KeyboardInterrupt out of `main` gives. (A test run
    started as a background job ignores SIGINT, and so did the command it started, rightly:
    `ctrl_c_reaches_us`.)"""
    (tmp_path / "runs").mkdir()
    code, seconds = _signalled_on_a_stalled_terminal(["runs", "--runs", str(tmp_path / "runs")], sig)
    assert code is not None, f"still running {ENDED_SECONDS} s after {sig.name}"
    assert code == 128 + sig
    assert seconds < ENDED_SECONDS


@pytest.mark.slow
def test_an_eval_whose_terminal_reads_nothing_ends_on_sigterm(checkpoint: Path) -> None:
    code, seconds = _signalled_on_a_stalled_terminal(
        ["eval", "--checkpoint", str(checkpoint), "--data_path", GENERATED_DATA, "--device", "cpu"], signal.SIGTERM)
    assert code is not None, f"still running {ENDED_SECONDS} s after SIGTERM"
    assert code == 128 + signal.SIGTERM
    assert seconds < ENDED_SECONDS
