"""New-run form: validation, detached and in-process starts (fake and real trainer)."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest
from tui_helpers import (FakeTrainer, exit_messages, footer_text, seen_at, settled, toasts, wait_for,
                         widget_text)
from textual.widgets import Button, Input, ProgressBar, Switch

from engine.config import TrainConfig
from petseg_tui.app import PetsegApp
from petseg_tui.screens.live_run import LiveRunScreen
from petseg_tui.screens.new_run import NewRunScreen
from petseg_tui.screens.new_run_fields import parse_form, initial_values


def test_parse_form_errors() -> None:
    raw = {k: ("" if v is None else v) for k, v in initial_values().items()}
    raw.update(epochs="ten", learning_rate="0", image_size="100", batch_size="2.5", max_train_images="0",
               run_name="bad name!")
    cfg, name, detached, errors = parse_form({k: (str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v) for k, v in raw.items()})
    assert errors["epochs"] == "not a number"
    assert errors["batch_size"] == "must be a whole number"
    assert "(0, 10)" in errors["learning_rate"]
    assert "multiple of 32" in errors["image_size"]
    assert "between 1 and" in errors["max_train_images"]  # TrainConfig.field_errors says it, as for the CLI
    assert "letters, digits" in errors["run_name"]
    assert detached is True


def _set(screen, field: str, value) -> None:
    w = screen.query_one(f"#f-{field}")
    w.value = value


def error_text(form, field: str) -> str:
    """What the form shows beside a field: its hint, or ✗ and what is wrong."""
    return widget_text(form.query_one(f"#err-{field}"))


async def open_form(pilot, key: str = "n") -> NewRunScreen:
    """Open the form and wait until it is ready for typing (its first field has the focus)."""
    app = pilot.app
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(app.screen, NewRunScreen) and app.screen.query_one("#f-model").has_focus,
                   what="the new-run form, its first field focused")
    return app.screen


async def test_form_live_validation_and_defaults(runs_dir: Path) -> None:
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot)
        d = TrainConfig()
        assert form.query_one("#f-epochs", Input).value == str(d.epochs)
        assert form.query_one("#f-model").value == d.model
        assert form.query_one("#f-detached", Switch).value is True
        assert not form.query_one("#start", Button).disabled
        epochs = form.query_one("#f-epochs", Input)
        epochs.focus()
        await wait_for(pilot, lambda: epochs.has_focus, what="the epochs field focused")
        await pilot.press("end", "x")
        await wait_for(pilot, lambda: "not a number" in error_text(form, "epochs"), what="epochs refused")
        assert epochs.value == f"{d.epochs}x"
        assert form.query_one("#start", Button).disabled
        await pilot.press("ctrl+s")  # refuses and says why
        assert app.screen is form
        await pilot.press("backspace")
        await wait_for(pilot, lambda: "✗" not in error_text(form, "epochs"), what="epochs accepted again")
        assert epochs.value == str(d.epochs)
        _set(form, "image_size", "100")
        await wait_for(pilot, lambda: "✗" in error_text(form, "image_size"), what="image size refused")
        assert "multiple of 32" in form.errors["image_size"]
        await pilot.press("escape")
        assert not isinstance(app.screen, NewRunScreen)


def _fill_tiny(form, name: str, detached: bool, data_path: str) -> None:
    for field, value in dict(epochs="3", image_size="64", width="8", batch_size="8", max_train_images="32",
                             workers="0", run_name=name, data_path=data_path).items():
        _set(form, field, value)
    _set(form, "device", "cpu")
    form.query_one("#f-detached", Switch).value = detached


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
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        form = await open_form(pilot)
        _fill_tiny(form, "papa", detached=False, data_path=generated_data)
        await wait_for(pilot, lambda: not form.query_one("#start", Button).disabled, what="the form valid")
        await pilot.press("ctrl+s")
        # the start's toast lasts 3 s: on a loaded machine the refusal can come after it has gone
        await wait_for(pilot, lambda: "Starting the run in this process" in toasts(app), what="the start")
        await wait_for(pilot, lambda: "no CUDA device here" in toasts(app), what="the refusal")
        assert "Could not start the run" in toasts(app)
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
        FakeTrainer(config, Path(runs_dir_arg), run_name).start()  # stands in for the child process
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
        ctl = json.loads((runs_dir / name / "control.json").read_text())
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
    assert exits[0] is not None and "left 1 detached run(s) training: quebec" in exits[0]


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

    def spawn_detached(config, runs_dir_arg, run_name):
        entered.set()
        go_on.wait(30)  # the signal comes while the child is being started
        (Path(runs_dir_arg) / run_name).mkdir(parents=True, exist_ok=True)
        children.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]))
        return children[-1].pid

    monkeypatch.setattr(engine.train.launch, "spawn_detached", spawn_detached)
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
    assert exits[0] is not None and "left 1 detached run(s) training: romeo" in exits[0]
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


@pytest.mark.slow  # over ~3 s alone (the marker's rule)
async def test_letters_are_not_app_hotkeys_in_the_form_and_leaving_with_edits_asks(runs_dir: Path) -> None:
    """`q` on the Model Select (or a Switch) used to quit the app with the form lost."""
    from petseg_tui.screens.confirm import ConfirmScreen

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot)
        await wait_for(pilot, lambda: "^q Quit" in footer_text(form) and "? Help" in footer_text(form),
                       what="how to quit, in the footer")
        await pilot.press("q")
        await pilot.pause()  # q's handling done: nothing may follow from it
        assert app.is_running and app.screen is form and app.return_code is None
        detached = form.query_one("#f-detached", Switch)
        detached.focus()
        await wait_for(pilot, lambda: detached.has_focus, what="the switch focused")
        await pilot.press("q")
        await pilot.pause()
        assert app.is_running and app.screen is form and app.return_code is None and detached.value is True
        # no edits yet: esc leaves at once
        await pilot.press("escape")
        assert not isinstance(app.screen, NewRunScreen)
        form = await open_form(pilot)
        _set(form, "epochs", "3")
        await pilot.press("escape")  # edits: asks first
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert app.screen is form
        await pilot.press("ctrl+q")  # quits from anywhere, but asks first
        assert isinstance(app.screen, ConfirmScreen)
        assert "Discard" in widget_text(app.screen.query_one("#confirm-question"))
        await pilot.press("n")
        assert app.screen is form and app.is_running
        await pilot.press("ctrl+q", "y")
        await wait_for(pilot, lambda: app.return_code is not None, what="the app quitting")
    assert not app.is_running and app.return_code == 0


async def test_the_forms_discard_question_does_not_offer_q_quit(runs_dir: Path) -> None:
    """Esc on a form with edits asks "Discard the settings of this new run?"; as it came up the
    footer beneath changed to offer "q Quit" beside "^q Quit" (the app took the dialog for a
    screen that is no form), a key the form says to use ctrl+q for. Over a form's dialog q is the
    form's: inert, and not offered."""
    from petseg_tui.screens.confirm import ConfirmScreen

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot)
        _set(form, "epochs", "3")
        await pilot.press("escape")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("q")
        await pilot.pause()
        assert app.is_running and app.return_code is None and isinstance(app.screen, ConfirmScreen)
        assert footer_text(form).count("Quit") == 1, footer_text(form)  # ^q Quit alone
        await pilot.press("n")
        assert app.screen is form and form.query_one("#f-epochs", Input).value == "3"


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


