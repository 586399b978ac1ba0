"""Mask image, overlay (tint + outline) and atomic PNG save, checked pixel by pixel."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine.errors import PetsegError
from engine.infer.render import contrasting_color, mask_edges, mask_to_image, overlay_image, save_png

GREY = 100


def rect_case():
    image = np.full((20, 30, 3), GREY, dtype=np.uint8)
    mask = np.zeros((20, 30), dtype=np.uint8)
    mask[5:15, 8:20] = 1  # rows 5..14, cols 8..19
    return image, mask


def test_mask_to_image_is_white_pet_on_black():
    _, mask = rect_case()
    img = mask_to_image(mask)
    a = np.asarray(img)
    assert img.mode == "L" and img.size == (30, 20)
    assert set(np.unique(a)) == {0, 255}
    assert np.array_equal(a == 255, mask == 1)


def test_overlay_tints_the_pet_and_outlines_its_boundary():
    image, mask = rect_case()
    out = overlay_image(image, mask, alpha=0.5, color=(255, 0, 0), outline_color=(0, 255, 0))
    a = np.asarray(out)
    assert out.mode == "RGB" and out.size == (30, 20)
    ring = np.zeros_like(mask, dtype=bool)
    ring[5:15, 8:20] = True
    ring[6:14, 9:19] = False  # the 1-px inner boundary of the rectangle
    assert (a[ring] == (0, 255, 0)).all()
    # Interior: 0.5 * 100 + 0.5 * (255, 0, 0) = (177.5 -> 178, 50, 50).
    assert (a[6:14, 9:19] == (178, 50, 50)).all()
    outside = mask == 0
    assert (a[outside] == GREY).all()


def test_overlay_without_fill_or_outline():
    image, mask = rect_case()
    assert np.array_equal(np.asarray(overlay_image(image, mask, fill=False, outline=False)), image)
    only_outline = np.asarray(overlay_image(image, mask, fill=False))
    changed = (only_outline != image).any(axis=2)
    assert np.array_equal(changed, mask_edges(mask))


def test_outline_ignores_the_image_frame():
    # A pet cut off by the left edge: its outline must not run down the frame.
    mask = np.zeros((10, 10), dtype=bool)
    mask[2:8, 0:5] = True
    edges = mask_edges(mask)
    assert not edges[3:7, 0].any()
    assert edges[2, 0] and edges[3:7, 4].all()


def test_large_images_get_a_two_pixel_outline():
    image = np.zeros((600, 40, 3), dtype=np.uint8)
    mask = np.zeros((600, 40), dtype=bool)
    mask[100:500, 10:30] = True
    a = np.asarray(overlay_image(image, mask, fill=False, outline_color=(9, 9, 9)))
    assert (a[300, 10:12] == 9).all() and (a[300, 12] == 0).all()


def test_overlay_rejects_mismatched_sizes():
    image, _ = rect_case()
    with pytest.raises(ValueError, match="differ in size"):
        overlay_image(image, np.zeros((5, 5), dtype=bool))


def test_contrasting_color_differs_from_fill():
    assert contrasting_color((255, 64, 64)) == (0, 191, 191)
    assert contrasting_color((128, 128, 128)) in ((0, 0, 0), (255, 255, 255))


def test_save_png_is_atomic_and_creates_folders(tmp_path):
    image, mask = rect_case()
    target = tmp_path / "out" / "overlay.png"
    save_png(overlay_image(image, mask), target)
    with Image.open(target) as img:
        assert img.size == (30, 20)
    assert [p.name for p in target.parent.iterdir()] == ["overlay.png"]  # no temp file left
    save_png(mask * 255, tmp_path / "mask.png")  # numpy arrays are accepted too
    with Image.open(tmp_path / "mask.png") as img:
        assert np.array_equal(np.asarray(img), mask * 255)


def test_save_png_failure_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(PetsegError) as info:
        save_png(Image.new("RGB", (2, 2)), blocker / "sub" / "x.png")
    assert str(blocker / "sub" / "x.png") in str(info.value) and "\n" not in str(info.value)
