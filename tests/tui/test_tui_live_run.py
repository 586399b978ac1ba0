"""Live run screen: charts and progress follow a run written by another thread; stop / pause."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from tui_helpers import (
    epoch_event,
    footer_text,
    make_run,
    open_live,
    start_in_process,
    toasts,
    wait_for,
    widget_text,
    write_previews,
)
from textual.widgets import ProgressBar

from engine.config import TrainConfig
from engine.events import BatchProgress, EpochStarted, RunStarted
from engine.runs import CONTROL_FILE, RunStore, request_control
from petseg_tui.app import PetsegApp
from petseg_tui.screens.confirm import ConfirmScreen
from petseg_tui.screens.live_run import LiveRunScreen
from petseg_tui.widgets.chart_specs import ema
from petseg_tui.widgets.charts import Chart


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


@pytest.mark.slow
async def test_live_screen_follows_detached_run_and_requests_stop(runs_dir: Path) -> None:
    bg = BackgroundWriter(runs_dir, "kilo")

    try:
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(120, 36), notifications=True) as pilot:
            await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
            await pilot.press("enter")
            live = app.screen
            assert isinstance(live, LiveRunScreen)
            bg.thread.start()
            await wait_for(pilot, lambda: live.snapshot is not None and len(live.snapshot.epochs) >= 2,
                           what="two epochs")
            bar = live.query_one("#epoch-bar", ProgressBar)
            await wait_for(pilot, lambda: bar.progress >= 2, what="the epoch bar drawn")
            assert bar.total == 6
            chart = live.query_one("#loss-chart", Chart)

            def header() -> str:
                return widget_text(chart.query_one(".chart--header"))

            assert "●" in header() and "train" in header() and "▲" in header() and "valid" in header()
            assert "train" not in chart.plot.plt.build()  # the legend is above the plot, not on the curves
            stats = widget_text(live.query_one("#live-stats"))
            assert "ETA" in stats and "best Dice" in stats and "@ epoch" in stats
            # l, e, +/- change what the chart says it draws
            await pilot.press("l")
            await wait_for(pilot, lambda: "log y" in header(), what="log y")
            await pilot.press("e")
            await wait_for(pilot, lambda: "EMA 0.60" in header(), what="EMA on")
            await pilot.press("plus")
            await wait_for(pilot, lambda: "EMA 0.70" in header(), what="EMA up")
            await pilot.press("minus", "minus")
            await wait_for(pilot, lambda: "EMA 0.50" in header(), what="EMA down")
            assert "Stop" in footer_text(live) and "Pause" in footer_text(live)
            # pause: detached run -> control file
            await pilot.press("p")
            ctl = json.loads((runs_dir / "kilo" / CONTROL_FILE).read_text())
            assert ctl["action"] == "pause"
            # a stop from another shell (petseg stop --no_wait) not read yet, then p: the stop stands
            # (a pause written over it had the run train on)
            assert request_control(runs_dir / "kilo", "stop")
            await pilot.press("p")
            await wait_for(pilot, lambda: "A stop is already on its way to kilo: not paused" in toasts(app),
                           what="the pending stop said")
            assert json.loads((runs_dir / "kilo" / CONTROL_FILE).read_text())["action"] == "stop"
            # stop asks first; "n" keeps training
            # where it trains, said as known: another process (a CLI run in tmux is not "detached")
            pid = f"(pid {live.snapshot.pid})"
            assert f"another process {pid}" in widget_text(live.query_one("#live-title"))
            await pilot.press("x")
            assert isinstance(app.screen, ConfirmScreen)
            assert f"It trains in another process {pid}." in " ".join(
                widget_text(app.screen.query_one("#confirm-question")).split())
            await pilot.press("n")
            assert app.screen is live
            await pilot.press("x")
            await pilot.press("y")
            assert app.screen is live
            ctl = json.loads((runs_dir / "kilo" / CONTROL_FILE).read_text())
            assert ctl["action"] == "stop"
            # once it has stopped: no Stop / Pause offered, x does nothing
            bg.close()
            writer = RunStore(runs_dir).open_for_resume("kilo")
            writer.set_status("stopped", "stopped by user")
            writer.close()
            await wait_for(pilot, lambda: live.snapshot.state == "stopped", what="stopped")
            await wait_for(pilot, lambda: "Stop" not in footer_text(live) and "Pause" not in footer_text(live),
                           what="no Stop/Pause in the footer")
            await pilot.press("x")
            assert app.screen is live
            await pilot.press("escape")
            assert not isinstance(app.screen, LiveRunScreen)
    finally:
        bg.close()


async def test_in_process_trainer_stop_and_quit_confirmation(runs_dir: Path) -> None:
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        trainer = start_in_process(app, runs_dir, "lima")
        app.open_run(trainer.run_path)
        live = app.screen
        await wait_for(pilot, lambda: live.snapshot is not None and live.snapshot.current_batch > 0,
                       what="first batches")
        await wait_for(pilot, lambda: "in this process" in widget_text(live.query_one("#live-title")),
                       what="where it trains")
        await pilot.press("p")
        assert trainer.calls == ["pause"]
        await wait_for(pilot, lambda: any(w in widget_text(live.query_one("#live-messages"))
                                          for w in ("Pausing", "Paused")), what="pausing said")
        # the pending note goes once the run has done it
        await wait_for(pilot, lambda: "Paused" in (text := widget_text(live.query_one("#live-messages")))
                       and "Pausing" not in text, what="paused said, pausing gone")
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


async def test_quit_stops_in_process_run(runs_dir: Path) -> None:
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        trainer = start_in_process(app, runs_dir, "mike")
        await wait_for(pilot, lambda: trainer.is_alive(), what="trainer running")
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: not trainer.is_alive(), what="trainer stopped by quit")
    assert trainer.calls[0] == "stop"
    status = json.loads((trainer.run_path / "status.json").read_text())
    assert status["state"] == "stopped"


def _app_whose_runs_start_slowly(runs_dir: Path) -> tuple[PetsegApp, list, threading.Event, threading.Event]:
    """The app, its in-process runs' trainers as made, and two events: ``entered`` once a run's
    setup (torch's import, seconds in life) has begun, ``ready`` to let it finish."""
    from tui_helpers import FakeTrainer

    made: list[FakeTrainer] = []
    entered, ready = threading.Event(), threading.Event()

    def slow_trainer(config: TrainConfig, root: Path, name: str | None) -> FakeTrainer:
        entered.set()
        ready.wait(10)
        made.append(FakeTrainer(config, root, name))
        return made[-1]

    app = PetsegApp(runs_dir=runs_dir)
    app.launcher.make_trainer = slow_trainer
    return app, made, entered, ready


async def test_quit_while_an_in_process_run_starts_asks_then_stops_it(runs_dir: Path) -> None:
    """q in the seconds an in-process run imports torch and sets up: the app quit without asking
    (nothing trained yet), then the run started training in a thread that died with the process,
    left `running` with no last.pt. It asks, as for a training run, and the run ends stopped."""
    from petseg_tui.messages import StartRun
    from petseg_tui.screens.confirm import ConfirmScreen
    from tui_helpers import rendered

    app, made, entered, ready = _app_whose_runs_start_slowly(runs_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        app.post_message(StartRun(TrainConfig(epochs=50), "oscar", detached=False))
        await wait_for(pilot, entered.is_set, what="the start under way")
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        assert "oscar (starting)" in " ".join(str(rendered(w)) for w in app.screen.query("Static"))
        await pilot.press("y")
        ready.set()
        await wait_for(pilot, lambda: app.return_code is not None, what="the app ending")
    assert made and made[0].calls[0] == "stop" and not made[0].is_alive()
    assert json.loads((made[0].run_path / "status.json").read_text())["state"] == "stopped"


async def test_the_quit_question_stays_up_when_the_starting_run_gets_going(runs_dir: Path) -> None:
    """q while an in-process run imports torch asks "Quit?"; the run then started and the app
    went to its live screen, popping every screen above the runs table, the question with them:
    it vanished unanswered (seen in tmux: ctrl+s, ctrl+q, and no question). It stays until
    answered; Keep training then shows the run."""
    from petseg_tui.messages import StartRun

    app, made, entered, ready = _app_whose_runs_start_slowly(runs_dir)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            app.post_message(StartRun(TrainConfig(epochs=50), "oscar", detached=False))
            await wait_for(pilot, entered.is_set, what="the start under way")
            await pilot.press("q")
            assert isinstance(app.screen, ConfirmScreen)
            ready.set()
            await wait_for(pilot, lambda: bool(made) and made[0].is_alive(), what="the run training")
            await pilot.pause(0.5)
            assert isinstance(app.screen, ConfirmScreen), "the question was taken away unanswered"
            await pilot.press("n")  # Keep training
            await wait_for(pilot, lambda: isinstance(app.screen, LiveRunScreen) and app.screen.run_path == made[0].run_path,
                           what="the run's live screen")
            made[0].stop()
    finally:
        ready.set()


async def test_quit_just_after_start_is_pressed_asks_then_stops_the_run(runs_dir: Path) -> None:
    """ctrl+q in the instant between Start and the run's start in its worker thread (scheduled late
    on two busy cores): the app found nothing starting and quit without asking; the run then began
    training in a thread that died with the process (left `running`, no last.pt). The run counts
    as starting from the moment the app is asked for it: the quit asks, and stops it."""
    from petseg_tui.messages import StartRun
    from tui_helpers import FakeTrainer, rendered

    made: list[FakeTrainer] = []
    scheduled = threading.Event()
    app = PetsegApp(runs_dir=runs_dir)
    app.launcher.make_trainer = lambda config, root, name: made.append(FakeTrainer(config, root, name)) or made[-1]
    start = app.launcher.start

    def late_start(*args, **kwargs):
        scheduled.wait(10)  # the worker's thread, not run yet
        return start(*args, **kwargs)

    app.launcher.start = late_start  # type: ignore[method-assign]
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            app.post_message(StartRun(TrainConfig(epochs=50), "oscar", detached=False))
            await pilot.pause()
            await pilot.press("ctrl+q")
            assert isinstance(app.screen, ConfirmScreen) and app.return_code is None
            assert "oscar (starting)" in " ".join(str(rendered(w)) for w in app.screen.query("Static"))
            await pilot.press("y")
            scheduled.set()
            await wait_for(pilot, lambda: app.return_code is not None, what="the app ending")
    finally:
        scheduled.set()
    assert made and made[0].calls[0] == "stop" and not made[0].is_alive()
    assert json.loads((made[0].run_path / "status.json").read_text())["state"] == "stopped"


@pytest.mark.parametrize("sig", ["SIGHUP", "SIGTERM"])
async def test_a_lost_terminal_stops_and_saves_the_in_process_run_before_the_app_ends(runs_dir: Path, sig: str) -> None:
    """SIGHUP (an SSH link dropped without tmux) or SIGTERM: the app stops its in-process runs as
    "Stop and quit" does, without a dialog nobody can answer, then ends. (Before, the process died
    at once: the run stayed `running` with a dead pid and no last.pt.) A fallback handler stands in
    for the default action, which would end this test process."""
    import os
    import signal

    number = getattr(signal, sig)
    fallback = []
    before = signal.signal(number, lambda *_: fallback.append(sig))
    try:
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            trainer = start_in_process(app, runs_dir, "hup")
            await wait_for(pilot, lambda: trainer.is_alive(), what="trainer running")
            os.kill(os.getpid(), number)
            await wait_for(pilot, lambda: app.return_code is not None, what="the app ending")
        assert fallback == [] and trainer.calls[0] == "stop" and not trainer.is_alive()
        # the signal's code, as `petseg` and a lost terminal end: it ended 0, a quit's
        assert app.return_code == 128 + number
        status = json.loads((trainer.run_path / "status.json").read_text())
        assert status["state"] == "stopped"
    finally:
        signal.signal(number, before)


async def test_a_signal_stops_and_saves_the_in_process_run_while_the_event_loop_is_blocked(runs_dir: Path) -> None:
    """A terminal that stops reading blocks the event loop in a write (Textual's writer queue is
    full). The SIGTERM handler ran in that loop, so the run training in this process went on, and
    unsaved, for as long as the terminal read nothing. The loop is blocked here the same way: in
    a callback waiting for the terminal, which the test releases once the run has stopped."""
    import os
    import signal

    fallback = []
    before = signal.signal(signal.SIGTERM, lambda *_: fallback.append("SIGTERM"))
    try:
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            trainer = start_in_process(app, runs_dir, "stalled")
            await wait_for(pilot, lambda: trainer.is_alive(), what="trainer running")
            stopped_while_blocked = []

            def write_to_a_stalled_terminal() -> None:  # the loop's thread, as Textual's write is
                os.kill(os.getpid(), signal.SIGTERM)
                deadline = time.monotonic() + 10
                while trainer.is_alive() and time.monotonic() < deadline:
                    time.sleep(0.05)
                stopped_while_blocked.append(not trainer.is_alive())

            app.call_later(write_to_a_stalled_terminal)
            await wait_for(pilot, lambda: bool(stopped_while_blocked), what="the blocked loop to go on")
            await wait_for(pilot, lambda: app.return_code is not None, what="the app ending")
        assert stopped_while_blocked == [True], "the run trained on while the event loop was blocked"
        assert fallback == [] and trainer.calls[0] == "stop"
        assert app.return_code == 128 + signal.SIGTERM
        assert json.loads((trainer.run_path / "status.json").read_text())["state"] == "stopped"
    finally:
        signal.signal(signal.SIGTERM, before)


def test_ema() -> None:
    assert ema([1.0, 1.0, 1.0], 0.9) == [1.0, 1.0, 1.0]
    out = ema([0.0, 1.0], 0.5)
    assert out == [0.0, 0.5]


async def test_failed_run_says_failed_in_the_charts_and_offers_no_stop(runs_dir: Path) -> None:
    from engine.events import RunFailed

    w = make_run(runs_dir, "oops", epochs_done=0, total=5, state="running", close=False)
    w.append(RunFailed(message="/data: dataset folder does not exist"))
    w.set_status("failed", "/data: dataset folder does not exist")
    w.close()

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        live = await open_live(pilot, runs_dir / "oops")
        for chart in ("#loss-chart", "#dice-chart"):
            def text() -> str:
                return " ".join(widget_text(live.query_one(chart, Chart).query_one(".chart--empty")).split())

            await wait_for(pilot, lambda: "failed: /data: dataset folder does not exist" in text(), what=chart)
            assert "waiting" not in text()
        await wait_for(pilot, lambda: "R Start again" in footer_text(live), what="R in the footer")
        assert "Stop" not in footer_text(live) and "Pause" not in footer_text(live)


async def test_eta_and_elapsed_leave_out_a_pause(runs_dir: Path) -> None:
    """1 batch/s, then a 60 s pause, then on: the ETA is 28 s (8 batches left + one 20-batch
    epoch), not the ~3 minutes a rate over the paused wall time gives; elapsed leaves the minute out."""
    from engine.events import RunPaused, RunResumed, RunStarted

    t0 = time.time() - 75
    w = RunStore(runs_dir).create(TrainConfig(epochs=2, batch_size=4).to_dict(), "paused-once")
    w.start_heartbeat(0.5)
    w.append(RunStarted(run="paused-once", total_epochs=2, start_epoch=1, train_size=80, valid_size=8,
                        device="cpu", data="d", t=t0))
    w.append(EpochStarted(epoch=1, total_epochs=2, batches=20, t=t0))
    for b in range(1, 11):
        w.append(BatchProgress(epoch=1, batch=b, batches=20, loss=0.5, images_per_s=4.0, t=t0 + b))
    w.append(RunPaused(epoch=1, batch=10, t=t0 + 10))
    w.append(RunResumed(epoch=1, batch=10, t=t0 + 70))
    for b in (11, 12):
        w.append(BatchProgress(epoch=1, batch=b, batches=20, loss=0.5, images_per_s=4.0, t=t0 + 60 + b))

    try:
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(120, 36)) as pilot:
            live = await open_live(pilot, runs_dir / "paused-once")
            await wait_for(pilot, lambda: "ETA       ~28s" in widget_text(live.query_one("#live-stats")),
                           what="ETA without the pause")
            stats = widget_text(live.query_one("#live-stats"))
            elapsed = next(line for line in stats.splitlines() if "elapsed" in line).split()[-1]
            assert elapsed.endswith("s") and "m" not in elapsed, stats  # ~15 s, not 1m15s
    finally:
        w.close()


async def test_predictions_beside_the_charts_step_through_epochs(runs_dir: Path) -> None:
    make_run(runs_dir, "seen", epochs_done=3, total=3)
    write_previews(runs_dir / "seen", 3)

    from petseg_tui.widgets.image_view import ImageView
    from petseg_tui.widgets.previews import PreviewPanel

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        live = await open_live(pilot, runs_dir / "seen")
        panel = live.query_one(PreviewPanel)

        def header() -> str:
            return " ".join(widget_text(panel.query_one(".previews--header")).split())

        await wait_for(pilot, lambda: "epoch 3 of 3 · newest preview" in header(), what="newest epoch")
        assert panel.display and live.query_one("#dice-chart").display  # 120 columns: beside both charts
        await wait_for(pilot, lambda: panel.query_one(ImageView).pil_image is not None, what="picture")
        newest = panel.query_one(ImageView).pil_image.tobytes()
        await pilot.press("left_square_bracket")
        await wait_for(pilot, lambda: "epoch 2 of 3 · preview 2 of 3" in header(), what="epoch 2")
        await wait_for(pilot, lambda: panel.query_one(ImageView).pil_image.tobytes() != newest, what="new picture")
        assert "Dice" in header()
        await pilot.press("left_square_bracket", "left_square_bracket")
        await wait_for(pilot, lambda: "epoch 1 of 3 · preview 1 of 3" in header(), what="epoch 1, not below")
        await pilot.press("right_square_bracket", "right_square_bracket")
        await wait_for(pilot, lambda: "epoch 3 of 3 · newest preview" in header(), what="following again")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await open_live(pilot, runs_dir / "seen")
        panel = live.query_one(PreviewPanel)
        assert not panel.display and live.query_one("#dice-chart").display  # 80 columns: charts first
        await pilot.press("v")
        await wait_for(pilot, lambda: panel.display, what="predictions in the Dice chart's place")
        assert panel.display and not live.query_one("#dice-chart").display
        await wait_for(pilot, lambda: "epoch 3" in widget_text(panel.query_one(".previews--header")),
                       what="previews shown")


async def test_a_predictions_choice_made_with_v_holds_across_resizes(runs_dir: Path) -> None:
    """Shown with v at 80 columns, widened past 120 and narrowed back, the predictions were hidden
    again: each change of the width class reset them to its default. The user's choice (v, either
    way) now holds; without one, the width's default still applies. L's log pane holds too."""
    make_run(runs_dir, "seen", epochs_done=3, total=3)
    write_previews(runs_dir / "seen", 3)

    from petseg_tui.widgets.log_pane import LogPane
    from petseg_tui.widgets.previews import PreviewPanel

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 36)) as pilot:
        live = await open_live(pilot, runs_dir / "seen")
        panel, dice = live.query_one(PreviewPanel), live.query_one("#dice-chart")

        async def resize(width: int, shown: bool, what: str) -> None:
            await pilot.resize_terminal(width, 36)
            await wait_for(pilot, lambda: live.size.width == width and live.at_least("-wide") == (width >= 120),
                           what=f"{width} columns laid out")
            await pilot.pause()
            assert panel.display == shown, what

        await resize(140, True, "no choice: a third column from 120 columns")
        await resize(80, False, "no choice: behind v at 80 columns")
        await pilot.press("v", "L")
        await wait_for(pilot, lambda: panel.display and live.query_one(LogPane).display, what="shown with v and L")
        await resize(140, True, "shown with v, wide")
        assert dice.display  # a third column: the Dice chart back beside them
        await resize(80, True, "shown with v, narrowed back: still shown")
        assert not dice.display and live.query_one(LogPane).display  # in the Dice chart's place; the log still there
        await wait_for(pilot, lambda: "epoch 3" in widget_text(panel.query_one(".previews--header")),
                       what="the predictions drawn")
        await resize(140, True, "wide again")
        await pilot.press("v")
        await wait_for(pilot, lambda: not panel.display, what="hidden with v at 140 columns")
        await resize(80, False, "hidden with v")
        await resize(160, False, "hidden with v, widened: still hidden")
        assert dice.display


