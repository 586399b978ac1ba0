"""RunState: what each state means, the strings on disk, and old run folders still reading the same."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from engine.events import TERMINAL_KINDS, EpochEnded, RunFinished, RunStarted, event_to_dict
from engine.run_schema import status_problems
from engine.runs import WRITTEN_STATES, RunState, RunStore, resume_offer

# state: (is_written, is_active, is_error, is_resumable, ended_early, log_may_explain)
MEANINGS = {
    "running": (True, True, False, False, False, False),
    "paused": (True, True, False, False, False, False),
    "finished": (True, False, False, False, False, False),
    "stopped": (True, False, False, True, True, False),
    "failed": (True, False, True, True, True, True),
    "diverged": (True, False, True, False, True, False),
    "pruned": (True, False, False, False, False, False),  # a sweep's decision: not an error, not resumed
    "interrupted": (False, False, False, True, True, True),
    "broken": (False, False, True, False, True, True),
    "unknown": (False, False, False, False, False, False),
    "starting": (False, False, False, False, False, False),
}


@pytest.mark.parametrize("text", MEANINGS)
def test_each_state_says_what_it_means(text: str) -> None:
    s = RunState(text)
    assert (s.is_written, s.is_active, s.is_error, s.is_resumable, s.ended_early, s.log_may_explain) == MEANINGS[text]


def test_every_state_is_listed_and_is_its_string() -> None:
    assert {str(s) for s in RunState} == set(MEANINGS)
    assert RunState.FINISHED == "finished" and f"{RunState.BROKEN}" == "broken"
    assert json.dumps({"state": RunState.PAUSED}) == '{"state": "paused"}'


def test_parse_takes_unknown_text_as_unknown() -> None:
    assert RunState.parse("stopped") is RunState.STOPPED
    assert RunState.parse("") is RunState.UNKNOWN
    assert RunState.parse("resuming-in-a-newer-petseg") is RunState.UNKNOWN


def test_written_states_are_what_status_json_may_say() -> None:
    assert WRITTEN_STATES == ("running", "paused", "finished", "stopped", "failed", "diverged", "pruned")
    assert all(status_problems({"state": str(s)}) == [] for s in WRITTEN_STATES)
    assert status_problems({"state": "interrupted"}) == [
        "state 'interrupted' is not one of running, paused, finished, stopped, failed, diverged, pruned"]


def test_terminal_events_name_written_states() -> None:
    # a run's state falls back to its terminal event's kind (RunHistory.state)
    assert all(RunState(kind).is_written and not RunState(kind).is_active for kind in TERMINAL_KINDS)


def test_resume_offer_takes_text_or_state() -> None:
    assert resume_offer("r", "stopped", True) == resume_offer("r", RunState.STOPPED, True)
    assert resume_offer("r", "interrupted", False).action == "restart"
    assert resume_offer("r", "paused", True).reason == "r is still training"
    assert resume_offer("r", "something-new", True).reason == "r is something-new: nothing to resume"


def test_no_restart_is_offered_over_a_later_best_pt() -> None:
    """A run that lost its last.pt after epoch 1: R offered "starts it again from epoch 1", which
    replaces its best.pt (the engine refuses it: `check_nothing_to_lose`)."""
    offer = resume_offer("r", "stopped", False, best_epoch=4)
    assert offer.action == "" and "best.pt (epoch 4)" in offer.reason
    assert resume_offer("r", "stopped", False, best_epoch=1).action == "restart"  # killed saving its first last.pt
    assert resume_offer("r", "stopped", True, best_epoch=4).action == "resume"


def test_no_restart_is_offered_to_a_run_that_trained_on_past_epoch_1() -> None:
    """A run whose best Dice stayed at epoch 1 and that lost its last.pt after 3 epochs: R offered
    "starts it again from epoch 1" (the engine now refuses that restart: `check_nothing_to_lose`)."""
    offer = resume_offer("r", "stopped", False, best_epoch=1, epochs_done=3)
    assert offer.action == "" and "it trained 3 epochs" in offer.reason and "put last.pt back" in offer.reason
    assert resume_offer("r", "interrupted", False, best_epoch=1, epochs_done=1).action == "restart"


def _old_run(root: Path, name: str, state: str, finished: bool) -> None:
    """A run folder written by hand the way an earlier petseg wrote it: plain strings."""
    d = root / name
    d.mkdir(parents=True)
    t = time.time() - 3600
    (d / "config.json").write_text(json.dumps({"model": "unet", "epochs": 1}))
    (d / "status.json").write_text(json.dumps({"state": state, "message": "", "pid": 1, "host": "elsewhere",
                                               "heartbeat": t, "created": t, "updated": t}))
    events = [RunStarted(run=name, total_epochs=1, start_epoch=1, train_size=1, valid_size=1, device="cpu",
                         data="d", t=t)]
    if finished:
        events += [EpochEnded(epoch=1, total_epochs=1, train_loss=0.5, train_dice=0.6, valid_loss=0.5,
                              valid_dice=0.7, valid_iou=0.6, valid_dice_per_image=0.7, valid_iou_per_image=0.6,
                              lr=1e-3, seconds=1.0, images_per_s=10.0, best_dice=0.7, best_epoch=1, t=t + 1),
                   RunFinished(epochs=1, best_dice=0.7, best_epoch=1, seconds=1.0, t=t + 2)]
    (d / "events.jsonl").write_text("".join(json.dumps(event_to_dict(e)) + "\n" for e in events))


def test_old_run_folders_load_with_their_states(tmp_path: Path) -> None:
    _old_run(tmp_path, "done", "finished", finished=True)
    _old_run(tmp_path, "stopped", "stopped", finished=False)
    _old_run(tmp_path, "gone", "running", finished=False)  # no writer, no heartbeat for an hour
    runs = {r.name: r for r in RunStore(tmp_path).list_runs()}
    assert runs["done"].state is RunState.FINISHED and runs["done"].best_dice == 0.7
    assert runs["stopped"].state is RunState.STOPPED and runs["stopped"].state.is_resumable
    assert runs["gone"].state is RunState.INTERRUPTED and not runs["gone"].state.is_active
    assert json.loads(json.dumps({"state": runs["done"].state})) == {"state": "finished"}
