"""Scoring one mask: numpy counts, engine.eval.metrics' formulas, petseg eval's trimap rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.data.images import load_trimap
from engine.data.masks import trimap_to_mask
from engine.data.samples import sample_pairs
from engine.eval.mask_scores import dice_iou, score_against_trimap, trimap_for_image, trimap_overlap


def test_dice_iou_values() -> None:
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    assert dice_iou(a, b) == pytest.approx((1.0, 1.0))  # nothing to find, nothing found
    a[:2] = True
    b[1:3] = True
    assert dice_iou(a, b) == pytest.approx((2 * 4 / 16, 4 / 12))
    with pytest.raises(ValueError):
        dice_iou(a, np.zeros((2, 2)))


def test_the_border_band_is_left_out_by_default_or_scored_under_the_mask_rule() -> None:
    trimap = np.array([[1, 1, 3, 2]], np.uint8)  # pet, pet, border, background
    mask = np.array([[1, 1, 0, 0]], np.uint8)  # the pet, not the border
    assert trimap_overlap(mask, trimap, "pet_border").dice == pytest.approx(1.0)  # border ignored
    assert trimap_overlap(mask, trimap, "pet_border", ignore_border=False).dice == pytest.approx(2 * 2 / 5)
    assert trimap_overlap(mask, trimap, "pet_only", ignore_border=False).dice == pytest.approx(1.0)


def test_trimap_found_next_to_a_bundled_photo_and_scored(tmp_path: Path) -> None:
    image, trimap = sample_pairs()[0]
    assert trimap_for_image(image) == trimap
    loose = tmp_path / image.name
    loose.write_bytes(image.read_bytes())
    assert trimap_for_image(loose) is None  # not in an images/ folder of the Oxford layout
    truth = trimap_to_mask(load_trimap(trimap), "pet_border")
    assert score_against_trimap(truth, trimap, "pet_border") == pytest.approx((1.0, 1.0))
    half = truth.copy()
    half[: half.shape[0] // 2] = 0
    dice, iou = score_against_trimap(half, trimap, "pet_border")
    assert 0.0 < iou < dice < 1.0
    small = truth[::2, ::2]  # a prediction made on a downscaled copy: the trimap is resized to it
    assert score_against_trimap(small, trimap, "pet_border")[0] > 0.95


@pytest.mark.parametrize("orientation, turn", [(3, 2), (6, -1), (8, 1)])
def test_a_photo_turned_by_its_exif_is_scored_against_its_trimap_turned_alike(
        tmp_path: Path, orientation: int, turn: int) -> None:
    """Oxford trimaps follow the stored pixels; a prediction follows the photo as shown (load_rgb
    applies EXIF). Scored unturned, a perfect mask lost Dice (180 degrees) or was compared with a
    stretched trimap (90 degrees)."""
    from PIL import Image

    from engine.data.images import load_rgb

    stored = np.full((30, 50), 2, np.uint8)  # background, with an off-centre pet and its border
    stored[4:14, 5:20] = 3
    stored[5:13, 6:19] = 1
    (tmp_path / "images").mkdir()
    (tmp_path / "annotations" / "trimaps").mkdir(parents=True)
    photo = tmp_path / "images" / "cat.jpg"
    trimap = tmp_path / "annotations" / "trimaps" / "cat.png"
    Image.fromarray(stored).save(trimap)
    picture = Image.fromarray(np.repeat(stored[..., None] * 60, 3, axis=2))
    exif = picture.getexif()
    exif[0x0112] = orientation
    picture.save(photo, exif=exif.tobytes())

    shown = np.rot90(trimap_to_mask(stored, "pet_border"), turn)  # the perfect mask of the photo as shown
    assert load_rgb(photo).shape[:2] == shown.shape
    assert trimap_for_image(photo) == trimap
    assert score_against_trimap(shown, trimap, "pet_border", photo=photo) == pytest.approx((1.0, 1.0))
    assert score_against_trimap(shown, trimap, "pet_border", ignore_border=False, photo=photo) == pytest.approx((1.0, 1.0))
