"""``--time_budget`` in a real (tiny) run, on a fake clock: the run ends mid-epoch when the budget is
spent, validates that last partial epoch, and records the epochs it reached."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.checkpoint import load_checkpoint
from engine.config import TrainConfig
from engine.durations import format_duration
from engine.events import EpochEnded, RunFinished
from engine.runs import RunStore, read_events
from engine.train import schedule
from engine.train.trainer import Trainer


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The budget's clock, one second later at every look (no sleeping); set ``clock[0]`` to jump."""
    now = [0.0]

    def tick() -> float:
        now[0] += 1.0
        return now[0]

    monkeypatch.setattr(schedule, "_now", tick)
    return now


def _tiny(generated_data: str, budget: str) -> TrainConfig:
    return TrainConfig(epochs=50, time_budget=budget, image_size=64, width=4, batch_size=8, max_train_images=24,
                       workers=0, device="cpu", data_path=generated_data, warmup_epochs=0)


@pytest.mark.slow
def test_a_time_budget_run_stops_when_the_budget_is_spent(generated_data: str, tmp_path: Path, clock) -> None:
    cfg = _tiny(generated_data, "20s")
    trainer = Trainer(cfg, tmp_path)
    assert trainer.run() == "finished"

    events = read_events(trainer.run_path / "events.jsonl")
    epochs = [e for e in events if isinstance(e, EpochEnded)]
    finished = next(e for e in events if isinstance(e, RunFinished))
    reached = epochs[-1].epoch
    assert 1 < reached < 50  # the budget, not --epochs, ended it
    assert finished.epochs == epochs[-1].total_epochs == reached  # the runs table reads reached/reached
    history = RunStore(tmp_path).load(trainer.run_name)
    assert history.epochs.keys() == set(range(1, reached + 1)) and history.planned_epochs == reached
    # the rate (as each epoch ended) followed the cosine over time, down to ~0 at the end
    rates = [e.lr for e in epochs]
    assert rates == sorted(rates, reverse=True) and rates[0] < cfg.learning_rate and rates[-1] < 0.1 * rates[0]
    record = json.loads((trainer.run_path / "config.json").read_text())
    assert record["time_budget"] == "20s"
    assert record["time_budget_result"]["epochs_reached"] == reached
    assert record["time_budget_result"]["trained_seconds"] >= 20
    last = load_checkpoint(trainer.run_path / "checkpoints" / "last.pt")
    assert last["epoch"] == reached and last["time_budget"]["elapsed_seconds"] >= 20


@pytest.mark.slow
def test_a_data_parallel_time_budget_ends_every_rank_at_the_same_batch(generated_data: str, tmp_path: Path) -> None:
    """2 gloo processes with --time_budget 2s alone (no epoch bound, the common case since it is one
    flag): the run ends on the budget, every rank at the same batch with the same rate (else DDP
    would hang or the replicas differ: the run would not finish), and it records what it reached.
    Both ranks train through the whole budget, so each of its seconds costs two of CPU: 2 s is
    still several epochs of 2 batches a rank, ended mid-run by the budget."""
    from engine.cli import main

    runs = tmp_path / "runs"
    code = main(["train", "--time_budget", "2s", "--devices", "2", "--device", "cpu",
                 "--image_size", "64", "--width", "4", "--batch_size", "4", "--max_train_images", "16",
                 "--workers", "0", "--compile", "off", "--runs", str(runs), "--run_name", "tb",
                 "--data_path", generated_data])
    assert code == 0
    record = json.loads((runs / "tb" / "config.json").read_text())
    reached = record["time_budget_result"]["epochs_reached"]
    assert record["epochs"] is None and record["distributed"]["world_size"] == 2
    assert reached >= 1 and record["time_budget_result"]["trained_seconds"] >= 2
    events = read_events(runs / "tb" / "events.jsonl")
    finished = next(e for e in events if isinstance(e, RunFinished))
    assert finished.epochs == reached
    rates = [e.lr for e in events if isinstance(e, EpochEnded)]
    peak = rates.index(max(rates))  # the warm-up's rise first: 3 epochs or a tenth of the budget
    assert peak <= 3 and rates[peak:] == sorted(rates[peak:], reverse=True)  # annealed over the budget's time
    assert load_checkpoint(runs / "tb" / "checkpoints" / "last.pt")["epoch"] == reached


