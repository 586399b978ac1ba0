"""``E`` exports the run (runs table and run screen): in a worker, with the parity figures in a
notification; a run without a checkpoint is one line and the app carries on."""

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


async def test_the_run_screen_shows_its_export_json(runs_dir: Path) -> None:
    """The export's line names both Dice figures (PyTorch's, the export's), as `petseg export`
    prints them (it read "Dice 0.912/0.912"), and whose photos they are on (it read "Dice PyTorch
    0.912 export 0.912" beside the run's own best Dice, as if on the run's data)."""
    from engine.export.report import record
    from tui_helpers import widget_text

    run = make_run(runs_dir, "exported").path
    (run / "export").mkdir()
    record(run / "export" / "model.onnx", {
        "file": "model.onnx", "accepted": True,
        "parity": [{"height": 256, "width": 256, "mask_agreement": 0.99995, "max_abs_diff": 3e-6,
                    "dice_pytorch": 0.912, "dice_export": 0.912}]})
    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=(140, 40)) as pilot:
        live = await open_live(pilot, run)
        messages = lambda: widget_text(live.query_one("#live-messages"))  # noqa: E731
        await wait_for(pilot, lambda: "export:" in messages(), what="the export line")
        text = " ".join(messages().split())
        assert "export: model.onnx written; 256x256: agreement 0.99995, |Δp| max 3.0e-06, Dice on bundled photos: PyTorch 0.912 export 0.912" in text


async def test_at_80x24_a_resnet_runs_export_line_is_on_screen_to_its_end(runs_dir: Path) -> None:
    """A finished resnet18_unet (its settings pane takes 7 rows with the real sample's
    description, the system strip 2) with an export: each run message began with a blank row,
    the screen ran one row past 24 and the export line's end, "Dice PyTorch 0.592 export
    0.592", was off the bottom. Its end says whose photos those Dice are on, and still fits."""
    from tui_helpers import T0, screen_rows, widget_text

    from engine.export.report import digest, record
    from engine.runs.system_log import SystemLogWriter
    from engine.sysmetrics.record import SystemSample

    run = make_run(runs_dir, "r18", model="resnet18_unet", image_size=64, learning_rate=0.003,
                   data="Oxford-IIIT Pet at /work/shared/data/oxford-pet-sample: 298 trainval, 198 test images").path
    system = SystemLogWriter(run)
    for k in range(20):
        system.append(SystemSample(t=T0 + 2 * k, gpus=(), gpu_note="no GPU", cpu_percent=40.0 + k, rss=1 << 30,
                                   ram_used=8 << 30, ram_total=24 << 30, data_wait=0.0, disk_free=33 << 30))
    onnx = run / "export" / "model.onnx"
    onnx.parent.mkdir()
    onnx.write_bytes(b"the exported model")
    record(onnx, {"file": "model.onnx", "accepted": True, "written": True, "bytes": onnx.stat().st_size,
                  "sha256": digest(onnx.read_bytes()),
                  "parity": [{"height": 64, "width": 64, "mask_agreement": 1.0, "max_abs_diff": 2.4e-7,
                              "dice_pytorch": 0.592, "dice_export": 0.592}]})
    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=(80, 24)) as pilot:
        live = await open_live(pilot, run)
        await wait_for(pilot, lambda: "export:" in widget_text(live.query_one("#live-messages")), what="the export line")
        await pilot.pause()
        rows = screen_rows(app)
        assert rows[1].split()[:2] == ["r18", "finished"], "\n".join(rows)  # nothing scrolled off the top
        assert rows[-1].startswith("esc Back"), "\n".join(rows)
        assert " ".join(" ".join(rows[-3:-1]).split()).endswith("Dice on bundled photos: PyTorch 0.592 export 0.592"), "\n".join(rows)


async def test_the_run_screen_says_when_the_exported_file_was_replaced_or_deleted_since(runs_dir: Path) -> None:
    """export.json still says "written" after the file was replaced or deleted: the run screen
    checks the file against what the export wrote (size, SHA-256) and says so."""
    from engine.export.report import digest, record
    from tui_helpers import widget_text

    run = make_run(runs_dir, "exported").path
    onnx = run / "export" / "model.onnx"
    onnx.parent.mkdir()
    onnx.write_bytes(b"the exported model")
    record(onnx, {"file": "model.onnx", "accepted": True, "written": True, "bytes": onnx.stat().st_size,
                  "sha256": digest(onnx.read_bytes()), "parity": []})
    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=(140, 40)) as pilot:
        for change, expected in ((None, None), (b"someone else's model", "model.onnx has been replaced since"),
                                 ("delete", "model.onnx is no longer there")):
            if change == "delete":
                onnx.unlink()
            elif change is not None:
                onnx.write_bytes(change)
            live = await open_live(pilot, run)
            messages = lambda: " ".join(widget_text(live.query_one("#live-messages")).split())  # noqa: E731
            await wait_for(pilot, lambda: "export: model.onnx written" in messages(), what="the export line")
            if expected is None:
                assert "but" not in messages()
            else:
                assert expected in messages()
            app.go_home()
            await pilot.pause()


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


