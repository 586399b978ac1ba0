"""Starting the new-run form's run: in this process (a fake and a real trainer) or detached, one
run for ctrl+s pressed twice, a refusal leaving the form as it was, a download said while it
runs, and a quit or a signal right after a detached start naming its run."""

from __future__ import annotations

import dataclasses
import json
import sys
import types
from pathlib import Path

import pytest
from tui_helpers import FakeTrainer, exit_messages, seen_at, settled, toasts, wait_for, widget_text
from tui_new_run_form import _set, error_text, open_form, open_more_options
from textual.widgets import Button, Input, ProgressBar, Switch

from petseg_tui.app import PetsegApp
from petseg_tui.screens.live_run import LiveRunScreen


def _fill_tiny(form, name: str, detached: bool, data_path: str) -> None:
    for field, value in dict(epochs="3", image_size="64", width="8", batch_size="8", max_train_images="32",
                             workers="0", run_name=name, data_path=data_path).items():
        _set(form, field, value)
    _set(form, "device", "cpu")
    form.query_one("#f-detached", Switch).value = detached



def _sleeping_child_spawner(children: list, before=lambda: None):
    """A stand-in for `engine.train.launch.spawn_detached`: makes the run folder and starts a child
    that sleeps 30 s (appended to ``children``, for the test to kill), after ``before()``."""
    import subprocess

    def spawn_detached(config, runs_dir_arg, run_name):
        before()
        (Path(runs_dir_arg) / run_name).mkdir(parents=True, exist_ok=True)
        children.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]))
        return children[-1].pid

    return spawn_detached

async def test_start_in_process_with_fake_trainer(runs_dir: Path, monkeypatch, generated_data: str) -> None:
    fake = types.ModuleType("engine.train.trainer")
    made: list[FakeTrainer] = []

    class Trainer(FakeTrainer):
        def __init__(self, config, runs_dir, run_name=None):
            super().__init__(config, runs_dir, run_name)
            made.append(self)

    fake.Trainer = Trainer
    monkeypatch.setitem(sys.modules, "engine.train.trainer", fake)

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_form(pilot)
        _fill_tiny(app.screen, "november", detached=False, data_path=generated_data)
        # the fake's 3 epochs take 1.8 s: on a loaded machine the run could end before x is pressed,
        # and a finished run has nothing to stop; 100 epochs (60 s) stay active until stopped
        _set(app.screen, "epochs", "100")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, LiveRunScreen), what="live screen")
        live = app.screen
        assert live.run_path == runs_dir / "november"
        assert made and made[0].config.epochs == 100 and made[0].config.max_train_images == 32
        assert made[0].config.data_path == generated_data
        await wait_for(pilot, lambda: live.snapshot is not None and live.snapshot.current_batch > 3,
                       what="batches")
        await pilot.press("x", "y")
        assert made[0].calls == ["stop"]
        await wait_for(pilot, lambda: not made[0].is_alive(), what="stopped")
        # back home, the run is in the table
        await pilot.press("escape")
        await wait_for(pilot, lambda: "november" in app.screen.table.rows_by_name, what="row")


async def test_a_refused_start_leaves_the_form_as_it_was(runs_dir: Path, monkeypatch, generated_data: str) -> None:
    """The engine refuses the run when it starts (e.g. a device this machine lacks): the form shows the
    start, then the refusal, and stays up with the user's settings (the form is gone only once a run runs)."""
    from engine.errors import ConfigError

    fake = types.ModuleType("engine.train.trainer")
    tries: list = []

    class Trainer:
        def __init__(self, config, runs_dir, run_name=None):
            tries.append(run_name)
            raise ConfigError("device cuda: no CUDA device here")

    fake.Trainer = Trainer
    monkeypatch.setitem(sys.modules, "engine.train.trainer", fake)

    app = PetsegApp(runs_dir=runs_dir)
    said: list[str] = []  # every notification, as the toasts that show them last only 3 s
    notify = app.notify

    def recording(message, *args, **kwargs):
        said.append(f"{kwargs.get('title') or ''}: {message}")
        return notify(message, *args, **kwargs)

    app.notify = recording  # type: ignore[method-assign]
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        form = await open_form(pilot)
        _fill_tiny(form, "papa", detached=False, data_path=generated_data)
        await wait_for(pilot, lambda: not form.query_one("#start", Button).disabled, what="the form valid")
        await pilot.press("ctrl+s")
        # the start's toast lasts 3 s: on a loaded machine a poll can come after it has gone (CI did)
        await wait_for(pilot, lambda: "Starting the run in this process" in " | ".join(said), what="the start")
        await wait_for(pilot, lambda: "no CUDA device here" in " | ".join(said), what="the refusal")
        assert "Could not start the run: device cuda: no CUDA device here" in said
        assert app.screen is form and form.query_one("#f-run_name", Input).value == "papa"
        assert not app.trainers and not (runs_dir / "papa").exists()
        # and it may be started again (one start at a time: a second ctrl+s while one starts does nothing)
        await wait_for(pilot, lambda: not form.query_one("#start", Button).disabled, what="Start offered again")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(tries) == 2, what="a second try")