async def test_the_predictions_header_names_the_epoch_of_the_runs_budget_not_a_second_count(
        runs_dir: Path) -> None:
    """Beside the epoch row's "3/300 done" the predictions' header read "epoch 3 (3/3, newest)":
    two different counts of "3/N" side by side (the previews kept, the run's epochs). It names the
    epoch against the run's budget, and the previews kept in words."""
    make_run(runs_dir, "long", epochs_done=3, total=300, state="stopped")
    write_previews(runs_dir / "long", 3)

    from petseg_tui.widgets.previews import PreviewPanel

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await open_live(pilot, runs_dir / "long")
        await pilot.press("v")
        panel = live.query_one(PreviewPanel)

        def header() -> str:
            return " ".join(widget_text(panel.query_one(".previews--header")).split())

        await wait_for(pilot, lambda: "epoch 3 of 300 · newest preview" in header(), what="the newest epoch")
        assert widget_text(live.query_one("#epoch-label")).strip() == "3/300 done"
        assert "3/3" not in header()
        await pilot.press("left_square_bracket")
        await wait_for(pilot, lambda: "epoch 2 of 300 · preview 2 of 3" in header(), what="an older epoch")


@pytest.mark.parametrize("size", [(80, 24), (200, 60)])
async def test_the_predictions_header_breaks_between_its_parts_never_inside_one(runs_dir: Path, size) -> None:
    """At 80x24 with v the header (half the screen) wrapped at its spaces: "Predictions  epoch 3
    of 300 · newest" over "preview  Dice 0.30 …  red" over "predicted · green true". Each part is
    whole on a row; where all would not fit in the header's three rows, the panel's name goes."""
    make_run(runs_dir, "long", epochs_done=3, total=300, state="stopped")
    write_previews(runs_dir / "long", 3)

    from petseg_tui.widgets.previews import PreviewPanel

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=size) as pilot:
        live = await open_live(pilot, runs_dir / "long")
        if size[0] < 120:
            await pilot.press("v")
        panel = live.query_one(PreviewPanel)

        def rows() -> list[str]:
            return [" ".join(row.split()) for row in widget_text(panel.query_one(".previews--header")).splitlines()]

        await wait_for(pilot, lambda: any("Dice" in row for row in rows()), what="the newest epoch's header")
        await pilot.pause()
        shown = rows()
        assert any(row.endswith("epoch 3 of 300 · newest preview") for row in shown), shown
        assert any(row.endswith("red predicted · green true") for row in shown), shown
        assert any(row.startswith("Dice ") or " Dice " in row for row in shown), shown
        assert ("Predictions" in shown[0]) == (size[0] >= 120), shown  # room for the panel's name


