"""The runs filter (`engine.runs.parse_query`): parameter, metric, label and name terms; a term
it cannot read is left out with a one-line hint, never an exception."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.runs import RunLabels, RunSummary, parse_query


def _run(name: str = "unet-lr3e-4", *, dice: float | None = 0.85, epoch: int = 7, loss: float | None = 0.2,
         **config) -> RunSummary:
    cfg = {"model": "unet", "learning_rate": 3e-4, "batch_size": 16, "distributed": {"world_size": 1}}
    cfg.update(config)
    return RunSummary(name=name, path=Path("/runs") / name, state="finished", model=str(cfg["model"]), epoch=epoch,
                      best_dice=dice, last_train_loss=loss, config=cfg)


@pytest.mark.parametrize("text, expected", [
    ("lr<1e-3 dice>0.8 model:unet", True),
    ("lr>1e-3", False),
    ("bs=16", True),
    ("batch_size>=17", False),
    ("dice<=0.85 epoch=7", True),
    ("loss<0.1", False),
    ("model:resnet", False),
    ("model=unet", True),
    ("model=une", False),  # = is the whole text, : a part of it
    ("MODEL:UNET", True),
    ("lr3e", True),  # a bare word: the name contains it
    ("other", False),
    ("distributed.world_size=1", True),
    ("", True),
])
def test_terms_match_config_and_metrics(text: str, expected: bool) -> None:
    q = parse_query(text)
    assert q.hint == ""
    assert q.matches(_run()) is expected


def test_sweep_name_is_a_nested_key() -> None:
    run = _run(sweep={"name": "lr-search", "trial": 3, "params": {"learning_rate": 3e-4}})
    assert parse_query("sweep:lr-search").matches(run)
    assert parse_query("sweep.name:lr trial=3").matches(run)
    assert parse_query("sweep.params.learning_rate<1e-3").matches(run)
    assert not parse_query("sweep:other").matches(run)
    assert not parse_query("sweep:lr").matches(_run())  # no sweep record: no match


def test_a_missing_metric_never_matches_a_comparison() -> None:
    assert not parse_query("dice>0").matches(_run(dice=None))
    assert not parse_query("dice<1").matches(_run(dice=None))


def test_tags_and_note() -> None:
    labels = RunLabels(tags=("best", "baseline"), note="first try with flips")
    assert parse_query("tag:best").matches(_run(), labels)
    assert parse_query("tag:base note:flips").matches(_run(), labels)
    assert not parse_query("tag:worst").matches(_run(), labels)
    assert not parse_query("tag:best").matches(_run())


@pytest.mark.parametrize("text, says", [
    ("lr<abc", "'lr<abc' left out: expected a number, got 'abc'"),  # as --learning_rate abc says it
    ("lr<", "needs a value"),
    ("<3", "write key<number"),
    ("colour:red", "no key 'colour'"),
])
def test_a_bad_term_is_left_out_with_a_one_line_hint(text: str, says: str) -> None:
    q = parse_query(f"{text} model:unet")
    assert says in q.hint and "\n" not in q.hint
    assert len(q.terms) == 1  # the good term still applies
    assert q.matches(_run())


def test_several_bad_terms_are_counted_in_one_line() -> None:
    assert parse_query("lr<x bs<y").hint.endswith("(and 1 more)")


def test_extra_keys_seen_in_configs_are_accepted() -> None:
    assert parse_query("versions:1", extra_keys=["versions"]).hint == ""


def test_time_filters_on_the_time_column_in_seconds_or_a_duration() -> None:
    """The runs table shows Time (training time) beside Epoch and Best Dice, but `time>60` was
    refused: "no key 'time'". It compares the run's training time, in seconds or as a duration
    (5m, 1h30m, the way the column and --time_budget write it)."""
    import dataclasses

    run = dataclasses.replace(_run(), duration=258.0)  # the table's 4m18s
    for text, expected in (("time>60", True), ("time<4m", False), ("time<5m", True), ("duration>=258", True)):
        q = parse_query(text)
        assert q.hint == "", text
        assert q.matches(run) is expected, text
    assert not parse_query("time>0").matches(dataclasses.replace(_run(), duration=None))
    assert "time<5x" in parse_query("time<5x").hint and "duration" in parse_query("time<5x").hint
