"""`petseg label` and `petseg delete`: the dashboard's T, A and D from a shell, for runs named or
matched by a filter, never widening what is changed by a filter term it cannot read."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from engine.cli import main
from engine.config import TrainConfig
from engine.events import RunStarted
from engine.runs import RunLabels, RunStore, read_labels, write_labels


def _finished(root: Path, name: str, lr: float = 1e-3) -> Path:
    w = RunStore(root).create(TrainConfig(epochs=1, learning_rate=lr).to_dict(), name)
    w.append(RunStarted(run=name, total_epochs=1, start_epoch=1, train_size=2, valid_size=1, device="cpu", data="test", t=1.0))
    w.set_status("finished", "done")
    w.close()
    return root / name


def petseg(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_tags_note_and_archive_as_the_dashboard_keeps_them(tmp_path: Path, capsys) -> None:
    a, b = _finished(tmp_path, "a"), _finished(tmp_path, "b")
    code, out, _ = petseg(capsys, "label", "--runs", str(tmp_path), "a", "b", "--tag", "best, baseline", "--note", " first try ")
    assert code == 0
    assert out.splitlines() == ["a: tags best, baseline · note 'first try'", "b: tags best, baseline · note 'first try'"]
    # another change keeps what it does not touch; a tag already there is not doubled
    petseg(capsys, "label", "--runs", str(tmp_path), "b", "--untag", "best", "--tag", "baseline", "--tag", "lr")
    assert read_labels(a) == RunLabels(tags=("best", "baseline"), note="first try")
    assert read_labels(b) == RunLabels(tags=("baseline", "lr"), note="first try")
    # archived: `petseg runs` leaves it out as the dashboard does; unarchived: listed again
    assert petseg(capsys, "label", "--runs", str(tmp_path), "a", "--archive", "--note", "")[1] == \
        "a: tags best, baseline · archived\n"
    listed = petseg(capsys, "runs", "--runs", str(tmp_path))[1]
    assert "1 archived run not listed" in listed and "\na " not in listed
    petseg(capsys, "label", "--runs", str(tmp_path), str(a), "--unarchive")  # a folder works as a name
    assert read_labels(a) == RunLabels(tags=("best", "baseline"))
    # no change asked: the labels are printed
    assert petseg(capsys, "label", "--runs", str(tmp_path), "a")[1] == "a: tags best, baseline\n"


def test_unarchive_says_it_unarchived_even_when_the_run_has_no_labels_left(tmp_path: Path, capsys) -> None:
    """A run with no tags or note read 'r: no labels' after --unarchive, as if it had failed."""
    _finished(tmp_path, "r"), _finished(tmp_path, "t")
    petseg(capsys, "label", "--runs", str(tmp_path), "r", "--archive")
    petseg(capsys, "label", "--runs", str(tmp_path), "t", "--archive", "--tag", "x")
    code, out, _ = petseg(capsys, "label", "--runs", str(tmp_path), "r", "t", "--unarchive")
    assert code == 0 and out.splitlines() == ["r: unarchived", "t: tags x · unarchived"]
    assert not read_labels(tmp_path / "r").archived
    # again: nothing was archived, and it says so rather than 'unarchived'
    assert petseg(capsys, "label", "--runs", str(tmp_path), "r", "--unarchive")[1] == "r: was not archived\n"


def test_a_tag_both_added_and_removed_is_refused(tmp_path: Path, capsys) -> None:
    run = _finished(tmp_path, "a")
    code, out, err = petseg(capsys, "label", "--runs", str(tmp_path), "a", "--tag", "x,y", "--untag", "y")
    assert code == 1 and out == "" and err == "petseg: error: --tag and --untag both name y; nothing changed\n"
    assert read_labels(run) == RunLabels()


def test_a_filter_labels_every_run_it_matches_archived_ones_included(tmp_path: Path, capsys) -> None:
    slow, fast, other = (_finished(tmp_path, n, lr) for n, lr in (("slow", 1e-4), ("fast", 3e-3), ("other", 1e-4)))
    write_labels(other, RunLabels(archived=True))
    code, out, _ = petseg(capsys, "label", "--runs", str(tmp_path), "--filter", "lr<1e-3", "--tag", "low-lr")
    assert code == 0 and sorted(out.splitlines()) == ["other: tags low-lr · archived", "slow: tags low-lr"]
    assert read_labels(fast).tags == ()
    code, out, _ = petseg(capsys, "label", "--runs", str(tmp_path), "--filter", "tag:low-lr", "--unarchive")
    assert code == 0 and read_labels(other) == RunLabels(tags=("low-lr",)) and read_labels(slow).tags == ("low-lr",)


@pytest.mark.parametrize("command", ["label", "delete"])
def test_a_filter_term_it_cannot_read_changes_nothing(tmp_path: Path, capsys, command: str) -> None:
    """`petseg runs --filter` leaves such a term out with a warning; here that would widen the
    change: 'status:failed dcie>0.5' would have acted on every failed run."""
    run = _finished(tmp_path, "a")
    code, out, err = petseg(capsys, command, "--runs", str(tmp_path), "--filter", "status:finished dcie>0.5",
                            "--archive" if command == "label" else "--yes")
    assert code == 1 and out == ""
    assert err == ("petseg: error: --filter: 'dcie>0.5' left out: no key 'dcie' (lr, bs, dice, epoch, time, "
                   "model, tag, a config field); nothing changed\n")
    assert run.is_dir() and read_labels(run) == RunLabels()


@pytest.mark.parametrize("argv, said", [
    ([], "name the runs (RUN ...) or give --filter TERMS"),
    (["nope"], "no such run folder"),
    (["--filter", "status:failed"], "--filter 'status:failed' matches no run in"),
])
@pytest.mark.parametrize("command", ["label", "delete"])
def test_nothing_to_act_on_is_one_line(tmp_path: Path, capsys, command: str, argv: list[str], said: str) -> None:
    _finished(tmp_path, "a")
    code, out, err = petseg(capsys, command, "--runs", str(tmp_path), *argv)
    assert code == 1 and out == "" and said in err and len(err.splitlines()) == 1, err
    assert (tmp_path / "a").is_dir()


def test_an_unreadable_labels_file_is_said_and_never_replaced(tmp_path: Path, capsys) -> None:
    """A labels.json broken by a hand edit read as no labels without a word (the run's tags and
    note gone from `petseg runs`, an archived run listed again), and the next `petseg label`
    replaced it: the note in it was lost. Now `petseg runs` names the file and what is wrong,
    and a change refuses that run (the others are labelled), leaving the file as it is."""
    a, b = _finished(tmp_path, "a"), _finished(tmp_path, "b")
    edited = '{"tags": ["best"], "note": "the one to ship",}\n'  # a stray comma
    (a / "labels.json").write_text(edited)
    code, out, err = petseg(capsys, "label", "--runs", str(tmp_path), "a", "b", "--tag", "x")
    assert code == 1 and out.splitlines() == ["b: tags x"], out
    assert err.splitlines() == [f"petseg: error: {a / 'labels.json'}: not valid JSON (Expecting property name "
                                "enclosed in double quotes: line 1 column 46 (char 45)); labels not changed: "
                                "correct or delete it first (saving would replace it)"], err
    assert (a / "labels.json").read_text() == edited and read_labels(b).tags == ("x",)
    code, out, _ = petseg(capsys, "runs", "--runs", str(tmp_path))
    assert code == 0 and f"a: {a / 'labels.json'}: not valid JSON (" in out, out
    assert "its tags, note and archived flag are not read" in out and "b: " not in out.split("time: training time")[-1]


def test_delete_asks_first_and_without_a_terminal_wants_yes(tmp_path: Path, capsys, monkeypatch) -> None:
    run = _finished(tmp_path, "a")
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))  # not a terminal: a "y" on a pipe is no answer
    code, out, err = petseg(capsys, "delete", "--runs", str(tmp_path), "a")
    assert code == 1 and "give --yes where there is no terminal to answer on" in err and run.is_dir()
    assert "before removing 1 run folder;" in err  # not "1 run folder(s)"

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Terminal("n\n"))
    code, out, _ = petseg(capsys, "delete", "--runs", str(tmp_path), "a")
    assert code == 0 and out.endswith("Delete this run folder? [y/N] nothing deleted\n") and run.is_dir()
    # Ctrl-D at the prompt is a no, not "petseg: error: unexpected EOFError: EOFError"
    monkeypatch.setattr("sys.stdin", Terminal(""))
    code, out, err = petseg(capsys, "delete", "--runs", str(tmp_path), "a")
    assert (code, err) == (0, "") and out.endswith("Delete this run folder? [y/N] \nnothing deleted\n") and run.is_dir()
    monkeypatch.setattr("sys.stdin", Terminal("y\n"))
    code, out, _ = petseg(capsys, "delete", "--runs", str(tmp_path), "a")
    assert code == 0 and out.endswith(f"deleted {run}\n") and not run.exists()


def test_delete_never_removes_a_run_that_trains_and_still_removes_the_others(tmp_path: Path, capsys) -> None:
    done = _finished(tmp_path, "done")
    w = RunStore(tmp_path).create(TrainConfig(epochs=1).to_dict(), "live")
    w.set_status("running", "")
    try:
        code, out, err = petseg(capsys, "delete", "--runs", str(tmp_path), "live", "done", "--yes")
    finally:
        w.close()
    assert code == 1 and out == f"deleted {done}\n" and not done.exists()
    assert err == f"petseg: error: {tmp_path / 'live'}: is running: stop it first, then delete it; not deleted\n"
    assert (tmp_path / "live" / "config.json").is_file()


def test_a_note_given_on_several_lines_is_kept_on_one_as_the_dashboard_keeps_it(tmp_path: Path, capsys) -> None:
    """`petseg label RUN --note "$(cat notes.txt)"` kept the newlines (the dashboard's T makes a
    note one line): the runs table's one detail line of the run broke in two."""
    a = _finished(tmp_path, "a")
    code, out, _ = petseg(capsys, "label", "--runs", str(tmp_path), "a", "--note", "lr too high\n\tretry  with 1e-4\n")
    assert code == 0
    assert out == "a: note 'lr too high retry with 1e-4'\n"
    assert read_labels(a).note == "lr too high retry with 1e-4"


