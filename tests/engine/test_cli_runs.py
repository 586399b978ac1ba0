"""`petseg runs`: every run folder listed, damaged ones as broken with the file and the problem,
names and values as written, sort, filter and --json (tags and note included), archived runs
left out and said, and the table at 80 columns keeping every figure."""

from __future__ import annotations

import json
from pathlib import Path

from engine.cli import main


def test_runs_lists_broken_folder(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad-run"
    bad.mkdir()
    (bad / "config.json").write_text("garbage")
    assert main(["runs", "--runs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "bad-run" in out and "broken" in out


def test_runs_shows_names_and_values_with_brackets_as_written(tmp_path: Path, capsys, monkeypatch) -> None:
    """``petseg runs`` prints a run folder copied by hand ("alpha [copy]") and its config.json's
    model as they are: the table read them as Rich markup, showed "alpha " and ended on
    "unexpected MarkupError" (exit 1, no table) for a model written "unet[/]"."""
    run = tmp_path / "alpha [copy]"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"model": "unet[/]", "epochs": 2}))
    (run / "status.json").write_text(json.dumps({"state": "failed", "message": "data at /d/pets[v2] is gone"}))
    monkeypatch.setenv("COLUMNS", "160")
    assert main(["runs", "--runs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "alpha [copy]" in out and "unet[/]" in out and "/d/pets[v2] is gone" in out


def test_runs_lists_every_kind_of_damaged_folder(tmp_path: Path, capsys) -> None:
    """Missing config.json, garbage status.json, garbage events.jsonl lines: each folder is listed
    (broken with the file and the problem, or with its good events), `runs` exits 0, one line each."""
    from engine.runs import RunStore

    good = RunStore(tmp_path).create({"model": "unet", "epochs": 2}, name="good-but-garbage-events")
    good.close()
    with open(tmp_path / "good-but-garbage-events" / "events.jsonl", "ab") as fh:
        fh.write(b"\x00\xff not json\n[1, 2]\n{\"kind\": \"epoch_en")
    no_config = tmp_path / "no-config"
    no_config.mkdir()
    (no_config / "status.json").write_text('{"state": "finished"}')
    bad_status = RunStore(tmp_path).create({"model": "unet"}, name="bad-status")
    bad_status.close()
    (tmp_path / "bad-status" / "status.json").write_text("[1, 2")
    assert main(["runs", "--runs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Traceback" not in out
    lines = {ln.split(":", 1)[0]: ln for ln in out.splitlines() if ": broken: " in ln}
    assert "config.json: missing" in lines["no-config"]
    assert "status.json: not valid JSON" in lines["bad-status"]
    assert "good-but-garbage" in out and "good-but-garbage-events" not in lines  # the name may wrap


def test_runs_sort_filter_json_and_whole_names_at_80_columns(tmp_path: Path, capsys, monkeypatch) -> None:
    import json

    from engine.events import EpochEnded, RunStarted
    from engine.runs import RunStore

    for i, (name, model, dice) in enumerate((("unet-20261125-101500", "unet", 0.7),
                                             ("resnet34_unet-20261125-113000", "resnet34_unet", 0.9),
                                             ("unet-lr3e-4-long-name", "unet", 0.8))):
        w = RunStore(tmp_path).create({"model": model, "epochs": 1}, name=name)
        w.append(RunStarted(run=name, total_epochs=1, start_epoch=1, train_size=1, valid_size=1, device="cpu",
                            data="d", t=1_700_000_000.0 + i))
        w.append(EpochEnded(epoch=1, total_epochs=1, train_loss=0.5, train_dice=dice, valid_loss=0.5,
                            valid_dice=dice, valid_iou=dice, valid_dice_per_image=dice, valid_iou_per_image=dice,
                            lr=1e-3, seconds=12.5, images_per_s=1234.5, best_dice=dice, best_epoch=1))
        w.set_status("finished", "done")
        w.close()
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["runs", "--runs", str(tmp_path), "--sort", "dice"]) == 0
    out = capsys.readouterr().out
    names = [ln.split()[0] for ln in out.splitlines() if ln.startswith(("unet", "resnet"))]
    assert names == ["resnet34_unet-20261125-113000", "unet-lr3e-4-long-name", "unet-20261125-101500"]
    assert "…" not in out and all(len(ln) <= 80 for ln in out.splitlines() if "finished" in ln)
    assert "0.9000" in out and "1/1" in out
    assert main(["runs", "--runs", str(tmp_path), "--filter", "unet lr3e"]) == 0
    out = capsys.readouterr().out
    assert "unet-lr3e-4-long-name" in out and "unet-20261125-101500" not in out
    # the TUI's / filter: a model term and a metric bound; a term it cannot read is said, not fatal
    assert main(["runs", "--runs", str(tmp_path), "--filter", "model=unet dice>0.75 wat<3"]) == 0
    captured = capsys.readouterr()
    assert [ln.split()[0] for ln in captured.out.splitlines() if ln.startswith("unet")] == ["unet-lr3e-4-long-name"]
    assert "--filter: 'wat<3' left out: no key 'wat'" in captured.err
    assert main(["runs", "--runs", str(tmp_path), "--json", "--sort", "name", "--filter", "unet"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in data] == ["resnet34_unet-20261125-113000", "unet-20261125-101500",
                                         "unet-lr3e-4-long-name"]
    assert data[0]["best_dice"] == 0.9 and data[0]["images_per_s"] == 1234.5 and data[0]["state"] == "finished"
    assert data[0]["resume"]["action"] == ""


def test_runs_leaves_archived_runs_out_as_the_dashboard_does_and_says_so(tmp_path: Path, capsys) -> None:
    """The dashboard's A hides a run; `petseg runs` listed it unmarked, so a run archived as a
    failed try came back in every listing and in --filter tag:... results."""
    import json

    from engine.runs import RunStore
    from engine.runs.labels import RunLabels, write_labels

    for name in ("kept", "old-try"):
        w = RunStore(tmp_path).create({"model": "unet", "epochs": 1}, name=name)
        w.set_status("finished", "done")
        w.close()
    write_labels(tmp_path / "old-try", RunLabels(tags=("best",), archived=True))
    assert main(["runs", "--runs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "kept" in out and "old-try" not in out
    assert out.strip().splitlines()[-1] == "1 archived run not listed (--archived lists them)"
    assert main(["runs", "--runs", str(tmp_path), "--filter", "tag:best"]) == 0
    assert "no runs in" in (out := capsys.readouterr().out) and "1 archived run not listed" in out
    assert main(["runs", "--runs", str(tmp_path), "--archived"]) == 0
    assert "finished (archived)" in (out := capsys.readouterr().out) and "not listed" not in out
    assert main(["runs", "--runs", str(tmp_path), "--json", "--archived", "--sort", "name"]) == 0
    assert [(d["name"], d["archived"]) for d in json.loads(capsys.readouterr().out)] == [("kept", False),
                                                                                        ("old-try", True)]


def test_runs_with_a_name_too_long_for_the_terminal_keeps_every_figure(tmp_path: Path, capsys, monkeypatch) -> None:
    # measured: a 72-character name at 80 columns printed status, epoch, dice and loss as "…"
    from rich.console import Console

    import engine.cli.runs as runs_cli
    from engine.events import EpochEnded, RunStarted
    from engine.runs import RunStore

    long = "unet-" + "long-descriptive-name-" * 3 + "t007"
    w = RunStore(tmp_path).create({"model": "unet", "epochs": 4}, name=long)
    w.append(RunStarted(run=long, total_epochs=4, start_epoch=1, train_size=1, valid_size=1, device="cpu",
                        data="d", t=1_700_000_000.0))
    w.append(EpochEnded(epoch=1, total_epochs=4, train_loss=0.5123, train_dice=0.8, valid_loss=0.5, valid_dice=0.8,
                        valid_iou=0.7, valid_dice_per_image=0.8, valid_iou_per_image=0.7, lr=1e-3, seconds=12.5,
                        images_per_s=99.0, best_dice=0.8123, best_epoch=1))
    w.set_status("stopped", "stopped by user")
    w.close()
    monkeypatch.setattr(runs_cli, "new_console",
                        lambda: Console(force_terminal=True, color_system=None, width=80, highlight=False))
    assert main(["runs", "--runs", str(tmp_path)]) == 0
    row = next(ln for ln in capsys.readouterr().out.splitlines() if "stopped" in ln)
    assert len(row) <= 80 and "1/4" in row and "0.8000" in row and "0.5123" in row
    name = row.split()[0]
    assert "…" in name and name.endswith("t007") and name.startswith("unet-")  # cut in the middle
    # into a pipe or a file the lines are whole, however long
    monkeypatch.setattr(runs_cli, "new_console", lambda: Console(color_system=None, width=80, highlight=False))
    assert main(["runs", "--runs", str(tmp_path)]) == 0
    row = next(ln for ln in capsys.readouterr().out.splitlines() if "stopped" in ln)
    assert row.split()[0] == long and "1/4" in row and "0.8000" in row and "…" not in row


def test_runs_json_holds_the_tags_and_note_the_dashboard_gave(tmp_path: Path, capsys) -> None:
    """A run tagged and noted with the dashboard's T was found by ``petseg runs --filter tag:best``,
    yet ``--json`` held its archived flag alone: no tags, no note for a script to read."""
    import json

    from engine.runs import RunStore
    from engine.runs.labels import RunLabels, write_labels

    w = RunStore(tmp_path).create({"model": "unet", "epochs": 1}, name="tagged")
    w.set_status("finished", "done")
    w.close()
    write_labels(tmp_path / "tagged", RunLabels(tags=("best", "pet-only"), note="64 px baseline"))
    assert main(["runs", "--runs", str(tmp_path), "--json", "--filter", "tag:best"]) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert (run["name"], run["tags"], run["note"], run["archived"]) == ("tagged", ["best", "pet-only"],
                                                                        "64 px baseline", False)


def test_runs_at_80_columns_explains_only_the_columns_it_shows(tmp_path: Path, capsys, monkeypatch) -> None:
    """At 80 columns (an archived run listed, a long model name) img/s left the table, yet the
    caption still explained it and wrapped mid-word: "training t" / "ime"."""
    from rich.console import Console

    import engine.cli.runs as runs_cli
    from engine.runs import RunStore
    from engine.runs.labels import RunLabels, write_labels

    for name, model in (("unet-20261206-192626", "resnet34_unet"), ("petonly", "unet")):
        w = RunStore(tmp_path).create({"model": model, "epochs": 3}, name=name)
        w.set_status("finished", "done")
        w.close()
    write_labels(tmp_path / "petonly", RunLabels(archived=True))
    monkeypatch.setattr(runs_cli, "new_console",
                        lambda: Console(force_terminal=True, color_system=None, width=80, highlight=False))
    assert main(["runs", "--runs", str(tmp_path), "--archived"]) == 0
    lines = capsys.readouterr().out.rstrip().splitlines()
    assert "img/s" not in lines[1]  # the column went
    assert lines[-1].strip() == "dice: best valid Dice · loss: last train loss · time: training time"


def test_runs_says_how_many_processes_train_a_data_parallel_run(tmp_path: Path, capsys, monkeypatch) -> None:
    """Issue 18: a run on 2 data-parallel processes is listed as "unet x2" (its config.json's
    distributed.world_size) in the table, with "processes": 2 beside "model": "unet" in --json; a
    one-process run as "unet", 1 process."""
    from engine.runs import RunStore

    RunStore(tmp_path).create({"model": "unet", "epochs": 2}, name="plain").close()
    RunStore(tmp_path).create({"model": "unet", "epochs": 2, "distributed": {"world_size": 2, "global_batch": 8}},
                              name="pair").close()
    monkeypatch.setenv("COLUMNS", "160")
    assert main(["runs", "--runs", str(tmp_path)]) == 0
    rows = {line.split()[0]: line.split()[1:3] for line in capsys.readouterr().out.splitlines()
            if line.split()[:1] in (["plain"], ["pair"])}
    assert rows["pair"][:2] == ["unet", "x2"] and rows["plain"][0] == "unet" and rows["plain"][1] != "x2"
    assert main(["runs", "--runs", str(tmp_path), "--json"]) == 0
    models = {r["name"]: (r["model"], r["processes"]) for r in json.loads(capsys.readouterr().out)}
    assert models == {"pair": ("unet", 2), "plain": ("unet", 1)}


def test_runs_writes_img_s_as_the_dashboard_does(tmp_path: Path, capsys, monkeypatch) -> None:
    """A run at 225.2 img/s read 225.2 in `petseg runs` and 225 in the dashboard's runs table and
    live screen: one rule now (`engine.words.format_rate`), one decimal under 100 only."""
    import dataclasses

    from engine.runs import RunStore
    from tests.engine.runs.store_events import epoch_ended, started

    for name, ips in (("fast", 225.2), ("slow", 38.46)):
        w = RunStore(tmp_path).create({"model": "unet", "epochs": 1}, name=name)
        w.append(started(1))
        w.append(dataclasses.replace(epoch_ended(1, 0.5, 1), images_per_s=ips))
        w.set_status("finished", "done")
        w.close()
    monkeypatch.setenv("COLUMNS", "160")
    assert main(["runs", "--runs", str(tmp_path)]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines() if line.split()}
    assert "225" in rows["fast"] and "225.2" not in rows["fast"]
    assert "38.5" in rows["slow"]


def test_runs_json_gives_no_epoch_total_for_a_run_bounded_by_time_alone(tmp_path: Path, capsys) -> None:
    """A `--time_budget` run without --epochs has no epoch total until it ends (config.json says
    "epochs": null, the table shows "1", not "1/0"); --json said "total_epochs": 0, an epoch budget
    of none a script divides by. It says null, as config.json does."""
    from engine.config import TrainConfig
    from engine.events import EpochEnded, RunStarted
    from engine.runs import RunStore

    w = RunStore(tmp_path).create(TrainConfig(epochs=None, time_budget="10m").to_dict(), name="timed")
    w.append(RunStarted(run="timed", total_epochs=0, start_epoch=1, train_size=1, valid_size=1, device="cpu",
                        data="d"))
    w.append(EpochEnded(epoch=1, total_epochs=0, train_loss=0.5, train_dice=0.5, valid_loss=0.5, valid_dice=0.5,
                        valid_iou=0.4, valid_dice_per_image=0.5, valid_iou_per_image=0.4, lr=1e-3, seconds=1.0,
                        images_per_s=10.0, best_dice=0.5, best_epoch=1))
    w.set_status("stopped", "stopped by user")
    w.close()
    assert main(["runs", "--runs", str(tmp_path)]) == 0
    assert any(ln.split()[:4] == ["timed", "unet", "stopped", "1"] for ln in capsys.readouterr().out.splitlines())
    assert main(["runs", "--runs", str(tmp_path), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["epoch"] == 1 and row["total_epochs"] is None and row["config"]["epochs"] is None
