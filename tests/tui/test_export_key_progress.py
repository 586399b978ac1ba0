"""An export started with ``E`` while it runs: said with the time since it started and the step
it is at, on the runs screen's detail line and the run's screen, in place under no toast at
80x24, legible in the light themes, cleared when it ends, and no crash when its ticker outlives
the screen's widgets."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tui_helpers import highlight, make_run, open_live, toasts, unreadable_checkpoint, wait_for

from petseg_tui.app import PetsegApp


async def test_an_export_in_progress_shows_on_the_runs_screen_and_the_run_screen(runs_dir: Path, monkeypatch) -> None:
    """A slow export (a resnet18_unet took ~90 s) says it is running, with the time since it
    started, on the detail line and on the run's screen until it ends; a failure clears it."""
    import re
    import threading

    import engine.export.run_export
    from engine.errors import PetsegError
    from tui_helpers import run_detail, widget_text

    release = threading.Event()

    def slow_export(run_path, fmt, **options):
        release.wait(60)
        raise PetsegError("the exporter gave up")

    monkeypatch.setattr(engine.export.run_export, "export_run", slow_export)
    run = make_run(runs_dir, "slow").path
    unreadable_checkpoint(run)  # E is offered for a run with a model; the export itself is faked
    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        screen = app.screen
        try:
            await highlight(pilot, screen.table, "slow")
            await pilot.press("E")
            await wait_for(pilot, lambda: "exporting to ONNX… (started" in run_detail(screen),
                           what="the export shown on the detail line")
            seconds = lambda: int(re.search(r"started (\d+) s ago", run_detail(screen)).group(1))  # noqa: E731
            await wait_for(pilot, lambda: seconds() >= 1, what="the time since it started, updated")
            live = await open_live(pilot, run)
            messages = lambda: " ".join(widget_text(live.query_one("#live-messages")).split())  # noqa: E731
            await wait_for(pilot, lambda: "exporting to ONNX… (started" in messages(), what="the run screen says so")
        finally:
            release.set()
        await wait_for(pilot, lambda: "the exporter gave up" in toasts(app), what="the failure")
        await wait_for(pilot, lambda: "exporting to ONNX" not in messages(), what="the run screen's line cleared")
        app.go_home()
        await wait_for(pilot, lambda: app.screen is screen, what="home again")
        await wait_for(pilot, lambda: "exporting" not in run_detail(screen) and run_detail(screen).startswith("slow "),
                       what="the detail line cleared")


async def test_at_80x24_an_exports_progress_is_read_where_it_is_drawn_under_no_toast(runs_dir: Path,
                                                                                      monkeypatch) -> None:
    """At 80x24 a 5 s toast "Exporting RUN to ONNX …" lay over the runs screen's detail line (toasts
    fill the bottom right), hiding "exporting to ONNX… (started N s ago)" under a copy of itself;
    on the run's screen it lay over its messages. The progress is said in place alone, read there."""
    import re
    import threading

    from tui_helpers import run_detail, seen_at, settled, widget_text

    import engine.export.run_export

    release = threading.Event()
    monkeypatch.setattr(engine.export.run_export, "export_run", lambda *_a, **_k: release.wait(60))
    run = make_run(runs_dir, "slow-export",
                   data="Oxford-IIIT Pet at /work/shared/data/oxford-pet-sample: 298 trainval, 198 test images").path
    unreadable_checkpoint(run)  # E is offered for a run with a model; the export itself is faked
    progress = re.compile(r"exporting to ONNX… \(started \d+ s ago\)")
    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = app.screen
        try:
            for on_live in (False, True):
                if on_live:
                    release.set()
                    await wait_for(pilot, lambda: "exporting" not in run_detail(screen), what="the first one over")
                    release.clear()
                    app.clear_notifications()  # the fake export's end (a failure) is not what is tested
                    live = await open_live(pilot, run)
                    where = live.query_one("#live-messages")
                else:
                    await highlight(pilot, screen.table, "slow-export")
                    where = screen.query_one("#run-detail")
                await pilot.press("E")
                # drawn, whatever lies over it (the toast went after 5 s: read before then)
                await wait_for(pilot, lambda w=where: progress.search(" ".join(widget_text(w).split())) is not None,
                               what="the progress")
                await settled(pilot)
                seen = seen_at(app, where)
                assert progress.search(seen), seen
                assert "Exporting" not in toasts(app), toasts(app)
                assert not any(t.region.overlaps(where.region) for t in app.screen.query("Toast"))
        finally:
            release.set()


