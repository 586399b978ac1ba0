"""``E`` exports the run (runs table and run screen): offered only for a run with a checkpoint, a
bad one one line and the app carries on; the export in a worker, with the parity figures in a
notification; and over a model.onnx that would be lost it asks first, before any work."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tui_helpers import highlight, make_run, open_live, toasts, unreadable_checkpoint, wait_for

from petseg_tui.app import PetsegApp


@pytest.fixture
def few_photos(monkeypatch):
    from tests.engine.export.exported import few_photos

    few_photos(monkeypatch)


async def test_E_is_offered_only_for_a_run_with_a_checkpoint_and_a_bad_one_is_one_line(runs_dir: Path) -> None:
    make_run(runs_dir, "untrained")
    unreadable_checkpoint(make_run(runs_dir, "garbled").path)
    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        screen = app.screen
        await highlight(pilot, screen.table, "untrained")
        await pilot.press("E")
        await pilot.pause()
        assert not screen.check_action("export", ()) and "Export failed" not in toasts(app)
        await highlight(pilot, screen.table, "garbled")
        assert screen.check_action("export", ())
        await pilot.press("E")
        await wait_for(pilot, lambda: "Export failed" in toasts(app), timeout=60, what="the refusal")
        assert "best.pt" in toasts(app)
        assert app.screen is screen and not (runs_dir / "garbled" / "export" / "model.onnx").exists()


async def test_E_on_a_run_with_no_checkpoint_says_there_is_nothing_to_export(runs_dir: Path) -> None:
    """The help lists E for every run; on one with no checkpoint yet (stopped before its first
    epoch, or still in it) E did nothing at all, on the runs table and on the run's screen. It says
    why, in the words of `petseg export`, and exports nothing."""
    run = make_run(runs_dir, "untrained").path
    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = app.screen
        await highlight(pilot, screen.table, "untrained")
        await pilot.press("E")
        await wait_for(pilot, lambda: "Nothing to export" in toasts(app), what="the refusal on the runs table")
        assert "no checkpoint yet" in toasts(app) and "Export failed" not in toasts(app)
        app.clear_notifications()
        live = await open_live(pilot, run)
        await wait_for(pilot, lambda: "Nothing to export" not in toasts(app), what="the first refusal gone")
        await pilot.press("E")
        await wait_for(pilot, lambda: "Nothing to export" in toasts(app), what="the refusal on the run's screen")
        assert app.screen is live and not (run / "export").exists()


@pytest.mark.slow
async def test_E_exports_the_run_and_shows_the_parity_figures(runs_dir: Path, finished_tiny_run: Path,
                                                             few_photos) -> None:
    from tui_helpers import widget_text

    run = runs_dir / "tiny"
    shutil.copytree(finished_tiny_run, run)
    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        live = await open_live(pilot, run)
        await pilot.press("E")
        # the progress line is there only while the export runs, which a fast export (2 s) may end
        # between two looks on a loaded machine: its words are checked with an export held still
        # (test_an_exports_progress_says_the_step_it_is_at); here the start, or the end if it came first
        await wait_for(pilot, lambda: "exporting to ONNX" in widget_text(live.query_one("#live-messages"))
                       or "model.onnx written" in toasts(app), what="the start")
        await wait_for(pilot, lambda: "model.onnx written" in toasts(app), timeout=240, what="the figures")
        text = toasts(app)
        assert "agreement 1.0000" in text and "64x64" in text and "|Δp| max" in text
        assert app.screen is live and (run / "export" / "model.onnx").is_file()
        assert (run / "export" / "export.json").is_file()
        await wait_for(pilot, lambda: "export: model.onnx written" in widget_text(live.query_one("#live-messages")),
                       what="the run screen's export line")
        assert " but " not in " ".join(widget_text(live.query_one("#live-messages")).split())  # the file is as written


def _run_with_a_foreign_export(runs_dir: Path) -> Path:
    """A run "junk" (its checkpoint unreadable) whose export folder holds a model.onnx petseg
    export did not write; returns that file."""
    run = make_run(runs_dir, "junk").path
    unreadable_checkpoint(run)
    junk = run / "export" / "model.onnx"
    junk.parent.mkdir()
    junk.write_bytes(b"someone else's model")
    return junk


async def test_E_over_a_file_petseg_did_not_write_asks_before_replacing_it(runs_dir: Path) -> None:
    """The dashboard has no --overwrite to pass: over a model.onnx petseg export did not write, E
    asks "Replace …?"; no keeps the file as it was, yes exports with overwrite (here the garbled
    checkpoint then fails the export, so nothing is replaced, but it is no longer the question)."""
    from petseg_tui.screens.confirm import ConfirmScreen
    from tui_helpers import widget_text

    runs_dir = runs_dir / "pets[v2]"  # a path is text, not markup: "[v2]" stays in the dialog and the toasts
    junk = _run_with_a_foreign_export(runs_dir)
    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        screen = app.screen
        await highlight(pilot, screen.table, "junk")
        await pilot.press("E")
        question = lambda: " ".join(widget_text(app.screen.query_one("#confirm-question")).split())  # noqa: E731
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and "Replace" in question(), timeout=60,
                       what="the question")
        assert f"Replace {junk}?".replace(" ", "") in question().replace(" ", "") and "was not written by petseg export" in question()
        assert "--overwrite" not in toasts(app)
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is screen, what="back on the runs")
        assert junk.read_bytes() == b"someone else's model" and "Export failed" not in toasts(app)
        await pilot.press("E")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), timeout=60, what="the question again")
        await pilot.press("y")
        await wait_for(pilot, lambda: "Export failed" in toasts(app), timeout=60, what="the overwriting export's end")
        assert "best.pt" in toasts(app) and "pets[v2]" in toasts(app).replace(" ", "")
        assert app.screen is screen


async def test_E_over_a_file_petseg_did_not_write_asks_at_once_before_any_work(runs_dir: Path, monkeypatch) -> None:
    """The question used to come only once the export had imported torch and loaded the model (~15 s
    on a busy machine), after an "Exporting…" notification; now it comes first, and nothing runs."""
    import threading
    import time

    import engine.export.run_export
    from petseg_tui.screens.confirm import ConfirmScreen

    release, worked = threading.Event(), threading.Event()
    real_export = engine.export.run_export.export_run

    def slow_export(run_path, fmt, **options):  # the work (torch, the model, the export) taking its time
        worked.set()
        release.wait(60)
        return real_export(run_path, fmt, **options)

    monkeypatch.setattr(engine.export.run_export, "export_run", slow_export)
    junk = _run_with_a_foreign_export(runs_dir)
    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        try:
            await highlight(pilot, app.screen.table, "junk")
            pressed = time.monotonic()
            await pilot.press("E")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), timeout=10, what="the question")
            assert time.monotonic() - pressed < 5  # under 1 s here; the point: before the work
            assert not worked.is_set() and "Exporting" not in toasts(app)
        finally:
            release.set()
        await pilot.press("n")
        assert junk.read_bytes() == b"someone else's model" and not worked.is_set()


async def test_E_over_its_own_export_asks_only_when_something_would_be_lost(runs_dir: Path, exported_tiny: Path,
                                                                           monkeypatch) -> None:
    """E re-exported over the run's own model.onnx without asking, even when the run's best.pt had
    changed since (the file a user may deploy silently became another model), while over a file
    petseg did not write it asked. Now it asks whenever the file would be lost, saying why, and
    not when the export would come out the same (its own export of the same best.pt)."""
    import os

    import engine.export.run_export
    from petseg_tui.screens.confirm import ConfirmScreen
    from tui_helpers import widget_text

    exports: list[bool] = []

    def counted_export(run_path, fmt, **options):  # the work itself is petseg export's, tested there
        exports.append(options.get("overwrite", False))
        from engine.errors import PetsegError

        raise PetsegError("stub export")

    monkeypatch.setattr(engine.export.run_export, "export_run", counted_export)
    run = runs_dir / "tiny"
    shutil.copytree(exported_tiny, run)
    model = (run / "export" / "model.onnx").read_bytes()
    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        screen = app.screen
        await highlight(pilot, screen.table, "tiny")
        await pilot.press("E")  # its own export of this best.pt: nothing to lose, no question
        await wait_for(pilot, lambda: "stub export" in toasts(app), timeout=60, what="the export")
        assert exports == [False] and app.screen is screen
        best = run / "checkpoints" / "best.pt"
        os.utime(best, ns=(best.stat().st_atime_ns, best.stat().st_mtime_ns + 10**9))  # trained on
        await pilot.press("E")
        question = lambda: " ".join(widget_text(app.screen.query_one("#confirm-question")).split())  # noqa: E731
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), timeout=60, what="the question")
        assert "holds the export of best.pt as it was on" in question() and "best.pt has changed since" in question()
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is screen, what="back on the runs")
        assert exports == [False] and (run / "export" / "model.onnx").read_bytes() == model
