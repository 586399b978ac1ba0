"""PetLayout validation and list parsing; resolve_data_source choices (no network)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.config import DATA_PATH_ENV, GENERATED_DATA
from engine.data.layout import PetLayout
from engine.data.source import data_path_problem, default_download_dir, resolve_data_source
from engine.data.samples import training_sample_dir
from engine.errors import ConfigError, DatasetError


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


def test_without_lists_the_files_in_no_pair_are_counted_and_named(tmp_path):
    _make(tmp_path, ["a", "b", "c", "d", "f"], trimaps=["a", "b", "e", "ghost"])
    (tmp_path / "images" / "ghost.jpg").symlink_to(tmp_path / "moved" / "ghost.jpg")
    (tmp_path / "annotations" / "trimaps" / "f.png").symlink_to(tmp_path / "moved" / "f.png")
    lay = PetLayout(tmp_path)
    assert lay.trainval_names() == ["a", "b"]
    line = lay.describe()
    assert "\n" not in line and line.startswith(f"{tmp_path}: 2 trainval, 0 test images")
    assert line.endswith("; left out: 2 photos without a trimap (first: images/c.jpg), "
                         "1 trimap without a photo (first: annotations/trimaps/e.png), "
                         "2 broken symbolic links to a missing file (first: images/ghost.jpg)")


def test_an_images_folder_of_broken_links_says_so_not_only_no_images(tmp_path):
    _make(tmp_path, [], trimaps=["a"])
    (tmp_path / "images" / "a.jpg").symlink_to(tmp_path / "moved" / "a.jpg")
    with pytest.raises(DatasetError) as e:
        PetLayout(tmp_path)
    assert _msg(e) == (f"{tmp_path / 'images'}: no images (expected NAME.jpg files); "
                       "1 broken symbolic link to a missing file (first: a.jpg)")


def test_a_trimaps_folder_of_broken_links_says_so(tmp_path):
    _make(tmp_path, ["a", "b"], trimaps=[])
    (tmp_path / "annotations" / "trimaps" / "a.png").symlink_to(tmp_path / "moved" / "a.png")
    with pytest.raises(DatasetError) as e:
        PetLayout(tmp_path)
    assert _msg(e) == (f"{tmp_path}: 2 images but no trimaps in annotations/trimaps; "
                       "1 broken symbolic link to a missing file (first: annotations/trimaps/a.png)")


def _first_link(line: str) -> Path:
    """The file a line of `PetLayout` names as its first broken link: the folder the line starts
    with joined to what follows "link(s) to a missing file (first: "."""
    folder, _, rest = line.partition(": ")
    return Path(folder) / re.search(r"to a missing file \(first: ([^)]*)\)", rest).group(1)


def test_every_count_of_broken_links_names_its_first_link_the_same_way(tmp_path):
    """Three lines count links to moved files (the data line, an images/ folder of them only, a
    trimaps/ folder of them only); each spelt its first file its own way ("images/x.jpg",
    "x.jpg", "first x.png"), and the trimaps' could not be found from the folder its line names."""
    _make(tmp_path / "mixed", ["a", "b", "c"], trimaps=["a", "b"])
    (tmp_path / "mixed" / "annotations" / "trimaps" / "c.png").symlink_to(tmp_path / "moved" / "c.png")
    _make(tmp_path / "photos", [], trimaps=["a"])
    (tmp_path / "photos" / "images" / "a.jpg").symlink_to(tmp_path / "moved" / "a.jpg")
    _make(tmp_path / "trimaps", ["a"], trimaps=[])
    (tmp_path / "trimaps" / "annotations" / "trimaps" / "a.png").symlink_to(tmp_path / "moved" / "a.png")
    lines = [PetLayout(tmp_path / "mixed").describe()]
    for name in ("photos", "trimaps"):
        with pytest.raises(DatasetError) as e:
            PetLayout(tmp_path / name)
        lines.append(_msg(e))
    for line in lines:
        assert re.search(r"\d+ broken symbolic links? to a missing file \(first: [^)]+\)", line), line
        assert _first_link(line).is_symlink() and not _first_link(line).exists(), line


