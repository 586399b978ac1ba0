"""The new-run form's fields: checked as petseg train checks them (the data path with its
message), their hints, the More options section (built when opened, its title whole) and a
copy of another run's settings, a bad hidden one shown."""

from __future__ import annotations

from pathlib import Path

from tui_helpers import toasts, wait_for, widget_text
from tui_new_run_form import _set, error_text, open_form, open_more_options
from textual.widgets import Button, Input, Switch

from engine.config import TrainConfig
from petseg_tui.app import PetsegApp
from petseg_tui.screens.new_run import NewRunScreen
from petseg_tui.screens.new_run_fields import parse_form, initial_values


def test_parse_form_errors() -> None:
    raw = {k: ("" if v is None else v) for k, v in initial_values().items()}
    raw.update(epochs="ten", learning_rate="0", image_size="100", batch_size="2.5", max_train_images="0",
               run_name="bad name!")
    cfg, name, detached, errors = parse_form({k: (str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v) for k, v in raw.items()})
    # in petseg train's words for the same mistake (`--epochs ten`), not "not a number" / "must be a whole number"
    assert errors["epochs"] == "expected an integer or none, got 'ten'"  # none: a time budget alone
    assert errors["batch_size"] == "expected an integer, got '2.5'"
    assert "(0, 10)" in errors["learning_rate"]
    assert "multiple of 32" in errors["image_size"]
    assert "between 1 and" in errors["max_train_images"]  # TrainConfig.field_errors says it, as for the CLI
    assert "letters, digits" in errors["run_name"]
    assert detached is True


def test_an_empty_epochs_field_is_the_time_budget_alone() -> None:
    """As ``petseg train --time_budget 10m`` without --epochs: Epochs cleared in the form trains for
    the time alone; cleared without a time budget it is refused; a copy of such a run shows it cleared."""
    def form(**typed: str) -> dict[str, str]:
        raw = {k: ("" if v is None else str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
               for k, v in initial_values().items()}
        return {**raw, **typed}

    cfg, _, _, errors = parse_form(form(epochs="", time_budget="10m"))
    assert errors == {} and cfg.epochs is None and cfg.time_budget == "10m"
    _, _, _, errors = parse_form(form(epochs=""))
    assert "none only with a time budget" in errors["epochs"]
    assert initial_values(TrainConfig(epochs=None, time_budget="10m"))["epochs"] is None


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
        said = f"✗ expected an integer or none, got '{d.epochs}x'"  # as petseg train --epochs 10x says it (wrapped at 80 columns)
        await wait_for(pilot, lambda: " ".join(error_text(form, "epochs").split()) == said, what="epochs refused")
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


async def test_the_buttons_stay_on_screen_at_80x24_with_errors_and_more_options_open(runs_dir: Path) -> None:
    """As the sweep form's (whose buttons a spec file's error and a warning pushed below the last
    row): at 80x24 with More options open and a wrapped error beside several fields, Start and
    Cancel stay in sight under the fields that scroll."""
    from tui_helpers import seen_at, settled

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot)
        await open_more_options(pilot, form)
        for field, bad in (("epochs", "ten"), ("image_size", "100"), ("batch_size", "2.5"),
                           ("learning_rate", "0"), ("data_path", "/nowhere/left25")):
            _set(form, field, bad)
        await wait_for(pilot, lambda: all("✗" in error_text(form, f) for f in ("epochs", "image_size", "batch_size",
                                                                               "learning_rate", "data_path")),
                       what="every bad field refused")
        seed = form.query_one("#f-seed", Input)
        seed.focus()  # deep in More options: the fields scrolled to it
        await wait_for(pilot, lambda: seed.has_focus, what="the seed focused")
        await settled(pilot)
        screen = app.screen.region
        for button, label in (("#start", "Start ctrl+s"), ("#cancel", "Cancel esc")):
            region = form.query_one(button).region
            assert region.height >= 1 and screen.contains_region(region), f"{button} at {region}, screen {screen}"
            assert seen_at(app, form.query_one(button)) == label
