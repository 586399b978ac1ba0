"""The packaged real data (demo photos, training sample): complete, aligned, small, attributed,
and the scripts that made them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.data.images import load_rgb, load_trimap
from engine.data.layout import PetLayout
from engine.data.make_demo_assets import make_demo_assets
from engine.data.make_training_sample import make_training_sample
from engine.data.samples import demo_assets_dir, sample_image_paths, sample_pairs, training_sample_dir
from engine.data.synthetic import generate_pet_dataset


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


def _lines(path) -> list[str]:
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def test_bundled_training_sample_is_complete():
    root = training_sample_dir()
    trainval, test = _lines(root / "annotations" / "trainval.txt"), _lines(root / "annotations" / "test.txt")
    assert (len(trainval), len(test)) == (298, 198) and not set(trainval) & set(test)
    images = {p.stem for p in (root / "images").iterdir()}
    trimaps = {p.stem for p in (root / "annotations" / "trimaps").iterdir()}
    assert images == trimaps == set(trainval) | set(test)  # 496 pairs, nothing unlisted
    layout = PetLayout(root)
    assert layout.missing == 0 and layout.trainval_names() == trainval and layout.test_names() == test
    breeds = {name.rsplit("_", 1)[0] for name in images}
    assert breeds == {"Abyssinian", "Bengal", "american_bulldog"}
    for name in sorted(images):
        with Image.open(root / "images" / f"{name}.jpg") as im:
            assert im.format == "JPEG" and im.mode == "RGB" and max(im.size) <= 256
            assert not im.getexif()  # no rotation tag: the stored pixels are what the trimap matches
            size = im.size
        tri = load_trimap(root / "annotations" / "trimaps" / f"{name}.png")
        assert tri.shape == (size[1], size[0]), name
        assert set(np.unique(tri).tolist()) <= {1, 2, 3}, name


def test_bundled_training_sample_is_small_and_attributed():
    root = training_sample_dir()
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    assert total <= 8_000_000, f"{total} bytes"
    text = (root / "ATTRIBUTION.md").read_text()
    for needle in ("Parkhi", "Vedaldi", "Zisserman", "Jawahar", "Cats and Dogs", "CVPR", "2012",
                   "CC BY-SA 4.0", "copyright", "owners", "held back", "downscaled", "make_training_sample"):
        assert needle in text, needle


def _source(tmp_path: Path) -> Path:
    # original-size stand-in for the real source folders: a generated set (lists, trimaps 1/2/3)
    return generate_pet_dataset(tmp_path / "src", n_trainval=5, n_test=2, size=160, seed=3)


def test_make_training_sample_downscales_pairs_and_copies_lists(tmp_path):
    src = _source(tmp_path)
    dest = tmp_path / "out"
    assert make_training_sample(src, dest, max_side=64, quality=88) == 7
    for list_file in ("trainval.txt", "test.txt"):
        assert (dest / "annotations" / list_file).read_bytes() == (src / "annotations" / list_file).read_bytes()
    layout = PetLayout(dest)
    assert len(layout.trainval_names()) == 5 and len(layout.test_names()) == 2
    for name in layout.trainval_names() + layout.test_names():
        rgb, tri = load_rgb(layout.image_path(name)), load_trimap(layout.trimap_path(name))
        original = load_trimap(src / "annotations" / "trimaps" / f"{name}.png")
        assert rgb.shape[:2] == tri.shape and max(tri.shape) == 64
        assert set(np.unique(tri).tolist()) <= set(np.unique(original).tolist())  # nearest: no new values
    assert "7 image/trimap pairs" in (dest / "ATTRIBUTION.md").read_text()


def test_make_training_sample_refuses_an_incomplete_source(tmp_path):
    src = _source(tmp_path)
    victim = (src / "annotations" / "test.txt").read_text().split()[0]
    (src / "images" / f"{victim}.jpg").unlink()
    with pytest.raises(SystemExit, match=victim):
        make_training_sample(src, tmp_path / "out", max_side=64)


def test_make_demo_assets_keeps_trimaps_aligned(tmp_path):
    names = make_demo_assets(_source(tmp_path), tmp_path / "out", max_side=100)
    assert len(names) == 7
    for image, trimap in zip(sorted((tmp_path / "out" / "images").iterdir()),
                             sorted((tmp_path / "out" / "annotations" / "trimaps").iterdir())):
        assert image.stem == trimap.stem
        assert load_rgb(image).shape[:2] == load_trimap(trimap).shape
