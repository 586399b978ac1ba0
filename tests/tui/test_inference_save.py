"""The inference screen's S: the overlay and mask saved beside the run at the photo's own size,
another threshold saved beside the earlier pair, a replaced pair said."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from tui_helpers import footer_text, inference_done, toasts, wait_for, widget_text
from tui_inference import (FakePrediction, FakePredictor, InferenceTestApp, inference_screen, make_photo, make_run,
                           run_on)

from petseg_tui.screens import inference as inf


async def test_save_writes_overlay_and_mask_next_to_the_run(tmp_path: Path, images: Path, fake_predictor) -> None:
    """S is offered once there is a result: before, the footer offered "S Save" and pressing it
    only said there was nothing to save (issue 20: a key that cannot act is not offered)."""
    run = tmp_path / "runs" / "r1"
    async with inference_screen(tmp_path, images) as (pilot, screen):
        assert "Save" not in footer_text(screen)
        await pilot.press("S")  # nothing to save yet: nothing happens, no error, no file
        await inference_done(pilot)
        assert not screen.error and not (run / "predictions").exists()
        await run_on(pilot, screen, images / "dog.png")
        await wait_for(pilot, lambda: "S Save" in footer_text(screen), what="S offered with a result")
        await pilot.press("S")
        await inference_done(pilot)
        overlay, mask = run / "predictions" / "dog_overlay.png", run / "predictions" / "dog_mask.png"
        assert overlay.is_file() and mask.is_file()
        with Image.open(overlay) as im:
            assert im.size == (80, 100) and im.mode == "RGB"
        with Image.open(mask) as im:
            assert im.size == (80, 100)
            m = np.asarray(im)
        assert 0.45 < (m > 0).mean() < 0.55


async def _save_the_dog(pilot: Any, app: InferenceTestApp, images: Path) -> None:
    """The model run on dog.png and S pressed: the first pair saved (its toast, no "replacing"),
    the toasts cleared for what the test does next."""
    await inference_done(pilot)
    await run_on(pilot, app.screen, images / "dog.png")
    await pilot.press("S")
    await inference_done(pilot)
    await wait_for(pilot, lambda: "Saved overlay and mask (80×100)" in toasts(app), what="the saved toast")
    assert "replacing" not in toasts(app)
    app.clear_notifications()


async def test_saving_at_another_threshold_keeps_the_earlier_pair(tmp_path: Path, images: Path,
                                                                  fake_predictor) -> None:
    """S at 0.50 then at 0.60 silently replaced the first overlay and mask: the threshold is now in
    the name when it is not 0.5, and a save that does replace an earlier pair says so."""
    run = make_run(tmp_path / "runs", "r1")
    app = InferenceTestApp(run.parent, run, images)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await _save_the_dog(pilot, app, images)
        first = (run / "predictions" / "dog_mask.png").read_bytes()
        await pilot.press("plus", "plus")  # 0.60
        await pilot.press("S")
        await inference_done(pilot)
        assert sorted(p.name for p in (run / "predictions").iterdir()) == [
            "dog_mask.png", "dog_overlay.png", "dog_t0.60_mask.png", "dog_t0.60_overlay.png"]
        assert (run / "predictions" / "dog_mask.png").read_bytes() == first
        assert (run / "predictions" / "dog_t0.60_mask.png").read_bytes() != first
        await wait_for(pilot, lambda: "dog_t0.60_overlay.png" in toasts(app), what="the second saved toast")
        assert "replacing" not in toasts(app)
        app.clear_notifications()
        await pilot.press("S")  # the same photo at the same threshold again
        await inference_done(pilot)
        await wait_for(pilot, lambda: "Saved overlay and mask (80×100), replacing the earlier pair" in toasts(app),
                       what="the replacing toast")


async def test_saving_with_tta_keeps_the_pair_saved_without(tmp_path: Path, images: Path, fake_predictor) -> None:
    """S with TTA on wrote the same names as without, silently replacing that pair: TTA is now in
    the name, as the threshold is."""
    run = make_run(tmp_path / "runs", "r1")
    app = InferenceTestApp(run.parent, run, images)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await _save_the_dog(pilot, app, images)
        await pilot.press("t")  # TTA on: the model runs again
        await inference_done(pilot)
        await pilot.press("S")
        await inference_done(pilot)
        await wait_for(pilot, lambda: "dog_tta_overlay.png" in toasts(app), what="the TTA pair's toast")
        assert "replacing" not in toasts(app)
    assert sorted(p.name for p in (run / "predictions").iterdir()) == [
        "dog_mask.png", "dog_overlay.png", "dog_tta_mask.png", "dog_tta_overlay.png"]


async def test_a_huge_photo_is_saved_at_its_own_size_and_the_header_says_it_was_downscaled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A photo past the 2048 px the model sees is predicted downscaled, as the engine decodes it;
    the result line says so and S writes the mask and overlay at the photo's own size, as
    ``petseg infer --image`` does (they were written at the downscaled size)."""
    from engine.data.images import load_rgb

    class DownscalingPredictor(FakePredictor):
        def predict_file(self, path, tta=False, max_side=2048, *, with_trimap=False):
            image = load_rgb(path, max_side=max_side)  # the engine's own decode, downscaled past 2048
            h, w = image.shape[:2]
            prob = np.tile(((np.arange(w) + 0.5) / w).astype(np.float32), (h, 1))
            return FakePrediction(image, prob, path, 0.25)

    monkeypatch.setattr(inf, "load_predictor", lambda checkpoint: DownscalingPredictor(checkpoint))
    photo = make_photo(tmp_path / "images" / "huge.png", size=(3000, 240))
    run = make_run(tmp_path / "runs", "r1")
    app = InferenceTestApp(run.parent, run, photo.parent)
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        screen = app.screen
        await inference_done(pilot)
        await run_on(pilot, screen, photo)
        assert "huge.png 2048×164 (downscaled from 3000×240)" in widget_text(screen.query_one("#inf-result"))
        await pilot.press("S")
        await inference_done(pilot)
        for kind in ("mask", "overlay"):
            with Image.open(run / "predictions" / f"huge_{kind}.png") as im:
                assert im.size == (3000, 240), kind
        await wait_for(pilot, lambda: "Saved overlay and mask (3000×240)" in toasts(app), what="the saved toast")
