"""`petseg` processes exit promptly once they have said they are done: finished, evaluated,
demo'd, stopped by Ctrl-C or failed (with DataLoader workers running).

On a GPU box ``petseg train --workers 8`` printed ``finished`` and was still alive 90 s later
(persistent workers + pinned memory left to interpreter teardown). Each test here starts a real
process, notes when its last line appears and asserts that it has exited within
EXIT_SECONDS of it; the overall timeouts are generous (a loaded machine), the exit bound is
what the issue asks.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.config import GENERATED_DATA
from tests import warm_petseg

REPO = Path(__file__).resolve().parents[2]
EXIT_SECONDS = 5.0
# the generated set: only the exit is under test, and its split sizes are what the comments below count
TINY = ["--image_size", "64", "--width", "4", "--batch_size", "8", "--max_train_images", "24", "--device", "cpu",
        "--data_path", GENERATED_DATA]


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), PETSEG_PLAIN_PROGRESS="1", PYTHONUNBUFFERED="1", **extra)
    env.pop("PETSEG_RUNS", None)
    return env


def run_until_exit(argv: list[str], last_line: Callable[[str], bool], *, on_line: Callable[[str, subprocess.Popen], None] | None = None,
                   code: str | None = None, env: dict[str, str] | None = None,
                   timeout: float = 240) -> tuple[list[str], float, int]:
    """Run ``python -m engine.cli ARGV`` (or ``python -c CODE ARGV``: its patches must be looked up at
    call time, see tests/warm_petseg.py), stdout and stderr together;
    return (lines, seconds from the first line matching ``last_line`` to the process's exit,
    exit code)."""
    cmd = [sys.executable, "-c", code, *argv] if code else [sys.executable, "-m", "engine.cli", *argv]
    # SIGINT restored as a terminal's Ctrl-C delivers it (a background pytest's children inherit it
    # ignored); a warm process (tests/warm_petseg.py): the exit is under test, not the imports
    proc = warm_petseg.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env or _env(),
                             cwd=REPO, sigint_default=True)
    lines: "queue.Queue[tuple[float, str | None]]" = queue.Queue()

    def read() -> None:
        for line in proc.stdout:
            lines.put((time.monotonic(), line.rstrip("\n")))
        lines.put((time.monotonic(), None))

    threading.Thread(target=read, daemon=True).start()
    seen: list[str] = []
    said_done: float | None = None
    deadline = time.monotonic() + timeout
    try:
        while True:
            at, line = lines.get(timeout=max(deadline - time.monotonic(), 0.1))
            if line is None:
                break
            seen.append(line)
            if said_done is None and last_line(line):
                said_done = at
            if on_line is not None:
                on_line(line, proc)
        code_ = proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        exited = time.monotonic()
    except (queue.Empty, subprocess.TimeoutExpired):  # under pytest-timeout's 300 s: the lines say where it was
        left = subprocess.run(["ps", "-o", "pid,ppid,stat,args", "--ppid", str(proc.pid), "-p", str(proc.pid)],
                              capture_output=True, text=True, check=False).stdout
        proc.kill()
        proc.wait()
        raise AssertionError("process did not finish in time:\n" + "\n".join(seen[-20:]) + "\n" + left) from None
    assert said_done is not None, "\n".join(seen[-20:])
    return seen, exited - said_done, code_


@pytest.mark.slow
def test_train_with_workers_then_eval_exit_promptly(tmp_path: Path) -> None:
    runs = str(tmp_path / "runs")
    lines, after, code = run_until_exit(
        ["train", "--runs", runs, "--run_name", "w2", "--epochs", "2", "--workers", "2", *TINY],
        lambda line: line.startswith("finished:"))
    assert code == 0, lines
    assert after < EXIT_SECONDS, f"exited {after:.1f} s after 'finished'"
    lines, after, code = run_until_exit(["eval", "--runs", runs, "--run", "w2", "--device", "cpu"],
                                        lambda line: line.startswith("test Dice"))  # its headline, last
    assert code == 0, lines
    assert after < EXIT_SECONDS, f"eval exited {after:.1f} s after its result"


@pytest.mark.slow
def test_ctrl_c_stops_saves_and_exits_promptly(tmp_path: Path) -> None:
    sent = []

    def interrupt(line: str, proc: subprocess.Popen) -> None:
        if line.startswith("epoch 1/") and not sent:
            proc.send_signal(signal.SIGINT)
            sent.append(line)

    lines, after, code = run_until_exit(
        ["train", "--runs", str(tmp_path / "runs"), "--run_name", "c", "--epochs", "200", "--workers", "2", *TINY],
        lambda line: line.startswith(("stopped after epoch", "stopped in epoch")), on_line=interrupt)
    assert sent and code == 130, lines
    assert after < EXIT_SECONDS, f"exited {after:.1f} s after 'stopped'"
    assert (tmp_path / "runs" / "c" / "checkpoints" / "last.pt").exists()  # saved before the exit


_FAIL_IN_EPOCH_2 = """
import sys
from engine.train import losses
real, calls = losses.BCEDiceLoss.forward, [0]
def failing(self, logits, target):
    calls[0] += 1
    if calls[0] == 6:  # epoch 2 of 3 train + 1 valid batches each: workers are running
        raise RuntimeError("injected failure")
    return real(self, logits, target)
