"""RunStore / RunWriter / EventTail: the files the TUI reads while another process writes."""

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
    EpochEnded,
    EpochStarted,
    RunFinished,
    RunStarted,
    event_from_dict,
    event_to_dict,
)
from engine.runs import (
    ControlAnswer,
    EventTail,
    RunStore,
    STALE_AFTER_SECONDS,
    clear_control,
    read_control,
    read_events,
    request_control,
)


def epoch_ended(epoch: int, dice: float, total: int = 5) -> EpochEnded:
    return EpochEnded(
        epoch=epoch, total_epochs=total, train_loss=1.0 / epoch, train_dice=dice, valid_loss=1.1 / epoch,
        valid_dice=dice, valid_iou=dice * 0.8, valid_dice_per_image=dice, valid_iou_per_image=dice * 0.8,
        lr=1e-3, seconds=1.0, images_per_s=10.0 * epoch, best_dice=dice, best_epoch=epoch,
    )


def started(total: int = 5, start_epoch: int = 1) -> RunStarted:
    return RunStarted(run="r", total_epochs=total, start_epoch=start_epoch, train_size=9, valid_size=1,
                      device="cpu", data="generated")


def test_event_round_trip() -> None:
    ev = epoch_ended(3, 0.7)
    again = event_from_dict(json.loads(json.dumps(event_to_dict(ev))))
    assert again == ev
    assert event_from_dict({"kind": "nope"}) is None
    assert event_from_dict({"kind": "epoch_ended", "epoch": 1}) is None  # missing fields


