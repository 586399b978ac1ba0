"""Folder inference names every output before writing any (issue 21, group 1), checked as
properties over generated sets of photo names: one output per photo, no two alike ignoring
case, none over a photo or a file petseg did not write, the same names whatever the listing
order and on every re-run, and petseg's own outputs never taken for photos."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from PIL import Image

from engine.infer.infer_folder import plan_folder, plan_names
from engine.infer.render import save_png

STEMS = ["a", "A", "a_jpg", "A_JPG", "a_mask", "a_jpg_mask", "a_mask_2", "b", "B_png", "b_png_mask", "cat"]
SUFFIXES = [".jpg", ".JPG", ".jpeg", ".png", ".PNG", ".Png", ".tif", ".webp"]


def name_sets(count: int = 300, seed: int = 21) -> list[tuple[list[str], set[str]]]:
    """Random photo-name sets, dense in clashes (shared stems, case variants, names that look
    like renamed outputs), each with a random set of blocked file names."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        names = {rng.choice(STEMS) + rng.choice(SUFFIXES) for _ in range(rng.randint(1, 12))}
        blocked = {rng.choice(STEMS) + rng.choice(["", "_mask", "_jpg", "_mask_2"]) + rng.choice([".png", ".PNG"])
                   for _ in range(rng.randint(0, 4))}
        out.append((sorted(names), blocked))
    return out


@pytest.mark.parametrize("kind", ["mask", "overlay"])
def test_every_photo_gets_its_own_output_never_a_blocked_name(kind: str) -> None:
    for names, blocked in name_sets():
        plan = plan_names(names, blocked, kind)
        assert sorted(plan) == sorted(names)
        outs = [o.casefold() for o in plan.values()]
        assert len(set(outs)) == len(outs), (names, plan)
        assert not set(outs) & {b.casefold() for b in blocked}, (names, blocked, plan)
        assert all(o.endswith(".png") for o in plan.values())


def test_the_names_do_not_depend_on_the_listing_order() -> None:
    rng = random.Random(7)
    for names, blocked in name_sets():
        shuffled = names[:]
        rng.shuffle(shuffled)
        assert plan_names(shuffled, blocked) == plan_names(names, blocked)


def test_a_photo_whose_stem_is_unique_keeps_its_plain_name() -> None:
    for names, blocked in name_sets():
        stems = [Path(n).stem.casefold() for n in names]
        outs = {o.casefold() for o in plan_names(names, blocked).values()}
        for name in names:
            stem = Path(name).stem
            wanted = f"{stem}.png".casefold()
            if stems.count(stem.casefold()) == 1 and wanted not in {b.casefold() for b in blocked} \
                    and wanted not in {f"{Path(o).stem}_{Path(o).suffix[1:].lower()}.png".casefold()
                                       for o in names if o != name}:
                assert wanted in outs, (name, names)


def test_the_issues_examples() -> None:
    assert plan_names(["a.jpg", "a.JPG"]) == {"a.JPG": "a_jpg.png", "a.jpg": "a_jpg_mask.png"}
    # a renamed output equal to another photo's own output
    plan = plan_names(["a.jpg", "a.png", "a_jpg.jpg"])
    assert len({o.casefold() for o in plan.values()}) == 3


def _write_photo(path: Path) -> None:
    Image.new("RGB", (8, 8), (120, 60, 30)).save(path)


def _fake_run(plan) -> None:
    """What segment_folder leaves: a petseg PNG at each planned output."""
    for _, out in plan.items:
        save_png(Image.new("L", (8, 8)), out)


@pytest.mark.parametrize("seed", range(12))
def test_output_folder_equal_to_the_input_folder_run_twice(tmp_path: Path, seed: int) -> None:
    names, _ = name_sets(12, seed)[seed]
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in names:
        _write_photo(folder / name)
    photos_before = {p.name: p.read_bytes() for p in folder.iterdir()}
    first = plan_folder(folder, folder)
    assert sorted(p.name for p, _ in first.items) == sorted(names)
    assert not {o.name.casefold() for _, o in first.items} & {n.casefold() for n in names}
    _fake_run(first)
    second = plan_folder(folder, folder)
    assert [(p.name, o.name) for p, o in second.items] == [(p.name, o.name) for p, o in first.items]
    assert {p.name for p, why in second.skipped if "written by petseg" in why} == {o.name for _, o in first.items}
    _fake_run(second)
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name in photos_before} == photos_before
    assert len(list(folder.iterdir())) == 2 * len(names)