@pytest.mark.parametrize("command", ["label", "delete"])
def test_a_folder_that_is_no_petseg_run_is_never_changed(tmp_path: Path, capsys, command: str) -> None:
    """`petseg delete ~/my-app --yes` deleted a project folder whole because it held a config.json
    (a run's first file, and many a tool's); `petseg label ~/my-app --tag x` wrote a labels.json
    into it. A folder outside the runs folder must hold a file only petseg writes."""
    app = tmp_path / "my-app"
    (app / "src").mkdir(parents=True)
    (app / "config.json").write_text('{"name": "my-app"}')
    runs = tmp_path / "runs"
    _finished(runs, "a")
    code, out, err = petseg(capsys, command, "--runs", str(runs), str(app), "a",
                            "--tag" if command == "label" else "--yes", *(["x"] if command == "label" else []))
    assert (code, out) == (1, "")
    assert err == (f"petseg: error: {app}: not a petseg run folder (no status.json, events.jsonl or writer.lock "
                   "in it); nothing changed\n")
    assert sorted(p.name for p in app.iterdir()) == ["config.json", "src"]
    assert (runs / "a").is_dir() and read_labels(runs / "a") == RunLabels()
    # a run of another runs folder, given as a path, is still one
    other = _finished(tmp_path / "other-runs", "b")
    assert petseg(capsys, command, "--runs", str(runs), str(other), *(["--tag", "x"] if command == "label"
                                                                      else ["--yes"]))[0] == 0