async def test_an_unreadable_preview_says_its_problem_whole_at_80_columns(runs_dir: Path) -> None:
    """A truncated epoch preview, at 80x24 with v: the header (three rows of half the screen) read
    "<runs folder>/damaged/previews/epoc" "h_0002.png: unreadable preview (image", the problem cut
    off by the path. The file is named inside the run (the title names the run)."""
    make_run(runs_dir, "damaged", epochs_done=2, total=2)
    write_previews(runs_dir / "damaged", 2)
    png = runs_dir / "damaged" / "previews" / "epoch_0002.png"
    png.write_bytes(png.read_bytes()[:100])

    from petseg_tui.widgets.previews import PreviewPanel

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await open_live(pilot, runs_dir / "damaged")
        await pilot.press("v")
        panel = live.query_one(PreviewPanel)

        def header() -> str:
            return " ".join(widget_text(panel.query_one(".previews--header")).split())

        await wait_for(pilot, lambda: "unreadable preview" in header(), what="the preview's problem")
        assert "previews/epoch_0002.png: unreadable preview (image file is truncated)" in header(), header()
        assert str(runs_dir) not in header()


async def test_every_view_key_redraws_the_chart_at_once_on_a_finished_run(runs_dir: Path) -> None:
    """A finished run sends no new data: l on and l off both redraw the loss chart by themselves
    (the off press used to wait for the next snapshot, which a finished run never sends)."""
    make_run(runs_dir, "done", epochs_done=4, state="finished")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        live = await open_live(pilot, runs_dir / "done")
        header = live.query_one("#loss-chart", Chart).query_one(".chart--header")
        for shown in (True, False, True, False):
            await pilot.press("l")
            # no new data comes: without a redraw of its own the chart never changes (the wait's
            # bound only ends a failure, and a loaded machine may take seconds)
            await wait_for(pilot, lambda: ("log y" in widget_text(header)) == shown,
                           what=f"log y {'on' if shown else 'off'}")


