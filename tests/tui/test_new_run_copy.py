"""A copy of a run in the new-run form keeps every `TrainConfig` field: run -> form -> config."""

from __future__ import annotations

from pathlib import Path

from tui_helpers import wait_for

from engine.config import TrainConfig, config_fields
from engine.runs import RunStore
from petseg_tui.app import PetsegApp
from petseg_tui.screens.new_run import NewRunScreen
from tests.config_values import all_changed


async def test_a_copied_run_keeps_every_field(runs_dir: Path) -> None:
    copied = all_changed()
    RunStore(runs_dir).create(copied.to_dict(), "base").close()  # the run's config.json
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        app.action_new_run(copy_of=runs_dir / "base")
        await wait_for(pilot, lambda: isinstance(app.screen, NewRunScreen)
                       and any(w.has_focus for w in app.screen.query("#f-model")), what="the copy form ready")
        form = app.screen
        assert "a copy of base's settings" in " ".join(str(w.render()) for w in form.query("#new-run-title"))
        config, _name, _detached, _errors = form.validate_form()
        for f in config_fields():
            assert getattr(config, f.name) == getattr(copied, f.name), f.name
        assert config == copied


async def test_a_copied_field_the_form_lacks_a_choice_for_is_offered(runs_dir: Path) -> None:
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        form = NewRunScreen(TrainConfig(device="cuda:3"), copied_from="base")
        await app.push_screen(form)
        await wait_for(pilot, lambda: form.query_one("#f-model").has_focus, what="the form ready")
        assert form.query_one("#f-device").value == "cuda:3"
        assert form.validate_form()[0].device == "cuda:3"


def test_a_data_parallel_run_must_start_detached() -> None:
    from petseg_tui.screens.new_run_fields import initial_values, parse_form

    raw = {k: ("" if v is None else v) for k, v in initial_values().items()}
    raw.update({k: str(v) for k, v in raw.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
    raw.update(devices="2", detached=False)
    assert "Detached" in parse_form(raw)[3]["devices"]
    raw.update(detached=True)
    assert "devices" not in parse_form(raw)[3]


async def test_copy_is_not_offered_for_a_run_whose_settings_cannot_be_read(sample_runs: Path) -> None:
    """N (copy this run) needs the run's config.json: on a run whose config.json is not JSON the
    footer offered "N Copy" and the key only said "Cannot copy its settings". It is not offered
    there; on a readable run it is, and opens the copy."""
    from tui_helpers import footer_text, highlight, settled

    app = PetsegApp(runs_dir=sample_runs)
    async with app.run_test(size=(160, 40)) as pilot:
        runs = app.screen
        await wait_for(pilot, lambda: runs.loaded, what="first scan")
        await highlight(pilot, runs.table, "delta-broken")
        await settled(pilot)
        assert "N Copy" not in footer_text(runs) and "n New run" in footer_text(runs)
        await pilot.press("N")
        await settled(pilot)
        assert app.screen is runs
        await highlight(pilot, runs.table, "alpha")
        await wait_for(pilot, lambda: "N Copy" in footer_text(runs), what="N offered for alpha")
        await pilot.press("N")
        await wait_for(pilot, lambda: isinstance(app.screen, NewRunScreen), what="the copy's form")


async def test_a_copys_auto_warm_up_follows_the_copys_epochs(runs_dir: Path) -> None:
    """N on a 25-epoch run whose warm-up was auto (recorded as the 2 it resolved to), epochs set
    to 2: "Warm-up epochs ✗ must be fewer than --epochs (2)", on a field the user never set, in
    More options. The warm-up auto gave is auto again in the copy; one set by hand is kept."""
    from textual.widgets import Input

    RunStore(runs_dir).create(TrainConfig(epochs=25, warmup_epochs=2).to_dict(), "auto-warm").close()
    RunStore(runs_dir).create(TrainConfig(epochs=25, warmup_epochs=1).to_dict(), "set-warm").close()
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        for name, shown in (("auto-warm", None), ("set-warm", 1)):
            app.action_new_run(copy_of=runs_dir / name)
            await wait_for(pilot, lambda: isinstance(app.screen, NewRunScreen)
                           and any(w.has_focus for w in app.screen.query("#f-model")), what="the copy form ready")
            form = app.screen
            form.query_one("#f-epochs", Input).value = "2"
            await pilot.pause()
            config, _name, _detached, errors = form.validate_form()
            if shown is None:
                assert "warmup_epochs" not in errors and config.warmup_epochs is None, errors
            else:
                assert config.warmup_epochs == 1 and "warmup_epochs" not in errors
            app.pop_screen()
            await pilot.pause()
