"""A command survives its own output (issue 21, group 3): a broken pipe, a closed stdout or
stderr, a vanished terminal or an ASCII-only one never stops or fails a run or a listing."""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli.streams import SafeStream, safe_std_streams
from engine.config import GENERATED_DATA
from tests import warm_petseg

REPO = Path(__file__).resolve().parents[2]
TINY = ["--image_size", "64", "--width", "4", "--batch_size", "8", "--max_train_images", "16", "--workers", "0",
        "--device", "cpu", "--data_path", GENERATED_DATA]


class _Failing(io.StringIO):
    def __init__(self, exc: BaseException) -> None:
        super().__init__()
        self.exc = exc

    def write(self, text: str) -> int:
        raise self.exc


@pytest.mark.parametrize("exc", [BrokenPipeError(errno.EPIPE, "Broken pipe"), OSError(errno.EIO, "I/O error"),
                                 ValueError("I/O operation on closed file")], ids=["epipe", "eio", "closed"])
def test_a_failing_write_is_dropped_and_so_is_every_later_one(exc: BaseException) -> None:
    stream = SafeStream(_Failing(exc))
    assert stream.write("epoch 1/3\n") == len("epoch 1/3\n")
    stream.flush()
    assert stream.broken
    assert stream.write("epoch 2/3\n") == len("epoch 2/3\n")


def test_characters_an_ascii_stream_cannot_encode_are_replaced() -> None:
    raw = io.BytesIO()
    text = io.TextIOWrapper(raw, encoding="ascii", errors="strict")
    stream = SafeStream(text)
    stream.write("64×64 · dice\n")
    stream.flush()
    assert raw.getvalue() == b"64?64 ? dice\n"
    assert not stream.broken


def test_a_stream_closed_at_start_up_writes_nowhere() -> None:
    stream = SafeStream(None)
    assert stream.write("x") == 1 and not stream.isatty() and stream.encoding == "utf-8"


def test_the_streams_are_restored_after_the_command() -> None:
    before = sys.stdout, sys.stderr
    with safe_std_streams() as (out, err):
        assert sys.stdout is out and sys.stderr is err
    assert (sys.stdout, sys.stderr) == before


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), **extra)
    env.pop("PETSEG_RUNS", None)
    return env


def _petseg(argv: list[str], mode: str, tmp_path: Path, timeout: float = 240) -> tuple[int, str]:
    """Run ``petseg ARGV`` with its output treated as ``mode`` says; (exit code, stderr text).
    Training starts warm (tests/warm_petseg.py), but under the C locale, which the interpreter reads
    at start-up; the listings, which import no torch, are as cheap fresh."""
    cmd = [sys.executable, "-m", "engine.cli", *argv]
    start = warm_petseg if argv[0] == "train" else subprocess
    err_path = tmp_path / f"stderr-{mode}.txt"
    with open(err_path, "w") as err_file:
        if mode == "head":  # `petseg … | head -1`: one line read, then the pipe is closed
            proc = start.Popen(cmd, stdout=subprocess.PIPE, stderr=err_file, env=_env(), cwd=REPO)
            assert proc.stdout is not None
            proc.stdout.readline()
            proc.stdout.close()
            rc = proc.wait(timeout)
        elif mode == "closed" and start is warm_petseg:  # `petseg … >&- 2>&-`
            rc = warm_petseg.run(cmd, stdout=subprocess.DEVNULL, stderr=err_file, env=_env(), cwd=REPO,
                                 timeout=timeout, close_std=(1, 2)).returncode
        elif mode == "closed":
            rc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=err_file, env=_env(), cwd=REPO,
                                timeout=timeout, preexec_fn=lambda: (os.close(1), os.close(2))).returncode
        else:  # an ASCII-only terminal
            rc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err_file, cwd=REPO, timeout=timeout,
                                env=_env(LANG="C", LC_ALL="C", PYTHONIOENCODING="ascii")).returncode
    return rc, err_path.read_text()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["head", "closed", "ascii"])
def test_training_carries_on_whatever_happens_to_its_output(mode: str, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    rc, err = _petseg(["train", "--runs", str(runs), "--run_name", "r", "--epochs", "2", *TINY], mode, tmp_path)
    assert rc == 0, err
    assert "Traceback" not in err and "error" not in err
    status = json.loads((runs / "r" / "status.json").read_text())
    assert status["state"] == "finished"
    assert (runs / "r" / "checkpoints" / "last.pt").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("argv", [["runs", "--json"], ["runs"], ["--help"]], ids=["runs-json", "runs", "help"])
@pytest.mark.parametrize("mode", ["head", "closed", "ascii"])
def test_a_listing_cut_short_exits_quietly(argv: list[str], mode: str, finished_tiny_run: Path,
                                           tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for i in range(40):  # more output than one pipe buffer holds, so the writer meets the closed pipe
        shutil.copytree(finished_tiny_run, runs / f"r{i:02d}", ignore=shutil.ignore_patterns("*.pt", "previews"))
    rc, err = _petseg([*argv, "--runs", str(runs)] if argv[0] == "runs" else argv, mode, tmp_path, timeout=60)
    assert rc in (0, 141), err
    assert err == ""