async def test_start_detached_uses_spawn_detached(runs_dir: Path, monkeypatch, generated_data: str) -> None:
    import engine.train.launch

    started: list[tuple] = []

    def spawn_detached(config, runs_dir_arg, run_name):
        started.append((config, Path(runs_dir_arg), run_name))
        # stands in for the child process; 50 epochs (~30 s), not the form's 3 (~2 s): on a loaded
        # machine a 3-epoch fake ended before x was pressed, and x is not offered on an ended run
        FakeTrainer(dataclasses.replace(config, epochs=50), Path(runs_dir_arg), run_name).start()
        return 4242

    monkeypatch.setattr(engine.train.launch, "spawn_detached", spawn_detached)

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_form(pilot)
        _fill_tiny(app.screen, "", detached=True, data_path=generated_data)  # blank name: generated
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, LiveRunScreen), what="live screen")
        cfg, root, name = started[0]
        assert root == runs_dir and name.startswith("unet-") and cfg.epochs == 3
        live = app.screen
        assert live.pid == 4242
        await wait_for(pilot, lambda: live.snapshot is not None and live.snapshot.current_batch > 0,
                       what="batches")
        await pilot.press("x", "y")  # not in-process: a control file
        control = runs_dir / name / "control.json"
        await wait_for(pilot, control.exists, what="the stop request")  # the answer's callback runs after the keys
        ctl = json.loads(control.read_text())
        assert ctl["action"] == "stop"


async def test_quit_right_after_a_detached_start_names_that_run(runs_dir: Path, monkeypatch,
                                                                 generated_data: str) -> None:
    """ctrl+s then ctrl+q before "Detached run started": the run trains on in the background, and
    the exit message named only the detached runs of the runs table, which had not seen it yet."""
    import subprocess
    import threading

    import engine.train.launch

    entered, go_on = threading.Event(), threading.Event()
    children: list[subprocess.Popen] = []

    def spawn_detached(config, runs_dir_arg, run_name):
        entered.set()
        go_on.wait(30)  # the quit comes while the child is being started
        (Path(runs_dir_arg) / run_name).mkdir(parents=True, exist_ok=True)
        children.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]))
        return children[-1].pid  # a live child, as the training process would be

    monkeypatch.setattr(engine.train.launch, "spawn_detached", spawn_detached)
    app = PetsegApp(runs_dir=runs_dir)
    exits = exit_messages(app, monkeypatch)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_form(pilot)
        _fill_tiny(app.screen, "quebec", detached=True, data_path=generated_data)
        await pilot.press("ctrl+s")
        await wait_for(pilot, entered.is_set, what="the child being started")
        await pilot.press("ctrl+q")
        go_on.set()
        await wait_for(pilot, lambda: bool(exits), what="the app ending")
    for child in children:
        child.kill()
        child.wait()
    assert children, "the run was started"
    assert exits[0] is not None and "left 1 detached run training: quebec" in exits[0]


