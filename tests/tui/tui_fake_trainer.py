"""`FakeTrainer`: a stand-in for the engine's Trainer that writes a run folder from a thread and
obeys stop, pause and resume; `start_in_process` hands one to the app as a form's start does."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from engine.config import TrainConfig
from engine.events import (
    BatchProgress,
    EpochStarted,
    RunPaused,
    RunResumed,
    RunFinished,
    RunStarted,
    RunStopped,
)
from engine.runs import RunStore
from tui_run_folders import epoch_event


class FakeTrainer:
    """Stands in for engine.train.trainer.Trainer: writes a run folder from a thread, obeys stop()."""

    def __init__(self, config: TrainConfig, runs_dir: Path, run_name: str | None = None) -> None:
        self.config = config
        self.writer = RunStore(runs_dir).create(config.to_dict(), run_name)
        self.run_name = self.writer.name
        self.run_path = self.writer.path
        self._stop = threading.Event()
        self._unpaused = threading.Event()
        self._unpaused.set()
        self._thread: threading.Thread | None = None
        self.calls: list[str] = []
        self._subscribers: list = []

    def subscribe(self, callback) -> None:
        """As the engine's: ``callback(event)`` after each event is on disk."""
        self._subscribers.append(callback)

    def _emit(self, event) -> None:
        self.writer.append(event)
        for callback in self._subscribers:
            callback(event)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        w, total = self.writer, self.config.epochs
        w.start_heartbeat(0.5)
        self._emit(RunStarted(run=self.run_name, total_epochs=total, start_epoch=1, train_size=32, valid_size=4,
                            device="cpu", data="fake"))
        stopped = False
        for ep in range(1, total + 1):
            self._emit(EpochStarted(epoch=ep, total_epochs=total, batches=20))
            for b in range(1, 21):
                if not self._unpaused.is_set():  # like the real trainer: say so, wait, say so
                    self._emit(RunPaused(epoch=ep, batch=b - 1))
                    self._unpaused.wait()
                    self._emit(RunResumed(epoch=ep, batch=b - 1))
                if self._stop.is_set():
                    stopped = True
                    break
                self._emit(BatchProgress(epoch=ep, batch=b, batches=20, loss=1.0 / (ep + b / 20), images_per_s=100.0))
                time.sleep(0.03)
            if stopped:
                break
            self._emit(epoch_event(ep, total, time.time()))
        if stopped:
            self._emit(RunStopped(epoch=0))
            w.set_status("stopped", "stopped by user")
        else:
            self._emit(RunFinished(epochs=total, best_dice=0.6, best_epoch=total, seconds=1.0))
            w.set_status("finished", "done")
        w.close()

    def stop(self, reason: str = "") -> None:
        self.calls.append("stop")
        self._stop.set()
        self._unpaused.set()

    def pause(self) -> None:
        self.calls.append("pause")
        self._unpaused.clear()

    def resume(self) -> None:
        self.calls.append("resume")
        self._unpaused.set()

    def join(self, timeout: float | None = None) -> bool:
        if self._thread:
            self._thread.join(timeout)
        return not self.is_alive()

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


def start_in_process(app: Any, runs_dir: Path, name: str, epochs: int = 50) -> FakeTrainer:
    """A FakeTrainer started and handed to ``app`` as a run training in its own process (what the
    form's non-detached start does); 50 epochs keep it running until a test stops it."""
    trainer = FakeTrainer(TrainConfig(epochs=epochs), runs_dir, name)
    app.trainers[trainer.run_path] = trainer
    trainer.start()
    return trainer
