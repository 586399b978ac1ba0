"""A run with one mistyped field is one broken row, never a crashed app; the same run reads the
same in the table, the live view and the compare view; a crash never exits 0."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tui_helpers import highlight, make_run, open_broken_run_and_return, rendered, run_detail, wait_for

from petseg_tui.app import PetsegApp
from petseg_tui.screens.runs import RunsScreen
from petseg_tui.screens.run_dialogs import SORT_LETTERS
from petseg_tui.widgets.runs_columns import COLUMN_KEYS, COLUMN_LABELS


def bad_runs(runs_dir: Path) -> None:
    make_run(runs_dir, "good", epochs_done=2, total=2)
    make_run(runs_dir, "bad-dice", epochs_done=2, total=2)
    path = runs_dir / "bad-dice" / "events.jsonl"
    lines = path.read_text().splitlines()
    i = next(i for i, ln in enumerate(lines) if '"epoch_ended"' in ln)
    row = json.loads(lines[i])
    row["valid_dice"] = "x"
    lines[i] = json.dumps(row)
    path.write_text("\n".join(lines) + "\n")
    make_run(runs_dir, "yesterday", epochs_done=1, total=2)
    status = json.loads((runs_dir / "yesterday" / "status.json").read_text())
    status["created"] = "yesterday"
    (runs_dir / "yesterday" / "status.json").write_text(json.dumps(status))
    (runs_dir / "no-events").mkdir()
    (runs_dir / "no-events" / "config.json").write_text('{"model": "unet", "epochs": 2}')
    (runs_dir / "no-events" / "status.json").write_text('{"state": "finished", "created": "yesterday"}')
    make_run(runs_dir, "no-status", epochs_done=1, total=2)
    (runs_dir / "no-status" / "status.json").unlink()
    (runs_dir / "config-only").mkdir()  # no status, no events: the live view said "starting" forever
    (runs_dir / "config-only" / "config.json").write_text('{"model": "unet", "epochs": 2}')


@pytest.mark.slow
async def test_mistyped_fields_are_broken_rows_and_the_app_carries_on(runs_dir: Path) -> None:
    bad_runs(runs_dir)

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(140, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        rows = screen.table.rows_by_name
        assert rows["good"].state == "finished"
        assert rows["bad-dice"].state == "broken"
        assert "valid_dice must be a number, got 'x'" in rows["bad-dice"].summary.message
        for name in ("yesterday", "no-events"):
            assert rows[name].state == "broken"
            assert "status.json: created must be a number, got 'yesterday'" in rows[name].summary.message
        table = screen.table
        status = screen.query_one("#runs-status")
        for key in (k for k in COLUMN_KEYS if k != "sel"):  # every sort key over every row (Started crashed)
            await pilot.press("s", SORT_LETTERS[key])
            await wait_for(pilot, lambda: f"sort: {COLUMN_LABELS[table.sort_column]} " in rendered(status),
                           what=f"sorted by {table.sort_column}")
            assert app.is_running and len(table.visible_names) == len(rows)
        for name in ("bad-dice", "yesterday", "no-events"):
            await highlight(pilot, table, name)
            assert rows[name].summary.message.split(": ", 1)[1] in run_detail(screen)
            await open_broken_run_and_return(pilot, screen, name)


async def test_a_run_without_status_reads_the_same_everywhere(runs_dir: Path) -> None:
    from petseg_tui.screens.compare import CompareScreen
    from petseg_tui.screens.live_run import LiveRunScreen

    bad_runs(runs_dir)

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(140, 34)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        row = screen.table.rows_by_name["no-status"]
        assert row.state == "broken" and row.summary.message == "status.json: missing"
        for name in ("no-status", "config-only", "no-events"):
            expected = screen.table.rows_by_name[name]
            app.open_run(runs_dir / name)
            live = app.screen
            assert isinstance(live, LiveRunScreen)
            await wait_for(pilot, lambda: live.snapshot is not None, what="live snapshot")
            assert (live.snapshot.state, live.snapshot.message) == (expected.state, expected.summary.message)
            app.go_home()
            await wait_for(pilot, lambda: app.screen is screen, what="home again")
        app.open_compare([runs_dir / "good", runs_dir / "no-status"])
        cmp = app.screen
        assert isinstance(cmp, CompareScreen)
        await wait_for(pilot, lambda: len(cmp.snapshots) == 2, what="compare snapshots")
        states = {s.name: s.state for s in cmp.snapshots}
        assert states == {"good": "finished", "no-status": "broken"}


def test_a_crash_never_exits_0(monkeypatch, runs_dir: Path, capsys) -> None:
    """The app used to print the traceback and exit 0; now the process exits with Textual's code."""
    import petseg_tui.__main__ as entry

    def boom(self) -> None:
        raise RuntimeError("simulated crash at start-up")

    monkeypatch.setattr(PetsegApp, "on_mount", boom)
    real_run = PetsegApp.run
    monkeypatch.setattr(PetsegApp, "run", lambda self, **kw: real_run(self, headless=True, **kw))
    monkeypatch.setattr("petseg_tui.image_modes.prepare_image_mode", lambda mode: None)
    with pytest.raises(SystemExit) as exit_info:
        entry.main(["--runs", str(runs_dir)])
    assert exit_info.value.code == 1
    assert "petseg-tui: the app stopped on an error (exit 1)" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "env", "expected"), [
    (["--theme", "textual-light"], None, "textual-light"),
    ([], "solarized-light", "solarized-light"),
    (["--theme", "nord"], "solarized-light", "nord"),  # the flag wins
])
def test_the_theme_is_chosen_at_start(monkeypatch, runs_dir: Path, argv, env, expected) -> None:
    """A light terminal over SSH: the theme was only the command palette's (ctrl+p, Theme), for
    one session; --theme or $PETSEG_THEME now start the app in it."""
    import petseg_tui.__main__ as entry

    themes = []
    monkeypatch.setattr(PetsegApp, "run", lambda self, **kw: themes.append(self.theme))
    monkeypatch.setattr("petseg_tui.image_modes.prepare_image_mode", lambda mode: None)
    if env is None:
        monkeypatch.delenv("PETSEG_THEME", raising=False)
    else:
        monkeypatch.setenv("PETSEG_THEME", env)
    entry.main(["--runs", str(runs_dir), *argv])
    assert themes == [expected]