@pytest.mark.slow
def test_a_resumed_time_budget_run_continues_the_remaining_budget(generated_data: str, tmp_path: Path,
                                                                  clock: list[float], capsys) -> None:
    """A run stopped inside its budget resumes for what is left; the dashboard's R offer and
    `petseg train --resume`'s line as it starts name the same seconds left (they said no figure)."""
    cfg = _tiny(generated_data, "30s")
    first = Trainer(cfg, tmp_path)
    first.subscribe(lambda ev: first.stop() if isinstance(ev, EpochEnded) else None)  # stop in epoch 2
    assert first.run() == "stopped"
    spent = load_checkpoint(first.run_path / "checkpoints" / "last.pt")["time_budget"]["elapsed_seconds"]
    assert 0 < spent < 30

    # the dashboard's offer names the seconds left from the figure last.pt holds, and the resume says the same
    left = RunStore(tmp_path).summary(first.run_name).resume_offer().note
    assert left == f"it trains for the {format_duration(30 - spent)} left of its 30s time budget"

    clock[0] = 10_000.0  # another session, much later: only training time counts
    from engine.cli import main

    assert main(["train", "--resume", first.run_name, "--runs", str(tmp_path)]) == 0
    result = json.loads((first.run_path / "config.json").read_text())["time_budget_result"]
    # the second session trained only what was left of the 30 s (plus the batch that spent it)
    assert 30 <= result["trained_seconds"] < 30 + 10
    assert 1 < result["epochs_reached"] < 50
    assert f"resume: {left}\n" in capsys.readouterr().out  # petseg train --resume's line as it starts


def test_a_run_that_spent_its_time_budget_is_not_resumed(tmp_path: Path) -> None:
    """More epochs after a spent budget would train at its end's learning rate, 0: refused in one line."""
    from engine.errors import RunStoreError
    from engine.train.resume import plan_resume

    cfg = TrainConfig(epochs=50, time_budget="20s")
    last = {"epoch": 3, "config": cfg.to_dict(), "arch": {"name": "unet"},
            "time_budget": {"budget_seconds": 20.0, "elapsed_seconds": 21.5}}
    with pytest.raises(RunStoreError) as info:
        plan_resume(tmp_path / "r", cfg.to_dict(), {"epochs": 60}, last, tmp_path / "r" / "last.pt", finished=True)
    assert "has spent its --time_budget 20s (after 3 epochs)" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("epochs, overrides", [(None, {"epochs": 3}), (50, {"batch_size": 16})])
def test_a_spent_time_budget_is_the_reason_given_whatever_flags_come_with_the_resume(
        tmp_path: Path, epochs: int | None, overrides: dict) -> None:
    """`petseg train --resume R --epochs 3` of a run whose --time_budget is spent complained about
    --epochs ("this run trains for its --time_budget alone"), a flag it could not have fixed; the
    spent budget is said first, with the way on the dashboard's resume offer gives: a new run from a copy."""
    from engine.errors import RunStoreError
    from engine.train.resume import plan_resume

    cfg = TrainConfig(epochs=epochs, time_budget="20s")
    last = {"epoch": 3, "config": cfg.to_dict(), "arch": {"name": "unet"},
            "time_budget": {"budget_seconds": 20.0, "elapsed_seconds": 21.5}}
    with pytest.raises(RunStoreError) as info:
        plan_resume(tmp_path / "r", cfg.to_dict(), overrides, last, tmp_path / "r" / "last.pt", finished=True)
    assert str(info.value) == (f"{tmp_path / 'r'}: has spent its --time_budget 20s (after 3 epochs); to train "
                               "longer, start a new run from a copy of its settings with a longer --time_budget "
                               "(N on the dashboard's runs table)")