@pytest.mark.parametrize("size", [(80, 24), (140, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_an_exports_progress_says_the_step_it_is_at(runs_dir: Path, monkeypatch, size) -> None:
    """The progress line said "exporting to ONNX… (started N s ago)" for the whole export, a
    minute and more of it the parity check that a removed toast named: the user could not tell
    the long part from a hang. It now says the step the export reports (the engine's words), on
    the runs screen's detail line and on the run's screen, at 80 columns too (wrapped)."""
    import re
    import threading

    import engine.export.run_export
    from engine.export.run_export import ExportStep
    from tui_helpers import run_detail, seen_at, settled, widget_text

    release = threading.Event()
    checking = ExportStep("checking it against PyTorch at 64x64 on the bundled test photos")

    def export_at_parity(run_path, fmt, *, on_step=None, **options):
        on_step(ExportStep("loading the model", f"from {run_path}"))
        on_step(checking)
        release.wait(60)

    monkeypatch.setattr(engine.export.run_export, "export_run", export_at_parity)
    run = make_run(runs_dir, "slow").path
    unreadable_checkpoint(run)  # E is offered for a run with a model; the export itself is faked
    progress = re.compile(r"exporting to ONNX: checking it against PyTorch at 64x64 on the bundled test photos… "
                          r"\(started \d+ s ago\)")
    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=size) as pilot:
        screen = app.screen
        try:
            await highlight(pilot, screen.table, "slow")
            await pilot.press("E")
            await wait_for(pilot, lambda: progress.search(run_detail(screen)) is not None, what="the step")
            await settled(pilot)
            seen = seen_at(app, screen.query_one("#run-detail"))  # as drawn: wrapped at 80 columns, whole
            assert progress.search(seen) and "loading the model" not in seen, seen
            live = await open_live(pilot, run)
            where = live.query_one("#live-messages")
            await wait_for(pilot, lambda: progress.search(" ".join(widget_text(where).split())) is not None,
                           what="the step on the run's screen")
            await settled(pilot)
            assert progress.search(seen_at(app, where)), seen_at(app, where)
        finally:
            release.set()


@contextlib.asynccontextmanager
async def _export_held_in_progress(runs_dir: Path, monkeypatch) -> AsyncIterator[tuple[PetsegApp, object]]:
    """(app, pilot) at 140x40 once E on run "slow" of the runs table has started an export, which
    the block holds in progress (the export faked: it waits) and lets end as the block ends."""
    import threading

    import engine.export.run_export
    from tui_helpers import run_detail

    release = threading.Event()
    monkeypatch.setattr(engine.export.run_export, "export_run", lambda *_a, **_k: release.wait(60))
    run = make_run(runs_dir, "slow").path
    unreadable_checkpoint(run)  # E is offered for a run with a model; the export itself is faked
    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=(140, 40)) as pilot:
        screen = app.screen
        try:
            await highlight(pilot, screen.table, "slow")
            await pilot.press("E")
            await wait_for(pilot, lambda: "exporting to ONNX" in run_detail(screen), what="the export's line")
            yield app, pilot
        finally:
            release.set()


async def test_an_export_in_progress_is_legible_in_a_light_theme(runs_dir: Path, monkeypatch) -> None:
    """The runs screen's "exporting to ONNX… (started N s ago)" was cyan for a dark background
    (about 2.8:1 on textual-light), where the run screen's same line is made legible."""
    from tui_helpers import LIGHT_THEMES, contrast_of, run_detail, settled

    async with _export_held_in_progress(runs_dir, monkeypatch) as (app, pilot):
        screen = app.screen
        for theme in LIGHT_THEMES:
            app.theme = theme  # as the command palette's Theme switches it
            await settled(pilot)
            await wait_for(pilot, lambda: "exporting to ONNX" in run_detail(screen), what="the line redrawn")
            assert contrast_of(screen.query_one("#run-detail"), "exporting to ONNX") >= 3.0, theme


async def test_the_export_ticker_outliving_the_screens_widgets_is_no_crash(runs_dir: Path, monkeypatch) -> None:
    """The export's once-a-second refresh is the app's timer: it ticked while the app was closing,
    the runs screen still mounted but its widgets gone, and the dashboard ended in a NoMatches
    traceback (seen in CI). The refresh of a screen without its widgets does nothing."""
    async with _export_held_in_progress(runs_dir, monkeypatch) as (app, pilot):
        screen = app.screen
        await screen.remove_children()  # as the app's exit leaves it
        screen.show_export_progress()  # what the ticker calls
        await pilot.pause(1.5)  # and a tick of the timer itself
