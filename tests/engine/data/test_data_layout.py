"""PetLayout validation and list parsing; resolve_data_source choices (no network)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.data.layout import PetLayout, find_real_training_sample, resolve_data_source
from engine.errors import DatasetError


def _make(root: Path, names: list[str], trimaps: list[str] | None = None) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "annotations" / "trimaps").mkdir(parents=True)
    for n in names:
        Image.new("RGB", (8, 8)).save(root / "images" / f"{n}.jpg")
    for n in names if trimaps is None else trimaps:
        Image.fromarray(np.full((8, 8), 2, np.uint8)).save(root / "annotations" / "trimaps" / f"{n}.png")
    return root


def _msg(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg
    return msg


def test_missing_folder(tmp_path):
    with pytest.raises(DatasetError) as e:
        PetLayout(tmp_path / "nowhere")
    assert "does not exist" in _msg(e) and "nowhere" in _msg(e)


def test_no_images_folder(tmp_path):
    with pytest.raises(DatasetError) as e:
        PetLayout(tmp_path)
    assert "no images/ folder" in _msg(e)


def test_no_images(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(DatasetError) as e:
        PetLayout(tmp_path)
    assert "no images" in _msg(e)


def test_images_but_no_trimaps(tmp_path):
    _make(tmp_path, ["a", "b", "c"], trimaps=[])
    with pytest.raises(DatasetError) as e:
        PetLayout(tmp_path)
    assert "3 images but no trimaps in annotations/trimaps" in _msg(e)


def test_empty_dataset_when_names_do_not_match(tmp_path):
    _make(tmp_path, ["a", "b"], trimaps=["x"])
    with pytest.raises(DatasetError) as e:
        PetLayout(tmp_path)
    assert "empty dataset" in _msg(e)


def test_no_list_files_falls_back_to_all_pairs(tmp_path):
    _make(tmp_path, ["b", "a", "c"], trimaps=["a", "b"])
    (tmp_path / "annotations" / "trimaps" / "._a.png").write_bytes(b"\0")  # AppleDouble junk
    lay = PetLayout(tmp_path)
    assert not lay.has_split_files
    assert lay.trainval_names() == ["a", "b"] and lay.test_names() == []
    assert lay.image_path("a") == tmp_path / "images" / "a.jpg"
    assert lay.trimap_path("b") == tmp_path / "annotations" / "trimaps" / "b.png"


def test_list_files_with_comments_and_missing_names(tmp_path):
    _make(tmp_path, ["Cat_1", "Cat_2", "dog_3"])
    ann = tmp_path / "annotations"
    (ann / "trainval.txt").write_text("#Image CLASS-ID SPECIES BREED ID\nCat_2 1 1 1\nCat_1 1 1 1\nGone_9 1 1 1\n\n")
    (ann / "test.txt").write_text("dog_3 2 2 1\n")
    lay = PetLayout(tmp_path)
    assert lay.has_split_files
    assert lay.trainval_names() == ["Cat_2", "Cat_1"]  # list order kept
    assert lay.test_names() == ["dog_3"]
    assert lay.missing == 1 and lay.missing_names == ["Gone_9"]


def test_list_naming_only_missing_images_fails(tmp_path):
    _make(tmp_path, ["a"])
    (tmp_path / "annotations" / "trainval.txt").write_text("zz 1 1 1\n")
    with pytest.raises(DatasetError) as e:
        PetLayout(tmp_path)
    assert "trainval.txt" in _msg(e) and "none" in _msg(e)


def test_torchvision_layout_is_accepted(tmp_path):
    _make(tmp_path / "oxford-iiit-pet", ["a"])
    lay = PetLayout(tmp_path)
    assert lay.root == tmp_path / "oxford-iiit-pet" and lay.trainval_names() == ["a"]


def test_resolve_skips_folders_without_trainval_and_falls_back_to_generated(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    _make(shared / "oxford-pet-mini", ["a", "b"])  # like the real mini sample: no trainval.txt
    monkeypatch.setenv("PETSEG_SHARED_DATA", str(shared))
    assert find_real_training_sample() is None
    src = resolve_data_source(None)
    assert src.kind == "generated"
    assert "generated" in src.description and "no real training sample" in src.description
    assert PetLayout(src.path).trainval_names()


def test_resolve_picks_a_real_sample_with_trainval(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    _make(shared / "aaa-mini", ["a"])
    real = _make(shared / "pets-sample", ["x", "y"])
    (real / "annotations" / "trainval.txt").write_text("x 1 1 1\ny 1 1 1\n")
    monkeypatch.setenv("PETSEG_SHARED_DATA", str(shared))
    assert find_real_training_sample() == real
    src = resolve_data_source(None)
    assert (src.kind, src.path) == ("real", real)
    assert "2 trainval" in src.description


def test_resolve_explicit_path(tmp_path):
    _make(tmp_path, ["a"])
    src = resolve_data_source(str(tmp_path))
    assert src.kind == "real" and src.path == tmp_path
    with pytest.raises(DatasetError):
        resolve_data_source(str(tmp_path / "missing"))


def test_shared_mini_sample_is_not_picked_for_training():
    mini = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "oxford-pet-mini"
    if not mini.is_dir():
        pytest.skip(f"{mini} not present on this machine")
    found = find_real_training_sample()
    assert found is None or "oxford-pet-mini" not in str(found)
    assert not PetLayout(mini).has_split_files
