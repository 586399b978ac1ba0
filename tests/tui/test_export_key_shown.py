"""A run's export as the dashboard shows it: the run screen's line from export.json (both Dice
figures and whose photos they are on, whole at 80x24), whether the file is still the one
exported, and the runs screen's detail line saying the run was exported."""

from __future__ import annotations

import shutil
from pathlib import Path

from tui_helpers import highlight, make_run, open_live, wait_for

from petseg_tui.app import PetsegApp


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