@pytest.mark.slow
async def test_a_view_key_keeps_the_charts_data_until_the_new_data_is_due(runs_dir: Path, monkeypatch) -> None:
    # A key redraws only what it changes: an epoch that arrived since the charts were drawn waits
    # for its timer (new data redraws the charts at most every CHART_INTERVAL_S), so the key does
    # not pay for rebuilding both charts with new data (#20's key-to-redraw latency).
    from petseg_tui.screens import live_charts

    monkeypatch.setattr(live_charts, "CHART_INTERVAL_S", 4.0)
    writer = make_run(runs_dir, "mike", epochs_done=3, total=6, state="running", t0=time.time(), close=False)
    try:
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(120, 36)) as pilot:
            live = await open_live(pilot, runs_dir / "mike")
            loss = live.query_one("#loss-chart", Chart)

            def charted_epochs() -> int:
                return len(loss.spec.series[0].xs) if loss.spec is not None else 0

            await wait_for(pilot, lambda: charted_epochs() == 3, what="three epochs charted")
            writer.append(epoch_event(4, 6, time.time()))
            await wait_for(pilot, lambda: len(live.snapshot.epochs) == 4, what="the fourth epoch read")
            assert charted_epochs() == 3  # the new epoch waits for its timer
            await pilot.press("l")
            await wait_for(pilot, lambda: loss.spec.log_y, what="log y")
            assert charted_epochs() == 3, "the key drew the newer data, not only the new view"
            await wait_for(pilot, lambda: charted_epochs() == 4, timeout=15, what="the new epoch on its timer")
            assert loss.spec.log_y
    finally:
        writer.close()


async def test_runs_that_change_under_the_live_screen_are_shown_on_return(runs_dir: Path) -> None:
    # The runs table is not updated while the live screen covers it (a hidden screen's update
    # repaints the screen on top in Textual); what changed meanwhile is there when it shows again.
    writer = make_run(runs_dir, "november", epochs_done=2, total=6, state="running", t0=time.time(), close=False)
    make_run(runs_dir, "oscar", epochs_done=5, total=5)
    try:
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(120, 36)) as pilot:
            await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
            table = app.screen.query_one("#runs-table")
            assert "running" in str(table.get_cell("november", "state"))
            live = await open_live(pilot, runs_dir / "november")
            writer.append(epoch_event(3, 6, time.time()))
            writer.set_status("failed", "CUDA out of memory")
            writer.close()
            await wait_for(pilot, lambda: live.snapshot.state == "failed", what="the live screen saw it fail")
            (runs_dir / "oscar").rename(runs_dir / "oscar-renamed")
            app.screen.app.runs_screen.rescan()
            await pilot.pause(0.5)
            await pilot.press("escape")
            await wait_for(pilot, lambda: "failed" in str(table.get_cell("november", "state")),
                           what="the failure in the table after returning")
            await wait_for(pilot, lambda: "oscar-renamed" in table.visible_names, what="the renamed run listed")
            assert "oscar" not in table.visible_names
    finally:
        writer.close()


async def test_a_data_line_that_arrives_long_wraps_in_full(runs_dir: Path) -> None:
    """The run's data description comes with its first event, after the screen drew the config's
    one-line data path: at 160 columns it takes two lines, and both show (it was cut after one)."""
    from engine.events import RunStarted

    data = ("Oxford-IIIT Pet at /work/shared/data/oxford-pet-mini: 6 trainval, 0 test images "
            "(no annotations/trainval.txt: using every image that has a trimap)")
    writer = RunStore(runs_dir).create(TrainConfig(epochs=2, data_path="/work/shared/data/oxford-pet-mini").to_dict(),
                                       "late-data")
    writer.set_status("running")
    app = PetsegApp(runs_dir=runs_dir)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            live = await open_live(pilot, runs_dir / "late-data")
            info = live.query_one("#live-info")
            await wait_for(pilot, lambda: "oxford-pet-mini" in widget_text(info), what="the data path drawn")
            writer.append(RunStarted(run="late-data", total_epochs=2, start_epoch=1, train_size=5, valid_size=1,
                                     device="cpu", data=data))
            await wait_for(pilot, lambda: live.snapshot.data == data, what="the data description read")
            await pilot.pause()
            assert " ".join(widget_text(info).split()).endswith("using every image that has a trimap)")
    finally:
        writer.close()


async def test_prediction_keys_are_offered_once_a_run_has_predictions(runs_dir: Path) -> None:
    """[ ] and v cannot act on a run with no predictions yet (narrow: the panel is hidden): not
    offered; the first epoch's predictions bring them."""
    writer = make_run(runs_dir, "young", epochs_done=0, state="running", t0=time.time(), close=False)
    writer.start_heartbeat(0.5)
    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            live = await open_live(pilot, runs_dir / "young")
            await wait_for(pilot, lambda: live.snapshot is not None, what="the run read")
            footer = footer_text(live)
            assert "Earlier" not in footer and "Later" not in footer and "Predictions" not in footer
            assert not live.check_action("preview_epoch", (1,)) and not live.check_action("toggle_previews", ())
            write_previews(runs_dir / "young", 1)
            await wait_for(pilot, lambda: "Predictions" in footer_text(live), what="v offered")
            assert live.check_action("preview_epoch", (-1,))
    finally:
        writer.close()


async def test_the_title_bar_names_a_run_folder_with_brackets_as_it_is(tmp_path: Path) -> None:
    """A run folder copied by hand (``alpha [copy]``): the run screen's title bar read
    "petseg — alpha", the ``[copy]`` taken for Rich markup (seen in tmux at 80x24)."""
    from petseg_tui.widgets.header import PetsegHeader

    import shutil

    runs = tmp_path / "runs"
    make_run(runs, "alpha")
    shutil.move(runs / "alpha", runs / "alpha [copy]")  # cp -r alpha "alpha [copy]", then the first one went
    app = PetsegApp(runs_dir=runs)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, LiveRunScreen), what="the run screen")
        await pilot.pause()
        assert widget_text(app.screen.query_one(PetsegHeader)).strip().endswith("alpha [copy]")


async def test_a_finished_runs_images_per_s_is_the_runs_table_figure(runs_dir: Path) -> None:
    """Once a run is over its screen shows the median img/s over its epochs, as the runs table
    and `petseg runs` do: it showed the last epoch's alone (a real 40-epoch run read 118 on its
    screen and 225 in the table)."""
    make_run(runs_dir, "done", epochs_done=4, state="finished")  # epochs at 121, 122, 123, 124 img/s
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(160, 40)) as pilot:
        table = app.screen.query_one("#runs-table")
        await wait_for(pilot, lambda: "122" in widget_text(table), what="the runs table's median 122 img/s")
        live = await open_live(pilot, runs_dir / "done")
        stats = lambda: " ".join(widget_text(live.query_one("#live-stats")).split())  # noqa: E731
        await wait_for(pilot, lambda: "images/s 122 " in stats(), what="the median on the run's screen")
        assert "124" not in stats()


