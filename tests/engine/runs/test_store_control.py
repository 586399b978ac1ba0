"""The run folder's control file (``petseg stop`` / ``pause``, the dashboard's x and p): a request
round-trips, one asked after the run ended is not written for its next resume, and a pause or
resume never replaces a stop the run has not read."""

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
