"""The inference screen's Dice against a photo's trimap, scored as petseg eval scores it: the
threshold followed, a photo turned by its EXIF scored on its stored pixels and shown upright."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tui_helpers import inference_done
from tui_inference import (FakePredictor, inference_screen, make_photo, result_line, run_on)

from petseg_tui.screens import inference as inf


def test_the_trimap_of_a_photo_turned_by_its_exif_is_turned_alike(tmp_path: Path) -> None:
    """The screen predicts the photo as shown (EXIF applied); its trimap follows the stored pixels
    and is turned the same way before scoring, so a perfect mask scores 1.0 (it was compared
    with a stretched trimap at 90 degrees)."""
    from types import SimpleNamespace

    from engine.data.images import load_rgb
    from petseg_tui.screens.prediction import render_prediction, truth_for

    stored = np.full((30, 50), 2, np.uint8)
    stored[5:13, 6:19] = 1
    (tmp_path / "images").mkdir()
    (tmp_path / "annotations" / "trimaps").mkdir(parents=True)
    photo = tmp_path / "images" / "cat.jpg"
    Image.fromarray(stored).save(tmp_path / "annotations" / "trimaps" / "cat.png")
    picture = Image.fromarray(np.repeat(stored[..., None] * 60, 3, axis=2))
    exif = picture.getexif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise
    picture.save(photo, exif=exif.tobytes())
    shown = np.rot90(stored == 1, -1).astype(np.uint8)
    prediction = SimpleNamespace(source=photo, image=load_rgb(photo), mask=lambda threshold: shown)
    assert prediction.image.shape[:2] == shown.shape

    truth = truth_for(prediction, "pet_only")
    assert truth.trimap is not None and truth.trimap.shape == shown.shape
    assert render_prediction(prediction, 0.5, True, truth=truth).dice == pytest.approx(1.0)


def _sideways_pair(root: Path) -> tuple[Path, np.ndarray]:
    """An Oxford-layout photo stored 30x50 with EXIF orientation 6 (a camera's portrait shot,
    shown 50 tall and 30 wide), its trimap drawn on the stored pixels as Oxford-IIIT Pet's are:
    pet in the stored right half."""
    stored = np.full((30, 50), 2, np.uint8)
    stored[:, 25:] = 1
    (root / "images").mkdir(parents=True)
    (root / "annotations" / "trimaps").mkdir(parents=True)
    Image.fromarray(stored).save(root / "annotations" / "trimaps" / "cat.png")
    photo = root / "images" / "cat.jpg"
    picture = Image.fromarray(np.repeat(stored[..., None] * 60, 3, axis=2))
    exif = picture.getexif()
    exif[0x0112] = 6
    picture.save(photo, exif=exif.tobytes())
    return photo, stored


class RampPredictor(FakePredictor):
    """The engine's own decode and orientation rule (`Predictor.predict_file`) around a model whose
    pet probability rises left to right across whatever pixels it is given."""

    from engine.infer.inference import Predictor

    predict_file = Predictor.predict_file
    del Predictor

    def predict_array(self, image: np.ndarray, tta: bool = False) -> np.ndarray:
        h, w = image.shape[:2]
        return np.tile(((np.arange(w) + 0.5) / w).astype(np.float32), (h, 1))


async def test_a_sideways_dataset_photo_is_scored_as_eval_scores_it_and_shown_upright(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A dataset photo with EXIF orientation 6 was predicted upright and its trimap turned to
    match, so its Dice here differed from petseg eval's, which gives the model the stored pixels
    (those the trimap is drawn on, as training does). Now the model gets the stored pixels here
    too (the same Dice as eval), and the photo, mask and trimap are then shown upright; a photo
    without a trimap is still predicted and shown upright."""
    from engine.eval.mask_scores import score_against_trimap

    monkeypatch.setattr(inf, "load_predictor", lambda checkpoint: RampPredictor(checkpoint))
    photo, stored = _sideways_pair(tmp_path / "pets")
    trimap = photo.parent.parent / "annotations" / "trimaps" / "cat.png"
    as_eval = RampPredictor.predict_array(None, np.zeros((30, 50, 3), np.uint8)) > 0.5  # the stored pixels' mask
    expected, _ = score_against_trimap(as_eval.astype(np.uint8), trimap, "pet_border")
    assert expected == pytest.approx(1.0)
    async with inference_screen(tmp_path, photo.parent) as (pilot, screen):
        await run_on(pilot, screen, photo)
        assert "Dice 1.000" in result_line(screen), result_line(screen)
        assert screen.prediction.image.shape == (50, 30, 3)  # upright, as viewers show it
        loose = tmp_path / "loose" / "cat.jpg"
        loose.parent.mkdir()
        loose.write_bytes(photo.read_bytes())  # the same file with no trimap beside it
        await run_on(pilot, screen, loose)
        assert "Dice" not in result_line(screen)
        assert screen.prediction.image.shape == (50, 30, 3)
        upright = screen.prediction.mask(0.5)
        assert upright[:, 15:].all() and not upright[:, :15].any()  # the model was given the upright photo


async def test_dice_against_the_trimap_when_the_photo_has_one(tmp_path: Path, fake_predictor) -> None:
    """A bundled photo sits in the Oxford layout with its trimap: the result line gives its Dice
    (and it changes with the threshold); a loose photo has no score. Its Dice and IoU have the 4
    decimals `petseg eval --samples` prints for the same photo (the line read 0.812 where eval
    and the header above it, best Dice 0.8123, have 4)."""
    from engine.data.samples import sample_pairs
    from engine.eval.mask_scores import score_against_trimap

    image, trimap = sample_pairs()[0]
    async with inference_screen(tmp_path, image.parent) as (pilot, screen):
        await run_on(pilot, screen, image)
        expected, _ = score_against_trimap(screen.prediction.mask(0.5), trimap, "pet_border")  # as petseg eval
        _, iou = score_against_trimap(screen.prediction.mask(0.5), trimap, "pet_border")
        assert f"Dice {expected:.4f} IoU {iou:.4f}" in result_line(screen)
        assert "vs its trimap (border ignored)" in result_line(screen)
        await pilot.press("minus")
        await inference_done(pilot)
        lower, _ = score_against_trimap(screen.prediction.mask(0.45), trimap, "pet_border")
        assert f"Dice {lower:.4f}" in result_line(screen)
        loose = make_photo(tmp_path / "loose" / "cat.jpg")
        await run_on(pilot, screen, loose)
        assert "Dice" not in result_line(screen)