def test_with_lists_or_all_paired_nothing_is_said_left_out(tmp_path):
    _make(tmp_path / "paired", ["a", "b"])
    assert "left out" not in PetLayout(tmp_path / "paired").describe()
    _make(tmp_path / "listed", ["a", "b", "c"], trimaps=["a", "b"])
    (tmp_path / "listed" / "annotations" / "trainval.txt").write_text("a 1 1 1\nb 1 1 1\n")
    assert "left out" not in PetLayout(tmp_path / "listed").describe()


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


def _real(root: Path, names: list[str]) -> Path:
    _make(root, names)
    (root / "annotations" / "trainval.txt").write_text("".join(f"{n} 1 1 1\n" for n in names))
    return root


def test_default_is_the_bundled_training_sample(tmp_path, monkeypatch):
    # a dataset beside the working directory (the old ../shared/data lookup) is never picked up
    _real(tmp_path / "shared" / "data" / "pets", ["x", "y"])
    (tmp_path / "wd").mkdir()
    monkeypatch.chdir(tmp_path / "wd")
    src = resolve_data_source(None)
    assert (src.kind, src.path) == ("real", training_sample_dir())
    assert "bundled" in src.description and "298 trainval, 198 test" in src.description


def test_env_names_the_dataset_and_the_flag_wins(tmp_path, monkeypatch):
    from_env = _real(tmp_path / "env-data", ["a", "b"])
    from_flag = _real(tmp_path / "flag-data", ["c"])
    monkeypatch.setenv(DATA_PATH_ENV, str(from_env))
    src = resolve_data_source(None)
    assert (src.kind, src.path) == ("real", from_env) and f"${DATA_PATH_ENV}" in src.description
    assert resolve_data_source(str(from_flag)).path == from_flag
    monkeypatch.setenv(DATA_PATH_ENV, "  ")  # blank counts as unset
    assert resolve_data_source(None).path == training_sample_dir()


def test_generated_set_only_when_named(monkeypatch):
    src = resolve_data_source(GENERATED_DATA)
    assert src.kind == "generated" and GENERATED_DATA in src.description and "not real" in src.description
    assert PetLayout(src.path).trainval_names()
    monkeypatch.setenv(DATA_PATH_ENV, GENERATED_DATA)
    assert resolve_data_source(None).path == src.path
    with pytest.raises(ConfigError, match="--download"):
        resolve_data_source(GENERATED_DATA, download=True)


def test_missing_folder_is_one_line_naming_where_it_came_from(tmp_path, monkeypatch):
    with pytest.raises(DatasetError) as e:
        resolve_data_source(str(tmp_path / "missing"))
    assert "missing: dataset folder does not exist" in _msg(e) and DATA_PATH_ENV not in _msg(e)
    monkeypatch.setenv(DATA_PATH_ENV, str(tmp_path / "gone"))
    with pytest.raises(DatasetError) as e:
        resolve_data_source(None)
    assert "gone: dataset folder does not exist" in _msg(e) and f"${DATA_PATH_ENV}" in _msg(e)


def test_an_earlier_download_is_used_only_with_download(tmp_path):
    downloaded = _real(default_download_dir(), ["p", "q"])  # under the test's private $PETSEG_CACHE
    assert resolve_data_source(None).path == training_sample_dir()
    assert resolve_data_source(None, download=True).path == downloaded  # reused, nothing fetched


def test_resolve_explicit_path(tmp_path):
    _make(tmp_path, ["a"])
    src = resolve_data_source(str(tmp_path))
    assert src.kind == "real" and src.path == tmp_path


