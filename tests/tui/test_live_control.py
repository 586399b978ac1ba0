"""Stopping, pausing and quitting from a run's live screen: a detached run through its control
file, an in-process one through its trainer; q asks first, also while a run starts, and a
quit, a lost terminal or a signal stops and saves the runs of this process before the app ends."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from tui_helpers import (
    BackgroundWriter,
    footer_text,
    make_run,
    open_live,
    start_in_process,
    toasts,
    wait_for,
    widget_text,
)
from textual.widgets import ProgressBar

from engine.config import TrainConfig
from engine.runs import CONTROL_FILE, RunStore, request_control
from petseg_tui.app import PetsegApp
from petseg_tui.screens.confirm import ConfirmScreen
from petseg_tui.screens.live_run import LiveRunScreen
from petseg_tui.widgets.charts import Chart


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


async def test_x_and_p_on_a_run_whose_resume_is_still_starting_say_when_they_act(runs_dir: Path, monkeypatch) -> None:
    """R started ``petseg train --resume`` of the stopped run; it loads torch before it takes the
    run, which reads stopped meanwhile and takes no request. x (or p) on its screen then did
    nothing at all; it says the run is being resumed and to press it again once it runs."""
    from tests.engine.sweep.fake_sweep import start_fake_resume, stopped_trial_run

    stopped_trial_run(runs_dir, "r")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        live = await open_live(pilot, runs_dir / "r")
        assert "Stop" not in footer_text(live)
        resume = start_fake_resume(runs_dir, "r", monkeypatch, start_seconds=30)
        try:
            for key in ("x", "p"):
                await pilot.press(key)
                said = (f"r is being resumed by pid {resume.pid}, still starting: it takes no request until it "
                        f"trains; press {key} again in a moment, once its screen shows it running")
                await wait_for(pilot, lambda: said in toasts(app), what=f"{key} said why it waits")
        finally:
            resume.kill()
            resume.wait()
        assert not isinstance(app.screen, ConfirmScreen)
        assert not (runs_dir / "r" / CONTROL_FILE).exists()


async def test_the_look_for_a_starting_resume_leaves_the_screen_answering(runs_dir: Path, monkeypatch) -> None:
    """x (or p) on a run that reads as ended looks for a resume of it still starting: a scan of
    every process's command line (psutil), seconds on a busy machine. It ran on the UI thread,
    and the screen stood still until it ended; the screen now answers other keys meanwhile, and
    says what the scan found once it has."""
    from tests.engine.sweep.fake_sweep import stopped_trial_run

    stopped_trial_run(runs_dir, "r")
    scan_begun, release = threading.Event(), threading.Event()
    scan: dict[str, bool] = {}

    def slow_scan(run_path) -> int:
        scan["on the UI thread"] = threading.current_thread() is threading.main_thread()
        scan_begun.set()
        scan["released"] = release.wait(timeout=5)  # the old code's UI thread waited here in vain
        return 4242

    monkeypatch.setattr("engine.train.launch.starting_resume", slow_scan)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        live = await open_live(pilot, runs_dir / "r")
        header = live.query_one("#loss-chart", Chart).query_one(".chart--header")
        assert "log y" not in widget_text(header)
        await pilot.press("x")
        await wait_for(pilot, scan_begun.is_set, what="the scan begun")
        await pilot.press("l")  # log-y, while the scan still runs
        await wait_for(pilot, lambda: "log y" in widget_text(header), what="l answered")
        assert "released" not in scan  # the scan had not ended when l was answered
        release.set()
        said = ("r is being resumed by pid 4242, still starting: it takes no request until it trains; press x "
                "again in a moment, once its screen shows it running")
        await wait_for(pilot, lambda: said in toasts(app), what="what the scan found said")
        assert not isinstance(app.screen, ConfirmScreen)
    assert scan == {"on the UI thread": False, "released": True}