async def test_an_export_in_progress_is_legible_in_a_light_theme(runs_dir: Path, monkeypatch) -> None:
    """The runs screen's "exporting to ONNX… (started N s ago)" was cyan for a dark background
    (about 2.8:1 on textual-light), where the run screen's same line is made legible."""
    import threading

    import engine.export.run_export
    from tui_helpers import LIGHT_THEMES, contrast_of, run_detail, settled

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
            for theme in LIGHT_THEMES:
                app.theme = theme  # as the command palette's Theme switches it
                await settled(pilot)
                await wait_for(pilot, lambda: "exporting to ONNX" in run_detail(screen), what="the line redrawn")
                assert contrast_of(screen.query_one("#run-detail"), "exporting to ONNX") >= 3.0, theme
        finally:
            release.set()


async def test_the_export_ticker_outliving_the_screens_widgets_is_no_crash(runs_dir: Path, monkeypatch) -> None:
    """The export's once-a-second refresh is the app's timer: it ticked while the app was closing,
    the runs screen still mounted but its widgets gone, and the dashboard ended in a NoMatches
    traceback (seen in CI). The refresh of a screen without its widgets does nothing."""
    import threading

    import engine.export.run_export
    from tui_helpers import run_detail

    release = threading.Event()
    monkeypatch.setattr(engine.export.run_export, "export_run", lambda *_a, **_k: release.wait(60))
    run = make_run(runs_dir, "slow").path
    unreadable_checkpoint(run)
    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=(140, 40)) as pilot:
        screen = app.screen
        try:
            await highlight(pilot, screen.table, "slow")
            await pilot.press("E")
            await wait_for(pilot, lambda: "exporting to ONNX" in run_detail(screen), what="the export's line")
            await screen.remove_children()  # as the app's exit leaves it
            screen.show_export_progress()  # what the ticker calls
            await pilot.pause(1.5)  # and a tick of the timer itself
        finally:
            release.set()


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


@pytest.fixture
def exported_tiny(tmp_path_factory, finished_tiny_run):
    from tests.engine.export.exported import exported_run

    return exported_run(tmp_path_factory, finished_tiny_run)[0]


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


async def test_the_runs_screens_detail_line_says_the_run_was_exported(runs_dir: Path, exported_tiny: Path) -> None:
    """Once a run had been exported, neither the runs table nor its detail line said so (only the
    run's own screen): a user choosing a run to deploy could not see which one has a model.onnx.
    The detail line says it, in the run screen's words with the lowest agreement only, as soon as
    export/ changes (whoever exports: here the files come back as another process's export would
    write them), and that the file was replaced since."""
    import json

    from tui_helpers import run_detail, seen_at, settled, widget_text

    run = runs_dir / "tiny"
    shutil.copytree(exported_tiny, run)
    exported = run.parent / "export-made-elsewhere"
    (run / "export").rename(exported)  # listed before its export
    entry = json.loads((exported / "export.json").read_text())["exports"]["model.onnx"]
    agreement = min(p["mask_agreement"] for p in entry["parity"])
    words = f"export: model.onnx written; agreement {agreement:.5f}"
    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        detail = screen.query_one("#run-detail")
        await highlight(pilot, screen.table, "tiny")
        await settled(pilot)
        assert "export" not in run_detail(screen)
        exported.rename(run / "export")
        await wait_for(pilot, lambda: words in seen_at(app, detail), what="the export on the detail line")
        assert "|Δp|" not in seen_at(app, detail)  # its one figure: the run's screen gives them all
        live = await open_live(pilot, run)  # the same words begin the run screen's line
        messages = lambda: " ".join(widget_text(live.query_one("#live-messages")).split())  # noqa: E731
        await wait_for(pilot, lambda: "export: model.onnx written" in messages(), what="the run screen's line")
        assert f"export: model.onnx written; {entry['parity'][0]['height']}x" in messages()
        app.go_home()
        await wait_for(pilot, lambda: app.screen is screen, what="home again")
        (run / "export" / "model.onnx").write_bytes(b"someone else's model")
        await wait_for(pilot, lambda: "model.onnx has been replaced since" in seen_at(app, detail),
                       what="the replaced file said")
        assert f"{words} — but model.onnx has been replaced since this export" in seen_at(app, detail)