def test_data_path_problem_is_the_message_training_fails_with(tmp_path):
    assert data_path_problem(None) is None  # the bundled sample
    assert data_path_problem(GENERATED_DATA) is None
    assert "drop one of them" in data_path_problem(GENERATED_DATA, download=True)
    missing = tmp_path / "nope"
    with pytest.raises(DatasetError) as info:
        PetLayout(missing)
    assert data_path_problem(str(missing)) == str(info.value) == f"{missing}: dataset folder does not exist"
    assert data_path_problem(str(missing), download=True) is None  # --download fills it
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert "is a file" in data_path_problem(str(a_file), download=True)
    assert "no images/ folder" in data_path_problem(str(tmp_path))


def test_a_folder_whose_photos_are_all_in_test_txt_is_refused_before_a_run(tmp_path):
    """Every pair listed in test.txt and no trainval.txt: training made its run folder, then
    failed it ("only 0 trainval image(s); need at least 2"), leaving a failed run behind."""
    root = _make(tmp_path / "d", ["a", "b", "c"])
    (root / "annotations" / "test.txt").write_text("a\nb\nc\n")
    assert data_path_problem(str(root)) == (
        f"{root}: only 0 trainval image(s); need at least 2 (all 3 photos with a trimap are listed in test.txt)")
    (root / "annotations" / "test.txt").write_text("a\nb\n")
    assert data_path_problem(str(root)) == f"{root}: only 1 trainval image(s); need at least 2"
    (root / "annotations" / "test.txt").write_text("a\n")
    assert data_path_problem(str(root)) is None


def test_a_folder_whose_photos_or_trimaps_are_all_unreadable_is_refused_before_a_run(tmp_path):
    """It failed the run after its folder was made ("no usable train images"); one readable
    pair among broken ones is enough (training skips the others, saying so)."""
    photos = _make(tmp_path / "photos", ["a", "b"])
    for n in ("a", "b"):
        (photos / "images" / f"{n}.jpg").write_text("not a photo")
    problem = data_path_problem(str(photos))
    assert problem.startswith(f"{photos}: none of its 2 photo and trimap pairs can be read (first: a: ")
    assert "not an image" in problem
    trimaps = _make(tmp_path / "trimaps", ["a"])
    Image.new("RGB", (8, 8), (10, 200, 30)).save(trimaps / "annotations" / "trimaps" / "a.png")
    assert "trimap is a colour image" in data_path_problem(str(trimaps))
    mixed = _make(tmp_path / "mixed", ["a", "b"])
    (mixed / "images" / "a.jpg").write_text("not a photo")
    assert data_path_problem(str(mixed)) is None


def test_data_path_problem_names_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_PATH_ENV, str(tmp_path / "gone"))
    with pytest.raises(DatasetError) as info:
        resolve_data_source(None)
    assert data_path_problem(None) == str(info.value) and f"${DATA_PATH_ENV}" in str(info.value)


def test_photos_in_subfolders_of_images_are_named_not_silently_left_out(tmp_path):
    """A user's photos sorted into images/cats/ were left out without a word: eval scored "1 test
    images" of three photos, or refused the folder with "no images (expected NAME.jpg files)"."""
    root = _make(tmp_path / "some", ["a"], trimaps=["a", "b", "c"])
    (root / "images" / "cats").mkdir()
    for n in ("c", "b"):
        Image.new("RGB", (8, 8)).save(root / "images" / "cats" / f"{n}.JPG")
    lay = PetLayout(root)
    assert lay.paired_names == ["a"]
    assert lay.warnings == [(f"{root / 'images'}: 2 image file(s) in subfolders are not read, only "
                             "images/NAME.jpg (first: cats/b.JPG)")]
    (root / "images" / "a.jpg").unlink()
    with pytest.raises(DatasetError) as only_nested:
        PetLayout(root)
    assert _msg(only_nested) == (f"{root / 'images'}: no images (expected NAME.jpg files); 2 image file(s) in "
                                 "subfolders are not read, only images/NAME.jpg (first: cats/b.JPG)")


