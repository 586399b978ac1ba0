"""The keys that use a run's model (``i`` infer, ``w`` worst, ``E`` export) are offered only for
a run with a checkpoint, on the runs table and on the run's screen, and appear once its first
checkpoint is written; ``i`` on the table for a run without one opens the inference screen's
run chooser instead."""

from __future__ import annotations

from pathlib import Path

from tui_helpers import footer_text, highlight, make_run, open_live, unreadable_checkpoint, wait_for

from petseg_tui.app import PetsegApp


async def test_model_keys_follow_the_runs_checkpoint(runs_dir: Path) -> None:
    from petseg_tui.screens.inference import InferenceScreen

    untrained = make_run(runs_dir, "untrained", state="running", close=False)
    make_run(runs_dir, "trained")
    unreadable_checkpoint(runs_dir / "trained")
    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=(160, 40)) as pilot:
        runs = app.screen
        await highlight(pilot, runs.table, "trained")
        await wait_for(pilot, lambda: "Worst" in footer_text(runs), what="w offered for a run with a checkpoint")
        assert runs.check_action("export", ()) and runs.check_action("infer", ())
        await highlight(pilot, runs.table, "untrained")
        # both read from one drawn footer: between two, while it recomposes, it is blank (no "Worst"
        # in it either), and the clean-clone CI read "Infer" from that blank footer once
        await wait_for(pilot, lambda: "Worst" not in (shown := footer_text(runs)) and "Infer" in shown,
                       what="w withdrawn for one without, i still offered: pick a run there")
        assert not runs.check_action("export", ())
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, InferenceScreen), what="the inference screen")
        assert app.screen.run_path is None and app.screen.choose_run
        app.go_home()

        live = await open_live(pilot, untrained.path)
        await wait_for(pilot, lambda: live.snapshot is not None, what="the run read")
        assert "Infer" not in footer_text(live) and not live.check_action("worst", ())
        await pilot.press("w", "E")
        await pilot.pause()
        assert app.screen is live
        unreadable_checkpoint(untrained.path)  # its first best.pt is written
        await wait_for(pilot, lambda: "Infer" in footer_text(live), what="i offered once the run has a checkpoint")
        assert live.check_action("worst", ()) and live.check_action("export", ())
    untrained.close()