@pytest.mark.parametrize("edited", [False, True])
async def test_ctrl_s_then_ctrl_q_in_one_burst_starts_the_run_and_names_it(runs_dir: Path, monkeypatch,
                                                                              generated_data: str, edited: bool) -> None:
    """ctrl+s and ctrl+q in one read: ctrl+s waits for the keys typed before it (`after_typed_keys`)
    but ctrl+q acted at once, before the start. With the form's defaults the app quit and dropped
    the run ctrl+s had asked for, without a word; with edits it asked to discard settings that
    were being started. The start comes first, as typed: the run starts and the quit names it."""
    import subprocess

    from textual import events

    import engine.train.launch

    children: list[subprocess.Popen] = []

    monkeypatch.setattr(engine.train.launch, "spawn_detached", _sleeping_child_spawner(children))
    app = PetsegApp(runs_dir=runs_dir)
    exits = exit_messages(app, monkeypatch)
    async with app.run_test(size=(100, 30)) as pilot:
        form = await open_form(pilot)
        if edited:
            _fill_tiny(form, "sierra", detached=True, data_path=generated_data)
        epochs = form.query_one("#f-epochs", Input)
        epochs.focus()
        await wait_for(pilot, lambda: epochs.has_focus, what="the epochs field focused")
        for key in ("ctrl+s", "ctrl+q"):  # one burst
            app.post_message(events.Key(key, None))
        await wait_for(pilot, lambda: bool(exits), what="the app ending")
    for child in children:
        child.kill()
        child.wait()
    assert children, "the run ctrl+s asked for was never started"
    started = [p.name for p in runs_dir.iterdir()]
    assert len(started) == 1 and (started[0] == "sierra" or not edited)
    assert exits[0] is not None and f"left 1 detached run training: {started[0]}" in exits[0]


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
async def test_a_signal_right_after_a_detached_start_waits_for_it_and_names_the_run(
        runs_dir: Path, monkeypatch, generated_data: str, sig: str) -> None:
    """``kill`` (or a hang-up) between ctrl+s and "Detached run started" ends the app as ctrl+q
    does there: it waits for the child to be started and names its run among those left training
    (the signal is answered in its own thread, not the event loop)."""
    import os
    import signal
    import subprocess
    import threading

    import engine.train.launch

    number = getattr(signal, sig)
    before = signal.signal(number, lambda *_: None)  # never this test's end, should the app miss it
    entered, go_on = threading.Event(), threading.Event()
    children: list[subprocess.Popen] = []

    def held() -> None:
        entered.set()
        go_on.wait(30)  # the signal comes while the child is being started

    monkeypatch.setattr(engine.train.launch, "spawn_detached", _sleeping_child_spawner(children, held))
    app = PetsegApp(runs_dir=runs_dir)
    exits = exit_messages(app, monkeypatch)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await open_form(pilot)
            _fill_tiny(app.screen, "romeo", detached=True, data_path=generated_data)
            await pilot.press("ctrl+s")
            await wait_for(pilot, entered.is_set, what="the child being started")
            os.kill(os.getpid(), number)
            await pilot.pause(0.3)
            go_on.set()
            await wait_for(pilot, lambda: bool(exits), what="the app ending")
    finally:
        go_on.set()
        signal.signal(number, before)
        for child in children:
            child.kill()
            child.wait()
    assert children, "the run was started"
    assert exits[0] is not None and "left 1 detached run training: romeo" in exits[0]
    assert app.return_code == 128 + number


@pytest.mark.slow
async def test_real_in_process_run_from_the_form(runs_dir: Path, generated_data: str) -> None:
    """A tiny real run (synthetic data, CPU) started from the form; charts follow; stop it.
    (The UI's stalls during such a run are measured by bench/tui_stall.py.)"""
    pytest.importorskip("torch")
    # the session's cache (tests/conftest.py): the generated set is made and decoded once per worker,
    # not again for this run (a private cache cost it ~2 s of CPU)

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        form = await open_form(pilot)
        _fill_tiny(form, "oscar", detached=False, data_path=generated_data)
        _set(form, "epochs", "30")
        await wait_for(pilot, lambda: not form.query_one("#start", Button).disabled, what="the form valid")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, LiveRunScreen), timeout=60, what="live screen")
        live = app.screen
        await wait_for(pilot, lambda: live.snapshot is not None and len(live.snapshot.epochs) >= 2,
                       timeout=180, what="two real epochs")
        await wait_for(pilot, lambda: live.query_one("#epoch-bar", ProgressBar).progress >= 2, what="the epoch bar")
        header = widget_text(live.query_one("#loss-chart").query_one(".chart--header"))
        assert "train" in header and "valid" in header
        trainer = app.trainers[live.run_path]
        assert trainer.is_alive()
        await pilot.press("x", "y")
        await wait_for(pilot, lambda: not trainer.is_alive(), timeout=60, what="trainer stopped")
        await wait_for(pilot, lambda: live.snapshot.state == "stopped", what="stopped shown")
        assert (live.run_path / "checkpoints" / "last.pt").exists()


