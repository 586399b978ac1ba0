"""The run folder's files that were still read or written with a plain open() (an audit of every
read after labels.json and export.json): control.json, train.log, events.jsonl as a resume
appends to it, error.log, and the checkpoints a resume loads. Each now goes through the run store's one
opener (`engine.runs.layout.open_run_file`): a FIFO is never waited on, a symlink out of the run
is neither read nor written through, and what is wrong is one line naming the file. Every FIFO
read runs `within` a time-out, so that the old code fails instead of hanging the suite."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from engine.errors import CheckpointError, RunStoreError
from engine.runs import RunStore, checkpoint_for, read_control
from engine.runs.layout import CONTROL_FILE, EVENTS_FILE, LOG_FILE, open_run_file
from tests.hostile_runs import within


def _planted(tmp_path: Path, name: str, how: str, text: str = "kept\n") -> tuple[Path, Path]:
    """A run folder ``how`` (fifo, link) with ``name`` planted in it; and the file a link leads to."""
    run = tmp_path / how
    run.mkdir(exist_ok=True)
    elsewhere = tmp_path / f"elsewhere-{how}-{Path(name).name}"
    elsewhere.write_text(text)
    path = run / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if how == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to(elsewhere)
    return run, elsewhere


def test_appending_opens_only_a_regular_file_of_the_run(tmp_path: Path) -> None:
    run, elsewhere = _planted(tmp_path, "a.log", "link")
    _planted(tmp_path, "a.log", "fifo")
    with open_run_file(run / "new.log", mode="ab") as fh:  # made when missing
        fh.write(b"x\n")
    assert (run / "new.log").read_bytes() == b"x\n"
    with pytest.raises(RunStoreError, match="a.log: is a named pipe \\(FIFO\\), not a file; not written$"):
        within(5, open_run_file, tmp_path / "fifo" / "a.log", None, "ab")
    with pytest.raises(RunStoreError, match="leads outside the run folder .*; not written$"):
        open_run_file(run / "a.log", mode="ab")
    with pytest.raises(RunStoreError, match="leads outside the run folder"):  # not there yet, but outside
        open_run_file(run / ".." / "made-outside.log", run, mode="ab")
    (run / "dir.log").mkdir()
    with pytest.raises(RunStoreError, match="dir.log: is a folder, not a file; not written$"):
        open_run_file(run / "dir.log", mode="a+b")
    assert elsewhere.read_text() == "kept\n" and not (tmp_path / "made-outside.log").exists()


def test_a_control_file_that_is_a_fifo_or_leads_out_is_no_request(tmp_path: Path) -> None:
    """control.json was read with a plain read_text each few batches: a FIFO there hung the run
    being trained (and `petseg stop`, and the dashboard's x and p) for ever, and a symlink out of
    the run was obeyed. Neither is a request now (the next request written replaces it)."""
    fifo, _ = _planted(tmp_path, CONTROL_FILE, "fifo")
    link, _ = _planted(tmp_path, CONTROL_FILE, "link", json.dumps({"action": "stop"}))
    assert within(5, read_control, fifo) is None
    assert read_control(link) is None
    (tmp_path / "zero").mkdir()
    (tmp_path / "zero" / CONTROL_FILE).symlink_to("/dev/zero")  # read whole: gigabytes, then MemoryError
    assert within(5, read_control, tmp_path / "zero") is None


def test_the_console_log_never_waits_on_a_fifo_nor_writes_through_a_link(tmp_path: Path) -> None:
    """A run's train.log was opened with a plain open(path, "a"): a FIFO there hung a resume at its
    first console line for ever, and a symlink out of the run was appended to. The line is lost,
    the run goes on, and the terminal is told once, naming the file."""
    from engine.console_log import CapturedConsole

    said: list[str] = []

    class Terminal:
        def print(self, text: object = "", **_kw: object) -> None:
            said.append(str(text))

    fifo, _ = _planted(tmp_path, LOG_FILE, "fifo")
    console = CapturedConsole(Terminal())
    within(5, console.attach, fifo)
    within(5, console.print, "epoch 1")
    console.print("epoch 2")
    assert said == ["epoch 1", f"warning: {fifo / LOG_FILE}: is a named pipe (FIFO), not a file; not written; "
                    "this run's console is not kept there", "epoch 2"]
    link, elsewhere = _planted(tmp_path, LOG_FILE, "link")
    said.clear()
    CapturedConsole(Terminal()).attach(link).print("epoch 1")
    assert elsewhere.read_text() == "kept\n"
    assert said[1].startswith(f"warning: {link / LOG_FILE}: leads outside the run folder")


@pytest.fixture
def stopped_run(tmp_path: Path) -> Path:
    w = RunStore(tmp_path / "runs").create({"model": "unet", "epochs": 2}, "r")
    w.set_status("stopped", "stopped by user")
    w.close()
    return tmp_path / "runs" / "r"


@pytest.mark.parametrize("how", ["fifo", "link"])
def test_a_resume_refuses_an_events_file_that_is_a_fifo_or_leads_out(stopped_run: Path, how: str) -> None:
    """A resume appended to events.jsonl as it found it: through a symlink out of the run (the run's
    events went into that file), or into a FIFO ("File or stream is not seekable"). The resume is
    refused in one line naming the file, nothing written, the run free for the next writer."""
    from engine.runs import writer_lock_state

    elsewhere = stopped_run.parent.parent / "elsewhere.jsonl"
    elsewhere.write_text("kept\n")
    (stopped_run / EVENTS_FILE).unlink()
    if how == "fifo":
        os.mkfifo(stopped_run / EVENTS_FILE)
    else:
        (stopped_run / EVENTS_FILE).symlink_to(elsewhere)
    why = "is a named pipe \\(FIFO\\), not a file" if how == "fifo" else "leads outside the run folder"
    with pytest.raises(RunStoreError, match=f"events.jsonl: {why}.*; not written$"):
        within(10, RunStore(stopped_run.parent).open_for_resume, "r")
    assert elsewhere.read_text() == "kept\n"
    assert writer_lock_state(stopped_run) is False


@pytest.fixture
def run_copy(finished_tiny_run: Path, tmp_path: Path) -> Path:
    run = tmp_path / "runs" / "r"
    shutil.copytree(finished_tiny_run, run, symlinks=True)
    return run


def test_a_best_pt_that_is_no_file_is_said_not_passed_over(run_copy: Path) -> None:
    """A FIFO or a folder where best.pt should be was passed over for last.pt with "no best.pt yet":
    eval, infer and export then used the last epoch's weights under a false note."""
    best = run_copy / "checkpoints" / "best.pt"
    best.unlink()
    os.mkfifo(best)
    with pytest.raises(CheckpointError, match="best.pt: is a named pipe \\(FIFO\\), not a checkpoint file$"):
        within(5, checkpoint_for, run_copy)


def test_a_resume_never_loads_a_last_pt_out_of_the_run(run_copy: Path) -> None:
    """The resume loaded checkpoints/last.pt wherever its symlink led (another run's weights and
    optimiser state, resumed as this run's); a FIFO there was "empty file (0 bytes)"."""
    from engine.checkpoint import load_checkpoint
    from engine.train.resume import plan_for_run

    last = run_copy / "checkpoints" / "last.pt"
    elsewhere = run_copy.parent.parent / "other-last.pt"
    shutil.move(last, elsewhere)
    last.symlink_to(elsewhere)
    with pytest.raises(CheckpointError, match="last.pt: leads outside the run folder \\(a symlink\\); not loaded. To "
                                              "keep a run on another disk, move the whole run folder and link that"):
        plan_for_run(run_copy, {"epochs": 3})
    # what the line advises does resume: the run folder moved to another disk, linked from the runs folder
    last.unlink()
    shutil.move(elsewhere, last)
    other_disk = run_copy.parent.parent / "other-disk"
    other_disk.mkdir()
    shutil.move(run_copy, other_disk / run_copy.name)
    run_copy.symlink_to(other_disk / run_copy.name)
    plan = plan_for_run(run_copy, {"epochs": 3})
    assert plan.checkpoint_path == last and plan.done_epochs >= 1
    last.unlink()
    os.mkfifo(last)
    with pytest.raises(CheckpointError, match="last.pt: is a named pipe \\(FIFO\\), not a checkpoint file$"):
        within(5, load_checkpoint, last)


@pytest.mark.parametrize("how", ["fifo", "link"])
def test_a_failing_run_records_its_traceback_in_its_own_error_log(tmp_path: Path, how: str) -> None:
    """A run that failed on an unexpected error wrote error.log with a plain write_text: a FIFO
    there hung the failing run for good (never recorded as failed), a symlink out of the run was
    truncated and overwritten with the traceback. The traceback replaces whatever was there."""
    from engine.runs.layout import ERROR_LOG
    from engine.train.outcome import failed

    run, elsewhere = _planted(tmp_path, ERROR_LOG, how)
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        outcome = within(5, failed, exc, run)
    assert outcome.message == f"RuntimeError: boom (traceback in {run / ERROR_LOG})"
    assert "RuntimeError: boom" in (run / ERROR_LOG).read_text() and not (run / ERROR_LOG).is_symlink()
    assert elsewhere.read_text() == "kept\n"
