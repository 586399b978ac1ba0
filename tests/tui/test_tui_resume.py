"""Runs screen: a run whose process died shows as interrupted, and R resumes it (detached)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tui_helpers import (exit_messages, footer_text, highlight, make_run, run_detail, screen_up, toasts, wait_for,
                         widget_text)

from petseg_tui.app import PetsegApp
from petseg_tui.screens.confirm import ConfirmScreen
from petseg_tui.screens.runs import RunsScreen


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def make_stale_run(runs_dir: Path, name: str, last_pt: bool = True, epochs_done: int = 2) -> None:
    """status.json says running, written by a process that no longer exists (fresh heartbeat);
    with ``last_pt`` its checkpoints/last.pt exists (what the store's resume rule looks at)."""
    make_run(runs_dir, name, epochs_done=epochs_done, total=5, state="running")
    status_path = runs_dir / name / "status.json"
    status = json.loads(status_path.read_text())
    status["pid"] = dead_pid()
    status_path.write_text(json.dumps(status))
    if last_pt:
        (runs_dir / name / "checkpoints" / "last.pt").write_bytes(b"placeholder")


async def _resume_question(runs_dir: Path, monkeypatch) -> str:
    """What R's confirmation asks about the highlighted run (its Note: drawn), answered no; the
    resume's process is never started."""
    import engine.train.launch

    monkeypatch.setattr(engine.train.launch, "spawn_resume", lambda root, name, **_: 4_000_002)
    app = PetsegApp(runs_dir=runs_dir)
    monkeypatch.setattr(app, "open_run", lambda path, pid=None: None)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        await wait_for(pilot, lambda: "R Resume" in footer_text(screen), what="R Resume in the footer")
        await pilot.press("R")
        await wait_for(pilot, lambda: screen_up(app, "ConfirmScreen"), what="confirmation")
        question = lambda: " ".join(widget_text(app.screen.query_one("#confirm-question")).split())
        await wait_for(pilot, lambda: "Note:" in question(), what="the question drawn")
        said = question()
        await pilot.press("n")
    return said


async def test_interrupted_run_is_shown_and_R_resumes_it_after_confirmation(runs_dir: Path, monkeypatch) -> None:
    import engine.train.launch

    make_stale_run(runs_dir, "stale")
    make_run(runs_dir, "alpha", epochs_done=5, total=5)
    calls: list[tuple[Path, str]] = []
    opened: list[tuple[Path, int | None]] = []

    def fake_spawn_resume(root, name, **_):
        calls.append((Path(root), name))
        return 4_000_000  # no such child: the app's reaper just forgets it

    monkeypatch.setattr(engine.train.launch, "spawn_resume", fake_spawn_resume)

    app = PetsegApp(runs_dir=runs_dir)
    monkeypatch.setattr(app, "open_run", lambda path, pid=None: opened.append((path, pid)))
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        table = screen.table
        assert table.rows_by_name["stale"].state == "interrupted"
        await highlight(pilot, table, "stale")
        detail = run_detail(screen)
        assert "interrupted" in detail and "R resumes it from last.pt" in detail
        await wait_for(pilot, lambda: "R Resume" in footer_text(screen), what="R Resume in the footer")

        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: bool(opened), what="resume spawned")
        assert calls == [(runs_dir, "stale")]
        assert opened == [(runs_dir / "stale", 4_000_000)]

        # a finished run is not resumed: R is not offered; pressing it says why, no dialog, no spawn
        await highlight(pilot, table, "alpha")
        await wait_for(pilot, lambda: "New run" in footer_text(screen) and "R " not in footer_text(screen),
                       what="no R in the footer")
        await pilot.press("R")
        await wait_for(pilot, lambda: "is finished" in toasts(app), what="the reason, in a notification")
        assert isinstance(app.screen, RunsScreen) and len(calls) == 1

        # n at the confirmation cancels
        await highlight(pilot, table, "stale")
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is screen, what="back on the runs screen")
        assert len(calls) == 1 and app.is_running


async def test_resume_of_a_vanished_run_folder_is_an_in_app_error(runs_dir: Path) -> None:
    """The folder is deleted while R asks to confirm: spawn_resume's one-line error is shown. (A
    folder deleted before R leaves the table at the next poll: nothing to resume.)"""
    import shutil

    make_stale_run(runs_dir, "gone")

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        shutil.rmtree(runs_dir / "gone")
        await pilot.press("y")
        await wait_for(pilot, lambda: "no such run folder" in toasts(app), what="error notification")
        assert app.is_running and not app.spawned


def _hold(run: str, ready, release) -> None:
    from engine.runs import RunWriter

    w = RunWriter(Path(run))
    ready.set()
    release.wait(60)
    w.close()