@pytest.mark.parametrize(("argv", "env", "origin"), [(["--theme", "lite"], None, "--theme"), ([], "lite", "$PETSEG_THEME")])
def test_an_unknown_theme_is_one_line(monkeypatch, runs_dir: Path, capsys, argv, env, origin) -> None:
    import petseg_tui.__main__ as entry

    monkeypatch.setattr(PetsegApp, "run", lambda self, **kw: None)  # never the app itself
    monkeypatch.setattr("petseg_tui.image_modes.prepare_image_mode", lambda mode: None)
    if env is None:
        monkeypatch.delenv("PETSEG_THEME", raising=False)
    else:
        monkeypatch.setenv("PETSEG_THEME", env)
    with pytest.raises(SystemExit) as exit_info:
        entry.main(["--runs", str(runs_dir), *argv])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and "\n" not in err
    assert err.startswith(f"petseg-tui: {origin} lite: not a theme (choose from ") and "textual-light" in err


def test_a_runs_folder_that_is_a_file_is_the_line_petseg_says(monkeypatch, tmp_path: Path, capsys) -> None:
    """petseg-tui said "FILE: not a folder" where every petseg command says "FILE: is a file, not a
    runs folder; give --runs a folder": one fact, one sentence."""
    import petseg_tui.__main__ as entry

    monkeypatch.setattr(PetsegApp, "run", lambda self, **kw: None)  # never the app itself
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(SystemExit) as exit_info:
        entry.main(["--runs", str(afile)])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == f"petseg-tui: {afile}: is a file, not a runs folder; give --runs a folder"


@pytest.mark.usefixtures("ctrl_c_reaches_us")
def test_a_ctrl_c_just_before_the_app_takes_the_keyboard_still_stops_it(monkeypatch, runs_dir: Path, capsys) -> None:
    """A Ctrl-C noted after petseg-tui asked whether one came, but before it gave Ctrl-C back to
    Python, was lost: the app started as if none had been pressed."""
    import signal

    import petseg_tui.__main__ as entry
    from engine.cli.interrupts import interrupts_held

    started = []
    monkeypatch.setattr(PetsegApp, "run", lambda self, **kw: started.append(True))
    monkeypatch.setattr("petseg_tui.image_modes.prepare_image_mode", lambda mode: None)
    real_release = entry.release_interrupts

    def ctrl_c_then_release() -> None:
        assert interrupts_held()  # the Ctrl-C below is noted, not raised
        signal.raise_signal(signal.SIGINT)
        real_release()

    monkeypatch.setattr(entry, "release_interrupts", ctrl_c_then_release)
    with pytest.raises(SystemExit) as exit_info:
        entry.main(["--runs", str(runs_dir)])
    assert (exit_info.value.code, capsys.readouterr().err, started) == (130, "petseg-tui: interrupted\n", [])