losses.BCEDiceLoss.forward = failing
from engine.cli import main
sys.exit(main())  # as the `petseg` script calls it: the process's own exit path, not the interpreter's teardown
"""

_SLOW_STOP = """
import sys, time
import torch
from engine.train.trainer import Trainer
stopping, real_stop, real_save = [], Trainer.stop, torch.save
def stop(self, *args, **kwargs):
    stopping.append(1)
    return real_stop(self, *args, **kwargs)
def save(*args, **kwargs):  # last.pt of the stop: the second Ctrl-C comes while it is written
    if stopping:
        time.sleep(2.0)
    return real_save(*args, **kwargs)
Trainer.stop, torch.save = stop, save
from engine.cli import main
sys.exit(main())
"""


@pytest.mark.slow
def test_failed_run_with_workers_exits_promptly(tmp_path: Path) -> None:
    lines, after, code = run_until_exit(
        ["train", "--runs", str(tmp_path / "runs"), "--epochs", "5", "--workers", "2", *TINY],
        lambda line: line.startswith("petseg: error:"), code=_FAIL_IN_EPOCH_2)
    assert code == 1 and any("injected failure" in line for line in lines), lines
    assert after < EXIT_SECONDS, f"exited {after:.1f} s after the error"


@pytest.mark.slow
def test_demo_exits_promptly(tmp_path: Path) -> None:
    # the generated set the other tests share (already decoded), not the real sample: only the
    # exit is under test here. The demo's last line: "done in Ns; watch and compare runs: ..."
    lines, after, code = run_until_exit(
        ["demo", "--runs", str(tmp_path / "runs"), "--epochs", "1", "--image_size", "64", "--width", "4",
         "--device", "cpu", "--data_path", GENERATED_DATA],
        lambda line: "watch and compare runs" in line)
    assert code == 0, lines
    assert after < EXIT_SECONDS, f"exited {after:.1f} s after its last line"


@pytest.mark.slow
def test_a_second_ctrl_c_says_how_to_resume(tmp_path: Path) -> None:
    """A second Ctrl-C exits at once (README) with 'petseg: interrupted' alone, while one Ctrl-C
    says 'stopped; resume with: petseg train --resume ...': the run is resumable either way, and
    the loader workers it killed leave no temp folder behind."""
    sent = []

    def interrupt(line: str, proc: subprocess.Popen) -> None:
        if line.startswith("epoch 1/") and not sent:
            proc.send_signal(signal.SIGINT)
            # two signals before Python's handler runs are one to it, and a stop saved before the
            # second comes ends as one Ctrl-C does: the stop's save is slowed (_SLOW_STOP)
            time.sleep(0.3)
            proc.send_signal(signal.SIGINT)
            sent.append(line)

    runs, temp = tmp_path / "runs", tmp_path / "temp"
    temp.mkdir()
    lines, after, code = run_until_exit(
        ["train", "--runs", str(runs), "--run_name", "c", "--epochs", "200", *TINY],
        lambda line: line.startswith("petseg: interrupted"), on_line=interrupt, env=_env(TMPDIR=str(temp)),
        code=_SLOW_STOP)
    assert sent and code == 130, lines
    # multiprocessing's exit handler SIGTERMs the loader workers, which outlive a SIGTERM by
    # torchrun's 30 s grace: the exit waited all of it
    assert after < EXIT_SECONDS, f"exited {after:.1f} s after 'interrupted'"
    # epoch 1's last.pt is on disk if its write began before the first Ctrl-C (a write begun after
    # it is slowed past the exit): the line says where the resume goes on from, as it is on disk
    resumes = ("goes on from its last checkpoint" if (runs / "c" / "checkpoints" / "last.pt").exists()
               else "starts it again from epoch 1 (no checkpoint was saved yet)")
    assert f"interrupted before the stop was saved; petseg train --resume c --runs {runs} {resumes}" in lines, lines
    # each worker's multiprocessing folder (pymp-*), which a killed worker never removed
    assert [p.name for p in temp.iterdir() if p.name.startswith("pymp-")] == []
