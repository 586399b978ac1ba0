"""Live run screen: charts and progress follow a run written by another thread; stop / pause."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

from conftest import FakeTrainer, epoch_event, make_run, wait_for, widget_text
from textual.widgets import ProgressBar

from engine.config import TrainConfig
from engine.events import BatchProgress, EpochStarted
from engine.store import CONTROL_FILE
from petseg_tui.app import PetsegApp
from petseg_tui.screens.confirm import ConfirmScreen
from petseg_tui.screens.live_run import LiveRunScreen
from petseg_tui.widgets.charts import LossChart, ema


class BackgroundWriter:
    """Appends epochs of a 'detached' run (another process, as far as the app knows)."""

    def __init__(self, root: Path, name: str) -> None:
        self.writer = make_run(root, name, epochs_done=0, total=6, state="running", t0=time.time(), close=False)
        self.writer.start_heartbeat(0.5)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        for ep in range(1, 7):
            self.writer.append(EpochStarted(epoch=ep, total_epochs=6, batches=10))
            for b in range(1, 11):
                if self.stop.wait(0.04):
                    return
                self.writer.append(BatchProgress(epoch=ep, batch=b, batches=10, loss=1 / (ep + b / 10),
                                                 images_per_s=200.0))
            self.writer.append(epoch_event(ep, 6, time.time()))
            if self.stop.wait(0.3):
                return

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.writer.close()


def test_live_screen_follows_detached_run_and_requests_stop(runs_dir: Path) -> None:
    bg = BackgroundWriter(runs_dir, "kilo")

    async def main() -> None:
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(120, 36)) as pilot:
            await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
            await pilot.press("enter")
            live = app.screen
            assert isinstance(live, LiveRunScreen)
            bg.thread.start()
            await wait_for(pilot, lambda: live.snapshot is not None and len(live.snapshot.epochs) >= 2,
                           timeout=10, what="two epochs")
            await pilot.pause(0.3)
            bar = live.query_one("#epoch-bar", ProgressBar)
            assert bar.total == 6 and bar.progress >= 2
            chart = live.query_one(LossChart)
            drawn = chart.plt.build()
            assert "train" in drawn and "valid" in drawn
            stats = widget_text(live.query_one("#live-stats"))
            assert "ETA" in stats and "best Dice" in stats and "@ epoch" in stats
            # redraws are throttled: far fewer than the events that arrived
            t0, r0 = time.monotonic(), live.redraws
            await pilot.pause(1.0)
            rate = (live.redraws - r0) / (time.monotonic() - t0)
            assert rate <= 6, rate
            # l, e, +/- do not crash and change the chart settings
            await pilot.press("l")
            assert chart.log_y
            await pilot.press("e")
            assert chart.smoothing > 0
            f0 = chart.smoothing
            await pilot.press("plus")
            assert chart.smoothing > f0
            await pilot.press("minus", "minus")
            assert chart.smoothing < f0
            await pilot.pause(0.3)
            assert "EMA" in widget_text(live.query_one("#live-messages"))
            # pause: detached run -> control file
            await pilot.press("p")
            ctl = json.loads((runs_dir / "kilo" / CONTROL_FILE).read_text())
            assert ctl["action"] == "pause"
            # stop asks first; "n" keeps training
            await pilot.press("x")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")
            assert app.screen is live
            await pilot.press("x")
            await pilot.press("y")
            assert app.screen is live
            ctl = json.loads((runs_dir / "kilo" / CONTROL_FILE).read_text())
            assert ctl["action"] == "stop"
            await pilot.press("escape")
            assert not isinstance(app.screen, LiveRunScreen)

    try:
        asyncio.run(main())
    finally:
        bg.close()


def test_in_process_trainer_stop_and_quit_confirmation(runs_dir: Path) -> None:
    async def main() -> None:
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(100, 30)) as pilot:
            trainer = FakeTrainer(TrainConfig(epochs=50), runs_dir, "lima")
            app.trainers[trainer.run_path] = trainer
            trainer.start()
            app.open_run(trainer.run_path)
            live = app.screen
            await wait_for(pilot, lambda: live.snapshot is not None and live.snapshot.current_batch > 0,
                           what="first batches")
            await pilot.pause(0.3)
            assert "in this process" in widget_text(live.query_one("#live-title"))
            await pilot.press("p")
            assert trainer.calls == ["pause"]
            assert live._control_note.startswith("Pausing")
            await wait_for(pilot, lambda: live.snapshot.paused, what="paused state shown")
            await pilot.pause(0.4)
            text = widget_text(live.query_one("#live-messages"))
            assert "Paused" in text and "Pausing" not in text  # the pending note goes once done
            await pilot.press("p")
            assert trainer.calls[-1] == "resume"
            await wait_for(pilot, lambda: not live.snapshot.paused, what="running again")
            # q with a live in-process run asks first
            await pilot.press("q")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")
            assert app.screen is live and trainer.is_alive()
            await pilot.press("x", "y")
            assert "stop" in trainer.calls
            await wait_for(pilot, lambda: not trainer.is_alive(), what="trainer stopped")
            await wait_for(pilot, lambda: live.snapshot.state == "stopped", what="stopped state shown")
            await pilot.press("q")  # nothing trains any more: quits at once
        assert not trainer.is_alive()

    asyncio.run(main())


def test_quit_stops_in_process_run(runs_dir: Path) -> None:
    async def main() -> FakeTrainer:
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            trainer = FakeTrainer(TrainConfig(epochs=50), runs_dir, "mike")
            app.trainers[trainer.run_path] = trainer
            trainer.start()
            await pilot.pause(0.2)
            await pilot.press("q")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            await wait_for(pilot, lambda: not trainer.is_alive(), what="trainer stopped by quit")
            await pilot.pause(0.2)
        return trainer

    trainer = asyncio.run(main())
    assert trainer.calls[0] == "stop"
    status = json.loads((trainer.run_path / "status.json").read_text())
    assert status["state"] == "stopped"


def test_ema() -> None:
    assert ema([1.0, 1.0, 1.0], 0.9) == [1.0, 1.0, 1.0]
    out = ema([0.0, 1.0], 0.5)
    assert out == [0.0, 0.5]