def test_a_run_deleted_under_its_live_view_says_its_folder_is_gone(runs_dir: Path) -> None:
    """Another dashboard's D (or an rm) while this one shows the run: the view says the folder is
    gone and keeps the curves it drew, instead of "broken: status.json: missing"."""
    from engine.runs import delete_run
    from petseg_tui.screens.live_text import messages_text
    from petseg_tui.live_follow import LiveFollower

    make_run(runs_dir, "gone", epochs_done=3, total=5, state="stopped")
    (runs_dir / "gone" / "checkpoints").mkdir(exist_ok=True)
    (runs_dir / "gone" / "checkpoints" / "last.pt").write_bytes(b"placeholder")  # what R resumes from
    follower = LiveFollower(runs_dir / "gone")
    first = follower.snapshot()
    assert first is not None and len(first.epochs) == 3 and first.resume.action == "resume"
    delete_run(runs_dir / "gone")
    snap = follower.snapshot()
    assert snap is not None
    shown = messages_text(snap, "", "", log_shown=False).plain
    assert f"{runs_dir / 'gone'}: the run folder is gone" in shown
    assert "status.json" not in shown
    assert len(snap.epochs) == 3  # the curves it had stay on screen
    assert snap.resume.action == "" and not snap.has_checkpoint and not snap.active  # no R, i, w, E, x, p
    assert follower.snapshot() is None  # nothing new to draw while it stays gone


def test_a_run_deleted_while_its_view_reads_it_is_gone_not_broken(runs_dir: Path, monkeypatch) -> None:
    """The delete lands between the view's look at the folder and its read of the files: that
    poll said "broken" (its files missing) for a moment before "folder gone"."""
    from engine.runs import RunFollower, delete_run
    from petseg_tui.live_follow import LiveFollower

    make_run(runs_dir, "gone", epochs_done=3, total=5, state="stopped")
    follower = LiveFollower(runs_dir / "gone")
    assert follower.snapshot() is not None
    poll = RunFollower.poll

    def deleted_first(self, *args, **kwargs):
        delete_run(runs_dir / "gone")
        return poll(self, *args, **kwargs)

    monkeypatch.setattr(RunFollower, "poll", deleted_first)
    snap = follower.snapshot()
    assert snap is not None and snap.gone and len(snap.epochs) == 3


async def test_a_run_deleted_under_its_screen_offers_no_key_that_shows_its_files(runs_dir: Path) -> None:
    """Its screen said "the run folder is gone", yet opened the log pane on "(no train.log in this
    run folder yet ...)" and offered L, v and [ ] for files that went with the folder."""
    from engine.runs import delete_run
    from petseg_tui.widgets.log_pane import LogPane
    from petseg_tui.widgets.previews import PreviewPanel

    make_run(runs_dir, "gone", epochs_done=3, total=5, state="failed")
    write_previews(runs_dir / "gone", 3)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(160, 40)) as pilot:
        live = await open_live(pilot, runs_dir / "gone")
        await wait_for(pilot, lambda: "L Log" in footer_text(live) and "v Predictions" in footer_text(live),
                       what="L and v offered while the folder is there")
        delete_run(runs_dir / "gone")
        await wait_for(pilot, lambda: "the run folder is gone" in widget_text(live.query_one("#live-messages")),
                       what="the folder is gone, said")
        await wait_for(pilot, lambda: "Back" in footer_text(live), what="the footer drawn again")
        await pilot.pause()
        footer = footer_text(live)
        assert "Back" in footer and "L Log" not in footer and "Predictions" not in footer and "Epoch" not in footer
        assert "folder gone" in widget_text(live.query_one("#live-title"))  # not "broken", as if it were damaged
        await pilot.press("L")
        await pilot.pause()
        assert not live.query_one(LogPane).display  # nothing opened on a log that is not there
        assert "no train.log" not in widget_text(live.query_one(LogPane))
        for width in (80, 160):  # a resize brought the predictions of the gone folder back (the width's default)
            await pilot.resize_terminal(width, 40)
            await wait_for(pilot, lambda w=width: live.at_least("-wide") == (w >= 120), what=f"{width} columns")
            await pilot.pause()
        assert not live.query_one(PreviewPanel).display


async def test_a_launch_that_dies_before_its_run_starts_stops_offering_stop_and_pause(runs_dir: Path) -> None:
    """A detached launch that exits before the run starts (a full disk: not even its error line
    reached train.log) read "failed: the training process exited before the run started", yet
    the footer still offered x Stop and p Pause from while it was starting."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    (runs_dir / "dies").mkdir(parents=True)
    app = PetsegApp(runs_dir=runs_dir)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            app.open_run(runs_dir / "dies", pid=child.pid)
            await wait_for(pilot, lambda: type(app.screen).__name__ == "LiveRunScreen", what="live screen")
            live = app.screen
            await wait_for(pilot, lambda: "Stop" in footer_text(live), what="x while it starts")
            child.communicate(b"")  # the child exits and is reaped
            await wait_for(pilot, lambda: live.snapshot is not None and live.snapshot.state == "failed",
                           what="failed")
            await wait_for(pilot, lambda: "Stop" not in footer_text(live) and "Pause" not in footer_text(live),
                           what="x and p gone")
    finally:
        child.kill()
        child.wait()


def test_a_launch_that_died_silently_on_a_full_disk_says_the_disk_is_full(runs_dir: Path, monkeypatch) -> None:
    """On a full runs folder a detached child cannot even write its error to train.log: its run
    read only "exited before the run started", with an empty log to look at."""
    import shutil
    import subprocess
    import sys

    from petseg_tui.live_follow import LiveFollower

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    run = runs_dir / "silent"
    run.mkdir(parents=True)
    (run / "train.log").write_bytes(b"")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(4 << 20, 4 << 20, 0))
    snap = LiveFollower(run, pid=child.pid).snapshot()
    assert snap is not None and snap.state == "failed"
    assert snap.message == (f"the training process (pid {child.pid}) exited before the run started, leaving nothing "
                            f"in its train.log: the disk is full (0 KB free under {runs_dir})")


async def test_stop_answered_after_the_run_ended_says_so_and_asks_nothing_of_a_later_resume(runs_dir: Path) -> None:
    """x on a run's screen, and the run ends (another dashboard stopped it) before the "Stop?"
    question is answered: yes said "Stopping ..." and left control.json for the next resume."""
    from engine.events import RunFinished
    from tui_helpers import toasts

    w = make_run(runs_dir, "ends", epochs_done=2, total=5, state="running", t0=time.time() - 60, close=False)
    w.start_heartbeat(0.5)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        live = await open_live(pilot, runs_dir / "ends")
        await wait_for(pilot, lambda: "Stop" in footer_text(live), what="x offered")
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        w.append(RunFinished(epochs=5, best_dice=0.6, best_epoch=2, seconds=60.0))
        w.set_status("finished", "done")
        w.close()
        await pilot.press("y")
        await wait_for(pilot, lambda: "ends is not training any more: nothing to stop" in toasts(app),
                       what="the notification")
        assert not (runs_dir / "ends" / CONTROL_FILE).exists()
        assert "Stopping" not in toasts(app)


async def test_a_drawn_learning_rate_reads_as_the_lr_figure_not_a_long_float(runs_dir: Path) -> None:
    """A sweep trial's lr is drawn (0.004092421950921368): the settings line showed the float's
    repr and wrapped at 80x24; it reads 0.00409, as the compare table and the sweep screen write it."""
    make_run(runs_dir, "s1-t000", epochs_done=2, total=3, learning_rate=0.004092421950921368)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await open_live(pilot, runs_dir / "s1-t000")
        info = live.query_one("#live-info")
        await wait_for(pilot, lambda: "lr " in widget_text(info), what="the settings drawn")
        first_line = widget_text(info).splitlines()[0]
        assert first_line.rstrip().endswith("lr 0.00409")
        assert "0.00409242" not in widget_text(info)


def test_a_trial_that_never_made_its_run_folder_reads_failed_with_its_reason(tmp_path: Path) -> None:
    """A sweep trial whose launch failed before its folder was made (the study has the reason):
    its view said "Waiting for the run folder to appear (the trainer is importing torch)" for good."""
    from petseg_tui.screens.live_text import messages_text
    from petseg_tui.live_follow import LiveFollower

    snap = LiveFollower(tmp_path / "s-t000", unwritten_reason="cannot create the run folder").snapshot()
    assert snap is not None and snap.state == "failed"
    said = messages_text(snap, "", "", log_shown=True).plain
    assert "cannot create the run folder" in said and "Waiting" not in said


def test_a_launch_that_refused_its_config_says_why_in_the_message(runs_dir: Path) -> None:
    """A detached launch refused before its run started (offline --pretrained imagenet) read only
    "exited before the run started"; its one-line error sat in the log pane, cut at 80 columns."""
    from petseg_tui.live_follow import LiveFollower

    why = "--pretrained imagenet: could not fetch ImageNet weights (no internet?) — pass a local .pth path instead"
    pid = _refused_launch(runs_dir, why, before='Downloading: "https://example/r34.pth"')
    snap = LiveFollower(runs_dir / "refused", pid=pid).snapshot()
    assert snap is not None and snap.state == "failed"
    assert snap.message == f"the training process (pid {pid}) exited before the run started: {why}"


def _refused_launch(runs_dir: Path, said: str, before: str = "") -> int:
    """The folder of a detached launch refused before its run began (only train.log: ``before``,
    then ``petseg: error: said``) and the pid of its launch, which has ended."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    (runs_dir / "refused").mkdir(parents=True)
    (runs_dir / "refused" / "train.log").write_text((f"{before}\n" if before else "") + f"petseg: error: {said}\n")
    return child.pid


