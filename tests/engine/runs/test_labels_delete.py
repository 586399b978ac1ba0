"""Labels (tags, note, archived) in the run folder, and deleting a run: refused while it trains,
hidden by one rename before it is removed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.config import TrainConfig
from engine.errors import RunStoreError
from engine.events import RunStarted
from engine.runs import (
    LABELS_FILE,
    NO_LABELS,
    RunLabels,
    RunStore,
    delete_run,
    parse_tags,
    read_labels,
    sweep_deleting,
    why_not_delete,
    write_labels,
)


def _finished(root: Path, name: str) -> Path:
    w = RunStore(root).create(TrainConfig(epochs=1).to_dict(), name)
    w.append(RunStarted(run=name, total_epochs=1, start_epoch=1, train_size=2, valid_size=1, device="cpu", data="test", t=1.0))
    w.set_status("finished", "done")
    w.close()
    return root / name


def test_labels_round_trip_and_missing_or_garbage_read_as_none(tmp_path: Path) -> None:
    run = _finished(tmp_path, "a")
    assert read_labels(run) == NO_LABELS
    labels = RunLabels(tags=("best", "lr"), note="good one", archived=True)
    write_labels(run, labels)
    assert read_labels(run) == labels
    assert [p.name for p in run.iterdir() if p.name.endswith(".tmp")] == []
    (run / LABELS_FILE).write_text("[not, json")
    assert read_labels(run) == NO_LABELS


def test_parse_tags() -> None:
    assert parse_tags(" best, lr-test  best baseline ") == ("best", "lr-test", "baseline")
    assert parse_tags("") == ()


def test_delete_removes_the_folder_and_leaves_nothing_listed(tmp_path: Path) -> None:
    run = _finished(tmp_path, "gone")
    keep = _finished(tmp_path, "kept")
    assert why_not_delete(run) == ""
    delete_run(run)
    assert not run.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["kept"]
    assert [p.name for p in RunStore(tmp_path).run_dirs()] == [keep.name]


def test_delete_refuses_a_run_that_trains(tmp_path: Path) -> None:
    w = RunStore(tmp_path).create(TrainConfig(epochs=1).to_dict(), "live")
    w.set_status("running", "")
    try:
        reason = why_not_delete(tmp_path / "live")
        assert "running" in reason and "stop it first" in reason
        with pytest.raises(RunStoreError, match="stop it first"):
            delete_run(tmp_path / "live")
        assert (tmp_path / "live" / "config.json").is_file()
    finally:
        w.close()


def test_delete_refuses_what_is_not_a_run(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    with pytest.raises(RunStoreError, match="not a run folder"):
        delete_run(tmp_path / "photos")
    assert (tmp_path / "photos").is_dir()


def test_a_delete_cut_short_is_hidden_and_swept(tmp_path: Path) -> None:
    run = _finished(tmp_path, "half")
    dead_pid = 2**22 + 12345  # above Linux's default pid_max: never alive
    hidden = tmp_path / f".half.deleting-{dead_pid}"
    os.rename(run, hidden)  # what a delete killed after its rename leaves
    assert RunStore(tmp_path).run_dirs() == []  # not listed as a run
    assert sweep_deleting(tmp_path) == [hidden]
    assert not hidden.exists()


def test_a_hidden_link_an_older_delete_left_is_swept_without_touching_its_folder(tmp_path: Path) -> None:
    """An older petseg's D renamed a run linked into the runs folder (runs/r -> /disk/r) to a
    hidden .r.deleting-PID link; the sweep passed over it (not a folder when dangling, refused by
    rmtree when not), so it stayed for good. The link goes; the folder it leads to is the user's."""
    runs, disk = tmp_path / "runs", tmp_path / "disk"
    runs.mkdir()
    outside = _finished(disk, "r")
    dead_pid = 2**22 + 12345  # above Linux's default pid_max: never alive
    linked = runs / f".r.deleting-{dead_pid}"
    linked.symlink_to(outside, target_is_directory=True)
    dangling = runs / f".gone.deleting-{dead_pid}"
    dangling.symlink_to(disk / "gone", target_is_directory=True)
    alive = runs / f".kept.deleting-{os.getpid()}"  # a delete still at work: left to it
    alive.symlink_to(outside, target_is_directory=True)

    assert sorted(sweep_deleting(runs)) == sorted([linked, dangling])
    assert not linked.is_symlink() and not dangling.is_symlink()
    assert alive.is_symlink()
    assert (outside / "config.json").is_file() and (outside / "events.jsonl").is_file()  # nothing deleted through it
    assert RunStore(disk).run_dirs() == [outside]


