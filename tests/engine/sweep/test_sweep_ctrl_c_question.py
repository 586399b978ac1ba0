"""Ctrl-C's question on a terminal ("[s]top them (resumable) or [l]eave them training? [s/l]"):
while it waits for the answer, the running trials still report their epochs to Optuna, which
prunes them as it would have; their lines are said after the answer. A real ``petseg sweep``
process (fake_sweep.py: its trials are fake_train.py) on a pseudo-terminal, as a user's shell
gives it, and a real SIGINT."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from optuna.trial import TrialState

from engine.runs import RunState, RunStore
from engine.sweep.study import load_study

HERE = Path(__file__).parent
QUESTION = "[s/l] "


class Output:
    """What a process writes on its stdout pipe, read as it comes (the question ends no line)."""

    def __init__(self, pipe) -> None:
        self.text = ""
        self._pipe = pipe
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while chunk := os.read(self._pipe.fileno(), 4096):
            self.text += chunk.decode(errors="replace")

    def join(self) -> str:
        self._thread.join(timeout=30)
        return self.text


def _wait(cond: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _told(runs: Path, number: int) -> bool:
    """The study has trial ``number``'s end."""
    trials = load_study("ask", runs).trials
    return len(trials) > number and trials[number].state != TrialState.RUNNING


def _state(runs: Path, run: str) -> RunState | None:
    return next((s.state for s in RunStore(runs).list_runs() if s.name == run), None)


@pytest.mark.slow
def test_a_trial_is_pruned_while_ctrl_cs_question_waits(tmp_path: Path) -> None:
    """Trials 0 and 1 complete; trial 2 (a lower learning rate: its fake Dice trails theirs) is
    at its first epoch when Ctrl-C comes. While the question waits, it reaches epoch 2, where
    the median pruner stops it. The question held the loop that reads the trials' run folders:
    trial 2 trained to its end unheard, and the study kept it running without its epochs."""
    runs = tmp_path / "runs"
    master, slave = pty.openpty()
    env = {**os.environ, "FAKE_EPOCH_SECONDS": "0.4",
           "PYTHONPATH": os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")])}
    # seed 25 draws learning rates 0.0074, 0.0038, then lower ones (test_sweep_trial_outcomes.py)
    p = subprocess.Popen([sys.executable, str(HERE / "fake_sweep.py"), "--runs", str(runs), "--name", "ask",
                          "--param", "learning_rate=log:1e-3:1e-2", "--sampler", "random", "--sampler_seed", "25",
                          "--eval_best", "no", "--trials", "3", "--parallel", "1", "--epochs", "4"],
                         env=env, stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    os.close(slave)
    out = Output(p.stdout)
    try:
        _wait(lambda: "trial 2 started" in out.text, "trial 2's start")
        p.send_signal(signal.SIGINT)
        _wait(lambda: QUESTION in out.text, "the question")
        asked_at = len(out.text)
        # it trains on while the question waits: pruned at epoch 2 and told so (or, unheard, to its end)
        _wait(lambda: _state(runs, "ask-t002") == RunState.FINISHED or _told(runs, 2), "trial 2's end")
        assert QUESTION in out.text[asked_at - len(QUESTION):] and "pruned" not in out.text[asked_at:], (
            "a line printed while the question waits breaks it")
        os.write(master, b"s\n")
        assert p.wait(timeout=60) == 130
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
    text = out.join()
    after = text[text.index(QUESTION):]
    assert "trial 2 epoch 2: valid Dice" in after and "-> pruned, stopping it" in after, text
    assert "trial 2 pruned at epoch 2" in after, text
    assert "no trial was still training; petseg sweep --resume ask (or the same command) goes on" in after, text
    assert _state(runs, "ask-t002") == RunState.PRUNED
    trial = load_study("ask", runs).trials[2]
    assert trial.state == TrialState.PRUNED and sorted(trial.intermediate_values) == [1, 2]