async def _open_refused_launch(app: PetsegApp, pilot, runs_dir: Path, pid: int):
    """Its live screen, once it reads the launch as failed."""
    app.open_run(runs_dir / "refused", pid=pid)
    await wait_for(pilot, lambda: type(app.screen).__name__ == "LiveRunScreen", what="live screen")
    live = app.screen
    await wait_for(pilot, lambda: live.snapshot is not None and live.snapshot.state == "failed", what="failed")
    return live


async def test_the_epoch_bar_of_a_launch_that_failed_before_its_run_started_stands_still(runs_dir: Path) -> None:
    """A detached launch refused before its first epoch (offline --pretrained imagenet) read
    "failed", yet its epoch bar kept pulsing at "--%" as if the run were getting ready."""
    pid = _refused_launch(runs_dir, "--pretrained imagenet: could not fetch")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await _open_refused_launch(app, pilot, runs_dir, pid)
        await pilot.pause()
        percent = live.query_one("#epoch-bar", ProgressBar).query_one("#percentage")
        await wait_for(pilot, lambda: widget_text(percent).strip() == "0%", what="the bar at 0%")


def test_the_data_of_a_run_not_yet_described_is_named_as_the_new_run_form_names_it(tmp_path: Path) -> None:
    """While a run from the form's defaults decoded its data (and for a launch that failed before
    writing config.json) the info pane read "data auto", a word neither the form ("bundled real
    sample") nor petseg train --help uses for it."""
    from petseg_tui.screens.live_text import info_rows
    from petseg_tui.live_follow import LiveSnapshot

    def data(config: dict) -> str:
        return dict(info_rows(LiveSnapshot(name="r", path=tmp_path, state="running", config=config)))["data"]

    assert data({"model": "unet", "data_path": None}) == "bundled real sample"
    assert data({"model": "unet", "data_path": "/data/pets"}) == "/data/pets"
    assert data({}) == "—"


def test_the_settings_say_an_encoders_weights_and_a_mask_rule_other_than_the_default(tmp_path: Path) -> None:
    """The info pane read "model resnet34_unet · bs 16 · img 64 · lr 0.001" alone: it hid whether
    the encoder started from ImageNet and whether the run scored with pet_only (its Dice means
    something else). Both show where they matter, in one row that fits 80 columns' pane."""
    from petseg_tui.live_follow import LiveSnapshot
    from petseg_tui.screens.live_text import info_rows

    def rows(**config: object) -> dict[str, str]:
        base = {"model": "unet", "batch_size": 16, "image_size": 64, "learning_rate": 1e-3}
        return dict(info_rows(LiveSnapshot(name="r", path=tmp_path, state="running", config={**base, **config})))

    assert "recipe" not in rows(mask_rule="pet_border")  # the default UNet run: nothing more to say
    assert rows(mask_rule="pet_only")["recipe"] == "mask pet_only: border is background"
    assert rows(model="resnet34_unet", pretrained="imagenet")["recipe"] == "ImageNet encoder"
    assert rows(model="resnet34_unet", pretrained=None)["recipe"] == "random encoder"
    assert rows(model="resnet18_unet", pretrained="/w/r18.pth", mask_rule="pet_only")["recipe"] == (
        "encoder r18.pth · mask pet_only")
    assert "recipe" not in rows(model="unet", pretrained="imagenet")  # the UNet ignores it


async def test_the_recipe_row_fits_the_run_screen_at_80_columns(runs_dir: Path) -> None:
    """The encoder's weights and the mask rule are on the run screen, each on the one recipe line."""
    make_run(runs_dir, "enc", epochs_done=2, total=3, model="resnet34_unet", pretrained="imagenet",
             mask_rule="pet_only")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await open_live(pilot, runs_dir / "enc")
        info = live.query_one("#live-info")
        await wait_for(pilot, lambda: "recipe" in widget_text(info), what="the settings drawn")
        line = next(x for x in widget_text(info).splitlines() if x.startswith("recipe"))
        assert line.split(None, 1)[1].rstrip() == "ImageNet encoder · mask pet_only"


async def test_a_settings_row_too_long_for_80_columns_wraps_between_its_parts(runs_dir: Path) -> None:
    """At 80x24 the model row wrapped at any space: "model resnet18_unet · bs 8 · img 64 · lr" over
    "0.001", the figure apart from its name and under the labels. It wraps between its " · "
    parts, under the values; widened, it is one line again."""
    make_run(runs_dir, "enc", epochs_done=2, total=3, model="resnet18_unet", batch_size=8, image_size=64,
             data_path="/work/shared/data/oxford-pet-sample")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await open_live(pilot, runs_dir / "enc")
        info = live.query_one("#live-info")
        await wait_for(pilot, lambda: "lr 0.001" in widget_text(info), what="the model row whole")
        rows = widget_text(info).splitlines()
        model = next(i for i, row in enumerate(rows) if row.startswith("model"))
        assert rows[model].split(None, 1)[1].rstrip() == "resnet18_unet · bs 8 · img 64", rows
        assert rows[model + 1].rstrip() == " " * 7 + "lr 0.001", rows  # under the values
        await pilot.resize_terminal(120, 30)
        await wait_for(pilot, lambda: "img 64 · lr 0.001" in widget_text(info), what="one line again")


def test_the_run_screens_lr_is_named_apart_from_the_runs_tables_configured_one(tmp_path: Path) -> None:
    """"LR" meant two things: the runs table's configured 1.00e-03 and the run screen's 7.09e-07,
    the cosine's rate at the last epoch. The run screen says "LR now" (a run that trains) or
    "LR last" (one that is over) for the scheduled rate, "LR peak" before an epoch has one, as
    the runs table's column is headed."""
    import dataclasses

    from petseg_tui.live_follow import LiveSnapshot
    from petseg_tui.screens.live_text import stats_rows
    from petseg_tui.widgets.runs_table import COLUMN_LABELS

    cfg = {"learning_rate": 1e-3}
    ended = dataclasses.replace(epoch_event(30, 30, 1_767_000_000.0), lr=7.09e-7)
    over = dict(stats_rows(LiveSnapshot(name="r", path=tmp_path, state="finished", config=cfg, epochs=(ended,))))
    assert over["LR last"] == "7.09e-07" and "LR" not in over
    going = dict(stats_rows(LiveSnapshot(name="r", path=tmp_path, state="running", config=cfg, epochs=(ended,))))
    assert going.get("LR now") == "7.09e-07", going
    fresh = dict(stats_rows(LiveSnapshot(name="r", path=tmp_path, state="running", config=cfg)))
    assert fresh["LR peak"] == "1.00e-03" and COLUMN_LABELS["lr"] == "LR peak"