def test_a_run_being_deleted_never_reads_as_running_in_another_reader(tmp_path: Path, monkeypatch) -> None:
    """Two dashboards on one runs folder: one deletes a finished run (its lock taken, then the
    rename); the other polls at exactly that moment and must still see "finished", never "running"."""
    import engine.runs.delete as delete_module

    run = _finished(tmp_path, "done")
    follower = RunStore(tmp_path).follow("done")  # the other dashboard, already following the run
    follower.poll()
    seen: list[str] = []
    real_rename = os.rename

    def rename_after_a_poll(src, dst):  # the moment between the delete's lock and its rename
        follower.poll()
        seen.append(str(follower.snapshot().state))
        seen.append(str(RunStore(tmp_path).summary(run).state))
        real_rename(src, dst)

    monkeypatch.setattr(delete_module.os, "rename", rename_after_a_poll)
    delete_run(run)
    assert seen == ["finished", "finished"]
    assert not run.exists()


def _run_with(root: Path, name: str, epochs: int, lr: float, t0: float) -> Path:
    from engine.events import EpochEnded, RunFinished

    w = RunStore(root).create(TrainConfig(epochs=epochs, learning_rate=lr).to_dict(), name)
    w.append(RunStarted(run=name, total_epochs=epochs, start_epoch=1, train_size=2, valid_size=1, device="cpu",
                        data="test", t=t0))
    for ep in range(1, epochs + 1):
        w.append(EpochEnded(epoch=ep, total_epochs=epochs, train_loss=0.5, train_dice=0.5, valid_loss=0.5,
                            valid_dice=0.1 * ep, valid_iou=0.1, valid_dice_per_image=0.1, valid_iou_per_image=0.1,
                            lr=lr, seconds=10.0, images_per_s=1.0, best_dice=0.1 * ep, best_epoch=ep,
                            t=t0 + 10 * ep))
    w.append(RunFinished(epochs=epochs, best_dice=0.1 * epochs, best_epoch=epochs, seconds=10.0 * epochs,
                         t=t0 + 10 * epochs))
    w.set_status("finished", "done")
    w.close()
    return root / name


@pytest.mark.parametrize("old_epochs, new_epochs, same_inode", [(6, 2, False), (2, 6, False), (6, 2, True)],
                         ids=["smaller-log", "larger-log", "inode-reused"])
def test_a_run_deleted_and_made_again_under_its_name_is_read_as_the_new_run(
        tmp_path: Path, old_epochs: int, new_epochs: int, same_inode: bool) -> None:
    """Another dashboard (or a shell) deletes a run and a new run takes its name: a follower of
    that name (a live screen, a runs-table row) kept the old run's config.json and history, and
    read the new events.jsonl from the old one's offset (its start skipped when it was longer).
    ext4 gives a folder made just after one is removed the same inode: ``same_inode``."""
    import shutil

    run = _run_with(tmp_path, "x", old_epochs, 1e-3, t0=1000.0)
    follower = RunStore(tmp_path).follow("x")
    follower.poll()
    assert follower.snapshot().config["learning_rate"] == 1e-3
    if same_inode:
        for p in run.iterdir():
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    else:
        delete_run(run)
    _run_with(tmp_path, "x", new_epochs, 3e-4, t0=5000.0)
    follower.poll()
    snap = follower.snapshot()
    assert snap.config["learning_rate"] == 3e-4
    assert [e.epoch for e in snap.epochs] == list(range(1, new_epochs + 1))
    assert snap.started == 5000.0 and snap.duration == 10.0 * new_epochs
    assert str(snap.state) == "finished" and follower.error is None


def test_two_dashboards_labelling_a_run_at_the_same_moment_both_keep_their_change(tmp_path: Path,
                                                                                  monkeypatch) -> None:
    """A archives a run while B's tag lands at that very moment (between A's read of labels.json
    and its write): A's write put the labels back as it had read them, and B's tag was lost."""
    import threading

    from engine.runs import change_labels, labels

    run = _finished(tmp_path, "r")
    real_write = labels.write_json_atomic
    other = threading.Thread(target=change_labels, args=(run, NO_LABELS, NO_LABELS.with_(tags=("best",))))

    def write_while_the_other_labels(path, data):  # the other dashboard writes between this read and write
        if other.ident is None:
            other.start()
            other.join(0.5)
        real_write(path, data)

    monkeypatch.setattr(labels, "write_json_atomic", write_while_the_other_labels)
    change_labels(run, NO_LABELS, NO_LABELS.with_(archived=True))
    other.join(10)
    assert read_labels(run) == RunLabels(tags=("best",), archived=True)