def test_a_users_file_in_the_output_folder_is_named_around(tmp_path: Path) -> None:
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir(), dst.mkdir()
    for name in ("dog.jpg", "cat.jpg"):
        _write_photo(src / name)
    (dst / "DOG.png").write_bytes(b"mine")
    (dst / "cat.png").mkdir()  # a folder in the way, whatever --overwrite says
    plan = plan_folder(src, dst)
    assert {p.name: o.name for p, o in plan.items} == {"dog.jpg": "dog_mask.png", "cat.jpg": "cat_mask.png"}
    plan = plan_folder(src, dst, overwrite=True)
    assert {p.name: o.name for p, o in plan.items} == {"dog.jpg": "dog.png", "cat.jpg": "cat_mask.png"}


def test_the_count_is_the_files_on_disk_and_a_failed_write_says_so(tmp_path: Path, checkpoint: Path, capsys,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.cli import main
    from engine.errors import PetsegError
    import engine.infer.infer_folder as infer_folder

    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.jpg", "a.JPG", "A.png", "a_jpg.jpg"):
        _write_photo(src / name)
    out = tmp_path / "out"
    assert main(["infer", "--checkpoint", str(checkpoint), "--image", str(src), "--output", str(out)]) == 0
    assert len(list(out.iterdir())) == 4 and "4 written" in capsys.readouterr().out

    def no_space(img, path):
        raise PetsegError(f"{path}: cannot write PNG (No space left on device)")

    monkeypatch.setattr(infer_folder, "save_png", no_space)
    assert main(["infer", "--checkpoint", str(checkpoint), "--image", str(src), "--output", str(tmp_path / "o2")]) == 1
    captured = capsys.readouterr()
    assert "0 written" in captured.out and "cannot write PNG (No space left on device)" in captured.out
    assert captured.err.strip().endswith("none of the 4 masks could be written (see above)")


def test_a_link_to_a_missing_photo_is_skipped_not_counted_as_a_photo(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    _write_photo(src / "dog.jpg")
    (src / "gone.jpg").symlink_to(tmp_path / "moved" / "gone.jpg")
    plan = plan_folder(src, tmp_path / "out")
    assert [p.name for p, _ in plan.items] == ["dog.jpg"]
    assert [(p.name, why) for p, why in plan.skipped] == [
        ("gone.jpg", f"a symbolic link to {tmp_path / 'moved' / 'gone.jpg'}, which does not exist")]


def test_a_named_pipe_or_a_device_among_the_photos_is_skipped_not_read(tmp_path: Path) -> None:
    """A FIFO named cat.jpg in the folder hung `petseg infer --data_path FOLDER` for good (its
    header was read, waiting on a writer); a link to /dev/zero was "empty file (0 bytes)"."""
    import os

    from engine.data.images import load_rgb
    from engine.errors import BadImageError

    src = tmp_path / "in"
    src.mkdir()
    _write_photo(src / "dog.jpg")
    os.mkfifo(src / "cat.jpg")
    (src / "zero.jpg").symlink_to("/dev/zero")
    plan = plan_folder(src, tmp_path / "out")
    assert [p.name for p, _ in plan.items] == ["dog.jpg"]
    assert [(p.name, why) for p, why in plan.skipped] == [
        ("cat.jpg", "a named pipe (FIFO), not an image file"), ("zero.jpg", "a device, not an image file")]
    with pytest.raises(BadImageError, match="a named pipe"):
        load_rgb(src / "cat.jpg")  # `petseg infer --image cat.jpg`: a plain line, not "empty file"
