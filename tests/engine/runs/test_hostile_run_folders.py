"""Run folders are untrusted input (issue 21, group 4), tested as a class: every file a run
folder has (engine.runs.layout.run_files and the previews) in every hostile variant (tests/
hostile_runs.py: missing, empty, garbage, a folder, a FIFO, a symlink out of the folder,
/dev/zero, 64 MiB, JSON of the wrong shape, missing fields, nesting 200 000 deep, a recorded
name with ``..``). For each: the listing neither hangs nor crashes nor loses the other runs,
the good run reads as before, the damaged run is listed (as broken with a reason naming the
file when the listing depends on that file), and nothing outside the folder is read."""

from __future__ import annotations

import json
import shutil
import os
from pathlib import Path

import pytest

from engine.cli import main
from engine.errors import PetsegError
from engine.runs import RunStore, checkpoint_for
from engine.runs.layout import CONFIG_FILE, EVENTS_FILE, STATUS_FILE
from engine.train.previews import read_previews
from tests.hostile_runs import hostile_runs, within

# files whose damage the listing must report (it reads them); damage to the others may leave
# the run listed as it was
LISTED_FROM = {CONFIG_FILE, STATUS_FILE}
# events.jsonl: missing or empty is a run that has not logged yet, and lines that are not JSON
# objects are skipped and counted (a torn write after a crash; docs/RELIABILITY.md, round two);
# "huge" (64 MiB of zeros) is past what is read of a file that is not events: reported
EVENTS_SKIPPED = {"missing", "empty", "garbage", "wrong-shape", "deep"}


@pytest.fixture(scope="module")
def hostile(finished_tiny_run: Path, tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("hostile")
    root = base / "runs"
    made = hostile_runs(finished_tiny_run, root, base / "outside")
    shutil.copytree(finished_tiny_run, root / "good", symlinks=True)
    return root, made


def test_every_variant_lists_and_never_hides_the_good_run(hostile, finished_tiny_run: Path) -> None:
    root, made = hostile
    expected_good = RunStore(finished_tiny_run.parent).summary(finished_tiny_run.name)
    runs = {r.name: r for r in within(60, RunStore(root).list_runs)}
    assert set(runs) == set(made) | {"good"}
    good = runs["good"]
    assert (good.state, good.epoch, good.best_dice, good.message) == \
        (expected_good.state, expected_good.epoch, expected_good.best_dice, expected_good.message)
    problems = []
    for name, (rel, how) in made.items():
        row = runs[name]
        must_report = rel in LISTED_FROM or (rel == EVENTS_FILE and how not in EVENTS_SKIPPED)
        if must_report and (row.state != "broken" or Path(rel).name not in row.message):
            problems.append(f"{name}: {row.state} {row.message!r}")
        if row.state == "broken" and not row.message:
            problems.append(f"{name}: broken without a reason")
    assert not problems, "\n".join(problems)


def test_a_symlink_out_of_the_folder_is_never_followed(hostile) -> None:
    root, made = hostile
    for name, (rel, how) in made.items():
        if how != "symlink-out":
            continue
        row = within(10, RunStore(root).summary, name)
        if rel in (CONFIG_FILE, STATUS_FILE, EVENTS_FILE):
            assert row.state == "broken" and "leads outside the run folder" in row.message, (name, row.message)
        if rel.startswith("checkpoints/"):
            with pytest.raises(PetsegError, match="leads outside the run folder"):
                checkpoint_for(root / name)


def test_previews_of_every_variant_read_or_say_why(hostile) -> None:
    root, made = hostile
    for name, (rel, how) in made.items():
        try:
            previews = within(10, read_previews, root / name)
            if previews is not None:
                for entry in previews.epochs:
                    within(10, previews.grid, entry.epoch)
        except PetsegError as exc:
            assert str(exc).count("\n") == 0
            if how in ("traversal", "absolute"):
                assert "is not a file name in previews/" in str(exc)
        else:
            assert how not in ("traversal", "absolute"), name


def test_petseg_runs_lists_every_variant(hostile, capsys) -> None:
    root, made = hostile
    assert within(60, main, ["runs", "--runs", str(root), "--json"]) == 0
    listed = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(listed) == set(made) | {"good"}
    assert within(60, main, ["runs", "--runs", str(root)]) == 0
    captured = capsys.readouterr()
    assert "good" in captured.out and captured.err == ""


@pytest.mark.parametrize("planted", ["fifo", "symlink"])
def test_a_resume_never_writes_through_a_planted_space_reserve(tmp_path: Path, planted: str) -> None:
    """The writer's space.reserve (room kept for recording the run's end): a FIFO planted there
    hung the resume in open() for good, holding the run's lock (the run read as running); a
    symlink must not be written through either."""
    import os

    from engine.runs.layout import RESERVE_FILE

    w = RunStore(tmp_path).create({"model": "unet", "epochs": 2}, "r")
    w.set_status("stopped", "stopped by user")
    w.close()
    reserve, outside = tmp_path / "r" / RESERVE_FILE, tmp_path / "outside.bin"
    outside.write_bytes(b"keep")
    if planted == "fifo":
        os.mkfifo(reserve)
    else:
        reserve.symlink_to(outside)
    writer = within(10, RunStore(tmp_path).open_for_resume, "r")
    writer.set_status("failed", "no space left on the device")
    writer.close()
    assert RunStore(tmp_path).summary("r").state == "failed"
    assert outside.read_bytes() == b"keep"


def test_a_labels_file_that_is_a_fifo_or_leads_out_is_not_read(tmp_path: Path) -> None:
    """labels.json was read with a plain read_text: a FIFO there hung `petseg runs` and the
    dashboard's table for ever, and a symlink out of the run was followed. It is read as the
    run's other files are (`open_run_file`): no labels, and the reason named."""
    from engine.runs.labels import NO_LABELS, labels_problem, read_labels

    fifo, out = tmp_path / "fifo", tmp_path / "out"
    for run in (fifo, out):
        run.mkdir()
    os.mkfifo(fifo / "labels.json")
    (tmp_path / "elsewhere.json").write_text('{"tags": ["secret"]}')
    (out / "labels.json").symlink_to(tmp_path / "elsewhere.json")
    assert within(5, read_labels, fifo) == NO_LABELS
    assert str(within(5, labels_problem, fifo)) == f"{fifo / 'labels.json'}: is a named pipe (FIFO), not a file"
    assert read_labels(out) == NO_LABELS
    assert "leads outside the run folder" in str(labels_problem(out))
    assert labels_problem(tmp_path) is None  # no labels.json: nothing wrong