def test_a_label_change_goes_on_when_another_process_keeps_the_folder_locked(tmp_path: Path) -> None:
    """A `petseg export` stopped with Ctrl-Z while it recorded its entry keeps the run folder's
    lock: the dashboard's label change (on its UI thread) waited for it without end. It waits a
    moment, then writes as it did before folders were locked."""
    import fcntl
    import os
    import threading

    from engine.runs import change_labels

    run = _finished(tmp_path, "r")
    held = os.open(run, os.O_RDONLY | os.O_DIRECTORY)  # another open file: as another process's lock
    fcntl.flock(held, fcntl.LOCK_EX)
    try:
        changing = threading.Thread(target=change_labels, args=(run, NO_LABELS, NO_LABELS.with_(archived=True)),
                                    daemon=True)
        changing.start()
        changing.join(15)
        assert not changing.is_alive(), "the label change waited on the stopped holder"
    finally:
        os.close(held)
    assert read_labels(run).archived


def test_a_run_deleted_while_the_runs_are_listed_is_left_out_not_listed_broken(tmp_path: Path,
                                                                               monkeypatch) -> None:
    """`petseg runs` listed the folders, then a dashboard deleted one of them before its files
    were read: it was printed as "broken: config.json: missing"."""
    from engine.runs import store as store_module

    _finished(tmp_path, "kept")
    gone = _finished(tmp_path, "gone")
    real_follower = store_module.RunFollower

    def delete_then_follow(path, *args, **kwargs):  # the delete lands between the listing and the read
        if Path(path) == gone:
            delete_run(gone)
        return real_follower(path, *args, **kwargs)

    monkeypatch.setattr(store_module, "RunFollower", delete_then_follow)
    assert [(s.name, str(s.state)) for s in RunStore(tmp_path).list_runs()] == [("kept", "finished")]


def test_a_resume_waiting_on_a_deletes_lock_does_not_bring_the_run_back(tmp_path: Path, monkeypatch) -> None:
    """R in one dashboard while D in another holds the run's lock: the resume, already waiting on
    the lock file, got the lock once the delete had renamed the folder away, then made a folder
    under the deleted run's name again (checkpoints/, events.jsonl: a "broken" run in the list).
    It is refused instead, saying the run was deleted, and nothing is left behind."""
    import fcntl
    import threading

    import engine.runs.delete as delete_module
    import engine.runs.lock as lock_module

    run = _finished(tmp_path, "done")
    waiting = threading.Event()
    real_flock = fcntl.flock

    def flock(fd, op):
        try:
            real_flock(fd, op)
        except OSError:
            if op & fcntl.LOCK_EX:
                waiting.set()  # the resume has its lock file open and waits on the delete's lock
            raise

    outcome: list = []

    def resume() -> None:
        try:
            outcome.append(RunStore(tmp_path).open_for_resume("done"))
        except RunStoreError as exc:
            outcome.append(exc)

    real_rename = os.rename
    resumer = threading.Thread(target=resume)

    def rename_once_the_resume_waits(src, dst):
        resumer.start()
        assert waiting.wait(10)
        real_rename(src, dst)

    monkeypatch.setattr(lock_module.fcntl, "flock", flock)
    monkeypatch.setattr(delete_module.os, "rename", rename_once_the_resume_waits)
    delete_run(run)
    resumer.join(10)
    if not isinstance(outcome[0], RunStoreError):
        outcome[0].close()
    assert isinstance(outcome[0], RunStoreError) and "was deleted" in str(outcome[0])
    assert not run.exists() and list(tmp_path.iterdir()) == []


def test_a_delete_while_another_delete_holds_the_run_does_not_say_it_trains(tmp_path: Path) -> None:
    """D in two dashboards at once: the second is refused by the first's lock, and says the run
    is being deleted, not "is training … stop it first" (there is nothing to stop)."""
    from engine.runs import RunLock
    from engine.runs.lock import DELETING

    run = _finished(tmp_path, "done")
    first = RunLock.acquire(run, wait=0.0, purpose=DELETING)
    try:
        with pytest.raises(RunStoreError) as refused:
            delete_run(run)
    finally:
        first.release()
    assert "is already being deleted (pid " in str(refused.value) and "training" not in str(refused.value)
