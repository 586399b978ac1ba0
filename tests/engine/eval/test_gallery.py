"""Pictures of scored photos: what each of the four pictures colours, the contact sheet, where it goes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine.eval.scores import Evaluation, ImageScore, ScoredPhoto
from engine.eval.gallery import (
    BAND_COLOR, CELL, COLUMNS, FN_COLOR, FP_COLOR, TP_COLOR, TRUTH_COLOR, WorstGallery, contact_sheet, sample_pictures,
    worst_sheet_path,
)

# A 40×40 grey photo. Trimap: pet rows 10-29 × cols 10-29, a 2 px border band around it (rows/cols
# 8-9 and 30-31), background elsewhere. Prediction: rows 10-29 × cols 20-39 (half the pet missed,
# some background claimed).
H = W = 40


def scored_photo() -> ScoredPhoto:
    trimap = np.full((H, W), 2, np.uint8)
    trimap[8:32, 8:32] = 3
    trimap[10:30, 10:30] = 1
    prob = np.zeros((H, W), np.float32)
    prob[10:30, 20:40] = 0.9
    pred = prob > 0.5
    conf = tuple(tuple(int(((pred == bool(row)) & (trimap == v)).sum()) for v in range(4)) for row in (0, 1))
    record = ImageScore("cat", H, W, "pet_border", conf, conf)
    return ScoredPhoto(record, np.full((H, W, 3), 128, np.uint8), trimap, prob, Path("cat.png"))


def test_errors_picture_colours_missed_and_extra_pixels_only_where_scored():
    photo = scored_photo()
    pics = sample_pictures(photo, mask_rule="pet_border", ignore_border=True)
    err = np.asarray(pics.errors).astype(int)
    grey = round(128 * 0.55)
    assert tuple(err[15, 12]) == tuple(round(grey * 0.2 + c * 0.8) for c in FN_COLOR)  # missed pet
    assert tuple(err[15, 35]) == tuple(round(grey * 0.2 + c * 0.8) for c in FP_COLOR)  # extra
    assert tuple(err[15, 31]) == (grey, grey, grey)  # predicted inside the ignored band: not coloured
    assert tuple(err[2, 2]) == (grey, grey, grey)  # background, not predicted
    counted = np.asarray(sample_pictures(photo, mask_rule="pet_border", ignore_border=False).errors).astype(int)
    assert tuple(counted[9, 25]) == tuple(round(grey * 0.2 + c * 0.8) for c in FN_COLOR)  # band counts as pet: missed
    # the truth picture: band tinted yellow, the pet's outline (here the band's outer edge) green
    truth = np.asarray(pics.truth)
    assert tuple(truth[9, 20]) == tuple(round(128 * 0.55 + c * 0.45) for c in BAND_COLOR)
    assert tuple(truth[8, 20]) == TRUTH_COLOR
    assert pics.caption.startswith("cat  Dice ")


def test_the_caption_has_the_figures_petseg_eval_prints():
    """The worst gallery's caption (the dashboard's w screen and the PNG sheet) read 'Dice 0.667
    IoU 0.500' beside `petseg eval --worst`'s list, which prints 0.6667 and 0.5000 for the photo."""
    pics = sample_pictures(scored_photo(), mask_rule="pet_border", ignore_border=True)
    assert f"Dice {pics.dice:.4f}  IoU {pics.iou:.4f}  " in pics.caption


def test_the_errors_column_names_every_tint_its_picture_paints():
    """The sheet's head said "errors: missed blue, extra red" while the pet the model found was
    tinted green too, a colour the legend never named."""
    photo = scored_photo()
    err = np.asarray(sample_pictures(photo, mask_rule="pet_border", ignore_border=True).errors).astype(int)
    grey = round(128 * 0.55)
    tint = {
        "found green": (err[15, 25], TP_COLOR, 0.35),  # predicted and true
        "missed blue": (err[15, 12], FN_COLOR, 0.8),
        "extra red": (err[15, 35], FP_COLOR, 0.8),
    }
    for words, (pixel, colour, alpha) in tint.items():
        assert tuple(pixel) == tuple(round(grey * (1 - alpha) + c * alpha) for c in colour)
        assert words in COLUMNS[-1]


def test_pictures_fit_the_box_and_the_sheet_has_one_row_per_photo():
    photo = scored_photo()
    pics = sample_pictures(photo, mask_rule="pet_border", box=(20, 10))
    assert all(im.size == (10, 10) for im in pics.row())
    ev = Evaluation(records=[photo.record] * 3, split="test", tta=False, ignore_border=True, threshold=0.5,
                    mask_rule="pet_border", image_size=32, seconds=1.0, kept={True: [photo, photo]})
    sheet = contact_sheet(ev.worst, ev)
    assert sheet.width > 4 * CELL[0] and sheet.height > 2 * CELL[1]
    one = contact_sheet(ev.worst[:1], ev)
    assert sheet.height - one.height >= CELL[1]  # a second row
    gallery = WorstGallery.of(ev, box=(64, 64))
    assert [p.name for p in gallery.pictures] == ["cat", "cat"]
    assert gallery.with_border(False).pictures == []  # nothing was kept for the other setting here


def test_sheet_path_is_the_runs_eval_folder_or_beside_a_bare_checkpoint(tmp_path):
    run = tmp_path / "runs" / "r1"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({}))
    assert worst_sheet_path(run / "checkpoints" / "best.pt", "valid") == run / "eval" / "worst-valid.png"
    assert worst_sheet_path(tmp_path / "model.pt", "test") == tmp_path / "model-worst-test.png"
    # a folder named checkpoints that is not in a run folder is not mistaken for one
    (tmp_path / "checkpoints").mkdir()
    assert worst_sheet_path(tmp_path / "checkpoints" / "a.pt", "test") == tmp_path / "checkpoints" / "a-worst-test.png"


def test_a_sheet_of_other_data_than_the_runs_is_named_after_that_data(tmp_path):
    """The run's own worst-test.png was replaced by a sheet of data it never saw."""
    run = tmp_path / "runs" / "r1"
    (run / "checkpoints").mkdir(parents=True)
    data = tmp_path / "pets"
    (run / "config.json").write_text(json.dumps({"data_path": None, "data_source": {"path": str(data / "oxford-iiit-pet")}}))
    best = run / "checkpoints" / "best.pt"
    for own in (None, str(data), str(data / "oxford-iiit-pet")):  # torchvision's layout: either folder
        assert worst_sheet_path(best, "test", own) == run / "eval" / "worst-test.png"
    generated = worst_sheet_path(best, "test", "@generated")
    assert generated == run / "eval" / "worst-test-on-generated.png"
    a, b = (worst_sheet_path(best, "test", str(tmp_path / p / "cats")) for p in ("a", "b"))
    assert a.parent == run / "eval" and a.name.startswith("worst-test-on-cats-") and a != b  # alike names apart
    assert worst_sheet_path(tmp_path / "model.pt", "test", str(tmp_path / "a")) == tmp_path / "model-worst-test.png"
