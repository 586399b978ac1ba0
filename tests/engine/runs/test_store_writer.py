"""RunStore / RunWriter writing a run folder: config, status and events made (a folder a killed
writer left reused, a taken name refused), a torn tail repaired and dead writers' temp files
removed on reopen, and a full disk or quota (when the run is made, while it trains, at its end,
reported only by fsync) named in one line with how the run ended still recorded."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engine.errors import RunStoreError
from engine.runs import RunStore, read_events
from tests.engine.runs.store_events import epoch_ended, started
from tests.file_proxy import FileProxy


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

    real_open = engine.runs.writer.open_run_file

    class Events(FileProxy):
        def __init__(self, path: Path, run_path: Path, mode: str) -> None:
            super().__init__(real_open(path, run_path, mode))

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

    monkeypatch.setattr(engine.runs.writer, "open_run_file", Events)
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
