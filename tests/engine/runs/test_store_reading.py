"""RunStore / EventTail reading the files the TUI reads while another process writes them: events
round-trip, a torn line held back, epochs after a resume deduplicated, a run followed as it is
written, broken, stale and unreadable runs listed for what they are, a run's duration without its
pauses, its summary figures and the resume offer."""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from pathlib import Path

import pytest

from engine.errors import RunStoreError
from engine.events import (
    BatchProgress,
    CheckpointSaved,
    EpochStarted,
    RunFinished,
    RunStarted,
    event_from_dict,
    event_to_dict,
)
from engine.runs import EventTail, RunStore, STALE_AFTER_SECONDS
from tests.engine.runs.store_events import epoch_ended, started


def test_event_round_trip() -> None:
    ev = epoch_ended(3, 0.7)
    again = event_from_dict(json.loads(json.dumps(event_to_dict(ev))))
    assert again == ev
    assert event_from_dict({"kind": "nope"}) is None
    assert event_from_dict({"kind": "epoch_ended", "epoch": 1}) is None  # missing fields


def test_event_tail_holds_back_torn_line_and_skips_garbage(tmp_path: Path) -> None:
    p = tmp_path / "events.jsonl"
    line = json.dumps(event_to_dict(epoch_ended(1, 0.5)))
    p.write_text(line + "\n" + "{not json}\n" + line[:20])
    tail = EventTail(p)
    events = tail.read_new()
    assert len(events) == 1 and tail.bad_lines == 1 and tail.torn_tail
    with open(p, "a") as fh:  # the writer completes the torn line
        fh.write(line[20:] + "\n")
    assert len(tail.read_new()) == 1 and not tail.torn_tail