async def test_a_start_that_downloads_the_dataset_says_so_where_it_is_read_at_80x24(
        runs_dir: Path, monkeypatch, tmp_path: Path) -> None:
    """An in-process run with --download into an empty folder waits for the download (minutes)
    before its run folder exists: the form sat still, nothing saying why once the 3 s start toast
    had gone, so a status line says it. At 80x24 that line lay under the toasts (bottom right) for
    10 s: "Starting the run …" and "Downloading the dataset into …" said the same thing over it.
    Now the status alone says it, folder included, on a row of its own, readable; it is cleared
    when the start fails."""
    import threading

    from engine.errors import ConfigError

    target = tmp_path / "pets"
    release = threading.Event()
    fake = types.ModuleType("engine.train.trainer")

    class Trainer:  # the real one downloads before making its folder: here, until released, then offline
        def __init__(self, config, runs_dir, run_name=None):
            release.wait(30)
            raise ConfigError(f"--download into {target}: network error")

    fake.Trainer = Trainer
    monkeypatch.setitem(sys.modules, "engine.train.trainer", fake)

    app = PetsegApp(runs_dir=runs_dir)
    try:
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            form = await open_form(pilot)
            _fill_tiny(form, "sierra", detached=False, data_path=str(target))
            form.query_one("#f-download", Switch).value = True
            await wait_for(pilot, lambda: not form.query_one("#start", Button).disabled, what="the form valid")
            await pilot.press("ctrl+s")
            status = form.query_one("#new-run-status")
            await wait_for(pilot, lambda: "then the run starts" in seen_at(app, status), what="the download said")
            await settled(pilot)
            seen = seen_at(app, status)
            assert seen.startswith("Downloading the dataset into ") and "(about 800 MB)" in seen
            assert target.name in seen.replace(" ", "")  # its folder, wrapped anywhere
            assert not any(t.region.overlaps(status.region) for t in app.screen.query("Toast"))
            release.set()
            await wait_for(pilot, lambda: "network error" in toasts(app), what="the refusal")
            await wait_for(pilot, lambda: not status.display, what="the status cleared")
            assert app.screen is form
    finally:
        release.set()


async def test_pretrained_imagenet_offline_is_refused_in_the_form_before_any_launch(runs_dir: Path, monkeypatch,
                                                                                    generated_data: str) -> None:
    """A detached launch with --pretrained imagenet and no internet: the dashboard made
    runs/NAME/ for the child's train.log, the child refused in one line and exited, and the folder
    (only train.log) stayed, hidden from the table and from petseg runs. The form now checks the
    weights as petseg train does before launching: the one line beside the row, nothing spawned."""
    import engine.train.launch
    import engine.train.run_folder
    from engine.errors import ConfigError

    why = "--pretrained imagenet: could not fetch ImageNet weights (no internet?) — pass a local .pth path instead"
    checked: list = []

    def offline(config) -> None:
        checked.append(config.pretrained)
        raise ConfigError(why)

    monkeypatch.setattr(engine.train.run_folder, "check_pretrained_file", offline)
    started: list = []
    monkeypatch.setattr(engine.train.launch, "spawn_detached", lambda config, root, name: started.append(config) or 4242)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        form = await open_form(pilot)
        _fill_tiny(form, "r34", detached=True, data_path=generated_data)
        _set(form, "model", "resnet34_unet")
        await open_more_options(pilot, form)
        _set(form, "pretrained", "imagenet")
        await wait_for(pilot, lambda: not form.query_one("#start", Button).disabled, what="the form valid")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: error_text(form, "pretrained").startswith("✗"), what="the refusal in the form")
        assert " ".join(error_text(form, "pretrained").split()) == f"✗ {why}"
        assert checked == ["imagenet"] and not started and not (runs_dir / "r34").exists()
        assert app.screen is form and form.query_one("#start", Button).disabled
        _set(form, "pretrained", "")  # no weights: the row is fine again, and Start launches
        await wait_for(pilot, lambda: not form.query_one("#start", Button).disabled, what="the form valid again")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: bool(started), what="spawned")
        assert started[0].pretrained is None


async def test_ctrl_s_twice_while_the_run_starts_starts_one_run(runs_dir: Path, monkeypatch, generated_data: str) -> None:
    """The form stays up until its run has started (a detached launch, or torch loading for one in
    this process: seconds), and a second ctrl+s in that time, to a form that seemed not to react,
    started a second run with the same settings."""
    import time

    import engine.train.launch

    started: list = []

    def slow_spawn(config, root, name):
        started.append(config)
        time.sleep(0.5)  # a launch takes this long, and more
        return 4242

    monkeypatch.setattr(engine.train.launch, "spawn_detached", slow_spawn)
    app = PetsegApp(runs_dir=runs_dir)
    monkeypatch.setattr(app, "open_run", lambda path, pid=None: None)
    async with app.run_test(size=(100, 30)) as pilot:
        form = await open_form(pilot)
        _fill_tiny(form, "", detached=True, data_path=generated_data)
        await wait_for(pilot, lambda: not form.query_one("#start", Button).disabled, what="the form valid")
        await pilot.press("ctrl+s")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is not form, what="the form gone once the run started")
        await pilot.pause(0.7)
        assert len(started) == 1
