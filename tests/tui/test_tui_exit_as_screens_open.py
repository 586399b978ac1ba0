"""The app ending (q, ctrl+q, SIGTERM/SIGHUP) in the moment a screen opens ends cleanly.

Textual mounts no widget on a screen it is removing, yet still sends the screen (and each widget
it had begun to mount) Mount: an ``on_mount`` that queried its children raised NoMatches, and the
dashboard exited with a traceback and exit code 1 instead of 0. The inference screen's file tree,
made but never run, left Textual's path watcher unawaited: Python warned "coroutine
'DirectoryTree.watch_path' was never awaited".
"""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from tui_helpers import make_run, make_sweep_runs, unreadable_checkpoint, wait_for

from petseg_tui.app import PetsegApp
from petseg_tui.widgets.image_picker import ImageTree


def _open_runs(app: PetsegApp, runs_dir: Path) -> None:
    from petseg_tui.screens.runs import RunsScreen

    app.push_screen(RunsScreen())  # the first screen; mounted as the app starts, opened here again


def _open_sweep_form(app: PetsegApp, runs_dir: Path) -> None:
    from petseg_tui.screens.sweep_form import SweepFormScreen

    app.push_screen(SweepFormScreen(runs_dir))  # the sweeps screen's n


def _open_confirm(app: PetsegApp, runs_dir: Path) -> None:
    app.confirm_resume(runs_dir / "alpha", "resume", "stopped")


def _highlighted(app: PetsegApp) -> bool:
    return app.runs_screen.table.highlighted is not None


# screen -> how the app opens it (with the run "alpha" on the runs screen)
OPENERS: dict[str, Callable[[PetsegApp, Path], object]] = {
    "runs": _open_runs,
    "live": lambda app, runs: app.open_run(runs / "alpha"),
    "compare": lambda app, runs: app.open_compare([runs / "alpha", runs / "bravo"]),
    "worst": lambda app, runs: app.open_worst(runs / "alpha"),
    "inference": lambda app, runs: app.action_infer(runs / "alpha"),
    "new-run": lambda app, runs: app.action_new_run(),
    "new-run-like": lambda app, runs: app.action_new_run(copy_of=runs / "alpha"),
    "sweep-form": _open_sweep_form,
    "sweeps": lambda app, runs: app.runs_screen.action_sweeps(),
    "help": lambda app, runs: app.action_help(),
    "confirm": _open_confirm,
    "tags": lambda app, runs: app.runs_screen.action_edit_labels(),
    "sort-menu": lambda app, runs: app.runs_screen.action_sort_menu(),
}


@pytest.mark.parametrize("turns", range(6))
@pytest.mark.parametrize("screen", OPENERS)
async def test_the_app_ending_as_a_screen_opens_ends_cleanly(runs_dir: Path, screen: str, turns: int,
                                                             capfd: pytest.CaptureFixture[str]) -> None:
    """The app ends ``turns`` turns of the event loop after ``screen`` is opened: return code 0 and
    nothing printed of an error (it was a NoMatches traceback and exit code 1)."""
    make_run(runs_dir, "alpha", epochs_done=2, total=5, state="stopped")
    unreadable_checkpoint(runs_dir / "alpha")  # i and w open at once and say why they cannot score
    make_run(runs_dir, "bravo", epochs_done=3, total=5)
    make_sweep_runs(runs_dir)
    app = PetsegApp(runs_dir=runs_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with app.run_test(size=(120, 36)) as pilot:
            await wait_for(pilot, lambda: app.screen.loaded and _highlighted(app), what="first scan")
            OPENERS[screen](app, runs_dir)
            for _ in range(turns):
                await asyncio.sleep(0)
            app.exit()
        gc.collect()  # what was left unawaited is said as it is collected
    assert app.return_code == 0
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Error" not in err, err
    assert not _unawaited(caught)


def _unawaited(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if "never awaited" in str(w.message)]


def test_a_file_tree_never_run_leaves_no_coroutine_unawaited(tmp_path: Path) -> None:
    """Textual makes DirectoryTree's path watcher, a coroutine, as the tree is made; a tree whose
    screen went before it ran dropped it unawaited. The image tree makes it only when it runs."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ImageTree(tmp_path)
        gc.collect()
    assert not _unawaited(caught)
