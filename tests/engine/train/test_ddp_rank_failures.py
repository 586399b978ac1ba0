"""When a rank of a data-parallel run fails, the rank to blame is named in words: one that stopped
answering (not the one that waited for it), one killed or gone under the user's own torchrun (of
two or three, on this node or another), its reason in torch's agent's error file layout; and a
launch leaves nothing in the temp folder."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests import warm_petseg
from tests.engine.train.ddp_helpers import REPO, torchrun_train

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("code, fails", [("pass", False), ("import sys; sys.exit(3)", True)])
def test_a_launch_leaves_nothing_in_the_temp_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    code: str, fails: bool) -> None:
    """The elastic agent's log folder (its ranks' error files) went to a fresh
    /tmp/torchelastic_XXXX on every `petseg train/eval --devices N` and every data-parallel sweep
    trial, never removed: 429 of them on this machine after a day's tests."""
    import tempfile

    from engine.train.ddp_launch import RankFailed, run_ranks
    from engine.train.devices_request import DevicesRequest

    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.setenv("TMPDIR", str(temp))
    if fails:
        with pytest.raises(RankFailed, match="exit code 3"):  # the ranks' error files were still read
            run_ranks(["-c", code], DevicesRequest(2), lambda _: None, "a check")
    else:
        assert run_ranks(["-c", code], DevicesRequest(2), lambda _: None, "a check") == 0
    assert sorted(p.name for p in temp.iterdir()) == []


GLOO_TIMEOUT = ("RuntimeError: [/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/unbound_buffer.cc:78] "
                "Timed out waiting 15000ms for recv operation to complete")


@pytest.mark.parametrize("stuck", ["sleep", "sigstop"])
def test_a_rank_that_stops_answering_is_named_not_the_rank_that_waited_for_it(monkeypatch, stuck: str) -> None:
    """Rank 1 stuck (kill -STOP, or busy), rank 0 times out in a collective after
    $PETSEG_DIST_TIMEOUT: the launcher said "rank 0 of 2 ended with exit code 1: RuntimeError:
    [...] Timed out waiting 15000ms for recv", blaming the one rank that did its part."""
    from torch.distributed.elastic.multiprocessing.api import SubprocessContext

    from engine.train.ddp_launch import RankFailed, run_ranks
    from engine.train.devices_request import DevicesRequest

    # a stopped rank never takes the agent's SIGTERM: torch then waits a fixed 30 s before its
    # SIGKILL (a literal in its poll loop, no setting reaches it), idle time that proves nothing
    # here; the same SIGTERM, wait and SIGKILL after 2 s. (A torch without this method fails here.)
    close = SubprocessContext._close
    monkeypatch.setattr(SubprocessContext, "_close",
                        lambda self, death_sig, timeout=30: close(self, death_sig, min(timeout, 2)))
    hang = "os.kill(os.getpid(), signal.SIGSTOP)" if stuck == "sigstop" else "time.sleep(120)"
    code = ("import os, signal, sys, time\n"
            "from engine.train.rank_failures import report_failure\n"
            "if os.environ['RANK'] == '0':\n"
            f"    time.sleep(1); report_failure({GLOO_TIMEOUT!r}); sys.exit(1)\n"
            f"{hang}\n")
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    with pytest.raises(RankFailed) as info:
        run_ranks(["-c", code], DevicesRequest(2), lambda _: None, "a check")
    assert str(info.value) == ("rank 1 of 2 stopped answering: rank 0 waited 15 s for it and gave up "
                               "($PETSEG_DIST_TIMEOUT); the other ranks were stopped")


def test_a_rank_that_timed_out_says_it_waited_for_the_others() -> None:
    """What the waiting rank itself says (its status under the user's torchrun, its error.log line)."""
    from engine.train.rank_failures import is_consequence, timed_out_message

    said = timed_out_message(GLOO_TIMEOUT, 2)
    assert said == ("timed out waiting 15 s for the other ranks of this 2-process run (PETSEG_DIST_TIMEOUT): "
                    "another rank stopped answering (stuck, stopped or far slower)")
    assert is_consequence(said) and is_consequence(GLOO_TIMEOUT) and timed_out_message("ValueError: x", 2) == ""