def test_history_dedupes_epochs_after_resume(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    w = store.create({"model": "unet", "epochs": 4}, name="r")
    w.append(started(4))
    for e in (1, 2, 3):
        w.append(epoch_ended(e, 0.1 * e, 4))
    # crashed after epoch 3 was logged but before last.pt was written: resume restarts at 3
    w.append(started(4, start_epoch=3))
    w.append(epoch_ended(3, 0.35, 4))
    w.append(epoch_ended(4, 0.45, 4))
    w.append(RunFinished(epochs=4, best_dice=0.45, best_epoch=4, seconds=1.0))
    w.set_status("finished")
    w.close()
    h = store.load("r")
    assert [e.epoch for e in h.epoch_list] == [1, 2, 3, 4]
    assert h.epochs[3].valid_dice == pytest.approx(0.35)
    assert h.state == "finished"
    s = store.summary("r")
    assert (s.epoch, s.total_epochs, s.best_epoch) == (4, 4, 4)


def test_reading_a_run_while_it_is_written(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    w = store.create({"model": "unet", "epochs": 50}, name="live")
    w.append(started(50))
    follower = store.follow("live")
    stop = threading.Event()

    def writer() -> None:
        for e in range(1, 51):
            w.append(EpochStarted(epoch=e, total_epochs=50, batches=3))
            w.append(BatchProgress(epoch=e, batch=1, batches=3, loss=0.5, images_per_s=5.0))
            w.append(epoch_ended(e, e / 50, 50))
            time.sleep(0.001)
        stop.set()

    t = threading.Thread(target=writer)
    t.start()
    seen_counts = []
    while not stop.is_set():
        follower.poll()
        seen_counts.append(len(follower.history.epochs))
        # every epoch read so far is complete and in order
        assert list(follower.history.epochs) == list(range(1, len(follower.history.epochs) + 1))
    t.join()
    follower.poll()
    assert len(follower.history.epochs) == 50
    assert seen_counts == sorted(seen_counts)
    w.close()


def test_broken_runs_are_listed_with_reason(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    w = store.create({"model": "unet"}, name="good")
    w.close()
    bad = tmp_path / "garbage"
    bad.mkdir()
    (bad / "config.json").write_text("{oops")
    (bad / "status.json").write_text("[]")
    nostatus = tmp_path / "nostatus"
    nostatus.mkdir()
    (nostatus / "config.json").write_text("{}")
    (tmp_path / "not-a-run").mkdir()  # no run files at all: ignored
    runs = {r.name: r for r in store.list_runs()}
    assert set(runs) == {"good", "garbage", "nostatus"}
    assert runs["garbage"].state == "broken" and "config.json" in runs["garbage"].message
    assert runs["nostatus"].state == "broken" and "status.json: missing" in runs["nostatus"].message
    with pytest.raises(RunStoreError, match="not valid JSON"):
        store.load("garbage")


def test_stale_running_run_is_interrupted(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    w = store.create({"model": "unet"}, name="dead")
    w.close()
    status_path = tmp_path / "dead" / "status.json"
    status = json.loads(status_path.read_text())
    status["pid"] = 2**22 + 12345  # no such process
    status_path.write_text(json.dumps(status))
    assert store.summary("dead").state == "interrupted"
    status["pid"] = os.getpid()
    status["heartbeat"] = time.time() - STALE_AFTER_SECONDS - 5
    status["host"] = "another-host"
    status_path.write_text(json.dumps(status))
    assert store.summary("dead").state == "interrupted"
    status["heartbeat"] = time.time()
    status_path.write_text(json.dumps(status))
    assert store.summary("dead").state == "running"


def test_a_run_the_store_resolved_resolves_to_itself_under_a_relative_root(tmp_path: Path, monkeypatch) -> None:
    """``petseg train --runs ../runs --resume r`` resolved the run, then opened what it resolved,
    which the store resolved again under its root: ``../runs/../runs/r``, printed as the run's
    folder."""
    (tmp_path / "runs").mkdir()
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    store = RunStore("../runs")
    store.create({"model": "unet"}, name="r").close()
    assert store.resolve("r") == Path("../runs/r")
    assert store.resolve(store.resolve("r")) == Path("../runs/r")
    assert store.resolve("../runs/r") == Path("../runs/r")  # the folder given as a path
    writer = store.open_for_resume(store.resolve("r"))
    writer.close()
    assert writer.path == Path("../runs/r")


def test_a_run_folder_that_cannot_be_read_is_listed_as_broken_not_fatal(tmp_path: Path, unreadable,
                                                                           capsys) -> None:
    """`petseg runs` ended in "unexpected PermissionError" over one run folder whose permissions
    were taken away (mode 000): the other runs were not listed at all, and the dashboard's table
    read the same store. Now that folder is a broken run naming what could not be read, and its
    name is not given to a new run."""
    from engine.cli import main

    store = RunStore(tmp_path)
    for name in ("good", "locked"):
        store.create({"model": "unet"}, name=name).close()
    unreadable(tmp_path / "locked")
    assert main(["runs", "--runs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "\ngood " in out and "\nlocked " in out
    assert f"locked: broken: {tmp_path / 'locked'}" in out and "permission denied" in out
    with pytest.raises(RunStoreError, match="already exists"):
        store.check_new_name("locked")


def test_duration_leaves_out_pauses_and_the_gap_before_a_resume() -> None:
    from engine.events import RunPaused, RunResumed, RunStopped
    from engine.runs import RunHistory

    t0 = 1_000_000.0
    h = RunHistory(name="r")
    h.status = {"state": "stopped"}
    h.extend([
        RunStarted(run="r", total_epochs=5, start_epoch=1, train_size=9, valid_size=1, device="cpu", data="d", t=t0),
        RunPaused(epoch=1, batch=3, t=t0 + 10),
        RunResumed(epoch=1, batch=3, t=t0 + 70),  # a minute paused
        RunStopped(epoch=1, t=t0 + 100),
    ])
    assert h.duration == pytest.approx(40.0)  # 100 s of wall time, 60 of them paused
    # resumed a day later, killed without a last event: the gap and the pause stay out
    t1 = t0 + 86_400
    h.extend([
        RunStarted(run="r", total_epochs=5, start_epoch=2, train_size=9, valid_size=1, device="cpu", data="d",
                   resumed=True, t=t1),
        dataclasses.replace(epoch_ended(2, 0.6), t=t1 + 25),
    ])
    h.status = {"state": "interrupted"}
    assert h.duration == pytest.approx(40.0 + 25.0)
    assert h.paused_between(t0, t0 + 40) == pytest.approx(30.0)


def test_a_run_killed_in_its_first_epoch_counts_the_time_until_its_last_heartbeat() -> None:
    """No event after run_started (killed mid-epoch, e.g. a data-parallel run at the elastic agent's
    SIGKILL): the time is up to the process's last heartbeat, not 0 s."""
    from engine.runs import RunHistory

    t0 = 1_000_000.0
    h = RunHistory(name="r")
    h.status = {"state": "running", "pid": 999_999_999, "heartbeat": t0 + 50}
    h.extend([RunStarted(run="r", total_epochs=5, start_epoch=1, train_size=9, valid_size=1, device="cpu",
                         data="d", t=t0)])
    assert h.duration == pytest.approx(50.0)


def test_summary_figures_are_medians_and_resume_offer_follows_last_pt(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    w = store.create({"model": "unet", "epochs": 5}, name="slow-start")
    w.append(started())
    for epoch, ips in ((1, 2.0), (2, 50.0), (3, 60.0)):  # a cold first epoch
        w.append(dataclasses.replace(epoch_ended(epoch, 0.5), images_per_s=ips, seconds=100.0 / ips))
    w.set_status("stopped", "stopped by user")
    w.close()
    s = store.summary("slow-start")
    assert s.images_per_s == 50.0 and s.epoch_seconds == 2.0
    assert s.last_valid_loss == pytest.approx(1.1 / 3) and s.last_lr == 1e-3
    assert not s.has_last_checkpoint
    plan = s.resume_offer()  # 3 epochs recorded: last.pt was saved and lost since, no restart over them
    assert plan.action == "" and "lost its last.pt: it trained 3 epochs" in plan.reason
    (tmp_path / "slow-start" / "checkpoints" / "last.pt").write_bytes(b"x")
    assert store.summary("slow-start").resume_offer().action == "resume"
    from engine.runs import resume_offer

    assert resume_offer("a", "finished", True).action == ""
    assert "diverged" in resume_offer("a", "diverged", True).reason
    assert resume_offer("a", "running", True).reason == "a is still training"


def test_the_resume_offer_says_the_epochs_after_last_pt_are_trained_again(tmp_path: Path) -> None:
    """A run showing 9/30 whose last.pt holds epoch 1 (saved at most every
    --checkpoint_interval seconds): R offered to "continue from its last.pt" without a word that
    epochs 2-9 would be trained again."""
    store = RunStore(tmp_path)
    w = store.create({"model": "unet", "epochs": 30}, name="slow-saves")
    w.append(started(total=30))
    w.append(epoch_ended(1, 0.5, total=30))
    w.append(CheckpointSaved(epoch=1, which="last", path="checkpoints/last.pt", valid_dice=0.5))
    for epoch in range(2, 10):
        w.append(epoch_ended(epoch, 0.5, total=30))
    w.set_status("stopped", "stopped by user")
    w.close()
    (tmp_path / "slow-saves" / "checkpoints" / "last.pt").write_bytes(b"x")
    offer = store.summary("slow-saves").resume_offer()
    assert offer.action == "resume"
    assert offer.note == ("last.pt holds epoch 1 of the 9 the run reached: the resume goes on after epoch 1, "
                          "so epochs 2-9 are trained again")


@pytest.mark.parametrize("spent", [True, False])
def test_a_finished_time_budget_run_is_offered_what_a_resume_would_do(tmp_path: Path, spent: bool) -> None:
    """R on a finished run said "to train more epochs: petseg train --resume NAME --epochs N", which
    `petseg train --resume` refuses for a run that spent its --time_budget: it now says to start a
    new run from a copy. One that ended at its --epochs first keeps the epochs advice; a stopped
    one's resume says it trains for what is left of the budget."""
    store = RunStore(tmp_path)
    trained = 31.0 if spent else 12.0
    w = store.create({"model": "unet", "epochs": None if spent else 3, "time_budget": "30s",
                      "time_budget_result": {"epochs_reached": 3, "budget_seconds": 30.0, "trained_seconds": trained}},
                     name="tb")
    w.append(started(total=3))
    for epoch in (1, 2, 3):
        w.append(epoch_ended(epoch, 0.5, total=3))
    w.set_status("finished")
    w.close()
    (tmp_path / "tb" / "checkpoints" / "last.pt").write_bytes(b"x")
    offer = store.summary("tb").resume_offer()
    assert offer.action == ""
    if spent:
        assert offer.reason == ("tb has spent its 30s time budget; to train longer, start a new run from a copy of "
                                "its settings (N) with a longer budget")
    else:
        assert "petseg train --resume tb --epochs N" in offer.reason
    from engine.runs import resume_offer

    stopped = resume_offer("tb", "stopped", True, time_budget="30s")
    assert stopped.action == "resume" and stopped.note == "it trains for what is left of its 30s time budget"


def test_a_stopped_time_budget_run_is_offered_the_seconds_its_last_pt_leaves(tmp_path: Path) -> None:
    """The offer of a run stopped inside its --time_budget said "what is left of its 90s time
    budget" with no figure: it now says the seconds left after the training seconds the newest
    last.pt holds (its CheckpointSaved says them), in the duration words the dashboard uses. A
    last.pt that holds the whole budget is not offered (the resume refuses it)."""
    from engine.events import CheckpointSaved

    store = RunStore(tmp_path)
    for name, held in (("tb", 47.2), ("tb-long", 3.0), ("tb-spent", 90.4)):
        w = store.create({"model": "unet", "epochs": 50, "time_budget": "90s" if name != "tb-long" else "2h"},
                         name=name)
        w.append(started(total=50))
        w.append(epoch_ended(1, 0.5, total=50))
        w.append(CheckpointSaved(epoch=1, which="last", path="checkpoints/last.pt", valid_dice=0.5,
                                 trained_seconds=held))
        w.set_status("stopped")
        w.close()
        (tmp_path / name / "checkpoints" / "last.pt").write_bytes(b"x")
    offer = store.summary("tb").resume_offer()
    assert offer.action == "resume" and offer.note == "it trains for the 43s left of its 90s time budget"
    assert store.summary("tb-long").resume_offer().note == "it trains for the 1h59m left of its 2h time budget"
    spent = store.summary("tb-spent").resume_offer()
    assert spent.action == "" and spent.reason.startswith("tb-spent has spent its 90s time budget")


def test_a_followed_run_reads_the_config_its_setup_rewrote(tmp_path: Path) -> None:
    """A run rewrites config.json once its setup resolved what it trains with (a data-parallel
    run's processes, its precision): a dashboard open since the run was made kept the first
    config.json, and showed `unet` where a fresh start showed `unet x2`."""
    store = RunStore(tmp_path)
    w = store.create({"model": "unet", "epochs": 5}, name="ddp")
    follower = store.follow("ddp")
    follower.poll()
    assert follower.summary().model_label == "unet"
    w.write_config({"model": "unet", "epochs": 5, "amp_resolved": "bfloat16", "distributed": {"world_size": 2}})
    w.append(started(5))
    follower.poll()
    assert follower.summary().model_label == "unet x2"
    assert follower.history.config["amp_resolved"] == "bfloat16"
    w.close()


def test_a_run_killed_mid_epoch_lists_the_duration_its_own_screen_shows(tmp_path: Path) -> None:
    """Killed (SIGKILL) in its third epoch, a run read 22s in the runs table and `petseg runs` but
    'elapsed 25s' on its live screen: a listing skips batch lines, so its time ended at the last
    heartbeat, 3 s before the last batch the process wrote. The listing counts that batch too."""
    t0 = time.time() - 600
    store = RunStore(tmp_path)
    w = store.create({"model": "unet", "epochs": 30}, name="killed")
    w.append(dataclasses.replace(started(30), t=t0))
    w.append(dataclasses.replace(epoch_ended(1, 0.5, total=30), t=t0 + 10))
    w.append(EpochStarted(epoch=2, total_epochs=30, batches=4, t=t0 + 10))
    for batch in (1, 2, 3):
        w.append(BatchProgress(epoch=2, batch=batch, batches=4, loss=1.0, images_per_s=8.0, t=t0 + 10 + 4 * batch))
    w.close()
    status_path = tmp_path / "killed" / "status.json"
    status = json.loads(status_path.read_text())
    status.update(state="running", pid=2**22 + 12345, heartbeat=t0 + 19)  # no such process; beat 3 s before
    status_path.write_text(json.dumps(status))
    listed = {r.name: r for r in store.list_runs()}["killed"]
    assert listed.state == "interrupted"
    assert store.load("killed").duration == pytest.approx(22.0, abs=0.01)
    assert listed.duration == pytest.approx(22.0, abs=0.01)
    assert store.summary("killed").duration == pytest.approx(22.0, abs=0.01)
