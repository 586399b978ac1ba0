"""trainval.txt / test.txt as people actually write them: duplicates, a BOM, names with spaces,
test equal to trainval, and files missing from the folder (which must not move other images)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from engine.data.layout import PetLayout


def make(root: Path, names: list[str], trainval: str, test: str | None = None, encoding: str = "utf-8") -> Path:
    (root / "images").mkdir(parents=True)
    (root / "annotations" / "trimaps").mkdir(parents=True)
    for n in names:
        Image.new("RGB", (8, 8)).save(root / "images" / f"{n}.jpg")
        Image.fromarray(np.full((8, 8), 2, np.uint8)).save(root / "annotations" / "trimaps" / f"{n}.png")
    (root / "annotations" / "trainval.txt").write_text(trainval, encoding=encoding)
    if test is not None:
        (root / "annotations" / "test.txt").write_text(test, encoding=encoding)
    return root


def lines(names: list[str]) -> str:
    return "".join(f"{n} 1 1 1\n" for n in names)


NAMES = [f"cat_{i:02d}" for i in range(20)]


def test_a_name_listed_twice_is_used_once_with_a_warning(tmp_path: Path) -> None:
    listed = NAMES[:9] + ["cat_03"] + NAMES[9:]  # cat_03 again at index 9: it used to land in valid too
    layout = PetLayout(make(tmp_path, NAMES, lines(listed)))
    train, valid = layout.train_valid_names(10)
    assert not set(train) & set(valid)
    assert sorted(train + valid) == NAMES
    assert layout.warnings == [f"{tmp_path / 'annotations' / 'trainval.txt'}: 1 duplicated line(s) ignored "
                               "(first: cat_03); each image is used once"]


def test_test_list_equal_to_trainval_is_warned_about(tmp_path: Path) -> None:
    layout = PetLayout(make(tmp_path, NAMES, lines(NAMES), lines(NAMES)))
    assert layout.warnings == [f"{tmp_path / 'annotations'}: 20 name(s) are in both trainval.txt and test.txt "
                               "(first: cat_00); test scores would be measured on training images"]


def test_a_byte_order_mark_does_not_drop_the_first_name(tmp_path: Path) -> None:
    layout = PetLayout(make(tmp_path, NAMES, lines(NAMES), lines(NAMES[:2]), encoding="utf-8-sig"))
    assert layout.trainval_names()[0] == "cat_00" and layout.missing == 0
    assert layout.test_names() == ["cat_00", "cat_01"]


def test_names_with_spaces_and_crlf_lines(tmp_path: Path) -> None:
    names = ["my cat 1", "Maine Coon 12", "plain"]
    text = "".join(f"{n} 3 1 2\r\n" for n in names) + "# a comment\r\n\r\n"
    layout = PetLayout(make(tmp_path, names, text))
    assert layout.trainval_names() == names and layout.missing == 0


def test_a_missing_file_does_not_move_other_images_between_train_and_valid(tmp_path: Path) -> None:
    complete = PetLayout(make(tmp_path / "all", NAMES, lines(NAMES)))
    train_all, valid_all = complete.train_valid_names(10)
    gone = make(tmp_path / "gone", NAMES, lines(NAMES))
    (gone / "images" / "cat_02.jpg").unlink()
    layout = PetLayout(gone)
    train, valid = layout.train_valid_names(10)
    assert layout.missing == 1
    assert train == [n for n in train_all if n != "cat_02"] and valid == valid_all


def test_the_list_warnings_reach_the_run_once(tmp_path: Path, capsys) -> None:
    from engine.cli import main
    from engine.runs import RunStore

    data = make(tmp_path / "d", NAMES, lines(NAMES + ["cat_00"]), lines(NAMES[:3]))
    assert main(["train", "--runs", str(tmp_path / "runs"), "--run_name", "r", "--data_path", str(data),
                 "--epochs", "1", "--image_size", "32", "--width", "4", "--workers", "0", "--device", "cpu",
                 "--cache_dir", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    for text in ("duplicated line(s) ignored (first: cat_00)", "3 name(s) are in both trainval.txt and test.txt"):
        assert out.count(text) == 1  # printed once, not once by the data log and once by the event
        assert any(text in w for w in RunStore(tmp_path / "runs").load("r").warnings)
