"""Generated dataset: official layout, valid trimaps, determinism, reuse and regeneration."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from engine.data.images import load_rgb, load_trimap
from engine.data.layout import PetLayout
from engine.data.synthetic import MARKER, ensure_generated_dataset, generate_pet_dataset


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_layout_and_trimaps(tmp_path):
    root = generate_pet_dataset(tmp_path / "g", n_trainval=8, n_test=3, size=64, seed=3)
    layout = PetLayout(root)
    assert layout.has_split_files
    assert len(layout.trainval_names()) == 8 and len(layout.test_names()) == 3
    assert not set(layout.trainval_names()) & set(layout.test_names())
    shapes = set()
    for name in layout.trainval_names() + layout.test_names():
        img = load_rgb(layout.image_path(name))
        tri = load_trimap(layout.trimap_path(name))
        assert img.shape[:2] == tri.shape
        assert set(np.unique(tri).tolist()) == {1, 2, 3}  # every sample has pet, bg and border
        shapes.add(tri.shape)
        assert name.split("_")[0] in ("Synthcat", "synthdog")
    assert any(h != w for h, w in shapes) and len(shapes) > 3  # sizes and aspects vary
    line = (root / "annotations" / "trainval.txt").read_text().splitlines()[0].split()
    assert len(line) == 4 and all(x.isdigit() for x in line[1:])
    assert "generated" in (root / "README.md").read_text().lower()


def test_border_band_straddles_the_outline(tmp_path):
    root = generate_pet_dataset(tmp_path / "g", n_trainval=2, n_test=0, size=128)
    tri = load_trimap(root / "annotations" / "trimaps" / "{}.png".format(
        PetLayout(root).trainval_names()[0]))
    pet, border = (tri == 1).sum(), (tri == 3).sum()
    assert pet > 0.05 * tri.size and 0 < border < pet  # a thin band, not a region
    # pet never touches background directly: the band separates them
    bg = tri == 2
    assert not ((tri[:, 1:] == 1) & bg[:, :-1]).any() and not ((tri[1:] == 1) & bg[:-1]).any()


def test_same_seed_same_bytes_different_seed_differs(tmp_path):
    a = _digest(generate_pet_dataset(tmp_path / "a", n_trainval=4, n_test=2, size=64, seed=1))
    b = _digest(generate_pet_dataset(tmp_path / "b", n_trainval=4, n_test=2, size=64, seed=1))
    c = _digest(generate_pet_dataset(tmp_path / "c", n_trainval=4, n_test=2, size=64, seed=2))
    assert a == b
    masks = [k for k in a if k.endswith(".png")]
    assert any(a[k] != c.get(k) for k in masks)


def test_ensure_generates_once_and_regenerates_half_written(tmp_path):
    root = tmp_path / "gen"
    out = ensure_generated_dataset(root, n_trainval=3, n_test=1, size=64)
    assert out == root and (root / MARKER).exists()
    stamp = (root / MARKER).stat().st_mtime_ns
    assert ensure_generated_dataset(root, n_trainval=3, n_test=1, size=64) == root
    assert (root / MARKER).stat().st_mtime_ns == stamp  # reused, not rewritten

    (root / MARKER).unlink()  # simulate a crash before the marker was written
    for p in (root / "images").iterdir():
        p.unlink()
    ensure_generated_dataset(root, n_trainval=3, n_test=1, size=64)
    assert len(list((root / "images").iterdir())) == 4 and (root / MARKER).exists()


def test_ensure_refuses_to_delete_a_foreign_folder(tmp_path):
    import pytest

    from engine.errors import DatasetError

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep")
    with pytest.raises(DatasetError):
        ensure_generated_dataset(foreign, n_trainval=2, n_test=0, size=64)
    assert (foreign / "precious.txt").exists()