def test_a_folder_with_only_test_txt_says_its_trainval_is_the_rest(tmp_path):
    """With test.txt but no trainval.txt the line said "using every image that has a trimap" for
    trainval, as though test.txt's photos were trained on too; and its skipped names went unnamed."""
    root = _make(tmp_path / "d", ["a", "b", "c"])
    (root / "annotations" / "test.txt").write_text("a 1 1 1\nghost 1 1 1\n")
    assert PetLayout(root).describe() == (
        f"{root}: 2 trainval, 1 test image (no annotations/trainval.txt: using every image that has a "
        "trimap and is not in test.txt); 1 listed image skipped (image or trimap missing, first: ghost)")


def test_a_list_naming_photo_files_reads_their_names(tmp_path):
    """A hand-made test.txt listing file names ("a.jpg") was refused: "lists 2 images but none has
    both images/NAME.jpg and a trimap", though images/a.jpg and its trimap were there."""
    root = _make(tmp_path / "d", ["a", "b", "c"])
    (root / "annotations" / "test.txt").write_text("a.jpg\nb.JPG 1 1 1\nghost.jpg\n")
    lay = PetLayout(root)
    assert lay.test_names() == ["a", "b"] and lay.trainval_names() == ["c"]
    assert lay.missing_names == ["ghost.jpg"]


def test_a_folder_inside_a_dataset_names_the_dataset_folder(tmp_path):
    """--data_path DATA/images (or DATA/annotations/trimaps) was only "no images/ folder": the line
    now names the dataset folder to pass."""
    root = _make(tmp_path / "d", ["a"])
    for inner in (root / "images", root / "annotations" / "trimaps"):
        with pytest.raises(DatasetError) as inside:
            PetLayout(inner)
        assert _msg(inside).endswith(f"annotations/trimaps/; it is inside the dataset folder {root}: pass that)")
    with pytest.raises(DatasetError) as elsewhere:
        PetLayout(tmp_path)
    assert _msg(elsewhere).endswith("images/ and annotations/trimaps/)")


def test_no_trimaps_says_what_is_there_instead(tmp_path):
    """"6 images but no trimaps in annotations/trimaps" beside a folder of six trimaps saved as
    .jpg, or with no such folder at all: the line says which."""
    root = _make(tmp_path / "d", ["a", "b"], trimaps=[])
    for n in ("b", "a"):
        Image.new("L", (8, 8)).save(root / "annotations" / "trimaps" / f"{n}.jpg")
    with pytest.raises(DatasetError) as jpeg:
        PetLayout(root)
    assert _msg(jpeg) == (f"{root}: 2 images but no trimaps in annotations/trimaps (2 other file(s), first "
                          "a.jpg: a trimap is NAME.png)")
    for n in ("a", "b"):
        (root / "annotations" / "trimaps" / f"{n}.jpg").unlink()
    (root / "annotations" / "trimaps").rmdir()
    with pytest.raises(DatasetError) as absent:
        PetLayout(root)
    assert _msg(absent) == f"{root}: 2 images but no trimaps in annotations/trimaps (the folder does not exist)"


def test_one_test_photo_is_counted_in_the_singular(tmp_path):
    """"1 test images" read on a folder with one photo in test.txt."""
    root = _make(tmp_path / "pets", ["a", "b"])
    (root / "annotations" / "trainval.txt").write_text("a 1 1 1\n")
    (root / "annotations" / "test.txt").write_text("b 1 1 1\n")
    assert PetLayout(root).describe() == f"{root}: 1 trainval, 1 test image"


def test_counted_words() -> None:
    from engine.words import counted

    assert [counted(n, "photo") for n in (0, 1, 2)] == ["0 photos", "1 photo", "2 photos"]
    assert counted(3, "process", "processes") == "3 processes"
