"""The runs screen's status line: what to do with no run or a runs folder that is missing, empty or
a file, the run count, and the key hints it leaves out first when it is too long."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_helpers import (
    rendered,
    make_run,
    wait_for,
    widget_text,
)

from petseg_tui.app import PetsegApp


async def test_empty_and_missing_runs_folder_say_what_to_do(tmp_path: Path) -> None:
    from tui_helpers import footer_text, settled

    for root, says in ((tmp_path / "empty", "No runs yet in"), (tmp_path / "missing", "does not exist")):
        if root.name == "empty":
            root.mkdir()
        app = PetsegApp(runs_dir=root)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: screen.loaded, what="first scan")
            shown = rendered(screen.query_one("#runs-status"))
            assert says in shown and "Press n for a new run" in shown and str(root) in shown
            offered = {b.binding.action for b in screen.active_bindings.values() if b.enabled}
            assert "new_run" in offered
            assert not offered & {"compare", "toggle_select", "worst", "delete_run", "sort_menu", "open_run"}
            await settled(pilot)
            footer = footer_text(screen)
            assert "New run" in footer and "Compare" not in footer and "Select" not in footer


async def test_an_empty_runs_folder_given_with_runs_names_it_in_the_train_command(tmp_path: Path,
                                                                                  monkeypatch) -> None:
    """The empty folder's line suggested a bare ``petseg train --epochs 5``: from a dashboard on
    ``--runs /data/runs`` that trains into ./runs, and the run never shows here."""
    monkeypatch.delenv("PETSEG_RUNS", raising=False)
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "elsewhere" / "runs"
    root.mkdir(parents=True)
    app = PetsegApp(runs_dir=root)
    async with app.run_test(size=(160, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        shown = " ".join(rendered(screen.query_one("#runs-status")).split())
        assert f"petseg train --runs {root} --epochs 5" in shown
    (tmp_path / "runs").mkdir()  # the default folder: the short command trains into it
    app = PetsegApp(runs_dir=Path("runs"))
    async with app.run_test(size=(160, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        shown = " ".join(rendered(screen.query_one("#runs-status")).split())
        assert "(or: petseg train --epochs 5)" in shown


async def test_a_runs_folder_that_is_a_file_names_a_flag_petseg_tui_has(tmp_path: Path) -> None:
    """The runs path turned into a file (the command line refuses one at start): the line said to
    start petseg-tui with --runs_dir, a flag it does not have (it is --runs)."""
    import re

    from petseg_tui.__main__ import build_parser

    root = tmp_path / "runs"
    root.write_text("not a folder")
    app = PetsegApp(runs_dir=root)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        shown = " ".join(rendered(screen.query_one("#runs-status")).split())
        assert str(root) in shown and "is not a folder" in shown
        flags = re.findall(r"--[\w-]+", shown)
        assert flags
        for flag in flags:
            build_parser().parse_args([flag, str(tmp_path)])  # argparse exits on a flag it lacks


@pytest.mark.parametrize("exists", [False, True], ids=["missing", "empty"])
async def test_with_no_run_the_whole_next_step_shows_at_80_columns(tmp_path: Path, exists: bool) -> None:
    """A missing or empty runs folder: the status line says so and what to press, all of it on
    screen at 80x24 however long the folder's path (it was cut after one line)."""
    root = tmp_path / ("a-runs-folder-with-a-long-name-" * 2) / "runs"
    if exists:
        root.mkdir(parents=True)
    app = PetsegApp(runs_dir=root)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        await pilot.pause()
        shown = "".join(widget_text(screen.query_one("#runs-status")).split())
        assert "".join(str(root).split()) in shown
        tail = "(itcreatesthefolder)." if not exists else "".join(f"(or:petsegtrain--runs{root}--epochs5).".split())
        assert shown.endswith(tail), shown


async def test_the_status_line_counts_one_run_in_the_singular(runs_dir: Path) -> None:
    make_run(runs_dir, "only")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        status = lambda: str(screen.query_one("#runs-status").render())  # noqa: E731
        await wait_for(pilot, lambda: status().startswith("1 run ·"), what="'1 run', not '1 runs'")


async def test_a_long_status_line_leaves_out_its_key_hints_not_the_end_of_a_phrase(sample_runs: Path) -> None:
    """A run archived, the table filtered: at 80 columns the status line read "… · sort: Started ▼
    · filtered (/ edits, esc", the key's meaning cut at the edge. Too wide, it goes without its
    hints in brackets, the last first (the others stay while they fit); widened, they come back."""
    app = PetsegApp(runs_dir=sample_runs)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        status = screen.query_one("#runs-status")

        def shown() -> str:
            return widget_text(status).strip()

        await pilot.press("end", "A")  # archive the last run: "1 archived hidden (h shows)"
        await wait_for(pilot, lambda: "archived hidden" in shown(), what="a run archived")
        await pilot.press("slash", *"charlie", "enter")
        await wait_for(pilot, lambda: "1 shown" in shown(), what="the filtered status")
        await pilot.pause()
        assert shown() == "4 runs · 1 shown · 1 archived hidden (h shows) · sort: Started ▼ · filtered", shown()
        await pilot.press("space")  # "1 selected": now neither hint fits
        await wait_for(pilot, lambda: "1 selected" in shown(), what="the run selected")
        await pilot.pause()
        assert shown() == "4 runs · 1 shown · 1 archived hidden · 1 selected · sort: Started ▼ · filtered", shown()
        await pilot.resize_terminal(120, 30)
        await wait_for(pilot, lambda: shown().endswith("filtered (/ edits, esc clears)"), what="the hints back")
        assert "(h shows)" in shown()