@pytest.mark.parametrize("epochs", [None, "2"])
def test_a_time_budget_without_epochs_trains_for_the_time_alone(
        generated_data: str, tmp_path: Path, clock: list[float], epochs: str | None) -> None:
    """``petseg train --time_budget 60s`` ended at the default 10 epochs (5.5 s of a 20 s budget):
    "the best model in 10 minutes" took a second flag. Without --epochs the time alone bounds it now
    (config.json: epochs null, the events no total until the last); a typed --epochs still does."""
    from engine.cli import main

    runs = tmp_path / "runs"
    argv = ["train", "--time_budget", "60s", "--image_size", "32", "--width", "4", "--batch_size", "8",
            "--max_train_images", "8", "--workers", "0", "--device", "cpu", "--runs", str(runs), "--run_name", "tb",
            "--data_path", generated_data, *(["--epochs", epochs] if epochs else [])]
    assert main(argv) == 0
    record = json.loads((runs / "tb" / "config.json").read_text())
    reached = record["time_budget_result"]["epochs_reached"]
    if epochs:
        assert record["epochs"] == reached == 2
        return
    assert record["epochs"] is None and reached > 10  # a look at the fake clock is a second: ~4 an epoch
    assert record["time_budget_result"]["trained_seconds"] >= 60
    ended = [e for e in read_events(runs / "tb" / "events.jsonl") if isinstance(e, EpochEnded)]
    assert [e.total_epochs for e in ended] == [0] * (reached - 1) + [reached]
    assert RunStore(runs).summary("tb").epoch_progress.count == f"{reached}/{reached}"


def test_the_time_alone_rule_leaves_a_typed_or_searched_epochs() -> None:
    from engine.config import with_time_alone

    assert with_time_alone({"time_budget": "10m"}) == {"time_budget": "10m", "epochs": None}
    assert with_time_alone({"time_budget": "10m"}, searched=["epochs", "width"]) == {"time_budget": "10m"}
    assert with_time_alone({"time_budget": "10m", "epochs": 500})["epochs"] == 500
    assert with_time_alone({"epochs": 5}) == {"epochs": 5} and with_time_alone({}) == {}
    assert with_time_alone({"time_budget": None}) == {"time_budget": None}  # --time_budget none


def test_no_epoch_bound_needs_a_time_budget() -> None:
    from engine.errors import ConfigError

    assert "none only with a time budget" in TrainConfig(epochs=None).field_errors()["epochs"]
    assert "epochs" not in TrainConfig(epochs=None, time_budget="10m").field_errors()
    with pytest.raises(ConfigError, match=r"^--epochs none: must be an integer between 1 and 100000 \(none only"):
        TrainConfig(epochs=None).validate()  # as typed, not Python's None


def test_a_resume_neither_adds_nor_takes_away_an_epoch_bound(tmp_path: Path) -> None:
    from engine.errors import ConfigError
    from engine.train.resume import plan_resume

    alone = TrainConfig(epochs=None, time_budget="20s", warmup_epochs=3)
    last = {"epoch": 3, "config": alone.to_dict(), "arch": {"name": "unet"},
            "time_budget": {"budget_seconds": 20.0, "elapsed_seconds": 5.0}}
    plan = plan_resume(tmp_path / "r", alone.to_dict(), {}, last, tmp_path / "r" / "last.pt")
    assert plan.config.epochs is None and plan.done_epochs == 3 and plan.budget is None
    with pytest.raises(ConfigError, match=r"^--epochs 60: this run trains for its --time_budget alone"):
        plan_resume(tmp_path / "r", alone.to_dict(), {"epochs": 60}, last, tmp_path / "r" / "last.pt")
    bounded = TrainConfig(epochs=50, time_budget="20s")
    with pytest.raises(ConfigError, match=r"^--epochs none: a resumed run keeps its bound of 50 epochs"):
        plan_resume(tmp_path / "r", bounded.to_dict(), {"epochs": None}, {**last, "config": bounded.to_dict()},
                    tmp_path / "r" / "last.pt")