def test_a_rank_that_timed_out_names_the_rank_whose_process_is_stopped() -> None:
    """kill -STOP of rank 2 of three under the user's torchrun: the others timed out saying
    "another rank stopped answering"; the stopped process is seen on this machine and named."""
    import signal
    import time

    from engine.train.distributed import machine_id
    from engine.train.rank_failures import is_consequence, timed_out_message

    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        sleeper.send_signal(signal.SIGSTOP)
        end = time.monotonic() + 10
        while Path(f"/proc/{sleeper.pid}/stat").read_text().rpartition(")")[2].split()[0] != "T":
            assert time.monotonic() < end
            time.sleep(0.01)
        here = machine_id()
        said = timed_out_message(GLOO_TIMEOUT, 3, rank=0, processes=[(here, os.getpid())] * 2 + [(here, sleeper.pid)])
        assert said == ("timed out waiting 15 s for the other ranks of this 3-process run (PETSEG_DIST_TIMEOUT): "
                        "rank 2 of this 3-process run, whose process is stopped (kill -STOP or a debugger?), "
                        "stopped answering")
        assert is_consequence(said)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_under_torchrun_a_rank_that_lost_its_peer_says_so_in_words(tmp_path: Path, generated_data: str) -> None:
    """The user's own torchrun has no petseg launcher to name the rank that died: rank 0's error was
    the run's whole story, "RuntimeError: [/__w/pytorch/pytorch/third_party/gloo/gloo/transport/
    tcp/pair.cc:545] Read error [127.0.0.1]:38096: Connection reset by peer. This is typically
    caused by a remote worker hanging or bugs in the application. ... GLHF! 🏖️"."""
    runs = tmp_path / "runs"
    env = dict(os.environ, PYTHONPATH=str(REPO), PETSEG_PLAIN_PROGRESS="1", OMP_NUM_THREADS="1", TMPDIR=str(tmp_path),
               PETSEG_FAULT="batch:3@1")  # rank 1 SIGKILLs itself before its 3rd batch (as the OOM killer would)
    # torch's agent warm (tests/warm_petseg.py); its ranks fresh
    done = warm_petseg.run(torchrun_train(2, generated_data, 2, runs, "oom"), env=env, cwd=REPO, capture_output=True,
                           text=True, timeout=240, check=False)
    assert done.returncode != 0
    status = json.loads((runs / "oom" / "status.json").read_text())
    assert status["state"] == "failed"
    message = status["message"]
    assert message.startswith("rank 1 of this 2-process run ended first (Connection "), message
    assert "GLHF" not in message and "pair.cc" not in message and "\n" not in message
    assert message.endswith(f"(traceback in {runs / 'oom' / 'error.log'})")


def test_under_torchrun_a_three_process_run_names_the_rank_that_was_killed(tmp_path: Path, generated_data: str) -> None:
    """Three ranks of the user's torchrun, rank 2 killed: rank 0's run said "another rank of this
    3-process run ended first"; it names rank 2 now, as a 2-process run names the other rank."""
    runs = tmp_path / "runs"
    env = dict(os.environ, PYTHONPATH=str(REPO), PETSEG_PLAIN_PROGRESS="1", OMP_NUM_THREADS="1",
               PETSEG_FAULT="batch:3@2", TORCH_CPP_LOG_LEVEL="ERROR",  # rank 2 SIGKILLs itself (epoch 3)
               TMPDIR=str(tmp_path))  # rank 1's traceback folder (rank_scratch) goes with the test
    # a fresh agent: TORCH_CPP_LOG_LEVEL is read when torch loads (tests/warm_petseg.py)
    done = subprocess.run(torchrun_train(3, generated_data, 4, runs, "oom3"), env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=240, check=False)
    assert done.returncode != 0
    status = json.loads((runs / "oom3" / "status.json").read_text())
    assert status["state"] == "failed"
    assert status["message"].startswith("rank 2 of this 3-process run ended first (Connection "), status["message"]


def test_a_ranks_reason_reaches_torchs_agent_in_its_own_error_file_layout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Under the user's torchrun, each failed rank's reason made the agent log "child error file
    (...) has a new message format. skipping error code override" besides the summary: the file
    now has torch's own layout, and the summary's line is still the rank's one line."""
    import logging

    from torch.distributed.elastic.multiprocessing.errors import ProcessFailure
    from torch.distributed.elastic.multiprocessing.errors.error_handler import (
        ErrorHandler,
    )

    from engine.train.rank_failures import failure_message, report_failure

    path = tmp_path / "error.json"
    monkeypatch.setenv("TORCHELASTIC_ERROR_FILE", str(path))
    said = "rank 1 of this 2-process run (on another node) ended first (Connection closed by peer)"
    assert report_failure(said)
    failure = ProcessFailure(local_rank=0, pid=123, exitcode=1, error_file=str(path))
    assert failure_message(failure) == said
    assert said in failure.message["extraInfo"]["py_callstack"]
    with caplog.at_level(logging.WARNING):
        ErrorHandler().dump_error_file(str(path), error_code=1)  # what the agent does with the root cause
    assert "new message format" not in caplog.text


