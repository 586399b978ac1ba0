"""The run folder's control file (``petseg stop`` / ``pause``, the dashboard's x and p): a request
round-trips, one asked after the run ended is not written for its next resume (a run an older
petseg wrote, with no writer.lock, included), and a pause or resume never replaces a stop the run
has not read."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.runs import ControlAnswer, RunStore, clear_control, read_control, request_control


def test_control_file_round_trip(tmp_path: Path) -> None:
    assert read_control(tmp_path) is None
    request_control(tmp_path, "pause")
    assert read_control(tmp_path) == "pause"
    clear_control(tmp_path)
    assert read_control(tmp_path) is None
    with pytest.raises(ValueError):
        request_control(tmp_path, "explode")


def test_a_stop_asked_after_the_run_ended_is_not_left_for_its_next_resume(tmp_path: Path) -> None:
    """Two dashboards: one stops a run, the other's "Stop?" is answered after it ended. The
    control file it wrote stayed, and the next `petseg train --resume` stopped after one batch."""
    w = RunStore(tmp_path).create({"model": "unet"}, name="a")
    assert request_control(w.path, "pause")  # a process trains it: the request is written
    clear_control(w.path)
    w.close()  # the run ended
    assert not request_control(tmp_path / "a", "stop")
    assert read_control(tmp_path / "a") is None


def test_a_pause_or_resume_never_replaces_a_stop_the_run_has_not_read(tmp_path: Path) -> None:
    """The pending-stop rule, asked by `petseg pause`/`unpause` and the live screen's p alike: the
    request is refused with its own answer (not "the run ended"), the stop stays; a stop replaces
    a pending pause, and a stop asked again is written."""
    w = RunStore(tmp_path).create({"model": "unet"}, name="a")
    try:
        assert request_control(w.path, "stop") is ControlAnswer.WRITTEN
        for action in ("pause", "resume"):
            answer = request_control(w.path, action)
            assert answer is ControlAnswer.STOP_PENDING and not answer
            assert read_control(w.path) == "stop"
        assert request_control(w.path, "stop") is ControlAnswer.WRITTEN
        clear_control(w.path)  # the trainer read the stop: a pause may go now, and a stop replaces it
        assert request_control(w.path, "pause") is ControlAnswer.WRITTEN and read_control(w.path) == "pause"
        assert request_control(w.path, "stop") is ControlAnswer.WRITTEN and read_control(w.path) == "stop"
    finally:
        w.close()
    assert request_control(w.path, "pause") is ControlAnswer.RUN_ENDED  # ended: said before a pending stop


def _older_run(root: Path, name: str, status: dict) -> Path:
    """A run folder as an older petseg wrote it: config.json and ``status``, no writer.lock."""
    import json

    from engine.runs.layout import CONFIG_FILE, STATUS_FILE

    path = root / name
    path.mkdir(parents=True)
    (path / CONFIG_FILE).write_text(json.dumps({"model": "unet"}))
    (path / STATUS_FILE).write_text(json.dumps(status))
    return path


def test_a_run_an_older_petseg_wrote_takes_a_request_only_while_it_trains(tmp_path: Path) -> None:
    """No writer.lock was taken for "a launch still starting": the request was written into an
    older petseg's stopped run, and its resume (still starting) dropped it as it took the run, a
    sweep's stop lost. Such a run has ended unless its status says a live process trains it; a
    folder no writer has opened yet (train.log only: a launch starting) still takes the request."""
    import os
    import socket
    import time

    ended = _older_run(tmp_path, "ended", {"state": "stopped"})
    assert request_control(ended, "stop") is ControlAnswer.RUN_ENDED
    assert read_control(ended) is None
    from tests.engine.sweep.stopped_studies import dead_pid

    killed = _older_run(tmp_path, "killed", {"state": "running", "pid": dead_pid(), "host": socket.gethostname(),
                                              "heartbeat": time.time()})
    assert request_control(killed, "stop") is ControlAnswer.RUN_ENDED
    trains = _older_run(tmp_path, "trains", {"state": "running", "pid": os.getpid(), "host": socket.gethostname(),
                                             "heartbeat": time.time()})
    assert request_control(trains, "stop") is ControlAnswer.WRITTEN and read_control(trains) == "stop"
    launch = tmp_path / "launch"
    launch.mkdir()
    (launch / "train.log").write_text("")
    assert request_control(launch, "stop") is ControlAnswer.WRITTEN and read_control(launch) == "stop"