@pytest.mark.slow
async def test_a_run_another_process_writes_shows_running_and_R_refuses(runs_dir: Path, monkeypatch) -> None:
    """'Locked = running somewhere' comes from the store: a resume that is still loading data
    (status.json still says finished) already shows as running, and R refuses to start another."""
    import multiprocessing as mp

    import engine.train.launch

    make_run(runs_dir, "alpha", epochs_done=5, total=5)
    spawned: list[str] = []
    monkeypatch.setattr(engine.train.launch, "spawn_resume", lambda root, name, **_: spawned.append(name) or 4_000_000)
    ctx = mp.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(runs_dir / "alpha"), ready, release))

    try:
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(120, 30), notifications=True) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: screen.loaded, what="first scan")
            table = screen.table
            assert table.rows_by_name["alpha"].state == "finished"
            holder.start()
            assert ready.wait(30)
            await wait_for(pilot, lambda: table.rows_by_name["alpha"].state == "running",
                           what="locked run shown as running")
            await highlight(pilot, table, "alpha")
            await pilot.press("R")
            await wait_for(pilot, lambda: "alpha is still training" in toasts(app), what="refusal")
            assert isinstance(app.screen, RunsScreen) and not spawned
            release.set()
            holder.join(30)
            await wait_for(pilot, lambda: table.rows_by_name["alpha"].state == "finished",
                           what="back to finished once the writer let go")
    finally:
        release.set()
        if holder.is_alive():
            holder.join(30)


async def test_a_run_that_never_finished_an_epoch_is_offered_start_again(runs_dir: Path, monkeypatch) -> None:
    """No last.pt: R is labelled "Start again", and the dialog says it trains again from epoch 1."""
    import engine.train.launch

    make_stale_run(runs_dir, "early", last_pt=False, epochs_done=0)
    calls: list[str] = []
    monkeypatch.setattr(engine.train.launch, "spawn_resume", lambda root, name, **_: calls.append(name) or 4_000_001)

    app = PetsegApp(runs_dir=runs_dir)
    monkeypatch.setattr(app, "open_run", lambda path, pid=None: None)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        await wait_for(pilot, lambda: "R Start again" in footer_text(screen), what="R Start again in the footer")
        assert "R Resume" not in footer_text(screen)
        assert "no last.pt: R starts it again from epoch 1" in str(screen.query_one("#run-detail").render())
        await pilot.press("R")
        await wait_for(pilot, lambda: screen_up(app, "ConfirmScreen"), what="confirmation")
        question = lambda: " ".join(widget_text(app.screen.query_one("#confirm-question")).split())
        await wait_for(pilot, lambda: "trains again from epoch 1" in question(), what="the question drawn")
        assert "It was interrupted before its first epoch ended" in question()  # not "It interrupted"
        await pilot.press("y")
        await wait_for(pilot, lambda: calls == ["early"], what="restart spawned")


async def test_a_run_that_lost_its_last_pt_says_why_R_is_not_offered(runs_dir: Path) -> None:
    """Interrupted after 2 epochs, last.pt deleted since: R is not offered (a restart would replace
    its model), and the detail says why rather than leaving the key missing without a word."""
    make_stale_run(runs_dir, "lost", last_pt=False, epochs_done=2)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        await wait_for(pilot, lambda: "last.pt lost: it cannot be resumed" in run_detail(screen),
                       what="the reason in the run's detail")
        assert "R Start again" not in footer_text(screen) and "R Resume" not in footer_text(screen)


async def test_R_says_the_epochs_after_last_pt_are_trained_again(runs_dir: Path, monkeypatch) -> None:
    """A run showing 9 epochs whose last.pt holds epoch 1 (saved at most every --checkpoint_interval
    seconds): R asked to "continue from its last.pt" without a word that epochs 2-9 train again."""
    from engine.events import CheckpointSaved, event_to_dict

    make_stale_run(runs_dir, "slow-saves", epochs_done=9)
    saved = CheckpointSaved(epoch=1, which="last", path="checkpoints/last.pt", valid_dice=0.5)
    with (runs_dir / "slow-saves" / "events.jsonl").open("a") as f:
        f.write(json.dumps(event_to_dict(saved)) + "\n")
    question = await _resume_question(runs_dir, monkeypatch)
    assert ("Note: last.pt holds epoch 1 of the 9 the run reached: the resume goes on after epoch 1, so epochs "
            "2-9 are trained again.") in question