def test_a_refused_launchs_folder_is_removed_once_its_reason_is_read(runs_dir: Path) -> None:
    """A detached launch refused before its run started left runs/NAME/ holding only train.log:
    no listing shows such a folder, so they piled up unseen (and the name stayed taken). The view
    says why from that log; once it is left, the folder goes. A run's own folder stays."""
    from petseg_tui.live_follow import LiveFollower

    why = "--pretrained imagenet: could not fetch ImageNet weights (no internet?)"
    pid = _refused_launch(runs_dir, why)
    run = runs_dir / "refused"
    kept = runs_dir / "kept"  # a run of its own (config.json and more) is never taken for one
    kept.mkdir()
    (kept / "train.log").write_text("petseg: error: something\n")
    (kept / "config.json").write_text("{}")
    follower = LiveFollower(run, pid=pid)
    snap = follower.snapshot()
    assert snap is not None and snap.state == "failed" and snap.message.endswith(why)
    assert (run / "train.log").is_file()  # while the view shows it, its log is there to read (L)
    assert follower.tidy()
    assert not run.exists() and [p.name for p in runs_dir.iterdir()] == ["kept"]
    kept_follower = LiveFollower(kept, pid=pid)
    assert kept_follower.snapshot() is not None
    assert not kept_follower.tidy() and (kept / "config.json").exists()


async def test_leaving_a_refused_launchs_view_removes_its_folder(runs_dir: Path) -> None:
    """The same through the screen: the reason is said, and Esc leaves no folder behind."""
    pid = _refused_launch(runs_dir, "--cache_dir /etc/hostname: is a file")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await _open_refused_launch(app, pilot, runs_dir, pid)
        assert "is a file" in live.snapshot.message and (runs_dir / "refused").is_dir()
        await pilot.press("escape")
        await wait_for(pilot, lambda: not (runs_dir / "refused").exists(), what="the folder removed")


async def test_an_interrupted_runs_state_is_legible_in_a_light_theme(runs_dir: Path) -> None:
    """The title's "interrupted" and the note "No heartbeat: the training process is gone." were in
    an orange for a dark background: 1.6-1.8:1 on textual-light's grey, and a theme chosen from the
    palette did not redraw them."""
    from tui_helpers import LIGHT_THEMES, contrast_of, make_interrupted_run, settled

    make_interrupted_run(runs_dir, "stale")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        live = await open_live(pilot, runs_dir / "stale")
        await wait_for(pilot, lambda: "No heartbeat" in widget_text(live.query_one("#live-messages")),
                       what="the gone process's note")
        for theme in LIGHT_THEMES:
            app.theme = theme  # as the command palette's Theme switches it
            await settled(pilot)
            shown = {"interrupted": round(contrast_of(live.query_one("#live-title"), "interrupted"), 2),
                     "note": round(contrast_of(live.query_one("#live-messages"), "No heartbeat"), 2)}
            assert min(shown.values()) >= 3.0, (theme, shown)


async def test_the_runs_warnings_are_legible_in_a_light_theme(runs_dir: Path) -> None:
    """The live screen's yellow notes (a run's warnings, "Paused — press p", the control note, the
    unreadable lines) read at about 2.1:1 on textual-light."""
    from tui_helpers import T0, light_theme_contrasts

    from engine.events import RunWarning

    w = make_run(runs_dir, "warned", close=False)
    w.append(RunWarning(message="valid split is tiny", t=T0 + 50))
    w.close()
    with (runs_dir / "warned" / "events.jsonl").open("a") as f:
        f.write("{not json\n")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        live = await open_live(pilot, runs_dir / "warned")
        messages = live.query_one("#live-messages")
        await wait_for(pilot, lambda: "unreadable line" in widget_text(messages), what="the warnings")
        shown = await light_theme_contrasts(pilot, messages, ("valid split is tiny", "unreadable line"))
        assert min(c for theme in shown.values() for c in theme.values()) >= 3.0, shown


async def test_a_one_batch_epoch_says_what_the_run_does_not_batch_0_of_1(runs_dir: Path) -> None:
    """A data-parallel rank whose epoch is one batch (`--devices 2 --max_train_images 32
    --batch_size 16`) read "Batch 0/1" while it trained and "Batch 1/1" while it validated, epoch
    after epoch: a count that meant nothing. It says "1-batch epoch" while the batch trains, and
    "Validating" (any epoch) once its batches are done and its scores are not in."""
    from engine.events import RunStarted

    t0 = time.time() - 10
    w = RunStore(runs_dir).create(TrainConfig(epochs=30, batch_size=16).to_dict(), "one-batch")
    w.start_heartbeat(0.5)
    w.append(RunStarted(run="one-batch", total_epochs=30, start_epoch=1, train_size=32, valid_size=8,
                        device="cpu", data="d", t=t0))
    w.append(epoch_event(1, 30, t0 + 1))
    w.append(EpochStarted(epoch=2, total_epochs=30, batches=1, t=t0 + 2))
    try:
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            live = await open_live(pilot, runs_dir / "one-batch")
            label = live.query_one("#batch-label")
            await wait_for(pilot, lambda: widget_text(label).strip() == "1-batch epoch",
                           what="the one batch training")
            w.append(BatchProgress(epoch=2, batch=1, batches=1, loss=0.5, images_per_s=40.0, t=t0 + 3))
            await wait_for(pilot, lambda: widget_text(label).strip() == "Validating", what="validating")
            bar = live.query_one("#batch-bar", ProgressBar)
            assert bar.percentage == 1
            # a fast epoch of 4 batches (reported at most once a second): busy, not an empty bar
            w.append(epoch_event(2, 30, t0 + 4))
            w.append(EpochStarted(epoch=3, total_epochs=30, batches=4, t=t0 + 5))
            await wait_for(pilot, lambda: widget_text(label).strip() == "Batch 0/4", what="the next epoch")
            assert bar.total is None and bar.percentage is None  # pulsing
    finally:
        w.close()


async def test_a_run_paused_before_an_epochs_first_batch_has_a_still_batch_bar(runs_dir: Path) -> None:
    """p between two epochs (seen in tmux at 80x24): "Batch 0/4", its bar pulsing as if busy, beside
    "images/s 21.4 (paused)" and "Paused — press p to resume". Paused, the bar stands empty."""
    from engine.events import RunPaused

    t0 = time.time() - 10
    w = RunStore(runs_dir).create(TrainConfig(epochs=30, batch_size=16).to_dict(), "held")
    w.start_heartbeat(0.5)
    w.append(RunStarted(run="held", total_epochs=30, start_epoch=1, train_size=64, valid_size=8,
                        device="cpu", data="d", t=t0))
    w.append(epoch_event(1, 30, t0 + 1))
    w.append(EpochStarted(epoch=2, total_epochs=30, batches=4, t=t0 + 2))
    try:
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            live = await open_live(pilot, runs_dir / "held")
            bar = live.query_one("#batch-bar", ProgressBar)
            await wait_for(pilot, lambda: widget_text(live.query_one("#batch-label")).strip() == "Batch 0/4",
                           what="the epoch begun")
            assert bar.total is None  # training: busy, pulsing
            w.append(RunPaused(epoch=2, batch=0, t=t0 + 3))
            w.set_status("paused")
            await wait_for(pilot, lambda: "Paused" in widget_text(live.query_one("#live-messages")), what="paused")
            await wait_for(pilot, lambda: bar.total == 4 and bar.percentage == 0, what="a still bar")
    finally:
        w.close()