async def test_data_path_is_checked_with_the_message_petseg_train_gives(runs_dir: Path, tmp_path: Path) -> None:
    """A missing folder or one that is not in the Oxford layout is refused in the form, with the
    CLI's message; no detached run is started (it used to fail a second later, name taken)."""
    from engine.data.source import data_path_problem

    missing = tmp_path / "no-such-data"
    flat = tmp_path / "flat"
    flat.mkdir()

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        form = await open_form(pilot)
        start = form.query_one("#start", Button)

        def shown() -> str:
            return "".join(error_text(form, "data_path").split())  # wrapped in the column

        for path in (missing, flat):
            _set(form, "data_path", str(path))
            expected = "".join(("✗ " + data_path_problem(str(path))).split())
            await wait_for(pilot, lambda: shown() == expected, what=f"the message for {path.name}")
            assert start.disabled
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "Fix the fields marked" in toasts(app), what="the refusal")
        assert app.screen is form and not any(runs_dir.iterdir())
        form.query_one("#f-download", Switch).value = True  # --download fills a missing folder
        _set(form, "data_path", str(missing))
        await wait_for(pilot, lambda: "✗" not in error_text(form, "data_path"), what="missing accepted with download")
        assert not start.disabled
        _set(form, "data_path", str(flat))  # and refused again without it ...
        form.query_one("#f-download", Switch).value = False
        await wait_for(pilot, lambda: start.disabled, what="flat refused")
        _set(form, "data_path", "")  # ... but auto is fine
        await wait_for(pilot, lambda: not start.disabled and "✗" not in error_text(form, "data_path"),
                       what="auto accepted")


