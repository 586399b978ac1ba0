"""The inference screen running the model: a real checkpoint's prediction, the threshold, outline
and TTA keys (the model re-run only for TTA), a bad photo or checkpoint said without a crash,
the model loading said, and the screen left while the model runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from tui_helpers import inference_done, settled, wait_for, widget_text
from tui_inference import (FakePredictor, InferenceTestApp, inference_screen, make_run,
                           model_line, result_line, run_on, type_path)

from petseg_tui.screens import inference as inf
from petseg_tui.screens.inference import InferenceScreen
from petseg_tui.widgets.image_view import ImageView


async def test_real_checkpoint_prediction_shows_image_mask_and_stats(
    real_checkpoint_run: Path, images: Path
) -> None:
    app = InferenceTestApp(real_checkpoint_run.parent, real_checkpoint_run, images)
    async with app.run_test(size=(100, 30)) as pilot:
        await inference_done(pilot)  # the model loads on open
        screen = app.screen
        assert isinstance(screen, InferenceScreen)
        assert "tiny-unet" in model_line(screen) and "unet" in model_line(screen)
        assert "epoch 1" in model_line(screen) and "best Dice 0.5000" in model_line(screen)

        await run_on(pilot, screen, images / "cat.jpg")
        assert screen.error == ""
        assert screen.prediction is not None and screen.prediction.image.shape == (72, 96, 3)
        assert "cat.jpg" in result_line(screen) and "96×72" in result_line(screen)
        assert "pet " in result_line(screen) and "%" in result_line(screen)
        for pane in ("#pane-image", "#pane-mask", "#pane-overlay"):
            view = screen.query_one(pane, ImageView)
            assert view.image_widget is not None, pane
        assert type(screen.query_one("#pane-mask", ImageView).image_widget).__name__ == "HalfcellImage"
        assert app.is_running


@pytest.mark.slow  # over ~3 s alone (the marker's rule)
async def test_threshold_keys_rethreshold_without_rerunning_the_model(
    tmp_path: Path, images: Path, fake_predictor
) -> None:
    async with inference_screen(tmp_path, images) as (pilot, screen):
        await run_on(pilot, screen, images / "cat.jpg")
        assert fake_predictor.calls == 1
        assert screen.rendered.fraction == pytest.approx(0.5, abs=0.02)
        assert "thr 0.50" in result_line(screen) and "pet 50.0%" in result_line(screen)

        await pilot.press("plus", "plus")  # two steps up
        await inference_done(pilot)
        assert screen.threshold == pytest.approx(0.60)
        assert "thr 0.60" in result_line(screen)
        assert screen.rendered.fraction == pytest.approx(0.40, abs=0.02)

        await pilot.press("minus", "minus", "minus", "minus")
        await inference_done(pilot)
        assert screen.threshold == pytest.approx(0.40)
        assert screen.rendered.fraction == pytest.approx(0.60, abs=0.02)
        assert fake_predictor.calls == 1  # re-thresholded, not re-run

        for _ in range(10):  # clamped at the low end (0.40 is 7 steps above it)
            await pilot.press("minus")
        await inference_done(pilot)
        assert screen.threshold == pytest.approx(0.05)

        outline_before = screen.rendered.outline
        await pilot.press("u")
        await inference_done(pilot)
        assert screen.rendered.outline is (not outline_before)
        assert fake_predictor.calls == 1

        await pilot.press("t")  # flip TTA re-runs the model
        await inference_done(pilot)
        assert screen.tta and "TTA on" in result_line(screen)
        assert fake_predictor.calls == 2


async def test_non_image_file_shows_error_and_screen_stays_usable(
    tmp_path: Path, images: Path, fake_predictor
) -> None:
    async with inference_screen(tmp_path, images) as (pilot, screen):
        await run_on(pilot, screen, images / "fake.jpg")
        assert "fake.jpg" in screen.error
        err = screen.query_one("#inf-error")
        assert err.has_class("-shown") and err.display
        assert pilot.app.is_running and "running the model" not in result_line(screen)

        # a typed path that does not exist, through the Input
        inp = screen.query_one("#inf-path")
        await type_path(pilot, inp, images / "missing.png")
        await pilot.press("enter")
        await inference_done(pilot)
        assert "missing.png" in screen.error
        assert inp.has_focus  # still typing: the next path is not run as hotkeys
        await pilot.press("escape")  # esc leaves the box first, not the screen
        assert isinstance(pilot.app.screen, InferenceScreen) and not inp.has_focus

        await run_on(pilot, screen, images / "cat.jpg")  # a good image still works
        assert screen.error == "" and not screen.query_one("#inf-error").has_class("-shown")
        assert Path(screen.prediction.source).name == "cat.jpg"

        # a bad file after a good one: the cat's picture and info must not stay under its error
        await run_on(pilot, screen, images / "fake.jpg")
        assert "fake.jpg" in screen.error
        assert screen.prediction is None and "cat.jpg" not in result_line(screen)
        assert screen.query_one("#pane-image", ImageView).pil_image is None


async def test_unreadable_truncated_image_is_an_error_with_the_real_engine(
    real_checkpoint_run: Path, images: Path
) -> None:
    data = (images / "cat.jpg").read_bytes()
    (images / "cut.jpg").write_bytes(data[: len(data) // 3])
    app = InferenceTestApp(real_checkpoint_run.parent, real_checkpoint_run, images)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await inference_done(pilot)
        await run_on(pilot, screen, images / "fake.jpg")
        assert "fake.jpg" in screen.error
        await run_on(pilot, screen, images / "cut.jpg")
        assert "cut.jpg" in screen.error
        assert app.is_running


@pytest.mark.parametrize("content", ["garbage", "other_arch", "missing"])
async def test_bad_checkpoint_shows_error_without_crash(
    tmp_path: Path, images: Path, real_checkpoint_run: Path, content: str
) -> None:
    import torch

    best = real_checkpoint_run / "checkpoints" / "best.pt"
    if content == "garbage":
        best.write_bytes(b"\x00not a checkpoint at all" * 10)
    elif content == "other_arch":
        ckpt = torch.load(best, weights_only=True)
        ckpt["arch"] = {"name": "resnet34_unet", "kwargs": {}}
        torch.save(ckpt, best)
    else:
        best.unlink()
    app = InferenceTestApp(real_checkpoint_run.parent, real_checkpoint_run, images)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await inference_done(pilot)
        assert "best.pt" in screen.error or "checkpoint" in screen.error
        await run_on(pilot, screen, images / "cat.jpg")
        assert screen.error and screen.prediction is None
        assert app.is_running and not screen.query_one("#inf-panes").loading


async def test_the_model_line_shows_the_best_dice_as_the_runs_table_does(
    tmp_path: Path, images: Path, fake_predictor
) -> None:
    """The header read 'best Dice 0.812' for a run the runs table and live screen show at 0.8123."""
    async with inference_screen(tmp_path, images) as (pilot, screen):
        assert "best Dice 0.8123 " in model_line(screen) + " "


async def test_opens_from_the_real_app_and_escape_returns(tmp_path: Path, images: Path, fake_predictor) -> None:
    from petseg_tui.app import PetsegApp

    run = make_run(tmp_path / "runs", "r1")
    app = PetsegApp(runs_dir=run.parent, image_mode="auto")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.action_infer(run)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, InferenceScreen)
        assert screen.image_mode == "halfcell"  # auto, not a terminal: half cells
        await inference_done(pilot)
        await run_on(pilot, screen, images / "cat.jpg")
        assert screen.error == "" and "pet 50.0%" in result_line(screen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, InferenceScreen)


async def test_leaving_while_the_model_runs_does_not_crash(
    tmp_path: Path, images: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    release, done = threading.Event(), threading.Event()

    class SlowPredictor(FakePredictor):
        def predict_file(self, path, tta=False, max_side=4096, *, with_trimap=False):
            release.wait(30)  # still running until the test has left the screen
            try:
                return super().predict_file(path, tta=tta, max_side=max_side)
            finally:
                done.set()

    monkeypatch.setattr(inf, "load_predictor", lambda checkpoint: SlowPredictor(checkpoint))
    async with inference_screen(tmp_path, images) as (pilot, screen):
        screen.selected_image = images / "cat.jpg"
        await pilot.press("r")
        await wait_for(pilot, lambda: "running the model" in result_line(screen), what="said while the worker runs")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(pilot.app.screen, InferenceScreen), what="the screen left")
        release.set()
        await wait_for(pilot, done.is_set, what="the model's answer, after the screen is gone")
        await settled(pilot)  # its result delivered to a screen that is no longer there
        assert pilot.app.is_running and not isinstance(pilot.app.screen, InferenceScreen)


async def test_while_the_model_loads_the_screen_says_so_then_what_to_do(tmp_path: Path, images: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Opened on a run, the result line read "running the model …" for the ~15 s its model
    loaded, before any photo was picked, then nothing: it says it is loading the model, then how
    to pick a photo."""
    import threading

    release = threading.Event()

    def slow_load(checkpoint: Path) -> FakePredictor:
        release.wait(30)
        return FakePredictor(checkpoint)

    monkeypatch.setattr(inf, "load_predictor", slow_load)
    run = make_run(tmp_path / "runs", "r1")
    app = InferenceTestApp(run.parent, run, images)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, InferenceScreen), what="the screen")
        screen = app.screen
        await wait_for(pilot, lambda: "loading the model …" in result_line(screen), what="the load said")
        assert "running the model" not in result_line(screen)
        release.set()
        await inference_done(pilot)
        await wait_for(pilot, lambda: "pick a photo" in " ".join(widget_text(screen.query_one("#inf-result")).split()),
                       what="the next step said")
        assert "loading" not in result_line(screen) and "running" not in result_line(screen)
