"""500 runs stay responsive; every screen survives 80x24; the palette lists every action."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_helpers import (footer_text, open_palette, open_palette_query, rendered, wait_for, widget_text,
                         write_small_runs)

from petseg_tui.app import PetsegApp


@pytest.mark.slow
async def test_500_runs_load_filter_and_stay_still(runs_dir: Path, monkeypatch) -> None:
    """500 runs list, filter and sort; idle polls redraw nothing. How fast: bench/tui_scale.py."""
    import petseg_tui.screens.runs
    from petseg_tui.messages import RunsUpdated
    from petseg_tui.watch import RunsWatcher

    write_small_runs(runs_dir, 500)
    updates: list[RunsUpdated] = []
    polls: list[bool] = []  # one entry (discover or not) per finished poll of the runs folder

    class CountedWatcher(RunsWatcher):
        def poll(self, discover: bool = True):
            result = super().poll(discover=discover)
            polls.append(discover)
            return result

    monkeypatch.setattr(petseg_tui.screens.runs, "RunsWatcher", CountedWatcher)

    app = PetsegApp(runs_dir=runs_dir)
    hook = lambda message: updates.append(message) if isinstance(message, RunsUpdated) else None  # noqa: E731
    async with app.run_test(size=(100, 30), message_hook=hook) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, timeout=120, what="500 runs")
        table = screen.table
        assert table.row_count == 500
        await pilot.press("slash")
        await pilot.press("4")
        await wait_for(pilot, lambda: table.row_count < 500, what="filtered")
        await pilot.press("2")
        await wait_for(pilot, lambda: table.row_count == 15, what="filtered again")
        assert table.visible_names and all("42" in n for n in table.visible_names)
        assert len(table.visible_names) == 15  # x42 (5) and 42x (10)
        await pilot.press("backspace", "backspace")
        await wait_for(pilot, lambda: table.row_count == 500, what="unfiltered")
        await pilot.press("escape")
        status = screen.query_one("#runs-status")
        sorted_by = rendered(status)
        await pilot.press("s", "d")  # the sort menu, then d: best Dice
        await wait_for(pilot, lambda: rendered(status) != sorted_by, what="sorted by best Dice")
        # idle polls (every second, the folder listed every second one) with 500 finished runs
        # post nothing and so change nothing on screen: wait for polls, not for a time
        rows_before = [table.get_row(name) for name in table.visible_names]
        updates.clear()
        seen = len(polls)
        # a poll posts its update before the next poll starts: after the third, two have had their say
        await wait_for(pilot, lambda: len(polls) >= seen + 3 and any(polls[seen:seen + 2]),
                       what="two idle polls, one listing the folder")
        await pilot.pause()  # deliver whatever they posted
        assert not updates
        assert [table.get_row(name) for name in table.visible_names] == rows_before


@pytest.mark.slow
async def test_every_screen_at_80x24(sample_runs: Path, monkeypatch) -> None:
    from petseg_tui.screens.compare import CompareScreen
    from petseg_tui.screens.help import HelpScreen
    from petseg_tui.screens.live_run import LiveRunScreen
    from petseg_tui.screens.new_run import NewRunScreen

    app = PetsegApp(runs_dir=sample_runs)
    async with app.run_test(size=(80, 24)) as pilot:
        runs = app.screen
        await wait_for(pilot, lambda: runs.loaded, what="first scan")
        assert runs.query_one("#runs-table").size.height >= 10
        assert runs.query_one("#filter").region.height == 1

        async def quit_and_help_shown(screen) -> None:
            await wait_for(pilot, lambda: "q Quit" in footer_text(screen) and "? Help" in footer_text(screen),
                           what=f"Quit and Help in the footer of {type(screen).__name__} at 80 columns")
            assert "palette" not in footer_text(screen)  # no room for it (nor its stray 'p')

        await quit_and_help_shown(runs)
        # live (history of a finished run)
        runs.table.move_cursor(row=runs.table.visible_names.index("alpha"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, LiveRunScreen), what="live screen")
        live = app.screen
        await wait_for(pilot, lambda: "best Dice" in widget_text(live.query_one("#live-stats")), what="live drawn")
        for wid in ("#loss-chart", "#dice-chart", "#epoch-bar", "#live-stats"):
            w = live.query_one(wid)
            assert w.region.height > 0 and w.region.width > 0, wid
        assert live.query_one("#loss-chart").region.height >= 6
        assert "best Dice" in widget_text(live.query_one("#live-stats"))
        await quit_and_help_shown(live)
        await pilot.press("escape")
        # new run form: Start and Cancel on screen without scrolling, fields visible
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewRunScreen) and app.screen.query_one("#f-model").has_focus,
                       what="the form")
        form = app.screen
        await wait_for(pilot, lambda: form.query_one("#cancel").region.height >= 1, what="the form laid out")
        assert form.query_one("#f-model").region.height == 1
        assert form.query_one("#f-epochs").region.height == 1
        screen_region = form.region
        for button in ("#start", "#cancel"):
            region = form.query_one(button).region
            assert region.height >= 1 and screen_region.contains_region(region), button
        await pilot.press("escape")
        # compare
        runs.table.move_cursor(row=0)
        await pilot.press("space", "space", "space")
        await pilot.press("c")
        cmp = app.screen
        assert isinstance(cmp, CompareScreen)
        await wait_for(pilot, lambda: len(cmp.snapshots) == 3, what="compare data")
        await wait_for(pilot, lambda: cmp.query_one("#compare-table").row_count == 3, what="the compare table filled")
        assert cmp.query_one("#compare-chart-0").region.height >= 6
        assert cmp.query_one("#compare-table").region.height >= 3
        await quit_and_help_shown(cmp)
        # help over compare
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = widget_text(app.screen.query_one("#help-text"))
        assert "Runs" in text and "Live run" in text and "Compare" in text
        await pilot.press("escape", "escape")
        assert app.screen is runs


async def test_command_palette_has_every_action(sample_runs: Path) -> None:
    (sample_runs / "bravo" / "checkpoints").mkdir(exist_ok=True)
    (sample_runs / "bravo" / "checkpoints" / "last.pt").write_bytes(b"placeholder")  # what R resumes from
    app = PetsegApp(runs_dir=sample_runs)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
        await pilot.press("space")  # Compare is offered once a run is selected
        listed = await open_palette(pilot, until=lambda titles: "New run" in titles)
        for expected in ("New run", "Compare", "Infer", "Filter", "Quit", "Help"):
            assert expected in listed, expected
        listed = await open_palette_query(pilot, "open run: ", lambda t: "Open run: delta-broken" in t)
        assert "Open run: alpha" in listed
        # through the real palette: type, enter
        await open_palette_query(pilot, "bravo", lambda t: t[:1] == ["Open run: bravo"])
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "LiveRunScreen", what="palette open run")
        live = app.screen
        assert live.run_path.name == "bravo"
        await wait_for(pilot, lambda: live.snapshot is not None, what="bravo read")
        # bravo stopped with its last.pt: R resumes it; nothing to stop
        listed = await open_palette(pilot, until=lambda titles: "Log-y" in titles)
        assert "Resume" in listed
        assert "Stop" not in listed and "Pause/resume" not in listed


async def test_the_palette_lists_no_focus_or_copy_keys_of_textual_s_own(sample_runs: Path) -> None:
    """The palette's short list opened with Textual's own Tab, shift+Tab and ctrl+c ("Focus Next",
    "Focus Previous", "Copy selected text"), none an action of the screen, above New run."""
    app = PetsegApp(runs_dir=sample_runs)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
        listed = await open_palette(pilot, until=lambda titles: "New run" in titles)
        assert not {"Focus Next", "Focus Previous", "Copy selected text"} & set(listed), listed


def test_main_parses_flags(monkeypatch, tmp_path: Path) -> None:
    import petseg_tui.__main__ as entry

    seen = {}

    class Fake:
        return_code = 0  # as PetsegApp after a clean quit (main exits with it)

        def __init__(self, runs_dir, image_mode, theme=None):
            seen.update(runs_dir=runs_dir, image_mode=image_mode)

        def run(self):
            seen["ran"] = True

    monkeypatch.setattr("petseg_tui.app.PetsegApp", Fake)
    entry.main(["--runs", str(tmp_path), "--image-mode", "halfcell"])
    assert seen == {"runs_dir": tmp_path, "image_mode": "halfcell", "ran": True}
    monkeypatch.setenv("PETSEG_RUNS", str(tmp_path / "env-runs"))
    entry.main([])
    assert seen["runs_dir"] == tmp_path / "env-runs" and seen["image_mode"] == "auto"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["petseg_tui.app", "textual", "engine.config"])
def test_ctrl_c_while_the_tui_starts_says_interrupted(tmp_path: Path, name: str) -> None:
    """measured: Ctrl-C 0.1-0.3 s after `petseg-tui` started printed a KeyboardInterrupt traceback
    (argparse, the app's imports); the child raises SIGINT from an import hook while NAME loads."""
    import signal
    import subprocess
    import sys

    code = ("import signal, sys\n"
            "class CtrlC:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            f"        if name == {name!r}:\n"
            "            signal.raise_signal(signal.SIGINT)\n"
            "sys.meta_path.insert(0, CtrlC())\n"
            f"sys.argv = ['petseg-tui', '--runs', {str(tmp_path)!r}]\n"
            "from petseg_tui.__main__ import main\n"  # the `petseg-tui` console script, as pip writes it
            "sys.exit(main())\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[2],
                       preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as a terminal gives it
    assert (r.returncode, r.stderr) == (130, "petseg-tui: interrupted\n")


def test_no_torch_on_startup_path() -> None:
    import subprocess
    import sys

    code = ("import sys; import petseg_tui.app, petseg_tui.__main__; "
            "import petseg_tui.screens.live_run, petseg_tui.screens.compare, petseg_tui.screens.new_run; "
            "bad = [m for m in ('torch', 'engine.train.trainer', 'engine.data', 'engine.infer.inference') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
