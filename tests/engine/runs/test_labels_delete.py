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