async def test_a_run_stopped_inside_an_epoch_shows_where_it_stopped_not_a_full_batch_bar(runs_dir: Path) -> None:
    """x at batch 3 of 10 of epoch 2: the live screen read "Batch —" beside a full batch bar, as if
    the epoch had finished. The bar stands at 3/10 and the words say the run stopped there."""
    from engine.events import RunStopped

    t0 = time.time() - 10
    w = RunStore(runs_dir).create(TrainConfig(epochs=30, batch_size=16).to_dict(), "cut")
    w.append(RunStarted(run="cut", total_epochs=30, start_epoch=1, train_size=160, valid_size=8,
                        device="cpu", data="d", t=t0))
    w.append(epoch_event(1, 30, t0 + 1))
    w.append(EpochStarted(epoch=2, total_epochs=30, batches=10, t=t0 + 2))
    w.append(BatchProgress(epoch=2, batch=3, batches=10, loss=0.5, images_per_s=40.0, t=t0 + 3))
    w.append(RunStopped(epoch=1, t=t0 + 4))
    w.set_status("stopped", "stopped by user")
    w.close()
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await open_live(pilot, runs_dir / "cut")
        bar = live.query_one("#batch-bar", ProgressBar)
        label = live.query_one("#batch-label")
        await wait_for(pilot, lambda: widget_text(label).strip() == "Stopped 3/10", what="where it stopped")
        assert bar.percentage == 0.3


async def test_a_stop_between_batch_reports_shows_the_batch_the_stop_event_counts(runs_dir: Path) -> None:
    """Batches are reported at most once a second, so a 4-batch epoch of 0.6 s (a 2-rank CPU run)
    is stopped with no batch reported yet: `petseg train` said "stopped in epoch 42 after batch 1
    of 4" while the live screen read "Stopped 0/4". The stop event's own count is the latest."""
    from engine.events import RunStopped

    t0 = time.time() - 10
    w = RunStore(runs_dir).create(TrainConfig(epochs=30, batch_size=16).to_dict(), "cut")
    w.append(RunStarted(run="cut", total_epochs=30, start_epoch=1, train_size=64, valid_size=8,
                        device="cpu", data="d", t=t0))
    w.append(epoch_event(1, 30, t0 + 1))
    w.append(EpochStarted(epoch=2, total_epochs=30, batches=4, t=t0 + 2))
    w.append(RunStopped(epoch=1, batch=1, t=t0 + 3))
    w.set_status("stopped", "stopped by user")
    w.close()
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await open_live(pilot, runs_dir / "cut")
        bar = live.query_one("#batch-bar", ProgressBar)
        label = live.query_one("#batch-label")
        await wait_for(pilot, lambda: widget_text(label).strip() == "Stopped 1/4", what="where it stopped", timeout=5)
        assert bar.percentage == 0.25


async def test_a_pause_between_batch_reports_shows_the_batch_it_paused_after(runs_dir: Path) -> None:
    """p on a 2-rank CPU run (4 batches in 0.6 s, batches reported at most once a second): the run
    paused after batch 3 of 4 (its event says so) and the live screen read "Batch 0/4", bar empty."""
    from engine.events import RunPaused

    t0 = time.time() - 10
    w = RunStore(runs_dir).create(TrainConfig(epochs=30, batch_size=16).to_dict(), "held")
    try:
        w.append(RunStarted(run="held", total_epochs=30, start_epoch=1, train_size=64, valid_size=8,
                            device="cpu", data="d", t=t0))
        w.append(epoch_event(1, 30, t0 + 1))
        w.append(EpochStarted(epoch=2, total_epochs=30, batches=4, t=t0 + 2))
        w.append(RunPaused(epoch=2, batch=3, t=t0 + 3))
        w.set_status("paused")
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            live = await open_live(pilot, runs_dir / "held")
            bar = live.query_one("#batch-bar", ProgressBar)
            label = live.query_one("#batch-label")
            await wait_for(pilot, lambda: widget_text(label).strip() == "Batch 3/4", what="where it paused", timeout=5)
            assert bar.percentage == 0.75
    finally:
        w.close()


async def test_a_data_parallel_run_says_its_pid_is_rank_0s_of_its_processes(runs_dir: Path) -> None:
    """A `--devices 2` run resumed with R: the toast named the launcher's pid, the title "another
    process (pid M)" with rank 0's, as if two processes trained it apart. Title and the stop
    question say how many processes train it and whose pid that is."""
    import os

    dist = {"distributed": {"world_size": 2, "batch_per_process": 16, "global_batch": 32, "backend": "gloo"}}
    writer = make_run(runs_dir, "dp", epochs_done=2, total=5, state="running", close=False, record=dist)
    try:
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            live = await open_live(pilot, runs_dir / "dp")
            title = live.query_one("#live-title")
            words = f"2 processes (rank 0: pid {os.getpid()})"
            await wait_for(pilot, lambda: widget_text(title).strip().endswith(words), what="the processes")
            await pilot.press("x")
            assert isinstance(app.screen, ConfirmScreen)
            assert f"It trains in {words}." in " ".join(widget_text(app.screen.query_one("#confirm-question")).split())
            await pilot.press("n")
    finally:
        writer.close()


async def test_a_long_run_name_leaves_its_state_and_process_whole_in_the_live_title_at_80_columns(
        runs_dir: Path) -> None:
    """The live screen's title is one line: a sweep trial's name (the header above says it whole)
    pushed "another process (pid N)" past the right edge at 80 columns."""
    import os

    name = "unet-lr1e-03-bs16-sweep-2026-12-04T2105-trial-005"
    writer = make_run(runs_dir, name, epochs_done=2, total=5, state="running", close=False)
    try:
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            live = await open_live(pilot, runs_dir / name)
            title = live.query_one("#live-title")
            await wait_for(pilot, lambda: "running" in widget_text(title), what="the state in the title")
            shown = widget_text(title).strip()
            assert shown.endswith(f"another process (pid {os.getpid()})"), shown
            assert shown.startswith("unet-lr1e-03") and "trial-005" in shown  # both ends of the name
            await pilot.resize_terminal(120, 30)  # room again: the name whole
            await wait_for(pilot, lambda: widget_text(title).strip().startswith(name + "  running"),
                           what="the whole name at 120 columns")
    finally:
        writer.close()


async def test_the_palette_has_one_quit_and_it_says_it_asks_first(runs_dir: Path) -> None:
    """ctrl+p listed two "Quit"s while a run trained in this process, Textual's first: "Quit the
    application as soon as possible". Both ask first and stop the run; the one left says so."""
    from textual.command import CommandList

    from tui_helpers import open_palette

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        trainer = start_in_process(app, runs_dir, "busy")
        await open_palette(pilot, "quit", until=lambda titles: "Quit" in titles)
        await pilot.pause(0.3)  # every provider has answered
        listed = app.screen.query_one(CommandList)
        quits = [str(hit.help) for hit in (listed.get_option_at_index(i).hit for i in range(listed.option_count))
                 if hit.text == "Quit"]
        assert len(quits) == 1 and "asks first" in quits[0], quits
        trainer.stop()


@pytest.mark.parametrize("turns", range(6))
async def test_the_app_ending_as_a_live_screen_opens_ends_cleanly(runs_dir: Path, turns: int) -> None:
    """The app ends (a quit, SIGTERM, the terminal closing) in the moment a run's live screen opens
    (Enter on a run, R's resume done): Textual mounts no widget on a screen it is removing, yet
    sends it Mount, and the exit ended on a NoMatches traceback with exit code 1. ``turns`` of the
    event loop between the two: the screen, a chart or the system strip was then half-mounted."""
    import asyncio

    make_run(runs_dir, "alpha", epochs_done=2, total=5, state="stopped")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
        app.open_run(runs_dir / "alpha")
        for _ in range(turns):
            await asyncio.sleep(0)
        app.exit()
    assert app.return_code == 0
