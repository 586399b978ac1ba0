"""The packaged demo photos: present, aligned with their trimaps, small, attributed."""

from __future__ import annotations

import numpy as np

from engine.data.images import load_rgb, load_trimap
from engine.data.layout import PetLayout
from engine.data.make_demo_assets import make_demo_assets
from engine.data.samples import demo_assets_dir, sample_image_paths, sample_pairs


def test_six_aligned_pairs_at_most_320px():
    pairs = sample_pairs()
    assert len(pairs) == 6 and len(sample_image_paths()) == 6
    for image, trimap in pairs:
        rgb, tri = load_rgb(image), load_trimap(trimap)
        assert rgb.shape[:2] == tri.shape and max(tri.shape) <= 320
        assert set(np.unique(tri).tolist()) == {1, 2, 3}


def test_demo_assets_follow_the_official_layout():
    layout = PetLayout(demo_assets_dir())
    assert len(layout.trainval_names()) == 6 and not layout.has_split_files


def test_attribution():
    text = (demo_assets_dir() / "ATTRIBUTION.md").read_text()
    for needle in ("Parkhi", "Vedaldi", "Zisserman", "Jawahar", "Cats and Dogs", "CVPR", "2012",
                   "CC BY-SA 4.0", "copyright", "downscaled"):
        assert needle in text, needle


def test_make_demo_assets_reproduces_the_shipped_trimaps(tmp_path):
    src = demo_assets_dir().parent.parent.parent / "shared" / "data" / "oxford-pet-mini"
    if not src.is_dir():
        import pytest

        pytest.skip(f"{src} (the source of the demo assets) is not on this machine")
    make_demo_assets(src, tmp_path / "out")
    for _, trimap in sample_pairs():
        rebuilt = tmp_path / "out" / "annotations" / "trimaps" / trimap.name
        assert np.array_equal(load_trimap(rebuilt), load_trimap(trimap))
