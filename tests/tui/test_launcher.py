"""RunLauncher without the app: what it starts, follows, reaps and stops; and that the engine's Trainer
and the tests' FakeTrainer are both what it needs (`TrainerLike`)."""

from __future__ import annotations

import inspect
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tui_helpers import FakeTrainer

from engine.config import TrainConfig
from petseg_tui.launcher import RunLauncher, TrainerLike


def _method_names(cls: type) -> set[str]:
    return {name for name, member in vars(cls).items() if inspect.isfunction(member) and not name.startswith("_")}


def _assert_protocol_methods(cls: type) -> None:
    """Every method of TrainerLike is on ``cls`` and takes the same parameters."""
    for name in _method_names(TrainerLike):
        wanted = list(inspect.signature(getattr(TrainerLike, name)).parameters)
        assert callable(getattr(cls, name, None)), f"{cls.__name__} lacks {name}()"
        assert list(inspect.signature(getattr(cls, name)).parameters) == wanted, f"{cls.__name__}.{name} differs"


def test_the_fake_trainer_is_trainer_like(runs_dir: Path) -> None:
    _assert_protocol_methods(FakeTrainer)
    fake = FakeTrainer(TrainConfig(epochs=1), runs_dir, "fake")
    assert isinstance(fake, TrainerLike)
    assert (fake.run_name, fake.run_path) == ("fake", runs_dir / "fake")
    fake.writer.close()


def test_the_engine_trainer_is_trainer_like(runs_dir: Path, generated_data: str) -> None:
    pytest.importorskip("torch")
    from engine.train.trainer import Trainer

    _assert_protocol_methods(Trainer)
    trainer = Trainer(TrainConfig(data_path=generated_data, device="cpu"), runs_dir, run_name="real")  # not started
    try:
        assert isinstance(trainer, TrainerLike)
        assert (trainer.run_name, trainer.run_path) == ("real", runs_dir / "real")
    finally:
        trainer.writer.close()


def test_an_in_process_run_is_followed_then_stopped(runs_dir: Path) -> None:
    launcher = RunLauncher(runs_dir, make_trainer=lambda config, root, name: FakeTrainer(config, root, name))
    path, pid = launcher.start(TrainConfig(epochs=50), "inproc", detached=False)
    assert (path, pid) == (runs_dir / "inproc", None)
    trainer = launcher.trainer_for(path)
    assert trainer is not None and launcher.running() == [trainer]
    launcher.stop_all(timeout=20)
    assert launcher.trainer_for(path) is None and launcher.running() == []
    assert trainer.calls == ["stop"]  # type: ignore[attr-defined]


def test_a_run_started_while_the_running_runs_are_listed_breaks_no_listing(runs_dir: Path) -> None:
    """q lists the runs training in this process (UI thread) while a worker may be starting one
    (`launcher.start` adds it to the launcher's runs): the listing raised "dictionary changed
    size during iteration" when the new run came in between two of the runs it looked at, and
    the quit (or the app) failed. Here the first run's liveness check waits until the second
    run is in."""
    import threading

    go, added = threading.Event(), threading.Event()

    class Listed(FakeTrainer):
        def is_alive(self) -> bool:  # asked while running() goes through the runs: the other start comes in
            if threading.current_thread() is threading.main_thread() and not go.is_set():
                go.set()
                assert added.wait(30), "the second run did not start"
            return super().is_alive()

    class Added(FakeTrainer):
        def start(self) -> None:  # called once the launcher holds it
            super().start()
            added.set()

    kinds = iter([Listed, Added])
    launcher = RunLauncher(runs_dir, make_trainer=lambda config, root, name: next(kinds)(config, root, name))
    launcher.start(TrainConfig(epochs=50), "first", detached=False)
    second = threading.Thread(target=lambda: go.wait(30) and launcher.start(TrainConfig(epochs=50), "second",
                                                                            detached=False))
    second.start()
    try:
        listed = launcher.running()
        second.join(30)
        assert [t.run_name for t in listed] == ["first"]
        assert sorted(t.run_name for t in launcher.running()) == ["first", "second"]
    finally:
        go.set()
        second.join(30)
        launcher.stop_all(timeout=20)


def test_a_detached_child_is_reaped_once_it_ends(runs_dir: Path) -> None:
    launcher = RunLauncher(runs_dir)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    launcher.spawned[runs_dir / "child"] = child.pid
    deadline = time.monotonic() + 30
    while launcher.spawned and time.monotonic() < deadline:
        launcher.reap()
        time.sleep(0.05)
    assert launcher.spawned == {}
    child.returncode = 0  # reaped by the launcher, not by Popen: keep Popen from waiting on it again


def test_an_in_process_run_keeps_its_progress_lines_in_train_log(runs_dir: Path, generated_data: str) -> None:
    """The L pane of a run started in the app's own process shows what a detached run's does:
    the run, each epoch, the end (it held only the data lines)."""
    pytest.importorskip("torch")
    from engine.runs.layout import LOG_FILE

    launcher = RunLauncher(runs_dir)  # the engine's own trainer
    config = TrainConfig(data_path=generated_data, epochs=2, image_size=64, width=4, batch_size=4,
                         max_train_images=8, workers=0, device="cpu", amp="off")
    path, _ = launcher.start(config, "inproc-log", detached=False)
    launcher.trainers[path].join(timeout=120)
    log = (path / LOG_FILE).read_text()
    assert f"run inproc-log -> {path}" in log
    assert "epoch 1/2" in log and "epoch 2/2" in log and "finished: best valid Dice" in log