def test_create_writes_config_status_and_events(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    w = store.create({"model": "unet", "epochs": 5}, name="a")
    w.append(started())
    w.append(epoch_ended(1, 0.5))
    w.close()
    run = tmp_path / "a"
    assert json.loads((run / "config.json").read_text())["model"] == "unet"
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "running" and status["pid"] == os.getpid()
    assert [e.kind for e in read_events(run / "events.jsonl")] == ["run_started", "epoch_ended"]
    with pytest.raises(RunStoreError, match="already exists"):
        store.create({"model": "unet"}, name="a")


class _FullDisk:
    """A file on a full disk: its bytes are taken, and lost when flushed (ENOSPC, no file named)."""

    def __init__(self, path: Path, mode: str) -> None:
        self._fh = open(path, mode)  # noqa: SIM115 (closed by __exit__)

    def write(self, data: bytes) -> int:
        return len(data)

    def flush(self) -> None:
        raise OSError(28, "No space left on device")

    def fileno(self) -> int:
        return self._fh.fileno()

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()


def test_a_full_disk_when_a_run_is_made_names_the_file_and_leaves_no_folder(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """petseg train (and petseg sweep) on a full runs folder said "unexpected OSError: [Errno 28]
    No space left on device", naming no file, and left a run folder without config.json that
    every runs table then listed as broken."""
    import engine.atomic
    from engine.errors import one_line

    monkeypatch.setattr(engine.atomic, "open", _FullDisk, raising=False)
    with pytest.raises(OSError) as exc:
        RunStore(tmp_path).create({"model": "unet"}, name="a")
    assert one_line(exc.value) == (f"{tmp_path / 'a' / 'config.json'}: no space left on the device; "
                                   "free some space and try again")
    assert list(tmp_path.iterdir()) == []


def test_a_disk_that_fills_while_a_run_trains_is_warned_once_and_the_run_still_closes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A runs folder that filled up mid-run: petseg train printed "could not append to
    events.jsonl" for every batch, then a traceback from closing the run (its last flush), and
    the writer lock stayed held until the process died."""
    import engine.runs.writer
    from engine.runs import writer_lock_state
    from engine.train.emitter import EventEmitter

    disk = {"full": False}

    class Events:
        def __init__(self, path: Path, mode: str) -> None:
            self._fh = open(path, mode)  # noqa: SIM115 (closed by close)

        def write(self, data: bytes) -> int:
            return self._fh.write(data) if not disk["full"] else len(data)

        def flush(self) -> None:
            if disk["full"]:
                raise OSError(28, "No space left on device")
            self._fh.flush()

        def close(self) -> None:
            try:
                self.flush()
            finally:
                self._fh.close()

        def __getattr__(self, name: str):
            return getattr(self._fh, name)

    monkeypatch.setattr(engine.runs.writer, "open", Events, raising=False)
    w = RunStore(tmp_path).create({"model": "unet"}, name="a")
    said: list[str] = []
    emitter = EventEmitter(w, said.append)
    emitter.emit(started())
    disk["full"] = True
    for epoch in range(1, 31):
        emitter.emit(epoch_ended(epoch, 0.5))
    assert said == [f"warning: could not append to {w.events_path}: [Errno 28] No space left on device; "
                    "its events are not recorded until it can be written again"]
    disk["full"] = False
    emitter.emit(epoch_ended(31, 0.5))
    assert said[1:] == [f"{w.events_path} written again (30 events were not recorded)"]
    disk["full"] = True
    emitter.emit(epoch_ended(32, 0.5))
    w.close()  # no traceback
    assert writer_lock_state(tmp_path / "a") is False  # the run is free for a resume


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


def test_writer_repairs_torn_tail_on_reopen(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    w = store.create({"model": "unet"}, name="r")
    w.append(started())
    w.close()
    ev_path = tmp_path / "r" / "events.jsonl"
    with open(ev_path, "a") as fh:
        fh.write('{"kind": "epoch_ended", "epo')  # SIGKILL mid-append
    w2 = store.open_for_resume("r")
    w2.append(epoch_ended(1, 0.4))
    w2.close()
    kinds = [e.kind for e in read_events(ev_path)]
    assert kinds == ["run_started", "epoch_ended"]


def test_writer_removes_temp_files_of_dead_writers_only(tmp_path: Path) -> None:
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)  # exited: its temp files are debris
    run = tmp_path / "r"
    (run / "checkpoints").mkdir(parents=True)
    debris = [run / f".status.json.{dead_pid}.140052845898624.tmp", run / "checkpoints" / f".last.pt.{dead_pid}.tmp"]
    live = run / "checkpoints" / f".best.pt.{os.getpid()}.tmp"  # a write in progress: left alone
    for p in (*debris, live):
        p.write_bytes(b"partial")
    RunStore(tmp_path).open_for_resume("r").close()
    assert not any(p.exists() for p in debris) and live.exists()


def test_create_reuses_a_folder_left_by_a_writer_killed_before_its_config(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "events.jsonl").write_bytes(b"")  # all that such a writer leaves
    store.create({"model": "unet"}, name="x").close()
    assert json.loads((tmp_path / "x" / "config.json").read_text())["model"] == "unet"
    with pytest.raises(RunStoreError, match="already exists"):
        store.create({"model": "unet"}, name="x")


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


@pytest.mark.parametrize("full", ["ENOSPC", "EDQUOT"])
def test_a_full_disk_or_quota_still_records_how_the_run_ended(tmp_path: Path, monkeypatch, full: str) -> None:
    """On a shared GPU box the disk is often 'full' through the user's quota (EDQUOT, "Disk quota
    exceeded"): the writer's reserve counts against that quota too, and must be given back for
    the run's failed status as for ENOSPC (the run read as interrupted with no reason)."""
    import errno

    from engine.runs import writer as writer_mod
    from engine.runs.layout import RESERVE_FILE

    w = RunStore(tmp_path).create({"model": "unet", "epochs": 2}, "q")
    reserve = tmp_path / "q" / RESERVE_FILE
    assert reserve.is_file()
    real = writer_mod.write_json_atomic

    def no_room_while_the_reserve_holds_it(path, data):
        if reserve.exists():
            code = getattr(errno, full)
            raise OSError(code, os.strerror(code), str(path))
        return real(path, data)

    monkeypatch.setattr(writer_mod, "write_json_atomic", no_room_while_the_reserve_holds_it)
    w.set_status("failed", "checkpoints/last.pt: disk quota exceeded")
    w.close()
    summary = RunStore(tmp_path).summary("q")
    assert (summary.state, summary.message) == ("failed", "checkpoints/last.pt: disk quota exceeded")


def test_a_full_disk_reported_only_by_fsync_still_records_the_runs_last_event(tmp_path: Path, monkeypatch) -> None:
    """On NFS a full disk is often reported only when the data is synced (os.fsync), not at the
    write: the run's failed event was then lost while status.json said failed, so the log and
    the charts ended without the reason. The reserve is given back for that case too."""
    import errno

    from engine.events import RunFailed
    from engine.runs.layout import RESERVE_FILE

    w = RunStore(tmp_path).create({"model": "unet", "epochs": 2}, "n")
    w.append(started())
    reserve = tmp_path / "n" / RESERVE_FILE
    real_fsync = os.fsync

    def no_room_while_the_reserve_holds_it(fd: int) -> None:
        if reserve.exists():
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", no_room_while_the_reserve_holds_it)
    with pytest.raises(OSError):  # an ordinary event is not worth the reserve
        w.append(epoch_ended(1, 0.5), sync=True)
    assert reserve.exists()
    w.append(RunFailed(message="checkpoints/last.pt: no space left on the device"), sync=True)
    w.set_status("failed", "checkpoints/last.pt: no space left on the device")
    w.close()
    assert [e.kind for e in read_events(tmp_path / "n" / "events.jsonl")] == ["run_started", "epoch_ended",
                                                                              "failed"]
    assert not reserve.exists()


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
    assert offer.note == ("last.pt holds epoch 1 of the 9 the run reached: the resume goes on from epoch 1, "
                          "so epochs 2-9 are trained again")