def test_the_rank_a_two_node_run_lost_is_named_with_its_node(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two torchrun nodes of one rank each: when one is killed, the survivor's run said "another
    rank of this 2-process run ended first", and a stop asked there "stopped by another rank";
    both now name the rank, and say it ran on the other node."""
    from engine.train.batch_gate import other_rank_stop
    from engine.train.rank_failures import is_consequence, peer_gone_message, rank_words

    node0 = {"LOCAL_WORLD_SIZE": "1", "GROUP_RANK": "0"}
    assert rank_words(1, 2, node0) == "rank 1 of this 2-process run (on another node)"
    assert rank_words(1, 4, {"LOCAL_WORLD_SIZE": "2", "GROUP_RANK": "0"}) == "rank 1 of this 4-process run (on this node)"
    assert rank_words(3, 4, {"LOCAL_WORLD_SIZE": "4", "GROUP_RANK": "0"}) == "rank 3 of this 4-process run"
    closed = "RuntimeError: [../pair.cc:534] Connection closed by peer [127.0.0.1]:5421"
    for key, value in node0.items():  # this process: node 0's only rank
        monkeypatch.setenv(key, value)
    said = peer_gone_message(closed, 2, rank=0)
    stopped = other_rank_stop(1, 2)
    assert said == ("rank 1 of this 2-process run (on another node) ended first (Connection closed by peer); "
                    "that rank's own output says why")
    assert is_consequence(said)  # petseg's launcher still tells it from the cause
    assert peer_gone_message(closed, 3, rank=0).startswith("another rank of this 3-process run ended first")
    assert stopped == ("stopped by rank 1 of this 2-process run (on another node): a signal to it, or its launcher "
                       "ended (see that rank's output)")


def test_a_rank_left_by_another_of_three_names_the_one_whose_process_ended(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With three or more ranks, the survivors of a killed rank said "another rank of this
    3-process run ended first" (a 2-process run names the other one): each rank now knows every
    rank's process and names the one that ended, not one that ended after it only because of it
    (its error file says so), and still says "another rank" when none is seen on this machine."""
    import time

    from engine.train.distributed import machine_id
    from engine.train.rank_failures import peer_gone_message

    def zombie() -> subprocess.Popen:  # ended, not yet reaped: a killed rank before its agent looks
        proc = subprocess.Popen(["true"])
        end = time.monotonic() + 10
        while Path(f"/proc/{proc.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
            assert time.monotonic() < end
            time.sleep(0.01)
        return proc

    for name in ("LOCAL_WORLD_SIZE", "GROUP_RANK"):
        monkeypatch.delenv(name, raising=False)
    attempt = tmp_path / "attempt_0"
    for local in "012":
        (attempt / local).mkdir(parents=True)
    monkeypatch.setenv("TORCHELASTIC_ERROR_FILE", str(attempt / "0" / "error.json"))
    monkeypatch.setenv("LOCAL_RANK", "0")
    # rank 1 ended too, but after rank 2 and because of it, as it told the agent
    (attempt / "1" / "error.json").write_text(json.dumps(
        {"message": {"message": "another rank of this 3-process run ended first (Connection closed by peer)"}}))
    closed = "RuntimeError: [../pair.cc:534] Connection closed by peer [127.0.0.1]:5421"
    first, second = zombie(), zombie()
    try:
        here = machine_id()
        processes = [(here, os.getpid()), (here, first.pid), (here, second.pid)]
        assert peer_gone_message(closed, 3, rank=0, processes=processes) == (
            "rank 2 of this 3-process run ended first (Connection closed by peer); that rank's own output says why")
        monkeypatch.delenv("TORCHELASTIC_ERROR_FILE")  # no agent: which one only followed is not known
        assert peer_gone_message(closed, 3, rank=0, processes=processes).startswith(
            "one of ranks 1, 2 of this 3-process run ended first (Connection closed by peer)")
        alive = [(here, os.getpid()), (here, os.getpid()), ("another-machine/x", second.pid)]
        assert peer_gone_message(closed, 3, rank=0, processes=alive).startswith(
            "another rank of this 3-process run ended first (Connection closed by peer)")
    finally:
        first.wait(), second.wait()