async def test_the_footer_is_rebuilt_only_when_its_keys_change(runs_dir: Path) -> None:
    """A cursor move asks for the bindings again (R depends on the run); Textual's footer then
    rebuilt all its keys each time, most of a move's CPU. Between runs that offer the same keys it
    stays as it is; onto a run that offers R, the footer says so."""
    from textual.widgets._footer import FooterKey

    make_run(runs_dir, "alpha", epochs_done=5, total=5)
    make_run(runs_dir, "beta", epochs_done=5, total=5)
    make_stale_run(runs_dir, "stale")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        table = screen.table
        await highlight(pilot, table, "alpha")
        # the keys for a highlighted run (the footer catches up with the cursor after a refresh)
        await wait_for(pilot, lambda: "Open" in footer_text(screen), what="the footer of a highlighted run")
        keys = list(screen.query(FooterKey))
        for name in ("beta", "alpha", "beta"):
            await highlight(pilot, table, name)
            await pilot.pause(0.1)
            assert list(screen.query(FooterKey)) == keys and "R " not in footer_text(screen)
        await highlight(pilot, table, "stale")
        await wait_for(pilot, lambda: "R Resume" in footer_text(screen), what="R Resume in the footer")
        await highlight(pilot, table, "beta")
        await wait_for(pilot, lambda: "R " not in footer_text(screen), what="no R for a finished run")


async def test_a_screen_that_opens_builds_its_footer_keys_once(runs_dir: Path, monkeypatch) -> None:
    """Opening a screen changes its bindings two or three times before the first refresh (the
    screen mounts, its focus lands, its state loads); each used to rebuild every footer key."""
    from textual.widgets._footer import FooterKey

    from petseg_tui.screens.base import PetsegFooter
    from petseg_tui.screens.live_run import LiveRunScreen

    builds: list[int] = []
    compose = PetsegFooter.compose

    def counting_compose(self):
        widgets = list(compose(self))
        if isinstance(self.screen, LiveRunScreen) and any(isinstance(w, FooterKey) for w in widgets):
            builds.append(len(widgets))
        return iter(widgets)

    monkeypatch.setattr(PetsegFooter, "compose", counting_compose)
    make_run(runs_dir, "alpha", epochs_done=5, total=5)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
        await highlight(pilot, app.screen.table, "alpha")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, LiveRunScreen) and "Log-y" in footer_text(app.screen),
                       what="the live screen's footer")
        await pilot.pause(0.5)
        assert len(builds) == 1, builds


async def test_the_resumed_notification_shows_a_runs_folder_with_brackets_as_written(runs_dir: Path,
                                                                                    monkeypatch) -> None:
    """A path is text, not markup: "pets[v2]" in the resume notification's train.log path stays."""
    import engine.train.launch

    root = runs_dir / "pets[v2]"
    make_stale_run(root, "stale")
    monkeypatch.setattr(engine.train.launch, "spawn_resume", lambda root, name, **_: 4_000_002)
    app = PetsegApp(runs_dir=root)
    monkeypatch.setattr(app, "open_run", lambda path, pid=None: None)
    async with app.run_test(size=(160, 30), notifications=True) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: "resumed in the background" in toasts(app), what="the notification")
        assert "pets[v2]/stale/train.log" in toasts(app).replace(" ", "")


def test_quitting_while_R_waits_for_its_process_ends_the_dashboard_at_once(runs_dir: Path, monkeypatch) -> None:
    """R waits (up to a minute) until its process holds the run; q meanwhile left a blank terminal
    for the rest of that minute: the app's exit waited for the thread still watching the child.
    The child goes on resuming the run by itself."""
    import os
    import signal
    import time

    import engine.train.launch

    make_run(runs_dir, "slow", epochs_done=2, total=5, state="stopped")
    (runs_dir / "slow" / "checkpoints" / "last.pt").write_bytes(b"placeholder")
    children: list[subprocess.Popen] = []

    def slow_child(root, name, env=None):  # a cold torch import on a busy machine: not locked yet
        children.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                                         start_new_session=True))
        return children[-1]

    monkeypatch.setattr(engine.train.launch, "start_resume", slow_child)
    quit_at: list[float] = []

    async def press_R_then_quit(pilot) -> None:
        await wait_for(pilot, lambda: pilot.app.screen.loaded, what="first scan")
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), what="confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: bool(children), what="the resume process")
        await pilot.pause(0.3)  # its thread is now waiting for the child to lock the run
        quit_at.append(time.monotonic())
        pilot.app.exit()

    try:
        PetsegApp(runs_dir=runs_dir).run(headless=True, size=(120, 30), auto_pilot=press_R_then_quit)
        assert quit_at and time.monotonic() - quit_at[0] < 5
        assert children[0].poll() is None  # left to resume the run
    finally:
        for child in children:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(10)


