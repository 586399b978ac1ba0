"""One bad field never hides the other runs: types are checked where run files are read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main
from engine.events import EpochEnded, EventFieldError, RunStarted, event_to_dict, parse_event
from engine.run_schema import config_problems, status_problems
from engine.runs import RunStore


def epoch(e: int, dice: float = 0.5) -> EpochEnded:
    return EpochEnded(epoch=e, total_epochs=2, train_loss=1.0, train_dice=dice, valid_loss=1.0, valid_dice=dice,
                      valid_iou=dice, valid_dice_per_image=dice, valid_iou_per_image=dice, lr=1e-3, seconds=1.0,
                      images_per_s=10.0, best_dice=dice, best_epoch=e)


def make(root: Path, name: str) -> Path:
    w = RunStore(root).create({"model": "unet", "epochs": 2}, name)
    w.append(RunStarted(run=name, total_epochs=2, start_epoch=1, train_size=8, valid_size=2, device="cpu", data="x"))
    w.append(epoch(1))
    w.append(epoch(2, 0.6))
    w.set_status("finished", "done")
    w.close()
    return root / name


def edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    make(tmp_path, "good")
    bad_dice = make(tmp_path, "bad-dice")
    lines = (bad_dice / "events.jsonl").read_text().splitlines()
    row = json.loads(lines[1])
    row["valid_dice"] = "x"
    lines[1] = json.dumps(row)
    (bad_dice / "events.jsonl").write_text("\n".join(lines) + "\n")
    edit_json(make(tmp_path, "yesterday") / "status.json", created="yesterday")
    # no events at all: the start time can only come from status.json
    (tmp_path / "no-events").mkdir()
    (tmp_path / "no-events" / "config.json").write_text('{"model": "unet", "epochs": 2}')
    (tmp_path / "no-events" / "status.json").write_text('{"state": "finished", "created": "yesterday"}')
    edit_json(make(tmp_path, "bad-config") / "config.json", epochs="six")
    return tmp_path


def test_runs_lists_every_run_and_names_each_bad_field(runs: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "140")  # wide: the start-time column is shown (it crashed on "yesterday")
    assert main(["runs", "--runs", str(runs)]) == 0
    out = capsys.readouterr().out
    reasons = {ln.split(":", 1)[0]: ln for ln in out.splitlines() if ": broken: " in ln}
    assert set(reasons) == {"bad-dice", "yesterday", "no-events", "bad-config"}
    assert "events.jsonl: line 2: epoch_ended event: valid_dice must be a number, got 'x'" in reasons["bad-dice"]
    assert "status.json: created must be a number, got 'yesterday'" in reasons["yesterday"]
    assert "status.json: created must be a number, got 'yesterday'" in reasons["no-events"]
    assert "config.json: epochs must be an integer or null, got 'six'" in reasons["bad-config"]
    summaries = {s.name: s for s in RunStore(runs).list_runs()}
    assert summaries["good"].state == "finished" and summaries["good"].best_dice == pytest.approx(0.6)
    assert summaries["bad-dice"].state == "broken" and summaries["bad-dice"].epoch == 2  # its good figures stay
    assert summaries["yesterday"].started is not None and isinstance(summaries["yesterday"].started, float)
    assert summaries["no-events"].started is None  # the garbage time is not used


def test_event_types_are_checked() -> None:
    good = event_to_dict(epoch(1))
    assert parse_event(good) == epoch(1).__class__(**{k: v for k, v in good.items() if k != "kind"})
    for field, value, words in (("valid_dice", "x", "a number"), ("epoch", 1.5, "an integer"),
                                ("epoch", True, "an integer"), ("lr", None, "a number")):
        # the same words as status.json's and config.json's checks (engine.json_kinds)
        with pytest.raises(EventFieldError, match=f"epoch_ended event: {field} must be {words}, got "):
            parse_event(dict(good, **{field: value}))
    with pytest.raises(EventFieldError, match="epoch_ended event has no valid_iou"):
        parse_event({k: v for k, v in good.items() if k != "valid_iou"})
    assert parse_event(dict(good, valid_dice=float("nan"))) is not None  # NaN is a figure (a stop mid-epoch)
    assert parse_event({"kind": "from_a_newer_petseg", "t": 1.0}) is None


def test_status_and_config_type_checks() -> None:
    assert status_problems({"state": "finished", "pid": 12, "heartbeat": 1.5, "created": 1}) == []
    assert status_problems({"state": "running", "pid": "12"}) == ["pid must be an integer, got '12'"]
    assert status_problems({"pid": 12}) == ["state is missing"]  # issue 21: a missing field is a problem too
    assert config_problems({"epochs": 3}) == ["model is missing"]
    assert status_problems({"state": "exploded"}) == [
        "state 'exploded' is not one of running, paused, finished, stopped, failed, diverged, pruned"]
    assert status_problems({"state": "running", "heartbeat": True}) == ["heartbeat must be a number, got True"]
    assert config_problems({"model": "unet", "epochs": 3, "learning_rate": 1, "data_path": None, "weight_decay": 1e38}) == []
    assert sorted(config_problems({"model": "unet", "learning_rate": "fast", "data_path": 3})) == [
        "data_path must be text or null, got 3", "learning_rate must be a number, got 'fast'"]


def test_a_writer_does_not_carry_garbage_status_forward(runs: Path) -> None:
    w = RunStore(runs).open_for_resume("yesterday")
    w.set_status("stopped", "stopped by user")
    w.close()
    status = json.loads((runs / "yesterday" / "status.json").read_text())
    assert isinstance(status["created"], float)
    assert RunStore(runs).summary("yesterday").state == "stopped"