async def open_more_options(pilot, form) -> None:
    """Open the "More options" section as a user does (its title, enter) and wait for its fields."""
    form.query_one("#more-options CollapsibleTitle").focus()
    await wait_for(pilot, lambda: form.query_one("#more-options CollapsibleTitle").has_focus, what="the title focused")
    await pilot.press("enter")
    await wait_for(pilot, lambda: bool(form.query("#f-seed")) and form.query_one("#f-seed").region.height == 1,
                   what="the More options fields shown")


async def test_more_options_and_a_copy_of_another_runs_settings(runs_dir: Path, monkeypatch) -> None:
    """The collapsed "More options" hold the engine's other fields; N on the runs screen opens the
    form with the highlighted run's settings, the hidden ones included."""
    import engine.train.launch
    from tui_helpers import make_run

    make_run(runs_dir, "base", epochs_done=1, total=7, seed=7, mask_rule="pet_only", grad_clip=1.5,
             learning_rate=3e-4, batch_size=8)
    started: list = []
    monkeypatch.setattr(engine.train.launch, "spawn_detached", lambda config, root, name: started.append(config) or 4242)

    app = PetsegApp(runs_dir=runs_dir)
    monkeypatch.setattr(app, "open_run", lambda path, pid=None: None)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
        form = await open_form(pilot, "N")
        assert "a copy of base's settings" in widget_text(form.query_one("#new-run-title"))
        assert form.query_one("#f-epochs", Input).value == "7"
        assert form.query_one("#f-learning_rate", Input).value == "0.0003"
        assert form.query_one("#more-options").collapsed
        await open_more_options(pilot, form)
        assert form.query_one("#f-seed", Input).value == "7"
        assert form.query_one("#f-mask_rule").value == "pet_only"
        assert form.query_one("#f-grad_clip", Input).value == "1.5"
        _set(form, "grad_clip", "-1")
        expected = TrainConfig(grad_clip=-1.0).field_errors()["grad_clip"]  # the engine's message
        await wait_for(pilot, lambda: " ".join(error_text(form, "grad_clip").split()) == f"✗ {expected}",
                       what="grad_clip refused")
        assert form.query_one("#start", Button).disabled
        _set(form, "grad_clip", "2.5")
        _set(form, "run_name", "copy")
        await wait_for(pilot, lambda: not form.query_one("#start", Button).disabled, what="the form valid")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: bool(started), what="spawned")
        cfg = started[0]
        assert (cfg.seed, cfg.mask_rule, cfg.grad_clip, cfg.batch_size, cfg.epochs) == (7, "pet_only", 2.5, 8, 7)


async def test_a_copy_with_a_bad_hidden_field_opens_more_options_and_says_so(runs_dir: Path, monkeypatch) -> None:
    """A copied run whose hidden field is invalid (a config.json edited by hand): the form opens
    its "More options" with the field marked, refuses to start, and puts the cursor on it."""
    from tui_helpers import make_run

    make_run(runs_dir, "bad", grad_clip=-1.0, seed=3)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
        form = await open_form(pilot, "N")
        expected = TrainConfig(grad_clip=-1.0).field_errors()["grad_clip"]
        await wait_for(pilot, lambda: bool(form.query("#err-grad_clip"))
                       and " ".join(error_text(form, "grad_clip").split()) == f"✗ {expected}",
                       what="the hidden field's error shown")
        assert not form.query_one("#more-options").collapsed  # an error is never hidden
        assert form.query_one("#f-seed", Input).value == "3"
        assert form.query_one("#start", Button).disabled
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "Fix the fields marked" in toasts(app), what="the refusal")
        await wait_for(pilot, lambda: form.query_one("#f-grad_clip").has_focus, what="the bad field focused")


async def test_the_form_opens_without_building_more_options_until_asked(runs_dir: Path) -> None:
    """The form opens with only its main fields built (it opened in ~1 s with 64 runs, and keys
    typed meanwhile were lost); "More options" builds its fields when opened, with the values
    the form holds, and opening it is not an edit (esc leaves without asking)."""
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        form = await open_form(pilot)
        assert form.query("#f-epochs") and not form.query("#f-seed")
        d = TrainConfig()
        await open_more_options(pilot, form)
        assert form.query_one("#f-seed", Input).value == str(d.seed)
        assert form.query_one("#f-weight_decay", Input).value == repr(d.weight_decay)
        assert form.validate_form()[0] == d
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, NewRunScreen), what="the form closed at once")


