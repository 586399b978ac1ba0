"""Which photos evaluate_checkpoint scores in a folder of the user's own: the valid split of a
folder smaller than valid_every, every photo of a folder without split lists (said once), a
missing or empty test list or a model's own training photos refused in one line, and a split of
unreadable photos one dataset error."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from engine.errors import DatasetError
from engine.eval.evaluate import evaluate_checkpoint
from tests.engine.eval.constant_checkpoints import SIZE, _trimaps, constant_checkpoint


def test_valid_split_of_a_folder_smaller_than_valid_every_is_the_photo_training_validated_on(tmp_path):
    """With fewer photos than valid_every, training validates on its last train photo; eval
    --split valid said "no valid images to evaluate on" (e.g. oxford-pet-mini: 6 photos, no lists)."""
    from engine.config import TrainConfig
    from engine.data.loaders import build_datasets

    root = tmp_path / "mini"
    (root / "images").mkdir(parents=True)
    (root / "annotations" / "trimaps").mkdir(parents=True)
    for name in ("a", "b", "c"):
        Image.new("RGB", (SIZE, SIZE)).save(root / "images" / f"{name}.jpg")
        Image.fromarray(_trimaps()["t1"]).save(root / "annotations" / "trimaps" / f"{name}.png")
    config = TrainConfig(data_path=str(root), image_size=SIZE, valid_every=10, cache_dir=str(tmp_path / "cache"))
    trained = build_datasets(config, log=lambda _line: None)
    assert trained.valid_names == ["c"] and trained.train_names == ["a", "b"]

    ckpt = constant_checkpoint(tmp_path / "allpet.pt", 20.0, data_path=str(root), valid_every=10)
    r = evaluate_checkpoint(ckpt, None, split="valid", device="cpu")
    assert [x.name for x in r.records] == trained.valid_names


def _own_photos(root: Path, names: tuple[str, ...] = ("a", "b")) -> Path:
    """A user's own photos and trimaps in the Oxford layout, without any split list."""
    (root / "images").mkdir(parents=True)
    (root / "annotations" / "trimaps").mkdir(parents=True)
    for name in names:
        Image.new("RGB", (SIZE, SIZE)).save(root / "images" / f"{name}.jpg")
        Image.fromarray(_trimaps()["t1"]).save(root / "annotations" / "trimaps" / f"{name}.png")
    return root


def test_own_photos_without_split_lists_are_all_scored_and_it_is_said(tmp_path):
    """A folder of the user's own photos and trimaps (images/, annotations/trimaps/) with no
    trainval.txt or test.txt was refused ("test.txt is missing"): every photo with a trimap is
    its test split, and the data description says so. It said "3 trainval, 0 test images (… using
    every image that has a trimap)", contradicting a warning that said so too; the warning repeated
    the data: line word for word and is gone."""
    root = _own_photos(tmp_path / "mine", ("a", "b", "c"))
    ckpt = constant_checkpoint(tmp_path / "allpet.pt", 20.0)
    r = evaluate_checkpoint(ckpt, str(root), device="cpu")
    assert r.n_images == 3
    note = "no annotations/test.txt or trainval.txt: scoring every image with a trimap as the test split"
    assert r.warnings == []
    assert r.data == f"Oxford-IIIT Pet at {root}: 0 trainval, 3 test images ({note})"


def test_petseg_eval_says_a_folder_without_lists_is_all_test_once(tmp_path, capsys):
    """`petseg eval --data_path oxford-pet-mini` (six photos and trimaps, no split list) printed
    "no annotations/test.txt or trainval.txt: scoring every image…" twice: as a warning on stderr
    and again in the data: line. It is said once, in the data: line beside the counts it explains."""
    from engine.cli import main

    root = _own_photos(tmp_path / "mine", ("a", "b", "c"))
    ckpt = constant_checkpoint(tmp_path / "allpet.pt", 20.0)
    assert main(["eval", "--checkpoint", str(ckpt), "--data_path", str(root), "--device", "cpu"]) == 0
    out, err = capsys.readouterr()
    note = "no annotations/test.txt or trainval.txt: scoring every image with a trimap as the test split"
    assert [line for line in (out + err).splitlines() if "scoring every image" in line] == [
        f"data: Oxford-IIIT Pet at {root}: 0 trainval, 3 test images ({note})"], out + err


def test_a_folder_with_a_split_or_the_models_own_photos_still_needs_its_test_list(tmp_path):
    """"no test images to evaluate on" left the user guessing (oxford-pet-mini: six labelled photos,
    no lists): the line says the list is missing, or that it names none of the photos there. A
    folder with trainval.txt has its split: its photos are not all test photos; and a folder with
    no lists that the model trained on is its training data, not a test."""
    root = _own_photos(tmp_path / "notest", ("a",))
    listed = root / "annotations" / "test.txt"
    trained = constant_checkpoint(tmp_path / "trained.pt", 20.0, trained_on=root)
    with pytest.raises(DatasetError) as own:
        evaluate_checkpoint(trained, str(root), device="cpu")
    assert str(own.value) == (f"{root}: no test images to evaluate on ({listed} is missing, and this model "
                              "trained on the folder's photos: petseg eval --split valid scores the ones it held "
                              "out)")  # the command named: the dashboard's w and petseg demo show it too
    older = constant_checkpoint(tmp_path / "older.pt", 20.0, data_path=str(root))  # no data_source recorded
    with pytest.raises(DatasetError, match="this model trained on the folder's photos"):
        evaluate_checkpoint(older, str(root), device="cpu")
    with pytest.raises(DatasetError, match="this model trained on the folder's photos"):
        evaluate_checkpoint(older, None, device="cpu")  # its own data: never all of it as a test
    (root / "annotations" / "trainval.txt").write_text("a 1 1 1\n")
    ckpt = constant_checkpoint(tmp_path / "allpet.pt", 20.0)
    with pytest.raises(DatasetError) as missing:
        evaluate_checkpoint(ckpt, str(root), device="cpu")
    assert str(missing.value) == (f"{root}: no test images to evaluate on ({listed} is missing: it lists the "
                                  "photos to score, one name per line)")
    listed.write_text("# an empty list\n")
    with pytest.raises(DatasetError) as unmatched:
        evaluate_checkpoint(ckpt, str(root), device="cpu")
    assert str(unmatched.value) == f"{root}: no test images to evaluate on ({listed} names no photo)"


def test_a_split_of_unreadable_photos_is_one_dataset_error(tmp_path):
    root = tmp_path / "broken"
    (root / "images").mkdir(parents=True)
    (root / "annotations" / "trimaps").mkdir(parents=True)
    for name in ("a", "b"):
        (root / "images" / f"{name}.jpg").write_bytes(b"\xff\xd8 truncated")
        Image.fromarray(_trimaps()["t1"]).save(root / "annotations" / "trimaps" / f"{name}.png")
    (root / "annotations" / "test.txt").write_text("a 1 1 1\nb 1 1 1\n")
    (root / "annotations" / "trainval.txt").write_text("")
    ckpt = constant_checkpoint(tmp_path / "allpet.pt", 20.0)
    with pytest.raises(DatasetError, match=r"none of the 2 test images could be read \(first: a: .*a\.jpg"):
        evaluate_checkpoint(ckpt, str(root), device="cpu")