def test_a_run_linked_into_the_runs_folder_is_listed_labelled_and_deleted_whole(tmp_path: Path, capsys) -> None:
    """Runs kept on another disk and linked into the runs folder are runs like any other: listed,
    labelled through the link, and deleted with the folder they lead to, the link with them
    (`petseg delete` deleted the folder and left the link dangling in the runs folder; the
    dashboard's D hid the link and kept the folder). Both names are said, before and after."""
    runs, disk = tmp_path / "runs", tmp_path / "disk"
    runs.mkdir()
    far = _finished(disk, "far")
    (runs / "far").symlink_to(far)
    _finished(runs, "near")
    code, out, _ = petseg(capsys, "label", "--runs", str(runs), "far", "--tag", "remote")
    assert code == 0 and read_labels(far).tags == ("remote",)
    code, out, _ = petseg(capsys, "runs", "--runs", str(runs), "--json")
    assert code == 0 and sorted(r["name"] for r in json.loads(out)) == ["far", "near"]
    code, out, err = petseg(capsys, "delete", "--runs", str(runs), "far", "--yes")
    assert (code, err) == (0, "")
    assert out.splitlines() == [f"deleted {far} (linked here as {runs / 'far'})"]
    assert not far.exists() and not os.path.lexists(runs / "far") and list(disk.iterdir()) == []
    assert [p.name for p in runs.iterdir()] == ["near"]


def test_archiving_a_run_that_trains_is_refused_and_an_archived_one_that_trains_stays_listed(
        tmp_path: Path, capsys) -> None:
    """`petseg label RUN --archive` on a run that trains hid it from `petseg runs` (and the
    dashboard's table) while it ran. It is now refused in one line, as delete refuses it, and the
    other runs named are still archived; a run that trains with the mark (archived before a resume,
    or by an older petseg) stays listed, the mark shown."""
    done = _finished(tmp_path, "done")
    w = RunStore(tmp_path).create(TrainConfig(epochs=1).to_dict(), "live")
    w.set_status("running", "")
    try:
        code, out, err = petseg(capsys, "label", "--runs", str(tmp_path), "live", "done", "--archive")
        assert code == 1 and out == "done: archived\n"
        assert err == (f"petseg: error: {tmp_path / 'live'}: is running: stop it first, then archive it; "
                       "its labels are not changed\n")
        assert not read_labels(tmp_path / "live").archived and read_labels(done).archived
        # unarchiving one that trains is fine: it shows it
        write_labels(tmp_path / "live", RunLabels(archived=True))
        listed = petseg(capsys, "runs", "--runs", str(tmp_path))[1]
        assert "live" in listed and "running (archived)" in listed and "\ndone " not in listed
        assert "1 archived run not listed" in listed
        assert petseg(capsys, "label", "--runs", str(tmp_path), "live", "--unarchive")[:2] == (0, "live: unarchived\n")
    finally:
        w.close()