async def test_keys_typed_right_after_n_land_in_the_form(sample_runs: Path) -> None:
    """``tmux send-keys n Tab 5``: the terminal sends the keys in one burst, while the form is
    still opening; Tab moves to Epochs and 5 is typed there (they used to go nowhere)."""
    from textual import events

    app = PetsegApp(runs_dir=sample_runs)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
        for key, character in (("n", "n"), ("tab", "\t"), ("5", "5")):  # one burst, as the terminal sends it
            app.post_message(events.Key(key, character))
        await wait_for(pilot, lambda: isinstance(app.screen, NewRunScreen) and app.screen.is_mounted,
                       what="the form")
        form = app.screen
        epochs = form.query_one("#f-epochs", Input)
        await wait_for(pilot, lambda: epochs.has_focus and epochs.value == "5", timeout=10,
                       what="5 typed into Epochs")


async def test_a_burst_of_tab_then_digits_in_the_open_form_lands_in_the_next_field(runs_dir: Path) -> None:
    """Typed fast over SSH (or ``tmux send-keys Tab 7``), Tab and the next key reach the app in
    one read: the form already up, the app handed 7 to the field focused then (the Model select,
    which dropped it) before the Tab moved the focus, and Epochs kept 10. Tab moves the focus at
    once, so the keys after it land in the next field, as typed slowly."""
    from textual import events

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot)
        for key, character in (("tab", "\t"), ("7", "7"), ("tab", "\t"), ("8", "8")):  # one burst
            app.post_message(events.Key(key, character))
        epochs, batch = form.query_one("#f-epochs", Input), form.query_one("#f-batch_size", Input)
        await wait_for(pilot, lambda: batch.has_focus and batch.value == "8", timeout=10, what="8 in Batch size")
        assert epochs.value == "7"
        for key, character in (("shift+tab", None), ("9", "9")):  # back, as quickly
            app.post_message(events.Key(key, character))
        await wait_for(pilot, lambda: epochs.has_focus and epochs.value == "9", timeout=10, what="9 in Epochs")


async def test_switch_hints_say_what_each_position_means(runs_dir: Path) -> None:
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(160, 40)) as pilot:
        form = await open_form(pilot)
        detached = lambda: error_text(form, "detached").strip()  # noqa: E731
        assert detached().startswith("yes — its own process")
        form.query_one("#f-detached", Switch).value = False
        await wait_for(pilot, lambda: detached().startswith("no — trains inside this app"), what="the switch's hint")
        assert "no — use the data path as it is" in widget_text(form.query_one("#err-download"))


async def test_at_80_columns_the_focused_fields_hint_is_read_whole(runs_dir: Path) -> None:
    """At 80x24 every hint is cut to one line ("no — use the data path as i…"); the focused
    field's hint wraps onto as many lines as it needs, and goes back to one line when the focus
    leaves (the README was the only place to read the rest)."""
    from petseg_tui.screens.new_run_fields import ALL_FIELDS

    hint = next(f.hint for f in ALL_FIELDS if f.name == "data_path")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot)
        shown = lambda: " ".join(error_text(form, "data_path").split())  # noqa: E731
        assert shown().endswith("…") and shown() != hint
        form.query_one("#f-data_path").focus()
        await wait_for(pilot, lambda: shown() == hint, what="the data path's whole hint")
        await pilot.press("tab")
        await wait_for(pilot, lambda: shown().endswith("…"), what="the hint cut again")


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


async def test_the_more_options_title_is_read_whole_at_80_columns(runs_dir: Path) -> None:
    """The collapsed section's title lists what it holds; at 80 columns it ran past the right
    edge, cut at "regularis", and "loss, pretrained, warm-up, EMA …" was never seen."""
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot)
        title = form.query_one("#more-options CollapsibleTitle")
        form.query_one("#new-run-form").scroll_to_widget(title, animate=False)
        await pilot.pause()
        shown = " ".join(widget_text(title).split())
        assert shown.endswith("augmentation, compile, checkpoints"), shown
        assert title.region.right <= 80