@pytest.mark.parametrize("how", ["q", "SIGTERM", "SIGHUP"])
async def test_a_quit_or_signal_while_R_starts_its_process_names_the_run_left_resuming(
        runs_dir: Path, monkeypatch, how: str) -> None:
    """R, yes, then q (or ``kill``) before the resume's process exists: the dashboard ended at once,
    the process was started after all and resumed the run, and the exit message did not name it
    (the runs table still showed it stopped). A quit or signal now waits for the process to exist
    (a moment) and names the run, as after a new detached run's start."""
    import os
    import signal
    import threading

    import engine.train.launch

    make_run(runs_dir, "slow", epochs_done=2, total=5, state="stopped")
    (runs_dir / "slow" / "checkpoints" / "last.pt").write_bytes(b"placeholder")
    entered, go_on = threading.Event(), threading.Event()
    children: list[subprocess.Popen] = []

    def slow_start(root, name, env=None):  # the quit comes while the child is being started
        entered.set()
        go_on.wait(30)
        children.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                                         start_new_session=True))
        return children[-1]  # never locks the run: a cold torch import, as far as the app knows

    monkeypatch.setattr(engine.train.launch, "start_resume", slow_start)
    number = getattr(signal, how, None)
    before = signal.signal(number, lambda *_: None) if number else None  # never this test's end
    app = PetsegApp(runs_dir=runs_dir)
    exits = exit_messages(app, monkeypatch)
    try:
        async with app.run_test(size=(120, 30)) as pilot:
            await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
            await pilot.press("R")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
            await pilot.press("y")
            await wait_for(pilot, entered.is_set, what="the resume process being started")
            if number:
                os.kill(os.getpid(), number)
            else:
                await pilot.press("q")
            await pilot.pause(0.3)
            go_on.set()
            await wait_for(pilot, lambda: bool(exits), what="the app ending")
    finally:
        go_on.set()
        if number:
            signal.signal(number, before)
        for child in children:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(10)
    assert children, "the resume's process was started"
    assert exits[0] is not None and "left 1 detached run training: slow" in exits[0]


@pytest.mark.parametrize("held_s", [0, 1.0], ids=["refuses-at-once", "holds-the-lock-first"])
async def test_a_resume_refused_after_it_locked_the_run_says_so_on_the_live_screen(runs_dir: Path,
                                                                                    monkeypatch, held_s) -> None:
    """R's process takes the run's lock, then refuses (a corrupt last.pt): the dashboard said
    'resumed' and opened the live screen on the old 'stopped' run, the reason only behind L. Also
    for a process that holds the lock a while before it refuses, as a real resume does (it loads
    torch and last.pt): R's wait is then over while that process still runs."""
    import engine.train.launch

    make_run(runs_dir, "bad", epochs_done=2, total=5, state="stopped")
    (runs_dir / "bad" / "checkpoints" / "last.pt").write_bytes(b"placeholder")
    why = "petseg: error: last.pt: corrupt or truncated checkpoint (not a file torch.save wrote)"
    refuses = (f"import sys, time; sys.path.insert(0, {str(Path.cwd())!r}); from engine.runs import RunLock; "
               f"lock = RunLock.acquire(sys.argv[1]); time.sleep({held_s}); print({why!r}); sys.exit(2)")
    monkeypatch.setattr(engine.train.launch, "resume_command",
                        lambda root, name: [sys.executable, "-c", refuses, str(Path(root) / name)])
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        await highlight(pilot, screen.table, "bad")
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: screen_up(app, "LiveRunScreen"), what="the live screen")
        live = app.screen
        said = lambda: " ".join(widget_text(live.query_one("#live-messages")).split())  # noqa: E731
        await wait_for(pilot, lambda: "ended without resuming" in said(), what="the resume's end said", timeout=15)
        assert f"pid {live.pid}" in said()
        await wait_for(pilot, lambda: why in " ".join(widget_text(live.query_one("#log-pane")).split()),
                       what="train.log open on the reason")


async def test_R_on_a_time_budget_run_says_how_much_of_the_budget_is_left(runs_dir: Path, monkeypatch) -> None:
    """R on a run stopped inside its --time_budget said it "trains for what is left of its 90s time
    budget", never how much that is: it now says the seconds left after those its last.pt holds
    (its CheckpointSaved's, the figure `petseg train --resume` goes on from)."""
    from engine.events import CheckpointSaved, event_to_dict

    make_run(runs_dir, "tb", epochs_done=2, total=50, state="stopped", time_budget="90s")
    (runs_dir / "tb" / "checkpoints" / "last.pt").write_bytes(b"placeholder")
    saved = CheckpointSaved(epoch=2, which="last", path="checkpoints/last.pt", valid_dice=0.5, trained_seconds=47.2)
    with (runs_dir / "tb" / "events.jsonl").open("a") as f:
        f.write(json.dumps(event_to_dict(saved)) + "\n")
    assert "Note: it trains for the 43s left of its 90s time budget." in await _resume_question(runs_dir, monkeypatch)
